"""The global minimizer to any number of digits (mpmath; no sympy import).

An independent route to the numbers of :func:`ncsolve.predict`, recomputed in
multiple-precision arithmetic and handed to the read-off of
:mod:`ncsolve.core.readoff`. Imported only for ``--precision`` and the
symbolic engine: ``ncsolve predict`` without it never loads mpmath.

Modules
-------
digits    the requested precision, its guard digits and the decimal inputs
spectrum  the target's singular values and sparse unit vectors (secular roots)
roots     one direction's stationary points, global minimizer and critical decay
newton    the safeguarded Newton root finder both of them use
solver    :func:`solve_precise`: spectrum, roots, read-off, layers and loss
solution  :class:`PreciseSolution`, the answer
sparse    diagonals and Grams from sparse direction vectors
text      its JSON and text as decimal strings
"""

from __future__ import annotations

from .digits import GUARD_DIGITS, MAX_DIGITS, MIN_DIGITS, check_precision, exact_decimal
from .roots import (
    DirectionRoots,
    critical_decay,
    existence_threshold,
    global_threshold,
    stationary_points,
)
from .solution import PreciseSolution
from .solver import check_work, solve_precise
from .spectrum import target_directions
from .text import decimal_string

__all__ = [
    "GUARD_DIGITS",
    "MAX_DIGITS",
    "MIN_DIGITS",
    "DirectionRoots",
    "PreciseSolution",
    "check_precision",
    "check_work",
    "critical_decay",
    "decimal_string",
    "exact_decimal",
    "existence_threshold",
    "global_threshold",
    "solve_precise",
    "stationary_points",
    "target_directions",
]
