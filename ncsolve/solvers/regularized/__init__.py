"""A regularized bias (+ lambda_b/2 ||b||^2): exact for a fixed bias, the bias searched or proved.

``from ncsolve.solvers.regularized import solve`` -- see docs/theory.md, "Regularized bias".

Modules
-------
target       the fixed-bias problem: bias-free with the shifted target T_b = (I - b 1^T) D^(1/2)
outer        the outer problem: exact for balanced classes, local searches otherwise
certificate  depth 1: a dual lower bound on the full objective (duality gap)
result       RegularizedSolution (its JSON and text through ncsolve.results.base)
solver       solve(problem)
crossentropy the reduced CE problem with the bias as variables, its certificates
ce_solver    solve_ce(problem): the search from both limits, the origin and random starts
ce_result    RegularizedCESolution
"""

from .result import RegularizedSolution
from .solver import solve


def solve_ce(problem, restarts=None, seed=0):
    """Cross-entropy with a regularized bias (see :func:`.ce_solver.solve_ce`)."""
    from .ce_solver import solve_ce as run

    return run(problem, restarts=restarts, seed=seed)


__all__ = ["RegularizedSolution", "solve", "solve_ce"]
