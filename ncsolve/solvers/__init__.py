"""Solvers: ``solve(problem, **options)`` returns the answer for any loss, bias and precision.

Every consumer (verify, measure, sweep, the API) asks this one function; none
of them dispatches on the loss or the bias again.

Modules
-------
mse          the float64 closed form (read-off of the scalar minima)
precise      the same read-off to any number of digits (mpmath)
regularized  a regularized bias: exact for a fixed bias, the bias searched or proved
crossentropy the reduced class-logit problem, its search and certificates
nonnegative  features H >= 0 (after a ReLU): closed forms where proved, a bounded search
"""

from __future__ import annotations

import dataclasses
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
          seed: int | None = None, start=None, effort: str | None = None):
    """The global minimizer of a validated problem (or the best found, with its certainty).

    Parameters
    ----------
    problem : Problem
    precision : int, optional
        Digits of the high-precision route (MSE only).
    restarts, seed : int, optional
        The cross-entropy search's random starts and their seed (cross-entropy only).
    start : Result, optional
        Cross-entropy only: the answer of a nearby problem with the same classes, a
        warm start (see :func:`ncsolve.solvers.crossentropy.solve`).
    effort : {"quick", "default", "thorough"}, optional
        Cross-entropy only: the search budget (docs/crossentropy.md, section 6).

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
    if problem.target is not None and problem.features == "nonnegative":
        raise invalid("features", "nonnegative features take one-hot labels only; leave "
                      "--features out with targets other than one-hot")
    if effort is not None and (problem.features == "nonnegative" or problem.target is not None):
        raise invalid("effort", "sets the budget of the cross-entropy search of one-hot, "
                      "unconstrained problems; leave it out")
    if problem.features == "nonnegative":
        return _nonnegative(problem, precision, restarts, seed)
    if problem.target is not None:
        return _target(problem, precision, restarts, seed)
    if precision is not None and problem.bias == "regularized":
        raise invalid("precision", "the high-precision route has no "
                      "regularized bias; leave --precision out with --bias regularized")
    if precision is not None and problem.loss == "ce":
        raise invalid("precision", "the high-precision route is for "
                      "loss mse only; leave it out with --loss ce")
    if problem.loss == "ce":
        return _crossentropy(problem, restarts, seed, start, effort)
    for name, value in (("restarts", restarts), ("seed", seed), ("start", start),
                        ("effort", effort)):
        if value is not None:
            raise invalid(name, "only used by the cross-entropy search "
                          "(--loss ce); the MSE answer is exact without it",
                          "" if name == "start" else None)  # start: Python only
    if problem.bias == "regularized":
        # the chosen solver only: a plain MSE answer loads no regularized or CE module
        from .regularized import solve as solve_regularized

        return solve_regularized(problem)
    if precision is not None:
        from .precise import solve_precise  # mpmath: only for --precision

        return solve_precise(problem, precision)
    _check_secular_work(problem)

    return representable(solve_mse(problem))


def _nonnegative(problem: Problem, precision, restarts, seed):
    """Features H >= 0: the chosen solver only; where the constraint does not bind, the
    unconstrained MSE route (either precision) gives the answer."""
    from .nonnegative import solve as solve_nonnegative
    from .nonnegative.solver import does_not_bind

    if precision is not None and not does_not_bind(problem):
        raise invalid("precision", "with nonnegative features the high-precision route "
                      "is for bias-free MSE only (where H >= 0 does not bind); leave it out")
    restarts = None if restarts is None else whole_number(
        restarts, "restarts", "", low=0, high=MAX_SEARCH_RESTARTS)
    seed = None if seed is None else whole_number(seed, "seed", "", low=0)

    def unconstrained(p):
        return solve(dataclasses.replace(p, features="unconstrained"), precision=precision)

    answer = solve_nonnegative(problem, unconstrained, restarts=restarts, seed=seed)
    return answer if precision is not None else representable(answer)  # mpmath: no limit


def _crossentropy(problem: Problem, restarts, seed, start=None, effort=None):
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

    return representable(solve_ce(problem, restarts=restarts, seed=seed, start=start,
                                  effort=effort))


def _target(problem: Problem, precision, restarts, seed):
    """A target other than one-hot labels: the MSE closed form of solvers.targets."""
    kind = problem.target.kind
    if problem.loss == "ce":
        raise invalid("loss", f"{kind} targets are solved for loss mse only (cross-entropy "
                      "with these targets has no closed form here); use --loss mse")
    for name, value in (("precision", precision), ("restarts", restarts), ("seed", seed)):
        if value is not None:
            raise invalid(name, f"not available with {kind} targets (their MSE answer is "
                          "exact in float64); leave it out")
    if problem.bias == "regularized":
        from .regularized.targets import solve_target_regularized  # only when asked

        return representable(solve_target_regularized(problem))
    from .targets import solve as solve_target  # only when asked

    return representable(solve_target(problem))


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
