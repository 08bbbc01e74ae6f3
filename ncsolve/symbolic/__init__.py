"""The symbolic half of ncsolve: sympy expressions and a high-precision route.

Two layers, imported lazily so that each user pays only for what it uses:

* :mod:`ncsolve.symbolic.precise` (mpmath only): :func:`solve_precise`, the
  global minimizer to any number of digits, and :func:`stationary_points`, the
  roots of one direction's stationarity equation.
* :mod:`ncsolve.symbolic.expressions` (sympy): the full and reduced objectives,
  the stationarity equation and its polynomial form, the thresholds in closed
  form, the paper's parametrization and exact roots in radicals.

``ncsolve predict`` without ``--precision`` imports neither.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "solve_precise": "precise",
    "PreciseSolution": "precise",
    "stationary_points": "precise",
    "DirectionRoots": "precise",
    "check_precision": "precise",
    "ReducedModel": "expressions",
    "reduced_model": "expressions",
    "full_objective": "expressions",
    "FullObjectiveExpr": "expressions",
    "paper_parametrization": "expressions",
    "exact_roots": "expressions",
}

__all__ = [  # noqa: RUF022 - grouped by module
    "solve_precise", "PreciseSolution", "stationary_points", "DirectionRoots", "check_precision",
    "ReducedModel", "reduced_model", "full_objective", "FullObjectiveExpr",
    "paper_parametrization", "exact_roots",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ncsolve.symbolic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
