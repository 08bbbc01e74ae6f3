"""Everything ``ncsolve equation`` shows, assembled as sympy objects and decimals.

:func:`equation_report` builds an :class:`EquationReport`; the command line only
formats it (plain text, LaTeX or JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy as sp

from ..core.balance import precise_scales
from ..inputs.problem import DEFAULT_DECAY, Problem
from ..inputs.validation import invalid
from .expressions import SYMBOLS, ReducedModel, exact_roots, reduced_model
from .paper import paper_parametrization
from ..solvers.precise import (
    GUARD_DIGITS,
    check_precision,
    check_work,
    critical_decay,
    decimal_string,
    exact_decimal,
    solve_precise,
    stationary_points,
)

__all__ = ["EquationReport", "RootReport", "equation_report"]

EXACT_CLASS_LIMIT = 12  # distinct class sizes up to which roots in radicals are derived


@dataclass(frozen=True)
class RootReport:
    """Stationary points of one class (bias-free) or direction (free bias).

    Attributes
    ----------
    label : str
        "class 0" ... or "direction 0" ... (0-based, as in predict)
    n : int or None
        Class size (bias-free), None for a direction.
    sigma, sigma_exact
        Target singular value as mpf and as a sympy number.
    stationarity : sympy.Equality
        The equation in z with every number substituted.
    polynomial : sympy.Expr
        The same as a polynomial in t (z = t^L), = 0.
    roots : tuple of mpf
        Positive stationary points, increasing.
    kinds : tuple of str
        "local max", "local min" or "inflection" for each root.
    z : mpf
        Global minimizer (0 when collapsed).
    tie : bool
        0 and the nonzero root are both global (z is then reported as 0).
    values : tuple of mpf
        g at each root; ``g0`` is g(0).
    feature_norm : mpf or None
        ||hbar_k|| (bias-free classes).
    critical_decay : mpf
        lbar above which this direction collapses.
    exact : tuple of sympy.Expr or None
        The positive roots in radicals (same order as ``roots``), when found.
    paper_x : tuple of mpf
        The paper's x for each root (equal decays only).
    phase : str
        As in :mod:`ncsolve.core.scalar`: active, window, tie, collapsed or empty
        (taken from the direction's stationary points, not decided again here).
    """

    label: str
    n: int | None
    sigma: object
    sigma_exact: object
    stationarity: object
    polynomial: object
    roots: tuple
    kinds: tuple
    z: object
    tie: bool
    values: tuple
    g0: object
    feature_norm: object
    critical_decay: object
    exact: tuple | None
    paper_x: tuple = ()
    phase: str = ""

    @property
    def collapsed(self) -> bool:
        return self.z == 0



@dataclass(frozen=True)
class EquationReport:
    """The reduced problem of a depth, its thresholds, and per-class roots.

    The per-class roots are present when numbers are given.
    """

    model: ReducedModel
    precision: int
    objective: object
    derivative: object
    stationarity: object
    polynomial: object
    polynomial_w: object
    thresholds: dict
    peak: object
    crossing: object
    symbolic_roots: list | None
    paper: dict | None
    rows: tuple = ()
    classes: tuple = ()  # free bias: per-class (n, feature_norm)
    notes: tuple = field(default=())
    inputs: dict = field(default_factory=dict)  # the given numbers, named as in predict

    @property
    def stationarity_all(self):
        """One equation in z for the whole problem: the product of the distinct
        per-class (or per-direction) left-hand sides minus right-hand sides."""
        distinct = []
        for row in self.rows:
            if row.sigma_exact != 0 and all(row.sigma_exact != r.sigma_exact for r in distinct):
                distinct.append(row)
        if not distinct:
            return self.stationarity
        if len(distinct) == 1:
            return distinct[0].stationarity
        factors = [r.stationarity.lhs - r.stationarity.rhs for r in distinct]
        return sp.Eq(sp.Mul(*factors, evaluate=False), 0, evaluate=False)

    def to_dict(self) -> dict:
        """JSON contract of ``ncsolve equation --json``; numbers are decimal strings."""
        m, d = self.model, self.precision

        def num(x):
            return None if x is None else decimal_string(x, d)

        out = {
            "depth": m.depth,
            "factors": m.L,
            "q": float(m.q),
            "bias": m.bias,
            "precision": d,
            "problem": dict(self.inputs),
            "symbol": "z",
            "objective": str(self.objective),
            "derivative": str(self.derivative),
            "stationarity": str(self.stationarity_all),
            "stationarity_general": str(self.stationarity),
            "polynomial": sp.sstr(self.polynomial, order="rev-lex"),
            "polynomial_symbol": "t",
            "substitution": f"z = t**{m.L}",
            "polynomial_reduced": sp.sstr(self.polynomial_w, order="rev-lex"),
            "polynomial_reduced_symbol": "w",
            "reduced_substitution": f"z = w**{sp.Rational(m.L, m.reduction)}",
            "peak": str(self.peak),
            "crossing": str(self.crossing),
            "thresholds": {k: str(v) for k, v in self.thresholds.items()},
        }
        if self.symbolic_roots is not None:
            out["exact_roots"] = [str(r) for r in self.symbolic_roots]
        if self.paper is not None:
            out["paper"] = {
                "equation": str(self.paper["equation_display"]),
                "b": str(self.paper["b_display"]),
                "equation_explicit": str(self.paper["equation"]),
                "z_of_x": str(self.paper["z_of_x"]),
                "x_of_z": str(self.paper["x_of_z"]),
                "feature_norm_sq": str(self.paper["feature_norm_sq"]),
                "derived_from_objective": bool(self.paper["derived"]),
                "equivalent_to_z_form": bool(self.paper["equivalent"]),
            }
        rows = [self._row_dict(r, num) for r in self.rows]
        if m.bias == "none" and rows:
            out["classes"] = rows
        elif rows:
            out["directions"] = rows
            out["classes"] = [
                {"class": k, "n": n, "feature_norm": num(f), "collapsed": bool(f == 0)}
                for k, (n, f) in enumerate(self.classes)
            ]
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @staticmethod
    def _row_dict(r: RootReport, num) -> dict:
        kind, index = r.label.split()
        row = {kind: int(index)}  # "class": k (bias-free) or "direction": i
        if r.n is not None:
            row["n"] = r.n
        row.update(
            {
                "sigma": num(r.sigma),
                "stationarity": str(r.stationarity),
                "polynomial": sp.sstr(r.polynomial, order="rev-lex"),
                "roots": [num(v) for v in r.roots],
                "kinds": list(r.kinds),
                "z": num(r.z),
                "global": "0" if r.z == 0 else num(r.z),
                "state": r.phase,
                "collapsed": bool(r.collapsed),
                "loss_at_roots": [num(v) for v in r.values],
                "loss_at_zero": num(r.g0),
                "critical_decay": num(r.critical_decay),
            }
        )
        if r.feature_norm is not None:
            row["feature_norm"] = num(r.feature_norm)
        if r.exact is not None:
            row["exact_roots"] = [str(e) for e in r.exact]
        if r.paper_x:
            row["paper_x"] = [num(v) for v in r.paper_x]
        return row


def equation_report(
    depth: int,
    n=None,
    lambda_w=None,
    lambda_h=None,
    bias: str = "none",
    precision: int = 20,
) -> EquationReport:
    """Assemble the reduced objective, stationarity, thresholds and (with class sizes) the roots.

    Parameters
    ----------
    depth : int
    n : sequence of int, optional
        Class sizes; when given, missing decays take predict's default (5e-4).
    lambda_w, lambda_h : optional
        Decays; without class sizes, the missing ones stay symbolic.
    bias : {"none", "free"}
    precision : int
        Significant digits of every decimal (15..1000).

    Raises
    ------
    ProblemError
        For invalid input (validated exactly as ``predict`` does).
    """
    digits = check_precision(precision)
    bias_free = str(bias).strip().lower() == "none"
    if str(bias).strip().lower() == "regularized":
        raise invalid("bias", "ncsolve equation covers none and free; for a "
                      "regularized bias use ncsolve predict --bias regularized --lambda-b X")
    filled_w = lambda_w if lambda_w is not None else DEFAULT_DECAY
    filled_h = lambda_h if lambda_h is not None else DEFAULT_DECAY
    problem = Problem.build(n if n is not None else [1], depth, filled_w, filled_h, bias, "mse")
    notes = []
    if n is not None:
        check_work(problem, digits)
        if lambda_w is None or lambda_h is None:
            notes.append(f"decays not given take predict's default {DEFAULT_DECAY}")
        lambda_w, lambda_h = problem.lambda_w, problem.lambda_h
    else:
        lambda_w = None if lambda_w is None else list(problem.lambda_w)
        lambda_h = None if lambda_h is None else problem.lambda_h
    model = reduced_model(
        problem.depth,
        None if n is None else [int(v) for v in problem.n],
        None if lambda_w is None else list(lambda_w),
        lambda_h,
        problem.bias,
        digits,
    )
    # the paper's x form is stated for the bias-free model with equal decays
    paper = paper_parametrization(model.depth) if model.equal_decays and bias_free else None
    general = model.numeric
    report = {
        "model": model,
        "precision": digits,
        "objective": general(model.objective()),
        "derivative": general(model.derivative()),
        "stationarity": general(model.stationarity()),
        "polynomial": sp.expand(general(model.polynomial())),
        "polynomial_w": sp.expand(general(model.polynomial(variable="w"))),
        "thresholds": model.thresholds(),
        "peak": model.peak(),
        "crossing": model.crossing(),
        "symbolic_roots": exact_roots(model, SYMBOLS["sigma"]) if model.depth in (1, 3) else None,
        "paper": paper,
    }
    report["inputs"] = {
        "n": None if n is None else problem.n.tolist(),
        "N": None if n is None else problem.N,
        "depth": problem.depth,
        "lambda_w": None if lambda_w is None else [float(v) for v in lambda_w],
        "lambda_h": None if lambda_h is None else float(lambda_h),
        "bias": problem.bias,
    }
    if n is None:
        return EquationReport(**report, notes=tuple(notes))
    rows, classes = _rows(model, problem, digits)
    if problem.bias == "none" and len(set(model.sigmas)) > EXACT_CLASS_LIMIT:
        notes.append(f"roots in radicals are derived for at most {EXACT_CLASS_LIMIT} distinct "
                     "class sizes; the decimals are correct to the requested digits either way")
    return EquationReport(**report, rows=rows, classes=classes, notes=tuple(notes))


def _rows(model: ReducedModel, problem: Problem, digits: int):
    with mpmath.workdps(digits + GUARD_DIGITS):
        lbar, scales = precise_scales(exact_decimal(problem.lambda_h),
                                      [exact_decimal(v) for v in problem.lambda_w])
        N = mpmath.mpf(problem.N)
        rows = []
        radicals = {} if len(set(model.sigmas)) <= EXACT_CLASS_LIMIT else None
        for k, sigma_exact in enumerate(model.sigmas):
            sigma = mpmath.mpf(str(sp.N(sigma_exact, digits + GUARD_DIGITS + 5)))
            found = stationary_points(sigma, N, lbar, model.L)
            rows.append(_row(model, problem, k, sigma_exact, sigma, found, N, scales[0], digits,
                             radicals))
        classes = ()
        if problem.bias == "free":
            solution = solve_precise(problem, digits)
            classes = tuple(zip((int(v) for v in problem.n), solution.feature_norm))
    return tuple(rows), classes


def _row(model, problem, k, sigma_exact, sigma, found, N, scale_h, digits,
         radicals: dict | None) -> RootReport:
    L, M = model.L, model.depth
    bias_free = problem.bias == "none"
    kinds = _kinds(found.roots, L)
    feature = None
    if bias_free:
        feature = mpmath.mpf(0)
        if found.z > 0:
            s_h = scale_h * found.z ** (mpmath.mpf(1) / L)
            feature = s_h / mpmath.sqrt(int(problem.n[k]))
    exact = None
    if radicals is not None and sigma_exact != 0 and bias_free:
        if sigma_exact not in radicals:
            radicals[sigma_exact] = exact_roots(model, sigma_exact, digits)
        candidates = radicals[sigma_exact]
        if candidates is not None and len(candidates) == len(found.roots):
            exact = tuple(candidates)
    paper_x = ()
    if model.equal_decays and bias_free:
        paper_x = tuple(_paper_x(r, gap, M) for r, gap in zip(found.roots, found.gaps))
    return RootReport(
        label=f"{'class' if bias_free else 'direction'} {k}",
        n=int(problem.n[k]) if bias_free else None,
        sigma=sigma,
        sigma_exact=sigma_exact,
        stationarity=model.numeric(model.stationarity(sigma_exact)),
        polynomial=sp.expand(model.numeric(model.polynomial(sigma_exact))),
        roots=found.roots,
        kinds=kinds,
        z=found.z,
        tie=found.tie,
        values=found.values,
        g0=found.g0,
        feature_norm=feature,
        critical_decay=critical_decay(sigma, N, L),
        exact=exact,
        paper_x=paper_x,
        phase=found.state,
    )


def _paper_x(root, gap, M: int):
    """The paper's ``x = (z / (sigma - z))^(1/M)``, from the gap ``sigma - z`` computed
    without cancellation (it stays finite however small the decays are)."""
    return (root / gap) ** (mpmath.mpf(1) / M) if gap > 0 else mpmath.inf


def _kinds(roots: tuple, L: int) -> tuple:
    if L == 2:
        return ("local min",) * len(roots)
    if len(roots) == 1:
        return ("inflection",)
    return ("local max", "local min")[: len(roots)]
