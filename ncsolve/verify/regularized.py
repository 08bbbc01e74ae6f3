"""A regularized bias (MSE or cross-entropy): ncsolve's answer against gradient-method runs.

The answer is exact for its bias and proved or searched over the bias
(:mod:`ncsolve.solvers.regularized`), so runs are judged as for cross-entropy
(:func:`ncsolve.verify.assess_ce`): by the loss against the answer's, the
gradient norm and the Grams of every layer after the best relabeling of classes
of equal size. A run below the answer is reported with ``beats_theory``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..solvers.crossentropy.result import Layers, read_off
from ..core.objective import FullObjective
from .ce import CEVerifyReport, _verify_ce
from .common import Tolerances, problem_with_widths


@dataclass(frozen=True)
class _End:
    """Where one start of ncsolve's outer search ended (loss and rank)."""

    start: str
    loss: float
    rank: int


@dataclass(frozen=True, eq=False)
class RegularizedAnswer:
    """A regularized-bias answer seen through the fields the comparison reads.

    Attributes
    ----------
    solution : RegularizedSolution or RegularizedCESolution
        The answer of :func:`ncsolve.predict` with ``bias="regularized"``.
    """

    solution: object

    def __getattr__(self, name):  # the core fields (loss, certainty, ...) of the answer
        if name == "solution":
            raise AttributeError(name)
        return getattr(self.solution, name)

    @property
    def logits(self) -> np.ndarray:
        """Class-mean outputs without the bias (column k: class k)."""
        return self.solution.gram_outputs()

    @cached_property
    def layers(self) -> Layers:
        return read_off(self.solution.problem, self.logits, self.solution.rank)

    @property
    def certainty_reason(self) -> str:
        return " ".join(self.solution.notes)

    @property
    def candidates(self) -> tuple:
        return ()

    @cached_property
    def runs(self) -> tuple[_End, ...]:
        ends = []
        for run in self.solution.runs:
            end = getattr(run, "point", run)  # MSE: the FixedBias of an outer run
            rank = getattr(end, "rank", None)
            rank = int(np.count_nonzero(end.z)) if rank is None else int(rank)
            ends.append(_End(run.start, float(end.loss), rank))
        return tuple(ends)

    @property
    def runner_up(self):
        return None

    @property
    def etf_loss(self) -> float:
        return math.nan

    @property
    def restarts(self) -> int:
        return len(self.runs)

    @property
    def hits(self) -> int:
        loss = float(self.solution.loss)
        return sum(abs(end.loss - loss) <= 1e-6 * abs(loss) for end in self.runs)

    def to_dict(self, grams: bool | None = None) -> dict:
        return self.solution.to_dict(grams)

    def __str__(self) -> str:
        return str(self.solution)


def _verify_regularized(objective: FullObjective, method: str, settings: dict, options: dict,
                        tolerances: Tolerances, solution) -> CEVerifyReport:
    """The regularized-bias branch of :func:`ncsolve.verify.verify` (either loss)."""
    if solution is None:
        from ..solvers.regularized import solve, solve_ce

        problem = problem_with_widths(objective.problem, objective.widths)
        solution = solve_ce(problem) if problem.loss == "ce" else solve(problem)
    answer = solution if isinstance(solution, RegularizedAnswer) else RegularizedAnswer(solution)
    return _verify_ce(objective, method, settings, options, tolerances, answer)
