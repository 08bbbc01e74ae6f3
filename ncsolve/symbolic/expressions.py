"""The mathematics behind every number of ``predict``, as sympy expressions.

* :func:`full_objective`: the regularized objective with explicit matrix
  symbols for small sizes (display and differentiation checks);
* :func:`reduced_model`: the one-direction objective ``g(z)``, its
  stationarity condition as written and as a polynomial, the root structure,
  the existence and global thresholds in closed form, for symbolic or numeric
  parameters;
* :func:`exact_roots`: roots in radicals where they exist.

Numbers enter exactly: class sizes as integers, decays as the decimal they
print as (``0.0095`` becomes ``19/2000``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import gcd

import sympy as sp

__all__ = [
    "SYMBOLS",
    "FullObjectiveExpr",
    "ReducedModel",
    "as_rational",
    "exact_roots",
    "full_objective",
    "reduced_model",
]

_pos = {"positive": True}
SYMBOLS = {
    "z": sp.Symbol("z", **_pos),
    "t": sp.Symbol("t", **_pos),
    "w": sp.Symbol("w", **_pos),
    "x": sp.Symbol("x", **_pos),
    "sigma": sp.Symbol("sigma", **_pos),
    "N": sp.Symbol("N_total", **_pos),  # not "N": sympify reads N as sympy.N
    "n_k": sp.Symbol("n_k", **_pos),
    "lambda_H": sp.Symbol("lambda_H", **_pos),
    "lambda_W": sp.Symbol("lambda_W", **_pos),
    "lbar": sp.Symbol("lbar", **_pos),
}


def as_rational(value) -> sp.Rational:
    """A float as the decimal it prints as (``0.0095 -> 19/2000``); ints stay exact."""
    if isinstance(value, (int, sp.Integer)):
        return sp.Integer(value)
    return sp.Rational(repr(float(value)))


def _layer_decay_symbols(depth: int, equal: bool) -> tuple:
    if equal:
        return (SYMBOLS["lambda_W"],) * depth
    return tuple(sp.Symbol(f"lambda_W{j}", **_pos) for j in range(1, depth + 1))


@dataclass(frozen=True)
class ReducedModel:
    """The scalar problem of one direction, symbolic with optional numbers.

    Build it with :func:`reduced_model`. Expressions are in the symbols of
    :data:`SYMBOLS`; ``values`` maps the parameter symbols that were given
    numbers to exact sympy numbers, and :meth:`numeric` substitutes them.

    Attributes
    ----------
    depth : int
        M; the product has L = M + 1 factors and the penalty exponent is q = 2/L.
    layer_decays : tuple of Symbol
        lambda_W1..lambda_WM (one shared ``lambda_W`` when the decays are equal).
    values : dict
        Numbers for the parameters that were given (N, lambda_H, lambda_W...).
    sigmas : tuple
        Exact target singular values per class (bias-free) or per direction
        (free bias, as high-precision Floats), when class sizes were given.
    bias : str
    """

    depth: int
    layer_decays: tuple
    values: dict = field(default_factory=dict)
    sigmas: tuple = ()
    n: tuple = ()
    bias: str = "none"

    # ---- constants ------------------------------------------------------------------
    @property
    def L(self) -> int:
        return self.depth + 1

    @property
    def q(self) -> sp.Rational:
        return sp.Rational(2, self.L)

    @property
    def lbar(self) -> sp.Expr:
        """Geometric mean of all L decays, symbolic."""
        return sp.Mul(SYMBOLS["lambda_H"], *self.layer_decays) ** sp.Rational(1, self.L)

    @property
    def c(self) -> sp.Expr:
        """Coefficient of z^q in g: (L/2) lbar."""
        return sp.Rational(self.L, 2) * self.lbar

    @property
    def equal_decays(self) -> bool:
        return len(set(self.layer_decays)) == 1

    def numeric(self, expr):
        """Substitute every given number into ``expr`` (an equation stays unevaluated)."""
        if isinstance(expr, sp.Equality):
            return sp.Eq(self.numeric(expr.lhs), self.numeric(expr.rhs), evaluate=False)
        return expr.subs(self.values) if self.values else expr

    # ---- the objective and its stationarity ---------------------------------------
    def objective(self, sigma=None) -> sp.Expr:
        """g(z) = (z - sigma)^2 / (2N) + c z^q."""
        z, N = SYMBOLS["z"], SYMBOLS["N"]
        sigma = SYMBOLS["sigma"] if sigma is None else sigma
        return (z - sigma) ** 2 / (2 * N) + self.c * z**self.q

    def derivative(self, sigma=None) -> sp.Expr:
        """g'(z) = (z - sigma)/N + c q z^(q-1), the stationarity condition as written (= 0)."""
        z, N = SYMBOLS["z"], SYMBOLS["N"]
        sigma = SYMBOLS["sigma"] if sigma is None else sigma
        return (z - sigma) / N + self.c * self.q * z ** (self.q - 1)

    def stationarity(self, sigma=None) -> sp.Equality:
        """``z^(1-q) (sigma - z) = N c q``: g'(z) = 0 multiplied by N z^(1-q) > 0."""
        z, N = SYMBOLS["z"], SYMBOLS["N"]
        sigma = SYMBOLS["sigma"] if sigma is None else sigma
        return sp.Eq(z ** (1 - self.q) * (sigma - z), N * self.c * self.q, evaluate=False)

    @property
    def reduction(self) -> int:
        """g such that the polynomial is in w = t^g = z^(g/L): 2 when L is even, else 1."""
        return gcd(2 * self.L - 2, self.L - 2) if self.L > 2 else 2

    def polynomial(self, sigma=None, variable: str = "t") -> sp.Expr:
        """The stationarity condition as a polynomial (= 0).

        ``variable="t"``: ``t^(2L-2) - sigma t^(L-2) + N c q`` with z = t^L.
        ``variable="w"``: the same in w = t^g (see :attr:`reduction`), of the
        lowest degree: M when M is odd, 2M when M is even.
        """
        sigma = SYMBOLS["sigma"] if sigma is None else sigma
        L, rhs = self.L, SYMBOLS["N"] * self.c * self.q
        step = 1 if variable == "t" else self.reduction
        v = SYMBOLS[variable]
        return v ** ((2 * L - 2) // step) - sigma * v ** ((L - 2) // step) + rhs

    def z_of(self, variable: str = "t") -> sp.Expr:
        """z in terms of the polynomial's variable."""
        step = 1 if variable == "t" else self.reduction
        return SYMBOLS[variable] ** sp.Rational(self.L, step)

    # ---- root structure and thresholds --------------------------------------------
    def peak(self, sigma=None) -> sp.Expr:
        """z_m = (1-q) sigma / (2-q), where z^(1-q)(sigma - z) is largest."""
        sigma = SYMBOLS["sigma"] if sigma is None else sigma
        return (1 - self.q) * sigma / (2 - self.q)

    def crossing(self, sigma=None) -> sp.Expr:
        """z_c = 2(1-q) sigma / (2-q): the nonzero root when g(z_c) = g(0) (phase boundary)."""
        sigma = SYMBOLS["sigma"] if sigma is None else sigma
        return 2 * (1 - self.q) * sigma / (2 - self.q)

    def bound(self, kind: str, sigma=None) -> sp.Expr:
        """Largest ``N c`` for which a nonzero root exists (``kind="existence"``) or
        is the global minimizer (``kind="global"``), as a function of sigma."""
        sigma = SYMBOLS["sigma"] if sigma is None else sigma
        q = self.q
        if self.depth == 1:
            return sigma
        if kind == "existence":  # N c q <= max_z z^(1-q) (sigma - z)
            return ((1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / ((2 - q) * q)
        return (2 * (1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / (2 - q)

    def thresholds(self) -> dict:
        """The two phase conditions, as relations on sigma and on lbar.

        Returns
        -------
        dict
            ``existence`` / ``global``: ``sigma >= s_e`` / ``sigma > s_g``, the
            target singular value a direction needs for a nonzero stationary
            point / for that point to be the global minimizer;
            ``existence_decay`` / ``global_decay``: the same as bounds on lbar
            (the geometric mean of all decays). At depth 1 both are the
            soft threshold ``sigma > N lbar``. Given numbers are substituted.
        """
        N, sigma, lbar = SYMBOLS["N"], SYMBOLS["sigma"], SYMBOLS["lbar"]
        exponent = 1 / (2 - self.q)
        out = {}
        for kind in ("existence", "global"):
            strict = kind == "global" or self.depth == 1
            k = sp.simplify(self.bound(kind) / sigma ** (2 - self.q))
            s_min = sp.powsimp((N * self.c / k) ** exponent, force=True)
            lb_max = 2 * self.bound(kind) / (self.L * N)
            above = sp.StrictGreaterThan if strict else sp.GreaterThan
            below = sp.StrictLessThan if strict else sp.LessThan
            out[kind] = above(sigma, self.numeric(s_min), evaluate=False)
            out[f"{kind}_decay"] = below(lbar, self.numeric(lb_max), evaluate=False)
        return out

    # ---- numbers ------------------------------------------------------------------
    def class_stationarity(self, k: int) -> sp.Equality:
        """Stationarity of direction/class ``k`` with all given numbers substituted."""
        return self.numeric(self.stationarity(self.sigmas[k]))


def reduced_model(
    depth: int,
    n: Sequence[int] | None = None,
    lambda_w=None,
    lambda_h=None,
    bias: str = "none",
    digits: int = 30,
) -> ReducedModel:
    """The reduced problem for a depth, with whichever numbers are given.

    Parameters
    ----------
    depth : int
        M >= 1.
    n : sequence of int, optional
        Class sizes; fixes N and the target singular values.
    lambda_w : float or sequence of float, optional
        One decay for every layer or M values (layer 1 first); None keeps the
        symbols lambda_W (or lambda_W1..lambda_WM).
    lambda_h : float, optional
        Feature decay; None keeps the symbol lambda_H.
    bias : {"none", "free"}
    digits : int
        Precision of the free-bias singular values (roots of a secular equation).
    """
    if lambda_w is None:
        decays = None
    elif isinstance(lambda_w, (list, tuple)):
        decays = [as_rational(v) for v in lambda_w]
    else:
        decays = [as_rational(lambda_w)] * depth
    equal = decays is None or len(set(decays)) == 1
    layer = _layer_decay_symbols(depth, equal)
    values: dict = {}
    if decays is not None:
        values.update({s: v for s, v in zip(layer, decays)})
    if lambda_h is not None:
        values[SYMBOLS["lambda_H"]] = as_rational(lambda_h)
    sigmas: tuple = ()
    if n is not None:
        n = tuple(int(v) for v in n)
        values[SYMBOLS["N"]] = sp.Integer(sum(n))
        sigmas = _target_sigmas(n, bias, digits)
    return ReducedModel(depth=depth, layer_decays=layer, values=values, sigmas=sigmas,
                        n=() if n is None else n, bias=bias)


def _target_sigmas(n: tuple, bias: str, digits: int) -> tuple:
    """Exact sqrt(n_k) in class order (bias-free) or directions of D - n n^T/N (free bias)."""
    if bias == "none":
        return tuple(sp.sqrt(sp.Integer(v)) for v in n)
    import mpmath

    from ..solvers.precise import GUARD_DIGITS, target_directions

    with mpmath.workdps(digits + GUARD_DIGITS):  # predict's precision: one spectrum for both
        pairs = target_directions(list(n), "free")
        return tuple(sp.Float(str(p[0]), digits + 5) if p[0] != 0 else sp.Integer(0) for p in pairs)


# ---- exact roots ----------------------------------------------------------------------

# sympy factors a polynomial before solving it, and with numbers of hundreds of
# digits (decays like 1e-300) that takes seconds per class; radicals carrying
# such numbers are unreadable anyway, so they are not derived
MAX_RADICAL_DIGITS = 60


def _integer_digits(expr) -> int:
    """Most decimal digits of any numerator or denominator in ``expr``."""
    return max((len(str(abs(part))) for v in expr.atoms(sp.Rational) for part in (v.p, v.q)),
               default=0)


def exact_roots(model: ReducedModel, sigma, digits: int = 30, max_degree: int = 4) -> list | None:
    """Positive stationary points z in radicals, or None when sympy finds none.

    The polynomial in w (lowest degree: M for odd M, 2M for even M) goes to
    ``sympy.roots`` when its degree is at most ``max_degree`` (depths 1, 2, 3
    with numbers; depths 1 and 3 with symbolic parameters), or at any degree
    when its coefficients are rational (sympy then factors it over Q). With numbers, roots
    that are not real and positive (checked at ``digits``) are dropped and the
    rest are returned as exact expressions in z, increasing. With symbolic
    parameters every root of the cubic/linear polynomial is returned (which of
    them are positive depends on the parameters). None as well when a number
    in the polynomial has more than ``MAX_RADICAL_DIGITS`` digits.
    """
    w = SYMBOLS["w"]
    poly_expr = model.numeric(model.polynomial(sigma, "w"))
    symbolic = bool(poly_expr.free_symbols - {w})
    poly = sp.Poly(poly_expr, w)
    rational = poly.get_domain().is_QQ or poly.get_domain().is_ZZ
    if poly.degree() > (3 if symbolic else max_degree) and not rational:
        return None
    if _integer_digits(poly_expr) > MAX_RADICAL_DIGITS:
        return None
    # beyond degree 4 sympy succeeds only when the rational polynomial factors;
    # partial answers are fine: positive roots it cannot express are missed and
    # the caller compares the count with the numeric roots
    found = sp.roots(poly, cubics=True, quartics=True, multiple=True)
    if not found or (symbolic and len(found) < poly.degree()):
        return None
    z_of = model.z_of("w")
    if symbolic:
        return [z_of.subs(w, root) for root in found]
    out = []
    for root in found:
        value = sp.N(root, digits + 10)
        re, im = value.as_real_imag()
        if abs(im) > sp.Float(10) ** (-digits) * (1 + abs(re)) or re <= 0:
            continue
        out.append(z_of.subs(w, root))
    return sorted(out, key=lambda r: sp.re(sp.N(r, digits)))


# ---- the full objective ---------------------------------------------------------------


@dataclass(frozen=True)
class FullObjectiveExpr:
    """The full objective with explicit matrix symbols.

    Attributes
    ----------
    expr : sympy.Expr
        f(H, W_1, ..., W_M, b) with every decay and class size substituted.
    variables : tuple of Symbol
        In the flat layout of :class:`ncsolve.core.objective.FullObjective`:
        H, W_1, ..., W_M, then b (each block row by row).
    H, weights, b : sympy.Matrix
    """

    expr: sp.Expr
    variables: tuple
    H: sp.Matrix
    weights: tuple
    b: sp.Matrix | None

    def gradient(self) -> list:
        """The exact gradient, one expression per variable."""
        return [sp.diff(self.expr, v) for v in self.variables]

    def lambdify(self):
        """Numeric callables ``(value(x), gradient(x))`` on a flat vector x."""
        import numpy as np

        value = sp.lambdify([self.variables], self.expr, "math")
        grad = sp.lambdify([self.variables], self.gradient(), "math")
        return (lambda v: float(value(list(v)))), (lambda v: np.asarray(grad(list(v)), dtype=float))


def full_objective(
    n: Sequence[int],
    depth: int,
    lambda_w=None,
    lambda_h=None,
    bias: str = "none",
    widths: Sequence[int] | None = None,
) -> FullObjectiveExpr:
    """The MSE objective of THEORY.md section 1 with explicit matrices.

    ``1/(2N) ||W_M ... W_1 H + b 1^T - Y||_F^2 + sum_j lambda_Wj/2 ||W_j||^2 +
    lambda_H/2 ||H||^2``; decays left as None stay symbolic. Meant for small
    sizes (the expression has K N terms in the fit).
    """
    n = [int(v) for v in n]
    K, N, M = len(n), sum(n), depth
    widths = list(widths) if widths is not None else [K] * M
    H = sp.Matrix(widths[0], N, lambda i, j: sp.Symbol(f"H_{i}_{j}", real=True))
    weights = []
    shapes = [(widths[j + 1], widths[j]) for j in range(M - 1)] + [(K, widths[-1])]
    for j, (rows, cols) in enumerate(shapes, start=1):
        weights.append(sp.Matrix(rows, cols,
                                 lambda r, c, j=j: sp.Symbol(f"W{j}_{r}_{c}", real=True)))
    b = sp.Matrix(K, 1, lambda i, _: sp.Symbol(f"b_{i}", real=True)) if bias == "free" else None
    labels = [k for k in range(K) for _ in range(n[k])]
    Y = sp.Matrix(K, N, lambda i, j: 1 if labels[j] == i else 0)
    product = H
    for W in weights:
        product = W * product
    if b is not None:
        product = product + b * sp.ones(1, N)
    residual = product - Y
    fit = sum(e**2 for e in residual) / (2 * N)
    if lambda_w is None:
        decays = _layer_decay_symbols(M, False)
    elif isinstance(lambda_w, (list, tuple)):
        decays = [as_rational(v) for v in lambda_w]
    else:
        decays = [as_rational(lambda_w)] * M
    lam_h = SYMBOLS["lambda_H"] if lambda_h is None else as_rational(lambda_h)
    penalty = sum(lam / 2 * sum(e**2 for e in W) for lam, W in zip(decays, weights))
    penalty += lam_h / 2 * sum(e**2 for e in H)
    variables = list(H) + [e for W in weights for e in W] + (list(b) if b is not None else [])
    return FullObjectiveExpr(fit + penalty, tuple(variables), H, tuple(weights), b)
