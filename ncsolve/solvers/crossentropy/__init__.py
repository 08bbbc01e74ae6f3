"""Cross-entropy: the reduced class-logit problem, its candidates, search and certificates.

``from ncsolve.solvers.crossentropy import solve`` -- see :func:`solve` and docs/crossentropy.md.

Modules
-------
reduced      the reduced objective F(X, b) and its free bias's Newton iteration
factor_form  its smooth factor form X D^(1/2) = A_L ... A_1, what gradient methods run on
candidates   structured logit patterns (simplex ETF, polygons, cross-polytopes,
             simplex products, grouped simplices, the origin), one variable each
local_runs   stacked local minimizations from given starts, their end points polished
search       numerical global search of the reduced K x K problem with restarts
certificate  what is proved: depth-1 duality gap, origin threshold
result       CESolution and the read-off of every layer from the logits
solver       solve(problem)
text         the text report (format_ce)
"""

from .result import CESolution
from .solver import solve

__all__ = ["CESolution", "solve"]
