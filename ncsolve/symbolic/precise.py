"""The global minimizer to any number of digits (mpmath; no sympy import).

This is an independent route to the numbers of :func:`ncsolve.predict`:
the target spectrum, the scalar problem of every direction and the read-off of
layers, Grams and norms are recomputed here in multiple-precision arithmetic,
with nothing shared with the float64 solver except the validated
:class:`~ncsolve.problem.Problem`.

Decays are taken as the decimal numbers they print as (``0.0095`` is
19/2000, not the nearest binary double), class sizes are exact integers.

The scalar problem of a direction with target singular value ``sigma`` is
``g(z) = (z - sigma)^2 / (2N) + c z^q``. Its positive stationary points solve
``z^(1-q) (sigma - z) = N c q = N lbar``; with ``z = t^L`` this is the polynomial

    p(t) = t^(2L-2) - sigma t^(L-2) + N lbar = 0,

which is monotone on each side of the peak ``t_m`` of the left-hand side, so
each of its (at most two) positive roots is found by bracketed Newton steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import mpmath
from mpmath import mpf

from ..problem import Problem, ProblemError

__all__ = [
    "MIN_DIGITS",
    "MAX_DIGITS",
    "check_precision",
    "exact_decimal",
    "DirectionRoots",
    "stationary_points",
    "global_threshold",
    "existence_threshold",
    "target_directions",
    "PreciseSolution",
    "solve_precise",
]

MIN_DIGITS = 15
MAX_DIGITS = 1000
GUARD_DIGITS = 12  # working precision = requested digits + guard
GRAM_LIMIT = 12  # largest K for which K x K Grams are part of the result


def check_precision(digits) -> int:
    """Validate a number of significant digits (15..1000).

    Raises
    ------
    ProblemError
        When ``digits`` is not an integer in range.
    """
    allowed = f"give a whole number of digits from {MIN_DIGITS} to {MAX_DIGITS}"
    try:
        if isinstance(digits, bool):
            raise TypeError
        value = int(str(digits).strip()) if isinstance(digits, str) else int(digits)
        if not isinstance(digits, str) and value != digits:
            raise ValueError
    except (TypeError, ValueError):
        raise ProblemError(f"precision (--precision): {allowed}, got {digits!r}") from None
    if not MIN_DIGITS <= value <= MAX_DIGITS:
        hint = "use the float64 route (omit --precision)" if value < MIN_DIGITS else "ask for fewer"
        raise ProblemError(f"precision (--precision): {allowed}, got {value} ({hint})")
    return value


def exact_decimal(value: float) -> mpf:
    """The decimal a float prints as, at the current working precision."""
    return mpf(repr(float(value)))


def decimal_string(value, digits: int) -> str:
    """``value`` rounded to ``digits`` significant digits, as a plain decimal string."""
    if value == 0:
        return "0"
    text = mpmath.nstr(value, digits, min_fixed=-6, max_fixed=digits + 1, strip_zeros=True)
    return text[:-2] if text.endswith(".0") else text


# ---- one direction ------------------------------------------------------------------


@dataclass(frozen=True)
class DirectionRoots:
    """Stationary points and global minimizer of ``g(z)`` for one direction.

    Attributes
    ----------
    sigma : mpf
        Singular value of the target in this direction.
    roots : tuple of mpf
        Positive stationary points, increasing (0, 1 or 2 of them).
    z : mpf
        The global minimizer (0 when the direction collapses; 0 as well at a
        tie, where ``z_local`` is equally optimal, as in the float route).
    z_local : mpf or None
        The nonzero local minimum (the largest root), None when there is none.
    tie : bool
        True when 0 and the nonzero root are both global (the phase boundary).
    values : tuple of mpf
        ``g`` at each root, in the order of ``roots``.
    g0 : mpf
        ``g(0) = sigma^2 / (2N)``.
    """

    sigma: mpf
    roots: tuple
    z: mpf
    z_local: mpf | None
    tie: bool
    values: tuple
    g0: mpf

    @property
    def state(self) -> str:
        """As in :mod:`ncsolve.scalar`: active, window, tie, collapsed or empty."""
        if self.sigma == 0:
            return "empty"
        if self.tie:
            return "tie"
        if self.z != 0:
            return "active"
        return "window" if self.z_local is not None else "collapsed"


def reduced_value(z, sigma, N, lbar, L):
    """``g(z) = (z - sigma)^2/(2N) + (L/2) lbar z^(2/L)``."""
    penalty = 0 if z == 0 else (mpf(L) / 2) * lbar * z ** (mpf(2) / L)
    return (z - sigma) ** 2 / (2 * N) + penalty


def existence_threshold(sigma, N, L):
    """Largest ``N c`` for which a positive stationary point exists (``c = (L/2) lbar``).

    At depth 1 (L = 2) the root exists only strictly below this bound."""
    if L == 2:
        return mpf(sigma)
    q = mpf(2) / L
    return ((1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / ((2 - q) * q)


def global_threshold(sigma, N, L):
    """``N c`` below which the nonzero root is the global minimizer."""
    if L == 2:
        return mpf(sigma)
    q = mpf(2) / L
    return (2 * (1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / (2 - q)


def critical_decay(sigma, N, L):
    """The value of lbar above which the direction collapses (None when sigma = 0)."""
    if sigma == 0:
        return None
    return 2 * global_threshold(sigma, N, L) / (L * N)


def _bracketed_newton(f, df, lo, hi, increasing: bool, start=None, max_iter: int = 20000):
    """Root of a monotone ``f`` on the open interval (lo, hi) by safeguarded Newton steps.

    The endpoints are never evaluated (poles are allowed there). Precision is the
    caller's ``mpmath.mp`` working precision.
    """
    eps = mpmath.mp.eps
    x = (lo + hi) / 2 if start is None else start
    for _ in range(max_iter):
        fx = f(x)
        if fx == 0:
            return x
        if (fx > 0) == increasing:
            hi = x
        else:
            lo = x
        slope = df(x)
        new = x - fx / slope if slope != 0 else None
        if new is None or not lo < new < hi:
            new = (lo + hi) / 2
        tol = 4 * eps * max(abs(new), eps)
        if abs(new - x) <= tol or hi - lo <= tol:
            return new
        x = new
    raise ArithmeticError("root bracketing did not converge")  # pragma: no cover


def stationary_points(sigma, N, lbar, L: int) -> DirectionRoots:
    """All positive stationary points of one direction and its global minimizer.

    Works at the caller's ``mpmath.mp`` precision; arguments may be mpf, int or
    decimal strings.

    Parameters
    ----------
    sigma : number
        Singular value of the target in this direction (>= 0).
    N : number
        Number of samples.
    lbar : number
        Geometric mean of all L decays.
    L : int
        Number of factors, depth + 1.
    """
    sigma, N, lbar = mpf(sigma), mpf(N), mpf(lbar)
    g0 = sigma**2 / (2 * N)
    roots = _positive_roots(sigma, N, lbar, L)
    values = tuple(reduced_value(r, sigma, N, lbar, L) for r in roots)
    z_local = roots[-1] if roots else None
    z, tie = mpf(0), False
    if z_local is not None:
        nc = N * (mpf(L) / 2) * lbar
        bound = global_threshold(sigma, N, L)
        gap = bound - nc
        tie = L > 2 and abs(gap) <= 10 * mpmath.mp.eps * bound
        if gap > 0 and not tie:
            z = z_local
    return DirectionRoots(sigma, roots, z, z_local, tie, values, g0)


def _positive_roots(sigma, N, lbar, L) -> tuple:
    rhs = N * lbar  # N c q
    if sigma <= 0:
        return ()
    if L == 2:  # soft threshold: sigma - z = N lbar
        z = sigma - rhs
        return (z,) if z > 0 else ()
    q = mpf(2) / L
    z_peak = (1 - q) * sigma / (2 - q)
    peak = z_peak ** (1 - q) * (sigma - z_peak)
    if peak < rhs:
        return ()
    t_peak = z_peak ** (mpf(1) / L)
    if peak == rhs:
        return (z_peak,)

    def p(t):
        return t ** (L - 2) * (t**L - sigma) + rhs

    def dp(t):
        return t ** (L - 3) * ((2 * L - 2) * t**L - (L - 2) * sigma)

    t_top = sigma ** (mpf(1) / L)
    large = _bracketed_newton(p, dp, t_peak, t_top, increasing=True)
    small = _bracketed_newton(p, dp, mpf(0), t_peak, increasing=False, start=t_peak / 2)
    return (small**L, large**L)


# ---- target spectrum ----------------------------------------------------------------


def target_directions(n: Sequence[int], bias: str) -> list[tuple]:
    """Eigenpairs of the K x K target Gram, largest first, at the current precision.

    Returns
    -------
    list of (sigma, vector)
        ``sigma`` is the singular value of the target in that direction and
        ``vector`` (list of mpf, class order) the unit eigenvector of ``G``.
    """
    K = len(n)
    if bias == "none":
        pairs = [(mpmath.sqrt(n[k]), _unit(K, k)) for k in range(K)]
    else:
        pairs = _centered_pairs([int(v) for v in n])
    order = sorted(range(K), key=lambda i: -pairs[i][0])  # stable: ties keep input order
    return [pairs[i] for i in order]


def _unit(K: int, k: int) -> list:
    vector = [mpf(0)] * K
    vector[k] = mpf(1)
    return vector


def _centered_pairs(n: list[int]) -> list[tuple]:
    """Eigenpairs of ``D - n n^T / N`` from its secular equation (plus Helmert vectors)."""
    K, N = len(n), sum(n)
    sizes = sorted(set(n))
    members = {d: [k for k in range(K) if n[k] == d] for d in sizes}
    weight = {d: mpf(len(members[d]) * d * d) / N for d in sizes}
    pairs = []
    for d in sizes:
        pairs += [(mpmath.sqrt(d), v) for v in _helmert(K, members[d])]
    pairs.append((mpf(0), [1 / mpmath.sqrt(K)] * K))
    for left, right in zip(sizes, sizes[1:]):
        mu = _secular_root(sizes, weight, mpf(left), mpf(right))
        vector = [mpf(v) / (v - mu) for v in n]
        norm = mpmath.sqrt(mpmath.fsum(x * x for x in vector))
        pairs.append((mpmath.sqrt(mu), [x / norm for x in vector]))
    return pairs


def _helmert(K: int, group: list[int]) -> list[list]:
    """Orthonormal basis of vectors supported on ``group`` that sum to zero."""
    basis = []
    for j in range(1, len(group)):
        vector = [mpf(0)] * K
        scale = 1 / mpmath.sqrt(j * (j + 1))
        for k in group[:j]:
            vector[k] = scale
        vector[group[j]] = -j * scale
        basis.append(vector)
    return basis


def _secular_root(sizes, weight, left, right):
    """The root of ``1 - sum_d w_d / (d - mu)`` between two neighbouring sizes."""

    def f(mu):
        return 1 - mpmath.fsum(weight[d] / (d - mu) for d in sizes)

    def df(mu):
        return -mpmath.fsum(weight[d] / (d - mu) ** 2 for d in sizes)

    return _bracketed_newton(f, df, left, right, increasing=False)


# ---- the whole minimizer ------------------------------------------------------------


@dataclass(frozen=True)
class PreciseSolution:
    """The global minimizer computed to ``precision`` significant digits.

    Numbers are mpmath ``mpf`` (class order for per-class fields, decreasing
    target singular value for per-direction fields); ``to_dict()`` renders them as
    decimal strings with ``precision`` significant digits.

    Attributes
    ----------
    problem : Problem
    precision : int
        Requested significant digits.
    sigma, z, z_local : tuple
        Per direction: target singular value, global minimizer, nonzero local
        minimum (None when there is none).
    roots : tuple of tuple
        Per direction: all positive stationary points.
    singular_values : tuple of tuple
        Per direction: singular values of ``H, W_1, ..., W_M``.
    critical_decay : tuple
        Per direction: lbar above which the direction collapses.
    directions : tuple of tuple
        Unit eigenvectors of the target Gram (class order), one per direction.
    feature_norm, classifier_norm, output : tuple
        Per class: ``||hbar_k||``, ``||w_k||`` (row k of ``W_M ... W_1``) and the
        own-class output ``(W hbar_k)_k`` (bias not included).
    collapsed : tuple of bool
        Per class: the class-mean feature is zero.
    feature_gram, classifier_gram, outputs : tuple of tuple
        K x K matrices ``Hbar^T Hbar``, ``W W^T`` and ``W Hbar`` (class order).
    loss : mpf
    unique : bool
    geometry : str
    """

    problem: Problem
    precision: int
    sigma: tuple
    z: tuple
    z_local: tuple
    roots: tuple
    singular_values: tuple
    critical_decay: tuple
    directions: tuple
    feature_norm: tuple
    classifier_norm: tuple
    output: tuple
    collapsed: tuple
    feature_gram: tuple
    classifier_gram: tuple
    outputs: tuple
    loss: mpf
    unique: bool
    geometry: str
    notes: tuple = field(default=())

    @property
    def rank(self) -> int:
        """Number of nonzero directions of the product."""
        return sum(1 for v in self.z if v > 0)

    def to_dict(self) -> dict:
        """JSON-ready dictionary; numbers are decimal strings."""
        d = self.precision

        def s(x):
            return None if x is None else decimal_string(x, d)

        classes = [
            {
                "n": int(self.problem.n[k]),
                "feature_norm": s(self.feature_norm[k]),
                "classifier_norm": s(self.classifier_norm[k]),
                "output": s(self.output[k]),
                "collapsed": bool(self.collapsed[k]),
            }
            for k in range(self.problem.K)
        ]
        directions = [
            {
                "sigma": s(self.sigma[i]),
                "z": s(self.z[i]),
                "z_local": s(self.z_local[i]),
                "roots": [s(r) for r in self.roots[i]],
                "singular_values": [s(v) for v in self.singular_values[i]],
                "critical_decay": s(self.critical_decay[i]),
            }
            for i in range(len(self.sigma))
        ]
        out = {
            "problem": self.problem.to_dict(),
            "route": "high-precision (mpmath)",
            "precision": d,
            "loss": s(self.loss),
            "unique": bool(self.unique),
            "geometry": self.geometry,
            "rank": self.rank,
            "classes": classes,
            "directions": directions,
        }
        if self.feature_gram:
            out["gram"] = {
                "features": [[s(x) for x in row] for row in self.feature_gram],
                "classifiers": [[s(x) for x in row] for row in self.classifier_gram],
                "outputs": [[s(x) for x in row] for row in self.outputs],
            }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def solve_precise(problem: Problem, precision: int) -> PreciseSolution:
    """The global minimizer of an MSE problem to ``precision`` significant digits.

    Parameters
    ----------
    problem : Problem
        A validated problem with ``loss == "mse"``.
    precision : int
        Significant digits, 15..1000.

    Returns
    -------
    PreciseSolution

    Raises
    ------
    ProblemError
        For a precision out of range or a cross-entropy problem.
    """
    digits = check_precision(precision)
    if problem.loss != "mse":
        raise ProblemError("precision (--precision): the high-precision route covers --loss mse only")
    with mpmath.workdps(digits + GUARD_DIGITS):
        return _solve(problem, digits)


def _solve(problem: Problem, digits: int) -> PreciseSolution:
    K, M, L = problem.K, problem.depth, problem.L
    n = [int(v) for v in problem.n]
    N = mpf(sum(n))
    lam_w = [exact_decimal(v) for v in problem.lambda_w]
    lam_h = exact_decimal(problem.lambda_h)
    lbar = mpmath.root(lam_h * mpmath.fprod(lam_w), L)
    pairs = target_directions(n, problem.bias)
    sigma = [p[0] for p in pairs]
    solved = [stationary_points(s, N, lbar, L) for s in sigma]
    z = [r.z for r in solved]
    unique, notes = _rank_cap(z, sigma, problem.rank_cap)
    unique = unique and not any(r.tie for r in solved)
    if any(r.tie for r in solved):
        notes.append("a direction sits on the phase boundary: 0 and its nonzero root are both global")
    root_l = [v ** (mpf(1) / L) if v > 0 else mpf(0) for v in z]
    s_h = [mpmath.sqrt(lbar / lam_h) * r for r in root_l]
    singular = [tuple([sh] + [mpmath.sqrt(lbar / lw) * r for lw in lam_w]) for sh, r in zip(s_h, root_l)]
    vectors = [p[1] for p in pairs]
    feature = _gram(vectors, [s**2 * h**2 for s, h in zip(sigma, s_h)], n, n)
    classifier = _gram(vectors, [(v / h) ** 2 if v > 0 else mpf(0) for v, h in zip(z, s_h)], None, None)
    outputs = _gram(vectors, [v * s for v, s in zip(z, sigma)], None, n)
    feature_norm = [mpmath.sqrt(max(feature[k][k], 0)) for k in range(K)]
    q = mpf(2) / L
    loss = mpmath.fsum((v - s) ** 2 for v, s in zip(z, sigma)) / (2 * N)
    loss += (mpf(L) / 2) * lbar * mpmath.fsum(v**q for v in z if v > 0)
    small = K <= GRAM_LIMIT
    return PreciseSolution(
        problem=problem,
        precision=digits,
        sigma=tuple(sigma),
        z=tuple(z),
        z_local=tuple(r.z_local for r in solved),
        roots=tuple(r.roots for r in solved),
        singular_values=tuple(singular),
        critical_decay=tuple(critical_decay(s, N, L) for s in sigma),
        directions=tuple(tuple(v) for v in vectors),
        feature_norm=tuple(feature_norm),
        classifier_norm=tuple(mpmath.sqrt(max(classifier[k][k], 0)) for k in range(K)),
        output=tuple(outputs[k][k] for k in range(K)),
        collapsed=tuple(f == 0 for f in feature_norm),
        feature_gram=_freeze(feature) if small else (),
        classifier_gram=_freeze(classifier) if small else (),
        outputs=_freeze(outputs) if small else (),
        loss=loss,
        unique=unique,
        geometry=_geometry(problem, z),
        notes=tuple(notes),
    )


def _rank_cap(z: list, sigma: list, cap: int) -> tuple[bool, list]:
    """Zero all but the ``cap`` largest-sigma nonzero directions (in place)."""
    alive = [i for i, v in enumerate(z) if v > 0]
    if len(alive) <= cap:
        return True, []
    unique = sigma[alive[cap - 1]] != sigma[alive[cap]] if cap > 0 else True
    for i in alive[cap:]:
        z[i] = mpf(0)
    note = f"the layer widths cap the rank at {cap}: {len(alive) - cap} nonzero direction(s) dropped"
    if not unique:
        note += "; tied singular values at the cap make the minimizer non-unique"
    return unique, [note]


def _gram(vectors, weights, left, right):
    """``diag(1/left) A diag(weights) A^T diag(1/right)`` in class order (None = no scaling)."""
    K = len(vectors[0]) if vectors else 0
    active = [(w, v) for w, v in zip(weights, vectors) if w != 0]
    out = []
    for a in range(K):
        row = []
        for b in range(K):
            value = mpmath.fsum(w * v[a] * v[b] for w, v in active) if active else mpf(0)
            if left is not None:
                value /= left[a]
            if right is not None:
                value /= right[b]
            row.append(value)
        out.append(row)
    return out


def _freeze(matrix) -> tuple:
    return tuple(tuple(row) for row in matrix)


def _geometry(problem: Problem, z: list) -> str:
    """Name of the class-mean geometry (THEORY.md section 5)."""
    alive = sum(1 for v in z if v > 0)
    if alive == 0:
        return "collapsed to zero"
    full = problem.K - (1 if problem.bias == "free" else 0)
    if problem.balanced:
        if alive < full:
            return "partially collapsed"
        return "orthogonal frame" if problem.bias == "none" else "simplex ETF"
    if alive < full:
        return "minority collapse"
    return "general orthogonal frame" if problem.bias == "none" else "imbalanced with bias"
