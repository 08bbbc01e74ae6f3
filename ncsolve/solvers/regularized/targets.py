"""A regularized bias with a target other than one-hot labels (docs/targets.md).

For a fixed bias b every sample's target moves to ``y - b``, and the rest is the
bias-free problem with that shifted target: exact per direction
(:func:`ncsolve.core.target_spectrum.target_spectrum_of` with ``shift=b``). The
value ``F(b)`` of that problem plus ``lambda_b/2 ||b||^2`` is minimized over b with
the stacked L-BFGS from the free-bias limit (b = mean target), the bias-free limit
(b = 0) and points between, as for one-hot labels. Its gradient is the mean
residual, ``-(1/N) (Yt_b - Z) 1 + lambda_b b``:

* class-level targets: ``-(1/N) U diag(sigma - z) B^T sqrt(n) + lambda_b b``;
* per-sample targets: ``-U diag((sigma - z)/sigma) U^T (mean - b) + lambda_b b``
  (the ratio is 1 on directions with sigma = 0).

At depth 1 without a binding rank cap the full problem is jointly convex in the
product and the bias, so F is convex and the local minimum found is global
(``proved``); otherwise the answer is the best of the searches (``best found``).
"""

from __future__ import annotations

import numpy as np

from ...core import readoff, scalar
from ...core.constants import BEST_FOUND, PROVED
from ...core.lbfgs import minimize_stack, row_by_row
from ...core.target_spectrum import target_spectrum_of
from ...inputs.problem import Problem
from ..targets import TargetSolution, _target_notes
from .outer import FIRST_STEP, GTOL, MAXITER, MEMORY, PATIENCE, START_FRACTIONS


def _point(problem: Problem, b: np.ndarray):
    """Spectrum, minima and capping of the fixed-bias problem at ``b``."""
    spectrum = target_spectrum_of(problem.target, problem.n, "none", shift=b)
    minima = scalar.minimize(spectrum.sigma, problem.N, problem.c, problem.q)
    z, code, residual = minima.z, minima.code, minima.residual
    capping = readoff.cap_rank(problem.rank_cap, spectrum.sigma, z, residual, code)
    return spectrum, minima, capping


def _value_and_grad(problem: Problem):
    target, N, lam = problem.target, float(problem.N), problem.lambda_b

    def fun(b):
        spectrum, minima, _ = _point(problem, b)
        residual, z = minima.residual, minima.z
        loss = (float(residual @ residual) / (2.0 * N) + lam * 0.5 * float(b @ b)
                + (problem.c * float(np.sum(z[z > 0] ** problem.q)) if np.any(z > 0) else 0.0))
        U = spectrum.left
        if target.moments is None:
            weights = spectrum.right.T @ np.sqrt(problem.n.astype(float))
            grad = -(U @ (residual * weights)) / N
        else:
            sigma = spectrum.sigma
            ratio = np.where(sigma > 0, residual / np.where(sigma > 0, sigma, 1.0), 1.0)
            grad = -(U * ratio) @ (U.T @ (target.moments.mean - b))
        return loss, grad + lam * b

    return fun


def _mean_target(problem: Problem) -> np.ndarray:
    target = problem.target
    if target.moments is not None:
        return np.array(target.moments.mean)
    return target.soft @ (problem.n / float(problem.N))


def solve_target_regularized(problem: Problem) -> TargetSolution:
    """The best bias found (proved at depth 1 without a binding cap) and its exact
    fixed-bias minimizer."""
    starts = np.outer(START_FRACTIONS, _mean_target(problem))
    end = minimize_stack(row_by_row(_value_and_grad(problem)), starts, MAXITER, GTOL,
                         maxcor=MEMORY, patience=PATIENCE, first_step=FIRST_STEP,
                         interpolate=False)
    best = int(np.argmin(end.value))
    b = np.array(end.x[best])
    b.setflags(write=False)
    spectrum, minima, capping = _point(problem, b)
    cap = problem.rank_cap
    convex = problem.depth == 1 and int(capping.cut) == 0
    spread = float(np.max(end.value) - np.min(end.value))
    notes = (readoff.cap_notes(cap, int(capping.cut), bool(capping.equal))
             + (_certainty_note(convex, len(starts), spread),) + _target_notes(problem))
    return TargetSolution(problem, spectrum, minima.z, minima.z_local, minima.code,
                          minima.residual, notes, certainty=PROVED if convex else BEST_FOUND,
                          bias=b)


def _certainty_note(convex: bool, starts: int, spread: float) -> str:
    if convex:
        return ("regularized bias at depth 1: the objective is jointly convex in the product "
                "and the bias, so the local minimum over b is global")
    return (f"regularized bias: best of {starts} L-BFGS searches over b (exact for each b); "
            f"their losses spread by {spread:.3g}")
