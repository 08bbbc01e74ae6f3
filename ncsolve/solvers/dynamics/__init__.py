"""Gradient flow of the MSE model from a spectral initialization (docs/dynamics.md).

Modules
-------
flow    one direction's ODEs (one per factor), integrated in log scale; its ends
solver  solve_dynamics(problem, init_scale, ...): thresholds, ends, times, paths
result  DynamicsSolution: the MSE answer plus the flow per direction
"""

from .result import DynamicsSolution, FlowTable
from .solver import check_supported, solve_dynamics

__all__ = ["DynamicsSolution", "FlowTable", "check_supported", "solve_dynamics"]
