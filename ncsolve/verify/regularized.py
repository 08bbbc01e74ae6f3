"""A regularized bias (MSE or cross-entropy): ncsolve's answer against gradient-method runs.

The answer is exact for its bias and proved or searched over the bias
(:mod:`ncsolve.solvers.regularized`), so runs are judged as for cross-entropy
(:func:`ncsolve.verify.assess_ce`): by the loss against the answer's, the
gradient norm and the Grams of every layer after the best relabeling of classes
of equal size. A run below the answer is reported with ``beats_theory``.
What the comparison reads of the answer (its outputs, core fields and
``search_record()``) every answer has, so the answer is compared as it is.
"""

from __future__ import annotations

from ..core.objective import FullObjective
from .crossentropy import CEVerifyReport, _verify_ce
from .common import Tolerances, problem_with_widths


def _verify_regularized(objective: FullObjective, method: str, settings: dict, options: dict,
                        tolerances: Tolerances, solution) -> CEVerifyReport:
    """The regularized-bias branch of :func:`ncsolve.verify.verify` (either loss)."""
    if solution is None:
        from ..solvers.regularized import solve, solve_ce

        problem = problem_with_widths(objective.problem, objective.widths)
        solution = solve_ce(problem) if problem.loss == "ce" else solve(problem)
    return _verify_ce(objective, method, settings, options, tolerances, solution)
