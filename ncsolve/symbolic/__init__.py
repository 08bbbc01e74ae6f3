"""The symbolic half of ncsolve: sympy expressions and a high-precision route.

Two layers, imported lazily so that each user pays only for what it uses:

* :mod:`ncsolve.solvers.precise` (mpmath only): :func:`solve_precise`, the
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
    "solve_precise": "ncsolve.solvers.precise",
    "PreciseSolution": "ncsolve.solvers.precise",
    "stationary_points": "ncsolve.solvers.precise",
    "DirectionRoots": "ncsolve.solvers.precise",
    "check_precision": "ncsolve.solvers.precise",
    "ReducedModel": "ncsolve.symbolic.expressions",
    "reduced_model": "ncsolve.symbolic.expressions",
    "full_objective": "ncsolve.symbolic.expressions",
    "FullObjectiveExpr": "ncsolve.symbolic.expressions",
    "paper_parametrization": "ncsolve.symbolic.paper",
    "exact_roots": "ncsolve.symbolic.expressions",
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
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
