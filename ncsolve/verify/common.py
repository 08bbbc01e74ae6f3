"""What the MSE and the cross-entropy comparisons share: tolerances and a run's end point."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..core.metrics import LOSS_FLOOR, vector_norm
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


def _run_end(objective: FullObjective, x: np.ndarray, tolerances: Tolerances, *,
             grad_norm: float | None = None, seed: int | None = None, method: str = "",
             steps: int = 0, elapsed: float = 0.0, message: str = "") -> dict:
    """Where a run ended, as every per-run comparison records it.

    Parameters
    ----------
    objective : FullObjective
        Layout and objective of ``x``.
    x : ndarray
        The run's flat parameter vector.
    tolerances : Tolerances
        Its ``grad_tol`` decides "converged".
    grad_norm : float, optional
        Gradient norm at ``x`` (computed when omitted).
    seed, method, steps, elapsed, message
        The descent's record of the run, copied.

    Returns
    -------
    dict
        seed, method, loss, grad_norm, converged, steps, elapsed, message: fields of
        :class:`~ncsolve.verify.RunReport` and :class:`~ncsolve.verify.CERunReport`.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run overflows here
        loss, grad = objective(x)
    if grad_norm is None:
        grad_norm = vector_norm(grad)
    return {"seed": seed, "method": method, "loss": float(loss), "grad_norm": float(grad_norm),
            "converged": bool(grad_norm <= tolerances.grad_tol), "steps": steps,
            "elapsed": elapsed, "message": message}


def problem_with_widths(problem: Problem, widths) -> Problem:
    """The same problem with explicit widths (the theory caps the rank by them)."""
    if problem.widths is not None and tuple(problem.widths) == tuple(widths):
        return problem
    built = Problem.build(
        problem.n, problem.depth, problem.lambda_w, problem.lambda_h, problem.bias,
        problem.loss, widths, problem.lambda_b, problem.features,
    )
    # the target was validated with the problem; it is carried over as it is
    return built if problem.target is None else replace(built, target=problem.target)
