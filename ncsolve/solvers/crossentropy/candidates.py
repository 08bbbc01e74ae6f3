"""Structured logit configurations ("candidates") and their one-variable minimization.

A candidate is a fixed logit pattern G (K x K, column k = pattern of class k's
logits) scaled by a > 0: X = a G.  Its objective is one-dimensional,

    f(a) = sum_k w_k CE(a G e_k + b*(a), k) + c a^q sum_i sigma_i(G D^(1/2))^q,

(b*(a) the optimal free bias, or 0), minimized on a log grid and refined with
Brent's method.  The patterns are Gram matrices of class vectors v_k (features
and classifier rows aligned, as factor balancing suggests):

* ``simplex ETF`` -- K vertices of a regular simplex, rank K-1 (neural collapse);
* ``regular K-gon`` -- K equally spaced unit vectors in a plane, rank 2;
* ``cross-polytope`` -- K/2 orthonormal vectors and their negatives, rank K/2
  (K = 4 gives the square);
* ``simplex product`` -- classes indexed by tuples (i_1, ..., i_m), K = K_1 ... K_m,
  v = concatenated simplex vertices, rank sum (K_i - 1) (e.g. the cube for K = 8);
* ``icosahedron`` (K = 12) and ``dodecahedron`` (K = 20) -- rank-3 spherical
  codes that the search finds at depth >= 3;
* ``grouped simplex`` -- classes merged into g groups that share one simplex
  vertex, rank g - 1 (partial collapse: members of a group are not separated).

The origin X = 0 is a candidate too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .budget import rows_per_chunk
from .reduced import ReducedCE

__all__ = ["Candidate", "fit_scale", "fit_scales", "origin_candidate", "origin_decay",
           "origin_decays", "patterns", "scale_cap", "structured_candidates"]

MAX_GROUPS = 8  # grouped-simplex candidates are built for g = 2..MAX_GROUPS and g = K-1
MIN_SCALE_CAP = 400.0  # the scale grid of fit_scale reaches at least this far (logit units)
SCALE_CAP_FACTOR = 8.0  # ... and this many times log(K / c), the natural margin
MAX_SCALE = 1e7  # the grid is never extended beyond this scale
NESTED_POINTS = 17  # points per level of the nested grids that refine a scale
NESTED_LEVELS = 9  # levels: the bracket shrinks 8-fold per level


@dataclass(frozen=True)
class Candidate:
    """A structured configuration at its best scale.

    Attributes
    ----------
    name : str
        Human-readable structure name.
    rank : int
        Rank of the logit matrix.
    objective : float
        Reduced objective at the best positive scale (the origin value if the
        structure has no local minimum at a positive scale).
    scale : float
        Best scale a (0 when the structure collapses to the origin).
    X : ndarray, shape (K, K)
        Logit matrix at the best scale.
    b : ndarray or None
        Optimal free bias at that point (None for the bias-free model).
    """

    name: str
    rank: int
    objective: float
    scale: float
    X: np.ndarray
    b: np.ndarray | None


# ---- patterns ---------------------------------------------------------------------------


def simplex_pattern(K: int) -> np.ndarray:
    """Gram matrix of a centred regular simplex: I - 11^T/K (margins 1)."""
    return np.eye(K) - np.full((K, K), 1.0 / K)


def polygon_pattern(K: int) -> np.ndarray:
    """Gram matrix of K equally spaced unit vectors in the plane."""
    angles = 2.0 * math.pi * np.arange(K) / K
    return np.cos(angles[:, None] - angles[None, :])


def cross_polytope_pattern(K: int) -> np.ndarray:
    """Gram of e_1..e_{K/2}, -e_1..-e_{K/2} (K even): class k and k + K/2 are antipodal."""
    half = K // 2
    block = np.eye(half)
    return np.block([[block, -block], [-block, block]])


def product_pattern(factors: tuple[int, ...]) -> np.ndarray:
    """Gram of concatenated simplex vertices; class index = mixed-radix tuple."""
    G = np.zeros((1, 1))
    for k in factors:
        G = np.add.outer(G, simplex_pattern(k)).transpose(0, 2, 1, 3)
        G = G.reshape(G.shape[0] * k, G.shape[2] * k)
    return G


def _gram_of_rows(V: np.ndarray) -> np.ndarray:
    V = V / np.linalg.norm(V, axis=1)[:, None]
    return V @ V.T


def icosahedron_pattern() -> np.ndarray:
    """Gram of the 12 vertices of a regular icosahedron (rank 3)."""
    phi = (1.0 + math.sqrt(5.0)) / 2.0
    rows = []
    for s1 in (1.0, -1.0):
        for s2 in (1.0, -1.0):
            rows += [(0.0, s1, s2 * phi), (s1, s2 * phi, 0.0), (s2 * phi, 0.0, s1)]
    return _gram_of_rows(np.array(rows))


def dodecahedron_pattern() -> np.ndarray:
    """Gram of the 20 vertices of a regular dodecahedron (rank 3)."""
    phi = (1.0 + math.sqrt(5.0)) / 2.0
    rows = [(a, b, c) for a in (1.0, -1.0) for b in (1.0, -1.0) for c in (1.0, -1.0)]
    for s1 in (1.0, -1.0):
        for s2 in (1.0, -1.0):
            rows += [(0.0, s1 / phi, s2 * phi), (s1 / phi, s2 * phi, 0.0),
                     (s2 * phi, 0.0, s1 / phi)]
    return _gram_of_rows(np.array(rows))


def line_pattern(order: np.ndarray) -> np.ndarray:
    """Rank 1: class order[i] at position i of K equally spaced points of [-1, 1], G = v v^T.

    With a free bias b_j = -a v_j^2 / 2 the logits a (v_j v_k - v_j^2 / 2) =
    a (v_k^2 - (v_j - v_k)^2) / 2 are largest for j = k: one direction
    separates every class, the bias does the rest.
    """
    K = order.size
    v = np.empty(K)
    v[order] = np.linspace(-1.0, 1.0, K)
    return np.outer(v, v)


def _line_orders(n: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Class orders along the line: the largest classes at the ends, or in the middle."""
    by_size = np.argsort(-n, kind="stable")
    ends = np.concatenate([by_size[0::2], by_size[1::2][::-1]])
    middle = np.concatenate([by_size[1::2][::-1], by_size[0::2]])
    return [("largest at the ends", ends), ("largest in the middle", middle)]


def grouped_pattern(groups: np.ndarray) -> np.ndarray:
    """Simplex over groups; classes with the same group label share a vertex."""
    g = int(groups.max()) + 1
    return simplex_pattern(g)[np.ix_(groups, groups)]


def factorizations(K: int, smallest: int = 2) -> list[tuple[int, ...]]:
    """All non-decreasing tuples of integers >= 2 whose product is K (K itself included)."""
    out = [(K,)] if K >= smallest else []
    for f in range(smallest, math.isqrt(K) + 1):
        if K % f == 0:
            out += [(f, *rest) for rest in factorizations(K // f, f)]
    return out


def _balanced_groups(n: np.ndarray, g: int) -> np.ndarray:
    """Deal the classes (largest first) round-robin into g groups."""
    order = np.argsort(-n, kind="stable")
    groups = np.empty(n.size, dtype=int)
    groups[order] = np.arange(n.size) % g
    return groups


def _minority_groups(n: np.ndarray, g: int) -> np.ndarray:
    """The g - 1 largest classes alone, every other class merged into one group."""
    order = np.argsort(-n, kind="stable")
    groups = np.full(n.size, g - 1, dtype=int)
    groups[order[: g - 1]] = np.arange(g - 1)
    return groups


def patterns(n: np.ndarray, rank_cap: int,
             bias: bool = False) -> list[tuple[str, np.ndarray]]:
    """Named logit patterns for class sizes ``n`` whose rank fits ``rank_cap``.

    bias : bool
        With a free bias, the classes-on-a-line patterns (rank 1) are added.

    Returns
    -------
    list of (name, G)
        Patterns, each a K x K matrix (column k: class k's logit pattern).
    """
    n = np.asarray(n)
    K = n.size
    out: list[tuple[str, np.ndarray]] = []
    if K - 1 <= rank_cap:
        out.append(("simplex ETF", simplex_pattern(K)))
    if K >= 5 and rank_cap >= 2:
        out.append((f"regular {K}-gon", polygon_pattern(K)))
    if K >= 4 and K % 2 == 0 and K // 2 <= rank_cap:
        name = "square (cross-polytope in 2D)" if K == 4 else f"cross-polytope in {K // 2}D"
        out.append((name, cross_polytope_pattern(K)))
    if K == 12 and rank_cap >= 3:
        out.append(("icosahedron", icosahedron_pattern()))
    if K == 20 and rank_cap >= 3:
        out.append(("dodecahedron", dodecahedron_pattern()))
    for parts in factorizations(K):
        if len(parts) < 2 or parts == (2, 2) or sum(p - 1 for p in parts) > rank_cap:
            continue
        label = " x ".join(str(p) for p in parts)
        out.append((f"simplex product {label}", product_pattern(parts)))
    if bias and K >= 3:
        out += [(f"classes on a line ({label}, rank 1 with the bias)", line_pattern(order))
                for label, order in _line_orders(n)]
    sizes = sorted(set(range(2, min(MAX_GROUPS, K - 1) + 1)) | ({K - 1} if K > 2 else set()))
    for g in sizes:
        if g - 1 > rank_cap:
            continue
        variants = {"equal": _balanced_groups(n, g), "largest alone": _minority_groups(n, g)}
        seen: list[np.ndarray] = []
        for label, groups in variants.items():
            if any(np.array_equal(groups, s) for s in seen):
                continue
            seen.append(groups)
            out.append((f"grouped simplex, {g} groups ({label})", grouped_pattern(groups)))
    return out


# ---- one-variable minimization -----------------------------------------------------------


def _normalize(G: np.ndarray) -> np.ndarray:
    """Scale a pattern so that the largest spread of a column is 1 (logit units)."""
    spread = float(np.max(G.max(axis=0) - G.min(axis=0)))
    return G / spread if spread > 0 else G


def scale_cap(red: ReducedCE) -> float:
    """Largest scale of the first grid of :func:`fit_scale` (logit units).

    At the best scale the cross-entropy saving of a larger margin m, about
    e^(-m), balances the marginal penalty, which is of order c; so optimal
    margins are about log(1/c) + log K.  The cap is a safe multiple of that
    (at least 400): at decay 1e-300 margins near 690 are needed.
    """
    natural = math.log(red.K) + math.log(1.0 / red.c)
    return max(MIN_SCALE_CAP, SCALE_CAP_FACTOR * natural)


def _spectral_weight(red: ReducedCE, G: np.ndarray) -> np.ndarray:
    """sum_i sigma_i(G D^(1/2))^q of each pattern of a stack (rounding-level values cut)."""
    s = red.singular_values(G)
    return np.sum(np.where(s > 1e-12 * s[..., :1], s, 0.0) ** red.q, axis=-1)


def _scaled_ce(red: ReducedCE, G: np.ndarray, a: np.ndarray, bias: bool,
               b0: np.ndarray | None = None):
    """CE of a * G for patterns G (C, K, K) and scales a (C, P); values and biases.

    ``b0`` (C, K) starts the bias search of every scale of a pattern.
    """
    K = red.K
    C, P = a.shape
    if bias and b0 is not None:
        b0 = np.repeat(b0, P, axis=0)
    which, flat = np.repeat(np.arange(C), P), a.reshape(-1)
    values, b = np.empty(C * P), (np.empty((C * P, K)) if bias else None)
    step = rows_per_chunk(K)
    for lo in range(0, C * P, step):  # in chunks: rows are independent, memory bounded
        part = slice(lo, lo + step)
        X = flat[part, None, None] * G[which[part]]
        if bias:
            b[part] = red.best_bias(X, None if b0 is None else b0[part])
        values[part] = red.ce(X, None if b is None else b[part])[0]
    return values.reshape(a.shape), (None if b is None else b.reshape(*a.shape, K))


def _nested_grid(f, lo: np.ndarray, hi: np.ndarray, points: int = NESTED_POINTS,
                 levels: int = NESTED_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Minimize f on [lo, hi] (one interval per row) by nested uniform grids.

    ``f(scales, state)`` maps scales (C, P) to values (C, P) and a by-product
    (C, P, ...) or None, of which the row's best entry is passed back as
    ``state`` (C, ...) at the next level (a warm start; None at the first).
    Each level evaluates ``points`` scales per row and keeps the two grid
    cells around the lowest, shrinking the bracket by (points - 1) / 2.

    Returns
    -------
    a, value : ndarray, shape (C,)
    """
    rows = np.arange(lo.size)
    state = None
    for _ in range(levels):
        grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, points)
        values, extra = f(grid, state)
        i = np.argmin(values, axis=1)
        best_a, best_v = grid[rows, i], values[rows, i]
        state = None if extra is None else extra[rows, i]
        lo = grid[rows, np.maximum(i - 1, 0)]
        hi = grid[rows, np.minimum(i + 1, points - 1)]
    return best_a, best_v


def fit_scales(red: ReducedCE, G: np.ndarray, grid: int = 100, top: float | None = None,
               biased: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """Best positive scale of every pattern of a stack G (C, K, K); see :func:`fit_scale`.

    ``biased`` (C,) marks patterns whose grid is evaluated with the optimal bias
    (those that separate classes only with it, such as classes on a line).
    """
    G = np.asarray(G, dtype=float).reshape(-1, red.K, red.K)
    C = G.shape[0]
    weight = red.c * _spectral_weight(red, G)
    top = top or scale_cap(red)
    scales = np.broadcast_to(np.geomspace(1e-3, top, grid), (C, grid))
    values = _scaled_ce(red, G, scales, False)[0]
    if red.bias and biased is not None and np.any(biased):
        values[biased] = _scaled_ce(red, G[biased], scales[biased], True)[0]
    values += weight[:, None] * scales ** red.q
    out_a, out_v, out_b = np.zeros(C), np.full(C, red.origin_value()), [_origin_bias(red)] * C
    lo, hi, which = [], [], []
    width = 3 if red.bias else 1
    for k in range(C):
        s, v = scales[k], values[k]
        if v[-1] < v[-2]:  # still falling at the end of the grid: extend it
            s, v = _scale_grid(lambda a, k=k: _scaled_ce(
                red, G[k:k + 1], np.array([[a]]), False)[0][0, 0] + weight[k] * a ** red.q,
                grid, top)
        interior = np.flatnonzero((v[1:-1] <= v[:-2]) & (v[1:-1] <= v[2:])) + 1
        if interior.size == 0:
            continue
        i = interior[np.argmin(v[interior])]
        lo.append(s[max(i - width, 0)])
        hi.append(s[min(i + width, s.size - 1)])
        which.append(k)
    if which:
        idx = np.array(which)

        def exact(a: np.ndarray, b0):
            ce, b = _scaled_ce(red, G[idx], a, red.bias, b0)
            return ce + weight[idx, None] * a ** red.q, b

        a, v = _nested_grid(exact, np.array(lo), np.array(hi))
        out_a[idx], out_v[idx] = a, v
        if red.bias:
            b = red.best_bias(a[:, None, None] * G[idx])
            for j, k in enumerate(which):
                out_b[k] = b[j]
        else:
            for k in which:
                out_b[k] = None
    return out_a, out_v, out_b


def fit_scale(red: ReducedCE, G: np.ndarray, grid: int = 100, top: float | None = None,
              biased: bool = False) -> tuple[float, float, np.ndarray | None]:
    """Best positive scale of the pattern G.

    Parameters
    ----------
    red : ReducedCE
        The reduced problem.
    G : ndarray, shape (K, K)
        A normalized pattern.
    grid : int
        Points of the logarithmic grid in (1e-3, ``top``).
    top : float, optional
        Largest scale of the first grid (logit units), default :func:`scale_cap`.
        When f still decreases there, the grid is extended upwards.
    biased : bool
        Evaluate the grid with the optimal bias too (for patterns that separate
        classes only with it); by default the grid is bias-free.

    Returns
    -------
    scale : float
        Scale of the lowest local minimum of f at a positive scale (0.0 when f
        has none, i.e. the structure shrinks to the origin).
    value : float
        Objective at that scale (the origin value when scale is 0); it may lie
        above the origin value.
    b : ndarray or None
        The optimal bias at that scale.

    Notes
    -----
    The grid is bias-free (cheap); the bias only moves the minimum a little,
    and the refinement, nested grids on a bracket of a few grid cells (wider
    with a bias), uses the exact objective.
    """
    a, v, b = fit_scales(red, G[None], grid, top, np.array([biased]))
    return float(a[0]), float(v[0]), b[0]


def _scale_grid(f, grid: int, top: float) -> tuple[np.ndarray, np.ndarray]:
    """f on a log grid in (1e-3, top); extended upwards while f still falls at its end."""
    scales = np.geomspace(1e-3, top, grid)
    values = np.array([f(a) for a in scales])
    while values[-1] < values[-2] and scales[-1] < MAX_SCALE:
        more = scales[-1] * np.geomspace(1.0, 16.0, grid // 4 + 1)[1:]
        scales = np.concatenate([scales, more])
        values = np.concatenate([values, [f(a) for a in more]])
    return scales, values


def _origin_bias(red: ReducedCE) -> np.ndarray | None:
    if not red.bias:
        return None
    logw = np.log(red.w)
    return logw - logw.mean()


def origin_candidate(red: ReducedCE) -> Candidate:
    """The origin X = 0 (every class collapsed; the bias learns the class prior)."""
    K = red.K
    return Candidate("origin (all logits zero)", 0, red.origin_value(), 0.0,
                     np.zeros((K, K)), _origin_bias(red))


def structured_candidates(red: ReducedCE) -> list[Candidate]:
    """Every structured candidate of :func:`patterns` at its best scale, plus the origin."""
    out = [origin_candidate(red)]
    named = patterns(red.problem.n, red.rank_cap, red.bias)
    if not named:
        return out
    G = np.stack([_normalize(P) for _, P in named])
    ranks = red.rank(G)
    biased = np.array(["with the bias" in name for name, _ in named])
    scales, values, biases = fit_scales(red, G, biased=biased)
    for (name, _), g, rank, a, v, b in zip(named, G, ranks, scales, values, biases):
        out.append(Candidate(name, int(rank), float(v), float(a), a * g, b))
    return out


def origin_decay(red: ReducedCE, X: np.ndarray, grid: int = 80) -> float:
    """Decay lbar above which the origin beats every positive multiple of the pattern X.

    With S = sum_i sigma_i(X D^(1/2))^q, some a > 0 has f(a) < H0 (the origin
    value) exactly when c < (H0 - CE(a X)) / (a^q S); the threshold is the
    maximum of that ratio over a, converted to lbar = 2 c / L.

    Returns
    -------
    float
        The threshold decay (0.0 for the zero pattern).
    """
    return float(origin_decays(red, np.asarray(X, dtype=float)[None], grid)[0])


def origin_decays(red: ReducedCE, X: np.ndarray, grid: int = 80) -> np.ndarray:
    """:func:`origin_decay` of every pattern of a stack X (C, K, K), evaluated together."""
    X = np.asarray(X, dtype=float).reshape(-1, red.K, red.K)
    out = np.zeros(X.shape[0])
    live = np.flatnonzero(red.singular_values(X)[:, 0] > 0)
    if live.size == 0:
        return out
    G = np.stack([_normalize(x) for x in X[live]])
    S = _spectral_weight(red, G)
    h0 = red.origin_value()

    def minus_ratio(a: np.ndarray) -> np.ndarray:
        ce = _scaled_ce(red, G, a, red.bias)[0]
        return -(h0 - ce) / (a ** red.q * S[:, None])

    scales = np.broadcast_to(np.geomspace(1e-6, 400.0, grid), (live.size, grid))
    values = -minus_ratio(scales)
    i = np.argmax(values, axis=1)
    rows = np.arange(live.size)
    best = values[rows, i]
    inner = np.flatnonzero((i > 0) & (i < grid - 1))
    if inner.size:
        lo, hi = scales[inner, i[inner] - 1], scales[inner, i[inner] + 1]
        sub = inner

        def f(a: np.ndarray, b0):
            ce, b = _scaled_ce(red, G[sub], a, red.bias, b0)
            return -(h0 - ce) / (a ** red.q * S[sub, None]), b

        best[inner] = np.maximum(best[inner], -_nested_grid(f, lo, hi)[1])
    out[live] = np.maximum(0.0, 2.0 * best / red.L)
    return out
