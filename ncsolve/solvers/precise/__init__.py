"""The global minimizer to any number of digits (mpmath; no sympy import).

This is an independent route to the numbers of :func:`ncsolve.predict`:
the target spectrum, the scalar problem of every direction and the read-off of
layers, Grams and norms are recomputed here in multiple-precision arithmetic.
No float64 arithmetic is shared with the float64 solver: only the validated
:class:`~ncsolve.inputs.problem.Problem` and the read-off logic of
:mod:`ncsolve.core.readoff` (rank cap, ties, notes, leading directions,
geometry), which compares and counts the mpmath numbers handed to it in object
arrays. The spectrum stays separate because its algorithm differs: the float64
secular solver is a vectorized fixed-weight iteration over all roots at once
with implicit Helmert vectors, this one a bracketed Newton per root with extra
working digits and explicit sparse vectors.

Decays are taken as the decimal numbers they print as (``0.0095`` is
19/2000, not the nearest binary double), class sizes are exact integers.

The scalar problem of a direction with target singular value ``sigma`` is
``g(z) = (z - sigma)^2 / (2N) + c z^q``. Its positive stationary points solve
``z^(1-q) (sigma - z) = N c q = N lbar``; with ``z = t^L`` this is the polynomial

    p(t) = t^(2L-2) - sigma t^(L-2) + N lbar = 0,

which is monotone on each side of the peak ``t_m`` of the left-hand side, so
each of its (at most two) positive roots is found by bracketed Newton steps.

The gap ``sigma - z`` of a root is never formed by subtraction: at tiny decays
z equals sigma to the working precision and the difference would cancel (to
0 at decay 1e-300). The equation itself gives it to the relative precision of
z, ``sigma - z = N lbar / z^(1-q)``; the fit term ``(sigma - z)^2 / (2N)`` of g
and of the loss, and the paper's ``x = (z / (sigma - z))^(1/M)``, use it.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import mpmath
import numpy as np
from mpmath import mpf

from ...core.balance import precise_scales
from ...inputs.problem import Problem
from ...inputs.validation import invalid
from .text import decimal_string
from ...core.constants import EXACT
from .text import PreciseText
from ...core import readoff, scalar

__all__ = [
    "MAX_DIGITS",
    "MIN_DIGITS",
    "DirectionRoots",
    "PreciseSolution",
    "check_precision",
    "decimal_string",
    "exact_decimal",
    "existence_threshold",
    "global_threshold",
    "solve_precise",
    "stationary_points",
    "target_directions",
]

MIN_DIGITS = 15
MAX_DIGITS = 1000
GUARD_DIGITS = 12  # working precision = requested digits + guard


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
        raise invalid("precision", f"{allowed}, got {digits!r}") from None
    if not MIN_DIGITS <= value <= MAX_DIGITS:
        hint = "; for float64 results omit --precision" if value < MIN_DIGITS else ""
        raise invalid("precision", f"{allowed}, got {value}{hint}")
    return value


def exact_decimal(value: float) -> mpf:
    """The decimal a float prints as, at the current working precision."""
    return mpf(repr(float(value)))


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
    gaps : tuple of mpf
        ``sigma - root`` for each root, computed without cancellation.
    """

    sigma: mpf
    roots: tuple
    z: mpf
    z_local: mpf | None
    tie: bool
    values: tuple
    g0: mpf
    gaps: tuple = ()

    @property
    def residual(self) -> mpf:
        """``sigma - z`` at the global minimizer, without cancellation."""
        return self.gaps[-1] if self.z != 0 else self.sigma

    @property
    def state(self) -> str:
        """As in :mod:`ncsolve.core.scalar`: active, window, tie, collapsed or empty."""
        if self.sigma == 0:
            return "empty"
        if self.tie:
            return "tie"
        if self.z != 0:
            return "active"
        return "window" if self.z_local is not None else "collapsed"


def reduced_value(z, sigma, N, lbar, L, gap=None):
    """``g(z) = (z - sigma)^2/(2N) + (L/2) lbar z^(2/L)``.

    ``gap``, when given, is ``sigma - z`` computed without cancellation and is
    used for the fit term instead of the difference.
    """
    penalty = 0 if z == 0 else (mpf(L) / 2) * lbar * z ** (mpf(2) / L)
    gap = sigma - z if gap is None else gap
    return gap**2 / (2 * N) + penalty


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

    The endpoints are never evaluated (poles are allowed there). A Newton step
    that leaves the bracket is replaced by bisection; the iteration stops when a
    step falls below 256 ulps of the working precision (``mpmath.mp``), which the
    guard digits of the callers absorb.
    """
    eps = 256 * mpmath.mp.eps
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
        if slope != 0:
            step = fx / slope
            if abs(step) <= eps * abs(x):
                return x - step
            if lo < x - step < hi:
                x = x - step
                continue
        x = (lo + hi) / 2
        if hi - lo <= eps * abs(x):
            return x
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
    pairs = _positive_roots(sigma, N, lbar, L)
    roots = tuple(r for r, _ in pairs)
    gaps = tuple(gap for _, gap in pairs)
    values = tuple(reduced_value(r, sigma, N, lbar, L, gap) for r, gap in pairs)
    z_local = roots[-1] if roots else None
    z, tie = mpf(0), False
    if z_local is not None:
        nc = N * (mpf(L) / 2) * lbar
        bound = global_threshold(sigma, N, L)
        gap = bound - nc
        tie = L > 2 and abs(gap) <= 10 * mpmath.mp.eps * bound
        if gap > 0 and not tie:
            z = z_local
    return DirectionRoots(sigma, roots, z, z_local, tie, values, g0, gaps)


def _positive_roots(sigma, N, lbar, L) -> tuple:
    """Pairs ``(root, sigma - root)`` of the positive stationary points, increasing."""
    rhs = N * lbar  # N c q
    if sigma <= 0:
        return ()
    if L == 2:  # soft threshold: sigma - z = N lbar
        z = sigma - rhs
        return ((z, rhs),) if z > 0 else ()
    q = mpf(2) / L
    z_peak = (1 - q) * sigma / (2 - q)
    peak = z_peak ** (1 - q) * (sigma - z_peak)
    if peak < rhs:
        return ()
    if peak == rhs:
        return ((z_peak, sigma / (2 - q)),)
    return tuple((z, _gap(z, rhs, q)) for z in _polynomial_roots(sigma, rhs, z_peak, L))


def _gap(z, rhs, q):
    """``sigma - z`` of a root, from the equation itself: ``z^(1-q) (sigma - z) = N lbar``.

    Near sigma (tiny decays) the subtraction would cancel, down to 0 when z
    equals sigma to the working precision; the quotient keeps the relative
    precision of z."""
    return rhs / z ** (1 - q)


def _polynomial_roots(sigma, rhs, z_peak, L) -> tuple:
    """Both roots z of ``p(t) = t^(L-2) (t^L - sigma) + N lbar``, ``z = t^L``, one on each
    side of the peak (p decreases before it and increases after it)."""

    def p(t):
        return t ** (L - 2) * (t**L - sigma) + rhs

    def dp(t):
        return t ** (L - 3) * ((2 * L - 2) * t**L - (L - 2) * sigma)

    t_peak = z_peak ** (mpf(1) / L)
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
        ``vector`` the unit eigenvector of ``G`` as a sparse dict
        ``{class index: entry}`` (nonzero entries only).
    """
    K = len(n)
    if bias == "none":
        pairs = [(mpmath.sqrt(n[k]), {k: mpf(1)}) for k in range(K)]
    else:
        pairs = _centered_pairs([int(v) for v in n])
    order = sorted(range(K), key=lambda i: -pairs[i][0])  # stable: ties keep input order
    return [pairs[i] for i in order]


def _centered_pairs(n: list[int]) -> list[tuple]:
    """Eigenpairs of ``D - n n^T / N`` from its secular equation (plus Helmert vectors).

    The secular function ``1 - sum_d w_d / (d - mu)`` cancels when one class
    holds most samples (its ``w_d / (d - mu)`` is then close to 1): up to
    ``log10 N`` digits are lost, and bought back by as many extra working
    digits while the secular roots and their vectors are formed.
    """
    K, N = len(n), sum(n)
    sizes = sorted(set(n))
    members = {d: [k for k in range(K) if n[k] == d] for d in sizes}
    pairs = []
    for d in sizes:
        pairs += [(mpmath.sqrt(d), v) for v in _helmert(members[d])]
    pairs.append((mpf(0), dict.fromkeys(range(K), 1 / mpmath.sqrt(K))))
    with mpmath.workdps(mpmath.mp.dps + len(str(N)) + 2):
        weight = {d: mpf(len(members[d]) * d * d) / N for d in sizes}
        secular = [_secular_pair(n, sizes, weight, left, right)
                   for left, right in itertools.pairwise(sizes)]
    return pairs + [(+sigma, {k: +x for k, x in unit.items()}) for sigma, unit in secular]


def _secular_pair(n: list[int], sizes, weight, left: int, right: int) -> tuple:
    """``(sqrt(mu), unit eigenvector)`` for the secular root mu in (left, right)."""
    origin, offset = _secular_root(sizes, weight, left, right)
    vector = [mpf(v) / ((v - origin) - offset) for v in n]
    norm = mpmath.sqrt(mpmath.fsum(x * x for x in vector))
    return mpmath.sqrt(origin + offset), {k: x / norm for k, x in enumerate(vector)}


def _helmert(group: list[int]) -> list[dict]:
    """Orthonormal basis of vectors supported on ``group`` that sum to zero."""
    basis = []
    for j in range(1, len(group)):
        scale = 1 / mpmath.sqrt(j * (j + 1))
        vector = dict.fromkeys(group[:j], scale)
        vector[group[j]] = -j * scale
        basis.append(vector)
    return basis


def _secular_root(sizes, weight, left: int, right: int) -> tuple:
    """The root ``mu`` of ``1 - sum_d w_d / (d - mu)`` between two neighbouring sizes.

    Returned as ``(origin, offset)`` with ``mu = origin + offset`` and
    ``origin`` the nearer of the two sizes: ``d - mu = (d - origin) - offset``
    then has no cancellation, even when mu lies within rounding of a size
    (a tiny class among huge ones), where ``d - mu`` formed from mu would lose
    most of its digits.
    """

    def secular(shifts):
        def f(offset):
            return 1 - mpmath.fsum(weight[d] / (shift - offset) for d, shift in shifts)

        def df(offset):
            return -mpmath.fsum(weight[d] / (shift - offset) ** 2 for d, shift in shifts)

        return f, df

    half = mpf(right - left) / 2
    f, _ = secular([(d, mpf(d - left)) for d in sizes])
    origin, lo, hi = (right, -half, mpf(0)) if f(half) > 0 else (left, mpf(0), half)
    f, df = secular([(d, mpf(d - origin)) for d in sizes])
    return origin, _bracketed_newton(f, df, lo, hi, increasing=False)


# ---- the whole minimizer ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreciseSolution(PreciseText):
    """The global minimizer computed to ``precision`` significant digits.

    The same quantities as the float64 :class:`ncsolve.solvers.mse.Solution`, as
    mpmath numbers: per-direction fields follow decreasing target singular
    value, per-class fields the input order. ``to_dict()`` has the keys of
    ``ncsolve predict --json`` with every number as a decimal string of
    ``precision`` significant digits, plus ``precision`` and ``route``.

    Attributes
    ----------
    problem : Problem
    precision : int
        Requested significant digits.
    sigma, z : tuple of mpf
        Per direction: target singular value and global-minimum output singular value.
    z_local : tuple of (mpf or None)
        Per direction: the nonzero local minimum, None where there is none.
    residual : tuple of mpf
        Per direction: ``sigma - z``, computed without cancellation (from the
        relative gap of the root, not by subtraction).
    roots : tuple of tuple
        Per direction: every positive stationary point, increasing.
    direction_state : tuple of str
        Per direction: active, collapsed, window, tie, empty or capped.
    singular_values : tuple of tuple
        Per direction: singular values of H, W_1, ..., W_M.
    direction_critical_decay : tuple of mpf
        Per direction: the lbar above which it is zero at the global minimum
        (0 for empty and capped directions).
    critical_decay, state : tuple
        Per class: those of its leading direction (the first with a component on
        the class), as for :class:`ncsolve.solvers.mse.Solution`.
    feature_norm, classifier_norm, output : tuple of mpf
        Per class: ``||hbar_k||``, ``||w_k||`` (row k of ``W_M...W_1``) and the
        output of the class mean on its own label (before any bias).
    collapsed : tuple of bool
    layer_feature_norms : tuple of tuple
        Row j: class-mean lengths of the features ``W_j...W_1 H`` (row 0 is H).
    loss : mpf
    notes : tuple of str
    """

    problem: Problem
    precision: int
    sigma: tuple
    z: tuple
    z_local: tuple
    residual: tuple
    roots: tuple
    direction_state: tuple
    singular_values: tuple
    direction_critical_decay: tuple
    vectors: tuple
    feature_norm: tuple
    classifier_norm: tuple
    output: tuple
    collapsed: tuple
    layer_feature_norms: tuple
    loss: mpf
    notes: tuple = field(default=())
    certainty: str = field(default=EXACT, init=False)

    @property
    def _leading_direction(self) -> np.ndarray:
        """Per class, the first direction with a nonzero entry on it."""
        touched = np.zeros((self.problem.K, len(self.vectors)), dtype=bool)
        for i, vector in enumerate(self.vectors):
            touched[list(vector), i] = True
        return readoff.first_touching(touched)

    @property
    def critical_decay(self) -> tuple:
        decay = np.array(self.direction_critical_decay, dtype=object)
        return tuple(readoff.per_class(decay, self._leading_direction))

    @property
    def state(self) -> tuple:
        return tuple(np.array(self.direction_state)[self._leading_direction].tolist())

    @property
    def rank(self) -> int:
        """Number of nonzero directions (rank of the product W_M...W_1 H)."""
        return sum(1 for v in self.z if v > 0)

    @property
    def unique(self) -> bool:
        return not any(note.startswith("non-unique") for note in self.notes)

    @property
    def geometry(self) -> str:
        return readoff.geometry(self.problem, self.rank)

    @property
    def bias_value(self) -> tuple | None:
        """The learned bias n / N (free bias only)."""
        if self.problem.bias == "none":
            return None
        with mpmath.workdps(self.precision + GUARD_DIGITS):
            return tuple(mpf(int(v)) / self.problem.N for v in self.problem.n)

    def _matrix(self, weight, left=None, right=None) -> list:
        """``diag(1/left) A diag(w) A^T diag(1/right)`` with ``w_i = weight(i)``, every
        product at the working precision (outside it mpmath rounds to 53 bits)."""
        with mpmath.workdps(self.precision + GUARD_DIGITS):
            weights = [weight(i) for i in range(len(self.sigma))]
            return _sparse_gram(self.vectors, weights, self.problem.K, left, right)

    def gram_features(self, layer: int = 0) -> list:
        """Class-mean Gram ``Hbar_j^T Hbar_j`` of the features after W_j...W_1 (K x K, mpf)."""
        n = [int(v) for v in self.problem.n]
        return self._matrix(lambda i: (self.sigma[i] * mpmath.fprod(
            self.singular_values[i][: layer + 1])) ** 2, n, n)

    def gram_classifier(self, layer: int = 0) -> list:
        """Gram ``W W^T`` of the product ``W = W_M ... W_{layer+1}`` (K x K)."""
        return self._matrix(lambda i: mpmath.fprod(self.singular_values[i][layer + 1:]) ** 2)

    def gram_outputs(self) -> list:
        """Outputs ``W Hbar`` (K x K): column k is class k's mean output."""
        n = [int(v) for v in self.problem.n]
        return self._matrix(lambda i: self.z[i] * self.sigma[i], None, n)

    def layer_singular_values(self) -> tuple:
        return self.singular_values

    def __repr__(self) -> str:
        p = self.problem
        return (
            f"PreciseSolution(K={p.K}, depth={p.depth}, bias={p.bias!r}, "
            f"precision={self.precision}, loss={mpmath.nstr(self.loss, 6)}, rank={self.rank}, "
            f"geometry={self.geometry!r}, unique={self.unique})"
        )


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
        raise invalid("precision", "the high-precision route covers --loss mse only")
    with mpmath.workdps(digits + GUARD_DIGITS):
        return _solve(problem, digits)


def _solve(problem: Problem, digits: int) -> PreciseSolution:
    K, L = problem.K, problem.L
    n = [int(v) for v in problem.n]
    N = mpf(sum(n))
    lam_w = [exact_decimal(v) for v in problem.lambda_w]
    lam_h = exact_decimal(problem.lambda_h)
    lbar, scales = precise_scales(lam_h, lam_w)
    pairs = target_directions(n, problem.bias)
    sigma = [p[0] for p in pairs]
    solved = [stationary_points(s, N, lbar, L) for s in sigma]
    z, residual, code, notes = _read_off(problem, sigma, solved)
    state = scalar.state_names(code).tolist()
    root_l = [v ** (mpf(1) / L) if v > 0 else mpf(0) for v in z]
    singular = [tuple(r * sc for sc in scales) for r in root_l]
    vectors = tuple(p[1] for p in pairs)
    layers = [list(itertools.accumulate(sv, operator.mul)) for sv in singular]
    layer_norms = tuple(
        tuple(mpmath.sqrt(max(d, 0)) / n[k] for k, d in
              enumerate(_sparse_diag(vectors,
                                     [(s * lv[j]) ** 2 for s, lv in zip(sigma, layers)], K)))
        for j in range(problem.depth + 1)
    )
    classifier = _sparse_diag(vectors, [mpmath.fprod(sv[1:]) ** 2 for sv in singular], K)
    outputs = _sparse_diag(vectors, [v * s for v, s in zip(z, sigma)], K)
    feature_norm = layer_norms[0]
    collapsed = readoff.collapsed(np.array(feature_norm, dtype=object),
                                  rtol=mpf(10) ** (-digits), floor=mpf(0))
    decay = readoff.direction_decays(np.array([critical_decay(s, N, L) for s in sigma],
                                              dtype=object), code, zero=mpf(0))
    loss = _loss(z, residual, N, lbar, L)
    return PreciseSolution(
        problem=problem,
        precision=digits,
        sigma=tuple(sigma),
        z=tuple(z),
        z_local=tuple(r.z_local for r in solved),
        residual=tuple(residual),
        roots=tuple(r.roots for r in solved),
        direction_state=tuple(state),
        singular_values=tuple(singular),
        direction_critical_decay=tuple(decay),
        vectors=vectors,
        feature_norm=feature_norm,
        classifier_norm=tuple(mpmath.sqrt(max(d, 0)) for d in classifier),
        output=tuple(d / n[k] for k, d in enumerate(outputs)),
        collapsed=tuple(collapsed.tolist()),
        layer_feature_norms=layer_norms,
        loss=loss,
        notes=tuple(notes),
    )


def _read_off(problem: Problem, sigma: list, solved: list) -> tuple:
    """Per direction ``z``, ``residual`` (lists) and the int8 state ``code`` after the rank
    cap, and the notes: the read-off of :mod:`ncsolve.core.readoff` on mpmath numbers."""
    z = np.array([r.z for r in solved], dtype=object)
    residual = np.array([r.residual for r in solved], dtype=object)
    code = np.array([scalar.CODE[r.state] for r in solved], dtype=np.int8)
    cap = problem.rank_cap
    capping = readoff.cap_rank(cap, np.array(sigma, dtype=object), z, residual, code,
                               rtol=10 * mpmath.mp.eps, zero=mpf(0))
    notes = (readoff.tie_notes(code, [r.z_local for r in solved], lambda v: mpmath.nstr(v, 20))
             + readoff.window_summary(code)
             + readoff.cap_notes(cap, int(capping.cut), bool(capping.equal)))
    return z.tolist(), residual.tolist(), code, notes


def _loss(z: list, residual: list, N, lbar, L: int):
    """``sum_i residual_i^2 / (2N) + (L/2) lbar sum_i z_i^(2/L)`` (no cancelling difference)."""
    fit = mpmath.fsum(r**2 for r in residual) / (2 * N)
    q = mpf(2) / L
    return fit + (mpf(L) / 2) * lbar * mpmath.fsum(v**q for v in z if v > 0)


def _sparse_diag(vectors, weights, K: int) -> list:
    """Diagonal of ``A diag(weights) A^T`` (class order) from sparse columns."""
    out = [mpf(0)] * K
    for w, v in zip(weights, vectors):
        if w == 0:
            continue
        for k, a in v.items():
            out[k] += w * a * a
    return out


def _sparse_gram(vectors, weights, K: int, left=None, right=None) -> list:
    """``diag(1/left) A diag(weights) A^T diag(1/right)`` as a K x K list of lists."""
    out = [[mpf(0)] * K for _ in range(K)]
    for w, v in zip(weights, vectors):
        if w == 0:
            continue
        items = list(v.items())
        for a, va in items:
            row = out[a]
            for b, vb in items:
                row[b] += w * va * vb
    for a in range(K):
        for b in range(K):
            if left is not None:
                out[a][b] /= left[a]
            if right is not None:
                out[a][b] /= right[b]
    return out


