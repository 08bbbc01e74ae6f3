"""Search budgets of the cross-entropy solver: ``effort`` quick, default or thorough.

The default is the search as it has always run; ``quick`` spends about a third of
it, ``thorough`` about three times as much.  An explicit ``restarts`` overrides
the budget's random starts only.  Depth 1 proved by its certificate, and the
origin proved by its bound, do not depend on the effort.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...inputs.validation import Options, check

__all__ = ["BUDGETS", "EFFORTS", "Budget", "budget"]


@dataclass(frozen=True)
class Budget:
    """What one search spends.

    Attributes
    ----------
    restart_factor : float
        Random starts of each batch, times the default count (at least 2).
    seeds : int
        Structured candidates that start a local run.
    swap_rounds, swap_centres : int
        Rounds of class exchanges, and distinct best points they start from.
    continuation : bool
        Whether the best points are carried through nearby decays and back.
    """

    restart_factor: float
    seeds: int
    swap_rounds: int
    swap_centres: int
    continuation: bool


BUDGETS = {
    "quick": Budget(1 / 3, 2, 1, 1, False),
    "default": Budget(1.0, 3, 4, 1, True),
    "thorough": Budget(3.0, 5, 8, 2, True),
}
EFFORTS = tuple(BUDGETS)


def budget(effort: str | None) -> Budget:
    """The budget of ``effort`` (None: default); ProblemError for another word."""
    return BUDGETS[check("default" if effort is None else effort, Options(EFFORTS), "effort")]
