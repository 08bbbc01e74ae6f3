"""Depth 1: a lower bound on the full objective from the dual of the convex reduced problem.

At depth 1 the reduced problem is jointly convex in ``(Z, b)``,

    P(Z, b) = (1/2N) ||Z + b s^T - D^(1/2)||_F^2 + c ||Z||_* + lambda_b/2 ||b||^2,

and every K x K matrix ``Lam`` with spectral norm at most ``c`` gives the lower bound

    P >= -<Lam, D^(1/2)> - (N/2) ||Lam||_F^2 - ||Lam s||^2 / (2 lambda_b)

(Fenchel duality; docs/theory.md derives it). The bound holds for the full
model at any widths, since the reduction to class means only lowers the
objective. At the optimum ``Lam = (Z + b s^T - D^(1/2)) / N``; we take it from
the computed answer, scaled into the feasible set, so the gap between the
reported loss and the bound certifies how far the answer can be from the
global minimum.
"""

from __future__ import annotations

import numpy as np

from ...inputs.problem import Problem
from .target import FixedBias


def dual_bound(problem: Problem, point: FixedBias) -> float:
    """The dual value at the multiplier built from ``point`` (a lower bound on the loss)."""
    N = float(problem.N)
    root_n = np.sqrt(problem.n.astype(float))
    scale = float(np.max(point.residual, initial=0.0)) / N
    shrink = min(1.0, problem.c / scale) if scale > 0 else 1.0
    # Lam = -U diag(r) V^T / N times shrink, kept in its SVD form
    r = point.residual * (shrink / N)
    trace_term = -float(np.sum((point.U * r) * point.V, axis=1) @ root_n)  # <Lam, D^(1/2)>
    lam_s = -(point.U @ (r * (point.V.T @ root_n)))
    return -trace_term - 0.5 * N * float(r @ r) - float(lam_s @ lam_s) / (2.0 * problem.lambda_b)
