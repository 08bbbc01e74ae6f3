"""What the MSE and the cross-entropy comparisons share: tolerances and running descent."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..core import descent as _descent
from ..core.metrics import LOSS_FLOOR, run_geometry, vector_norm
from ..core.objective import FullObjective
from ..inputs.problem import Problem

STATUSES = ("global", "local", "not-converged")


def _worst(values) -> float:
    """The largest value, nan if any is nan (``max`` would depend on the order)."""
    values = np.asarray(list(values), dtype=float)
    return float(np.max(values)) if values.size else 0.0


def _loss_tolerance(reference: float, rtol: float, scale: float) -> float:
    """Absolute objective tolerance.

    ``rtol`` relative to ``reference``, floored on the problem's scale.
    """
    return rtol * max(abs(float(reference)), LOSS_FLOOR * scale)


@dataclass(frozen=True)
class Tolerances:
    """When a run counts as having reached a critical point of the theory.

    Attributes
    ----------
    loss_rtol : float
        Largest difference between the run's objective and the candidate's, relative
        to the candidate's objective, or to ``LOSS_FLOOR`` (1e-8) times the objective
        at the origin (:func:`ncsolve.core.metrics.loss_scale`) when the candidate's is
        smaller (a minimum of 0 or nearly 0).
    gram_tol : float
        Largest normalized Frobenius distance of any Gram (any layer) or of the
        output matrix to the candidate's (for a zero target: the run's norm on the
        problem's scale, see :meth:`TheoryTarget.distances`).
    grad_tol : float
        Gradient norm at or below which the run is reported as converged (only
        reported for the squared loss; part of the status for cross-entropy).
    zero_fraction : float
        A direction counts as zero when its value is below this fraction of the
        nonzero local minimum ``z_local`` of that direction.
    """

    loss_rtol: float = 1e-6
    gram_tol: float = 1e-3
    grad_tol: float = 1e-6
    zero_fraction: float = 0.5



def _evaluate(objective: FullObjective, x: np.ndarray, grad_norm: float | None):
    """The objective at ``x`` and the gradient norm (computed when ``grad_norm`` is None)."""
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run overflows here
        loss, grad = objective(x)
    if grad_norm is None:
        grad_norm = vector_norm(grad)
    return loss, grad_norm


def problem_with_widths(problem: Problem, widths) -> Problem:
    """The same problem with explicit widths (the theory caps the rank by them)."""
    if problem.widths is not None and tuple(problem.widths) == tuple(widths):
        return problem
    return Problem.build(
        problem.n, problem.depth, problem.lambda_w, problem.lambda_h, problem.bias,
        problem.loss, widths, problem.lambda_b,
    )


def _recorder(objective: FullObjective, distances):
    """Per-snapshot measurements for trajectories: NC1 and ``distances(geometry)``.

    ``distances`` returns a fresh dict of per-layer lists for "features",
    "classifier" and "outputs".  Values that overflow (a diverging run) are
    recorded as inf or nan.
    """

    def record(x: np.ndarray) -> dict:
        with np.errstate(all="ignore"):  # a diverging run overflows: inf/nan are recorded
            geometry = run_geometry(objective, x)
            out = distances(geometry)
        out["outputs"] = out["outputs"][0]
        out["nc1"] = list(geometry.nc1)
        return out

    return record


def _with_trajectory(report, trajectory: list):
    return replace(report, trajectory=list(trajectory))


def _descend_and_assess(objective: FullObjective, assess_run, solution, tolerances: Tolerances,
                        recorder, method: str, settings: dict, options: dict, **extra):
    """Run descent from every seed and assess each run; returns (runs, index of the best).

    ``assess_run`` is :func:`assess` or :func:`assess_ce`, called with ``extra``;
    ``settings`` holds restarts, seed, record_every and progress of :func:`verify`.
    """
    results = _descent.descend(objective, method=method, recorder=recorder, **settings,
                               **options)
    runs = []
    for result in results:
        report = assess_run(
            solution, objective, result.x, tolerances, grad_norm=result.grad_norm,
            seed=result.seed, method=result.method, steps=result.steps,
            elapsed=result.elapsed, message=result.message, **extra,
        )
        runs.append(_with_trajectory(report, result.trajectory))
    losses = [r.loss if np.isfinite(r.loss) else np.inf for r in runs]
    return runs, int(np.argmin(losses))
