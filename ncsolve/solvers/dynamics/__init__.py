"""Gradient flow of the MSE model from a spectral initialization (docs/dynamics.md).

Modules
-------
flow    one direction's ODEs (one per factor), integrated in log scale; its ends
solver  solve_dynamics(problem, init_scale, ...): thresholds, ends, times, paths
result  DynamicsSolution: the MSE answer plus the flow per direction
crossentropy, ce_solver, ce_result
        balanced cross-entropy from a simplex-ETF start: solve_ce_dynamics, CEDynamics
"""

from .ce_result import CEDynamics
from .ce_solver import solve_ce_dynamics
from .result import DynamicsSolution, FlowTable
from .solver import check_supported, solve_dynamics

__all__ = ["CEDynamics", "DynamicsSolution", "FlowTable", "check_supported",
           "solve_ce_dynamics", "solve_dynamics"]
