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
from scipy.optimize import minimize_scalar

from .reduced import ReducedCE

__all__ = ["Candidate", "fit_scale", "origin_candidate", "patterns", "scale_cap",
           "structured_candidates"]

MAX_GROUPS = 8  # grouped-simplex candidates are built for g = 2..MAX_GROUPS and g = K-1
MIN_SCALE_CAP = 400.0  # the scale grid of fit_scale reaches at least this far (logit units)
SCALE_CAP_FACTOR = 8.0  # ... and this many times log(K / c), the natural margin
MAX_SCALE = 1e7  # the grid is never extended beyond this scale


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


def patterns(n: np.ndarray, rank_cap: int) -> list[tuple[str, np.ndarray]]:
    """Named logit patterns for class sizes ``n`` whose rank fits ``rank_cap``.

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


def fit_scale(red: ReducedCE, G: np.ndarray, grid: int = 100,
              top: float | None = None) -> tuple[float, float, np.ndarray | None]:
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
    """
    spectrum = red.singular_values(G)
    spectrum = spectrum[spectrum > 1e-12 * spectrum[0]]
    weight = red.c * float(np.sum(spectrum ** red.q))
    state = {"b": None}

    def f(a: float, bias: bool = red.bias) -> float:
        X = a * G
        b = red.best_bias(X, state["b"]) if bias else None
        state["b"] = b
        return red.ce(X, b)[0] + weight * a ** red.q

    # The grid is bias-free (cheap); the bias only moves the minimum a little,
    # and the refinement below uses the exact objective on a wider bracket.
    scales, values = _scale_grid(lambda a: f(a, False), grid, top or scale_cap(red))
    interior = [i for i in range(1, scales.size - 1)
                if values[i] <= values[i - 1] and values[i] <= values[i + 1]]
    if not interior:
        return 0.0, red.origin_value(), _origin_bias(red)
    i = min(interior, key=lambda j: values[j])
    width = 3 if red.bias else 1
    lo, hi = scales[max(i - width, 0)], scales[min(i + width, scales.size - 1)]
    state["b"] = None
    res = minimize_scalar(f, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-13 * scales[i], "maxiter": 500})
    best_a = float(res.x)
    b = red.best_bias(best_a * G) if red.bias else None
    return best_a, red.ce(best_a * G, b)[0] + weight * best_a ** red.q, b


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
    for name, G in patterns(red.problem.n, red.rank_cap):
        G = _normalize(G)
        rank = red.rank(G)
        scale, value, b = fit_scale(red, G)
        out.append(Candidate(name, rank, value, scale, scale * G, b))
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
    spectrum = red.singular_values(X)
    if spectrum.size == 0 or spectrum[0] <= 0:
        return 0.0
    G = _normalize(X)
    spectrum = red.singular_values(G)
    S = float(np.sum(spectrum[spectrum > 1e-12 * spectrum[0]] ** red.q))
    h0 = red.origin_value()

    state = {"b": None}

    def ratio(a: float) -> float:
        b = red.best_bias(a * G, state["b"]) if red.bias else None
        state["b"] = b
        return (h0 - red.ce(a * G, b)[0]) / (a ** red.q * S)

    scales = np.geomspace(1e-6, 400.0, grid)
    values = np.array([ratio(a) for a in scales])
    i = int(np.argmax(values))
    if 0 < i < grid - 1:
        res = minimize_scalar(lambda a: -ratio(a), bounds=(scales[i - 1], scales[i + 1]),
                              method="bounded", options={"xatol": 1e-12 * scales[i]})
        best = max(values[i], -float(res.fun))
    else:
        best = values[i]
    return max(0.0, 2.0 * best / red.L)
