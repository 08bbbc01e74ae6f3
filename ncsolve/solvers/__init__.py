"""Solvers: ``solve(problem, **options)`` returns the answer for any loss, bias and precision.

Every consumer (verify, measure, sweep, the API) asks this one function; none
of them dispatches on the loss or the bias again.

Modules
-------
mse          the float64 closed form (read-off of the scalar minima)
precise      the same read-off to any number of digits (mpmath)
regularized  a regularized bias: exact for a fixed bias, the bias searched or proved
crossentropy the reduced class-logit problem, its search and certificates
"""

from __future__ import annotations

import math

import numpy as np

from ..inputs.problem import MAX_SEARCH_RESTARTS, Problem, whole_number
from ..inputs.validation import invalid
from .mse import solve as solve_mse

__all__ = ["solve"]

MAX_DISTINCT_SIZES = 20_000  # free bias: O(S^2) secular work, about 12 s at this S
SECONDS_PER_PAIR = 3e-8  # measured on two cores: 3 s for S = 10^4 distinct sizes
CE_MIN_DECAY = 1e-300  # cross-entropy margins grow like log(1/lbar); tested down to here


def solve(problem: Problem, *, precision: int | None = None, restarts: int | None = None,
          seed: int | None = None):
    """The global minimizer of a validated problem (or the best found, with its certainty).

    Parameters
    ----------
    problem : Problem
    precision : int, optional
        Digits of the high-precision route (MSE only).
    restarts, seed : int, optional
        The cross-entropy search's random starts and their seed (cross-entropy only).

    Returns
    -------
    Result
        ``Solution``, ``PreciseSolution``, ``CESolution``, ``RegularizedSolution`` or
        ``RegularizedCESolution``; all follow :class:`ncsolve.results.base.Result`.

    Raises
    ------
    ProblemError
        For options that do not apply to the problem, work beyond the limits, or an
        answer beyond float64.
    """
    if precision is not None and problem.bias == "regularized":
        raise invalid("precision", "the high-precision route has no "
                      "regularized bias; leave --precision out with --bias regularized")
    if precision is not None and problem.loss == "ce":
        raise invalid("precision", "the high-precision route is for "
                      "loss mse only; leave it out with --loss ce")
    if problem.loss == "ce":
        return _crossentropy(problem, restarts, seed)
    for name, value in (("restarts", restarts), ("seed", seed)):
        if value is not None:
            raise invalid(name, "only used by the cross-entropy search "
                          "(--loss ce); the MSE answer is exact without it")
    if problem.bias == "regularized":
        # the chosen solver only: a plain MSE answer loads no regularized or CE module
        from .regularized import solve as solve_regularized

        return solve_regularized(problem)
    if precision is not None:
        from .precise import solve_precise  # mpmath: only for --precision

        return solve_precise(problem, precision)
    _check_secular_work(problem)

    return representable(solve_mse(problem))


def _crossentropy(problem: Problem, restarts, seed):
    restarts = None if restarts is None else whole_number(
        restarts, "restarts", "", low=0, high=MAX_SEARCH_RESTARTS)
    seed = 0 if seed is None else whole_number(seed, "seed", "", low=0)
    if problem.lbar < CE_MIN_DECAY:
        raise invalid(
            ("lambda_w", "lambda_h"), "cross-entropy is solved for a "
            f"geometric-mean decay lbar >= {CE_MIN_DECAY:g}, got lbar = {problem.lbar:.3g}; "
            "below it the optimal logit margins (about log(1/lbar) > 690) leave float64")
    if problem.bias == "regularized":
        # the chosen solver only (also the free and bias-free CE searches, its two limits)
        from .regularized.crossentropy_solver import solve_ce as solve_regularized_ce

        return representable(solve_regularized_ce(problem, restarts=restarts, seed=seed))
    from .crossentropy.solver import solve as solve_ce  # the chosen solver only

    return representable(solve_ce(problem, restarts=restarts, seed=seed))


def _check_secular_work(problem: Problem) -> None:
    """Refuse a free-bias problem whose O(S^2) spectrum would run for hours."""
    if problem.bias != "free" or problem.K <= MAX_DISTINCT_SIZES:
        return
    distinct = int(np.unique(problem.n).size)
    if distinct > MAX_DISTINCT_SIZES:
        hours = SECONDS_PER_PAIR * distinct**2 / 3600
        raise invalid(
            "n", f"a free bias couples the {distinct} distinct class sizes (O(S^2) work, "
            f"about {hours:.2g} hours here); at most {MAX_DISTINCT_SIZES} distinct sizes: "
            "round the sizes (equal sizes cost nothing extra) or use --bias none")


def representable(solution):
    """The answer, or a refusal when some of its values are beyond float64.

    An MSE answer is first bounded from its largest values (O(K)); only near the
    end of float64 are the per-class arrays formed to look."""
    if math.isfinite(solution.loss) and solution.surely_representable():
        return solution
    values = [np.asarray(v) for v in (solution.feature_norm, solution.classifier_norm,
                                      solution.output, solution.layer_singular_values(),
                                      solution.layer_feature_norms)]
    if math.isfinite(solution.loss) and all(np.all(np.isfinite(v)) for v in values):
        return solution
    largest = max(float(np.max(np.abs(v), initial=0.0)) for v in values)
    raise invalid(
        ("lambda_w", "lambda_h"), "with decays this far apart some "
        f"values of the answer ({'inf' if math.isinf(largest) else f'{largest:.3g}'}) are "
        "beyond float64 (magnitudes up to 1.8e308); use --precision 20 (the high-precision "
        "route has no such limit) or decays closer together")
