"""The outer problem over the bias: exact for balanced classes, searched otherwise.

``F(b) = min over everything else`` is evaluated exactly by
:func:`ncsolve.solvers.regularized.target.solve_fixed_bias`. Three routes:

* balanced classes: the global minimum has ``b = beta 1`` and, eliminating
  ``beta``, the all-ones direction is a scalar problem with N replaced by
  ``N (1 + lambda_b) / lambda_b`` (docs/theory.md, "Regularized bias"): exact;
* depth 1: F is convex; a local minimum is global, and the duality gap of
  :mod:`ncsolve.solvers.regularized.certificate` proves it;
* otherwise: L-BFGS on F from both limits (free bias b = n/N, no bias b = 0)
  and from points between them; the best local minimum is reported as
  "best found".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core import scalar
from ...core.lbfgs import minimize_stack, row_by_row
from ...inputs.problem import Problem
from .result import BiasRun
from .target import FixedBias, solve_fixed_bias

# starting biases t * n/N: t = 1 is the free-bias limit, t = 0 the bias-free one
START_FRACTIONS = (1.0, 0.0, 0.75, 0.5, 0.25)
SAME_RTOL = 1e-9  # outer minima whose losses agree this closely count as one
ROUNDING = 16 * np.finfo(float).eps  # losses this close (relative) cannot be ordered
# L-BFGS on F(b): no gradient test (GTOL 0); F has concave kinks at phase boundaries, so
# a search stops after PATIENCE steps in a row that lower F by rounding only, not one,
# backtracks by halving, and takes first steps of unit length in b (the entries of b
# are fractions of 1): from b = 0 a step of the gradient's own length can stop short
# in the basin next to the start
MAXITER, GTOL, PATIENCE, MEMORY, FIRST_STEP = 500, 0.0, 3, 10, 1.0


@dataclass(frozen=True, eq=False)
class OuterRun:
    """One local search of the outer problem: its start (in words, and the bias),
    its iterations and the exact inner minimizer ``point`` at the bias it reached."""

    start: str
    start_bias: np.ndarray
    point: FixedBias
    iterations: int

    def record(self) -> BiasRun:
        """What an answer keeps of this search: where it ended, not the solver's state."""
        end = self.point
        return BiasRun(start=self.start, loss=end.loss, bias_value=end.b,
                       iterations=self.iterations, rank=int(np.count_nonzero(end.z)))


@dataclass(frozen=True, eq=False)
class BalancedBias:
    """The exact balanced-class bias ``beta 1`` and its scalar problem.

    Attributes
    ----------
    beta : float
        Common bias entry.
    effective_n : float
        ``N (1 + lambda_b) / lambda_b``, the N of the all-ones direction's scalar problem.
    minima : scalar.DirectionMinima
        The solution of that scalar problem (one entry).
    """

    beta: float
    effective_n: float
    minima: scalar.DirectionMinima


def balanced_bias(problem: Problem) -> BalancedBias:
    """The exact bias for balanced classes (see the module docstring)."""
    lam = problem.lambda_b
    size = float(problem.n[0])
    effective_n = problem.N * (1.0 + lam) / lam
    minima = scalar.minimize(np.array([np.sqrt(size)]), effective_n, problem.c, problem.q)
    # 1 - u = (sqrt(n) - z) / (sqrt(n) (1 + lambda_b)), beta = (1 - u) / K, from the residual
    beta = float(minima.residual[0]) / (np.sqrt(size) * (1.0 + lam) * problem.K)
    return BalancedBias(beta=beta, effective_n=effective_n, minima=minima)


def _value_and_grad(problem: Problem):
    def fun(b):
        point = solve_fixed_bias(problem, b)
        return point.loss, point.grad

    return fun


def search(problem: Problem, fractions=START_FRACTIONS) -> list[OuterRun]:
    """Local searches (one L-BFGS stack) from ``t n/N`` for each fraction t, best first
    (losses equal to rounding: the smaller gradient first, the point nearer to stationary)."""
    starts = np.outer(fractions, problem.n / float(problem.N))
    end = minimize_stack(row_by_row(_value_and_grad(problem)), starts, MAXITER, GTOL,
                         maxcor=MEMORY, patience=PATIENCE, first_step=FIRST_STEP,
                         interpolate=False)
    runs = [OuterRun(start=_start_name(t), start_bias=starts[i],
                     point=solve_fixed_bias(problem, end.x[i]),
                     iterations=int(end.iterations[i])) for i, t in enumerate(fractions)]
    runs.sort(key=lambda run: run.point.loss)
    best = runs[0].point.loss
    tied = [run for run in runs if run.point.loss - best <= ROUNDING * abs(best)]
    first = min(tied, key=lambda run: float(np.abs(run.point.grad).max()))
    return [first, *(run for run in runs if run is not first)]


def _start_name(t: float) -> str:
    if t == 1.0:
        return "free-bias limit b = n/N"
    if t == 0.0:
        return "bias-free limit b = 0"
    return f"b = {t:g} n/N"


def distinct_minima(runs: list[OuterRun]) -> int:
    """How many different losses (to SAME_RTOL) the runs reached."""
    levels: list[float] = []
    for run in runs:
        loss = run.point.loss
        if all(abs(loss - other) > SAME_RTOL * max(abs(other), 1e-300) for other in levels):
            levels.append(loss)
    return len(levels)
