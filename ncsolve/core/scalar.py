"""The one-direction problem ``min_{z >= 0} g(z) = (z - sigma)^2 / (2N) + c z^q``.

For depth 1 (q = 1) it is a soft threshold. For depth >= 2 (q < 1) g is not
convex: z = 0 is always a local minimum, and the larger positive stationary
point z+ (when it exists) is the other. Which of the two is global is decided
by comparing ``N c`` with the phase boundary below, *not* by taking the largest
root, which is only a local minimum inside the window between the existence
and the global thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVE = "active"  # the nonzero local minimum is the global one
COLLAPSED = "collapsed"  # no nonzero stationary point: 0 is the only minimum
WINDOW = "window"  # a nonzero local minimum exists, but 0 is strictly better
TIE = "tie"  # 0 and the nonzero minimum are both global (to working precision)
EMPTY = "empty"  # sigma = 0: the target has nothing in this direction
CAPPED = "capped"  # nonzero on its own, but cut by the rank cap of narrow layers
# states travel as int8 codes (index into STATES) and become strings only when shown
STATES = (ACTIVE, COLLAPSED, WINDOW, TIE, EMPTY, CAPPED)
CODE = {name: np.int8(code) for code, name in enumerate(STATES)}
_NAMES = np.array(STATES)  # fixed-width strings, no object arrays
TIE_TOLERANCE = 1e-12  # relative distance to the phase boundary treated as a tie
MAX_ITER = 60  # Newton passes of gap_root; the benchmarks check that none reaches it
_EPS = float(np.finfo(float).eps)
_RUNS_FROM = 64  # directions from which minimize looks for runs of equal values
_NOISE = 4.0 * _EPS  # rounding level of h relative to the sum of its terms' sizes


@dataclass(frozen=True, eq=False)
class DirectionMinima:
    """Minimizers of the scalar problem, one entry per direction.

    Attributes
    ----------
    z : ndarray
        Global minimizer (0 for collapsed, window, empty and tie directions;
        at a tie the nonzero value ``z_local`` is equally optimal).
    z_local : ndarray
        The nonzero local minimum z+, or nan where none exists.
    residual : ndarray
        ``sigma - z``, computed without cancellation.
    code : ndarray of int8
        State of each direction as an index into :data:`STATES`; ``state`` gives
        the names ``active``, ``collapsed``, ``window``, ``tie``, ``empty``.
    iterations : int
        Newton passes of the root finder (0 for depth 1, the soft threshold).
    """

    z: np.ndarray
    z_local: np.ndarray
    residual: np.ndarray
    code: np.ndarray
    iterations: int = 0

    @property
    def state(self) -> np.ndarray:
        return state_names(self.code)


def state_names(code: np.ndarray) -> np.ndarray:
    """State codes as a fixed-width string array."""
    return _NAMES[code]


def phase_boundary(sigma: np.ndarray, q: float) -> np.ndarray:
    """``(N c)*``: the direction is nonzero at the global minimum iff ``N c`` is below.

    ``(2(1-q)/(2-q))^(1-q) sigma^(2-q) / (2-q)``; for q = 1 this is ``sigma``.
    """
    sigma = np.asarray(sigma, dtype=float)
    return _phase_boundary(sigma ** (2.0 - q), q)


def existence_boundary(sigma: np.ndarray, q: float) -> np.ndarray:
    """``(N c)`` above which g has no positive stationary point (q < 1).

    From ``N c q <= ((1-q)/(2-q))^(1-q) sigma^(2-q) / (2-q)``; for q = 1, ``sigma``.
    """
    sigma = np.asarray(sigma, dtype=float)
    if q == 1.0:
        return sigma.copy()
    return _existence_boundary(sigma ** (2.0 - q), q)


def _phase_boundary(power: np.ndarray, q: float) -> np.ndarray:
    """:func:`phase_boundary` from ``power = sigma^(2-q)``."""
    return (2.0 * (1.0 - q) / (2.0 - q)) ** (1.0 - q) * power / (2.0 - q)


def _existence_boundary(power: np.ndarray, q: float) -> np.ndarray:
    """:func:`existence_boundary` (q < 1) from ``power = sigma^(2-q)``."""
    return ((1.0 - q) / (2.0 - q)) ** (1.0 - q) * power / ((2.0 - q) * q)


def objective(z: np.ndarray, sigma: np.ndarray, N: int, c: float, q: float) -> np.ndarray:
    """g(z) elementwise."""
    z = np.asarray(z, dtype=float)
    return (z - sigma) ** 2 / (2.0 * N) + c * z**q


def minimize(sigma: np.ndarray, N: int, c: float, q: float) -> DirectionMinima:
    """Exact global minimizer of g for every entry of ``sigma`` (vectorized).

    Runs of equal consecutive values (a sorted spectrum repeats every class size
    that several classes share) are solved once and broadcast.
    """
    sigma = np.asarray(sigma, dtype=float)
    solve = _soft_threshold if q == 1.0 else _minimize
    runs = _runs(sigma)
    if runs is None:
        return solve(sigma, N * c, q)
    first, index = runs
    small = solve(sigma[first], N * c, q)
    return DirectionMinima(z=small.z[index], z_local=small.z_local[index],
                           residual=small.residual[index], code=small.code[index],
                           iterations=small.iterations)


def _runs(sigma: np.ndarray):
    """The first entry of each run of equal consecutive values and every entry's run,
    or None when runs would not halve the work."""
    if sigma.ndim != 1 or sigma.size < _RUNS_FROM:
        return None
    change = sigma[1:] != sigma[:-1]
    runs = int(np.count_nonzero(change)) + 1
    if 2 * runs > sigma.size:
        return None
    starts = np.empty(sigma.size, dtype=bool)
    starts[0], starts[1:] = True, change
    return np.flatnonzero(starts), np.cumsum(starts) - 1


def _minimize(sigma: np.ndarray, Nc: float, q: float) -> DirectionMinima:
    positive = sigma > 0
    z_local = np.full(sigma.shape, np.nan)
    residual = sigma.copy()
    power = sigma ** (2.0 - q)
    exists = positive & (Nc <= _existence_boundary(power, q))
    gap, iterations = gap_root(Nc * q / power[exists], q)  # (sigma - z+) / sigma
    z_local[exists] = sigma[exists] * (1.0 - gap)
    ratio = np.full(sigma.shape, np.inf)
    ratio[positive] = Nc / _phase_boundary(power[positive], q)
    tie = exists & (np.abs(ratio - 1.0) <= TIE_TOLERANCE)
    active = exists & (ratio < 1.0) & ~tie
    code = np.where(positive, CODE[COLLAPSED], CODE[EMPTY])
    code[exists] = CODE[WINDOW]
    code[active] = CODE[ACTIVE]
    code[tie] = CODE[TIE]
    z = np.where(active, z_local, 0.0)
    residual[exists] = np.where(active[exists], sigma[exists] * gap, sigma[exists])
    return DirectionMinima(z=z, z_local=z_local, residual=residual, code=code,
                           iterations=iterations)


def _soft_threshold(sigma: np.ndarray, Nc: float, q: float = 1.0) -> DirectionMinima:
    z = np.maximum(sigma - Nc, 0.0)
    active = z > 0
    code = np.where(active, CODE[ACTIVE], np.where(sigma > 0, CODE[COLLAPSED], CODE[EMPTY]))
    return DirectionMinima(
        z=z,
        z_local=np.where(active, z, np.nan),
        residual=np.where(active, Nc, sigma),
        code=code,
    )


def gap_root(beta: np.ndarray, q: float, max_iter: int = MAX_ITER) -> tuple[np.ndarray, int]:
    """Solve ``(1 - v)^(1-q) v = beta`` for the small root v = 1 - z/sigma.

    In logs, ``h(v) = (1-q) log(1-v) + log v - log beta`` is increasing and
    concave on (0, v_m], v_m = 1/(2-q), where ``(1-v)^(1-q) v`` peaks. A Newton
    step from any point there lands at or left of the root (the tangent of a
    concave function lies above it), and from the left Newton increases
    monotonically to the root. Two starts, both checked: the fixed-point step
    ``beta (1-beta)^(q-1)`` (left of the root, good for small beta) and the
    root of the cubic model of h about its peak (good near the existence
    boundary beta -> beta_max, where Newton from afar converges only linearly).
    Each entry stops when ``|h|`` is at the rounding level of its own terms and
    drops out of the iteration.

    Returns
    -------
    v : ndarray
        The roots, same shape as ``beta`` (0 where beta underflowed to 0).
    iterations : int
        Newton passes taken by the slowest entry (``max_iter`` means a cap was hit).
    """
    beta = np.asarray(beta, dtype=float)
    p = 1.0 - q
    peak = 1.0 / (2.0 - q)
    v = np.zeros(beta.shape)
    live = np.flatnonzero(beta > 0)
    if live.size == 0:
        return v, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        b = beta[live]
        log_beta = np.log(b)
        left = np.minimum(b * (1.0 - b) ** -p, peak)
        x = np.maximum(left, _peak_start(log_beta, q))
        size_log_beta = np.abs(log_beta)
        iterations = 0
        while live.size and iterations < max_iter:
            iterations += 1
            # both logs are <= 0 on (0, v_m], so the sum of their sizes is -terms
            terms = p * np.log1p(-x) + np.log(x)
            h = terms - log_beta
            noise = _NOISE * (size_log_beta - terms)
            # h'(v) = (1/v) * scaled, written so that a subnormal v cannot overflow
            scaled = 1.0 - p * x / (1.0 - x)
            steps = scaled > 0  # false only at the peak itself (a double root)
            # (minimum of maximum: np.clip costs several times more on small arrays)
            new = np.where(steps, np.minimum(np.maximum(x - h * x / scaled, left), peak), x)
            level = np.abs(h) <= noise
            done = level | ~steps | (np.abs(new - x) <= _EPS * x)
            if not done.any():
                x = new
                continue
            # from the left (h <= 0) a last step stays left of the root and only helps;
            # from the right it could jump far where h' is tiny, so x is kept
            v[live[done]] = np.where(level & (h > 0), x, new)[done]
            keep = ~done
            live, x, left = live[keep], new[keep], left[keep]
            log_beta, size_log_beta = log_beta[keep], size_log_beta[keep]
    v[live] = x
    return v, iterations


def _peak_start(log_beta: np.ndarray, q: float) -> np.ndarray:
    """Root of the cubic model of h at its peak v_m: with v = v_m (1 - s),
    ``h(v_m) - h(v) = a s^2 + b s^3 + O(s^4)``; -inf where the model is no use."""
    p = 1.0 - q
    peak = 1.0 / (2.0 - q)
    depth_below = np.maximum(p * np.log(p * peak) + np.log(peak) - log_beta, 0.0)
    a, b = (2.0 - q) / (2.0 * p), (1.0 - 1.0 / (p * p)) / 3.0
    s = np.sqrt(depth_below / a)
    s = s * (1.0 - 0.5 * (b / a) * s)
    return np.where(s < 0.5, peak * (1.0 - s), -np.inf)


def critical_decay(sigma: np.ndarray, N: int, L: int) -> np.ndarray:
    """Geometric-mean decay ``lbar`` above which each direction collapses.

    From ``N c = N (L/2) lbar`` equal to the phase boundary; nan where sigma = 0.
    """
    sigma = np.asarray(sigma, dtype=float)
    q = 2.0 / L
    out = np.full(sigma.shape, np.nan)
    positive = sigma > 0
    out[positive] = 2.0 * phase_boundary(sigma[positive], q) / (N * L)
    return out


def low_root(sigma: np.ndarray, N: int, lbar: float, q: float,
             max_iter: int = 200) -> np.ndarray:
    """The smaller positive root ``z_low`` of ``(sigma - z) z^(1-q) = N lbar`` (q < 1).

    It is the local maximum of g between the minimum at 0 and ``z_local`` (the larger
    root), and, under gradient flow from a balanced spectral start with equal decays,
    the boundary between the two basins (docs/dynamics.md). nan where no positive
    root exists (beyond the existence boundary, sigma = 0) and for q = 1, where the
    equation has only one root.

    With ``u = z / sigma`` the equation is ``k(u) = (1-q) log u + log(1-u) - log beta
    = 0``, ``beta = N lbar / sigma^(2-q)``; k is increasing and concave on (0, u_m],
    u_m = (1-q)/(2-q), so Newton from ``u0 = beta^(1/(1-q))`` (where k = log(1-u0) <= 0,
    left of the root) increases monotonically to the root.
    """
    sigma = np.asarray(sigma, dtype=float)
    out = np.full(sigma.shape, np.nan)
    if q >= 1.0:
        return out
    p = 1.0 - q
    positive = sigma > 0
    power = np.where(positive, sigma, 1.0) ** (2.0 - q)
    exists = positive & (N * lbar <= q * _existence_boundary(power, q))  # N lbar = N c q
    if not exists.any():
        return out
    log_beta = np.log(N * lbar) - np.log(power[exists])
    peak = p / (2.0 - q)
    u = np.minimum(np.exp(log_beta / p), peak)
    for _ in range(max_iter):
        k = p * np.log(u) + np.log1p(-u) - log_beta
        slope = p / u - 1.0 / (1.0 - u)
        step = np.where(slope > 0, k / np.where(slope > 0, slope, 1.0), 0.0)
        new = np.minimum(u - step, peak)
        if np.all(np.abs(new - u) <= _EPS * u):
            u = new
            break
        u = new
    out[exists] = sigma[exists] * u
    return out


def log_low_root(sigma: float, N: int, log_lbar: float, q: float,
                 max_iter: int = 200) -> float:
    """``log z_low`` for one sigma, computed in logs throughout (z_low and lbar may lie
    below the smallest float64, where :func:`low_root` returns 0).

    With ``v = log(z / sigma)`` the equation is ``k(v) = (1-q) v + log(1 - e^v) - log beta
    = 0``; k is increasing and concave on ``v <= log u_m``, so Newton from
    ``v0 = log(beta) / (1-q)`` (where k <= 0) increases monotonically to the root.
    nan where no root exists (sigma <= 0, q >= 1, beyond the existence boundary).
    """
    if q >= 1.0 or not sigma > 0:
        return float("nan")
    p = 1.0 - q
    log_beta = np.log(N) + log_lbar - (2.0 - q) * np.log(sigma)
    peak = np.log(p / (2.0 - q))

    def k(v):
        return p * v + np.log1p(-np.exp(v)) - log_beta

    if k(peak) < 0:
        return float("nan")
    v = min(log_beta / p, peak)
    for _ in range(max_iter):
        slope = p - np.exp(v) / (-np.expm1(v))
        if slope <= 0:
            break
        new = min(v - k(v) / slope, peak)
        if abs(new - v) <= 4.0 * _EPS * max(1.0, abs(v)):
            v = new
            break
        v = new
    return float(np.log(sigma) + v)
