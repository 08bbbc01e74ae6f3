"""A regularized bias (+ lambda_b/2 ||b||^2): exact for a fixed bias, the bias searched or proved.

``from ncsolve.solvers.regularized import solve`` -- see docs/theory.md, "Regularized bias".
Cross-entropy: ``from ncsolve.solvers.regularized.crossentropy_solver import solve_ce``
(not re-exported here, so that the MSE answer does not load the cross-entropy search).

Modules
-------
target                the fixed-bias problem: bias-free with the shifted target
                      T_b = (I - b 1^T) D^(1/2)
outer                 the outer problem: exact for balanced classes, local searches otherwise
certificate           depth 1: a dual lower bound on the full objective (duality gap)
result                RegularizedSolution (its JSON and text through ncsolve.results.base)
solver                solve(problem)
reduced_crossentropy  the reduced CE problem with the bias as variables, its certificates
crossentropy_solver   solve_ce(problem): the search from both limits, the origin and
                      random starts
crossentropy_result   RegularizedCESolution
"""

from .result import RegularizedSolution
from .solver import solve

__all__ = ["RegularizedSolution", "solve"]
