"""``solve`` for nonnegative features: a closed form where one is proved, a bounded search
otherwise (docs/nonnegative.md)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...core.constants import BEST_FOUND, PROVED
from ...inputs.problem import Problem
from ...inputs.validation import invalid
from . import centred
from .closed import ce_critical_decay, ce_depth1, ce_depth1_applies
from .reduced import ClassMeanObjective
from .result import NonnegativeSolution
from .search import search, search_widths

__all__ = ["does_not_bind", "solve"]

NOT_BINDING = ("features >= 0 does not bind: the unconstrained minimizer has orthogonal class "
               "means, which a rotation puts on coordinate axes (nonnegative); the answer is "
               "the unconstrained one")


def does_not_bind(problem: Problem) -> bool:
    """Bias-free MSE: H >= 0 changes nothing (any depth, any widths)."""
    return problem.loss == "mse" and problem.bias == "none"


def solve(problem: Problem, unconstrained=None, *, restarts: int | None = None,
          seed: int | None = None):
    """The minimizer under H >= 0.

    Parameters
    ----------
    problem : Problem
        With ``features == "nonnegative"``.
    unconstrained : callable, optional
        Where the constraint does not bind, ``unconstrained(problem)`` gives the answer
        (the dispatch passes its own MSE route); a note is added to it.
    restarts, seed : int, optional
        Random nonnegative starts of a search, and their seed.
    """
    if does_not_bind(problem):
        for name, value in (("restarts", restarts), ("seed", seed)):
            if value is not None:
                raise invalid(name, "not used: bias-free MSE with nonnegative features is "
                              "the exact unconstrained answer; leave it out")
        answer = unconstrained(problem)
        return dataclasses.replace(answer, problem=problem, notes=(*answer.notes, NOT_BINDING))
    if ce_depth1_applies(problem):
        if restarts is not None or seed is not None:
            raise invalid("restarts" if restarts is not None else "seed", "not used: bias-free "
                          "cross-entropy at depth 1 with nonnegative features is a closed "
                          "form; leave it out")
        return _closed_ce(problem)
    bound = None
    if centred.applies(problem):
        bound = unconstrained(centred.lower_bound_problem(problem))
        point = centred.realize(problem, bound)
        if point is not None:
            return _attained(problem, bound, point)
    return _searched(problem, restarts, 0 if seed is None else seed, bound)


def _attained(problem: Problem, bound, point) -> NonnegativeSolution:
    """Balanced classes, free bias: the lower bound of :mod:`.centred`, attained."""
    widths = problem.widths or (problem.K,) * problem.depth
    loss = ClassMeanObjective(problem, widths).value(point)
    proved = bound.certainty != BEST_FOUND
    reason = ("balanced classes with a free bias: every nonnegative configuration costs at "
              "least the unconstrained answer with lambda_H K/(K-1), and orthogonal means on "
              "K axes attain it" + ("" if proved else
                                    "; that unconstrained answer is itself best found"))
    notes = (f"equal to the unconstrained {problem.loss.upper()} answer with a free bias and "
             f"lambda_h = "
             f"{problem.lambda_h * problem.K / (problem.K - 1):.6g} (= lambda_h K/(K-1)), "
             "whose centred means are these orthogonal means minus their average",)
    return NonnegativeSolution(problem, loss, point, PROVED if proved else BEST_FOUND,
                               reason, bound.unique, notes)


def _closed_ce(problem: Problem) -> NonnegativeSolution:
    width = problem.widths[0] if problem.widths else problem.K
    point, loss = ce_depth1(problem, width)
    critical = ce_critical_decay(problem)
    notes = ("class k's mean is zero exactly when n_k <= K N^2 lambda_W lambda_H / (K-1), "
             "i.e. lbar = sqrt(lambda_W lambda_H) >= critical_decay; the class means are "
             "orthogonal and the classifier rows are w_k = m_k (e_k - 1/K) in the means' axes",)
    reason = ("closed form: Dang, Tran, Nguyen, Ho (ICML 2024) prove the class means are "
              "orthogonal; on that structure the problem splits into one convex scalar "
              "problem per class, solved exactly")
    return NonnegativeSolution(problem, loss, point, PROVED, reason, True, notes,
                               class_critical_decay=critical)


def _searched(problem: Problem, restarts, seed, bound=None) -> NonnegativeSolution:
    point, loss, ends = search(problem, restarts, seed)
    widths = search_widths(problem)
    reason = (f"no closed form is known here; best of {len(ends)} bounded L-BFGS-B runs on the "
              "class-mean problem (NC1 holds under H >= 0)")
    notes = []
    if problem.widths is None:
        notes.append(f"searched with widths {','.join(map(str, widths))} (d_1 = 2K leaves room "
                     "for nonnegative means that do not fit on K axes)")
    if problem.loss == "ce" and problem.depth == 1 and problem.bias == "none":
        notes.append("d_1 is narrower than the classes that stay nonzero: the closed form "
                     "(orthogonal means) does not fit, searched instead")
    if bound is not None:
        notes.append(f"certified lower bound {float(bound.loss):.12g} (the unconstrained "
                     "answer with lambda_h K/(K-1)); the search is above it by "
                     f"{loss / float(bound.loss) - 1:.3g} relative")
    collapsed = np.linalg.norm(point.means, axis=0) == 0
    if collapsed.any():
        alone = " (their outputs are the bias alone)" if point.bias is not None else ""
        notes.append(f"classes {np.flatnonzero(collapsed).tolist()} have a zero mean{alone}")
    return NonnegativeSolution(problem, loss, point, BEST_FOUND, reason, None, tuple(notes),
                               ends=ends)
