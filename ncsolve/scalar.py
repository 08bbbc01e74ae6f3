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
TIE_TOLERANCE = 1e-12  # relative distance to the phase boundary treated as a tie


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
    state : ndarray of str
        One of ``active``, ``collapsed``, ``window``, ``tie``, ``empty``.
    """

    z: np.ndarray
    z_local: np.ndarray
    residual: np.ndarray
    state: np.ndarray


def phase_boundary(sigma: np.ndarray, q: float) -> np.ndarray:
    """``(N c)*``: the direction is nonzero at the global minimum iff ``N c`` is below.

    ``(2(1-q)/(2-q))^(1-q) sigma^(2-q) / (2-q)``; for q = 1 this is ``sigma``.
    """
    sigma = np.asarray(sigma, dtype=float)
    return (2.0 * (1.0 - q) / (2.0 - q)) ** (1.0 - q) * sigma ** (2.0 - q) / (2.0 - q)


def existence_boundary(sigma: np.ndarray, q: float) -> np.ndarray:
    """``(N c)`` above which g has no positive stationary point (q < 1).

    From ``N c q <= ((1-q)/(2-q))^(1-q) sigma^(2-q) / (2-q)``; for q = 1, ``sigma``.
    """
    sigma = np.asarray(sigma, dtype=float)
    if q == 1.0:
        return sigma.copy()
    return ((1.0 - q) / (2.0 - q)) ** (1.0 - q) * sigma ** (2.0 - q) / ((2.0 - q) * q)


def objective(z: np.ndarray, sigma: np.ndarray, N: int, c: float, q: float) -> np.ndarray:
    """g(z) elementwise."""
    z = np.asarray(z, dtype=float)
    return (z - sigma) ** 2 / (2.0 * N) + c * z**q


def minimize(sigma: np.ndarray, N: int, c: float, q: float) -> DirectionMinima:
    """Exact global minimizer of g for every entry of ``sigma`` (vectorized)."""
    sigma = np.asarray(sigma, dtype=float)
    Nc = N * c
    if q == 1.0:
        return _soft_threshold(sigma, Nc)
    positive = sigma > 0
    z_local = np.full(sigma.shape, np.nan)
    residual = sigma.copy()
    exists = positive & (Nc <= existence_boundary(sigma, q))
    gap = _gap_root(Nc * q / sigma[exists] ** (2.0 - q), q)  # (sigma - z+) / sigma
    z_local[exists] = sigma[exists] * (1.0 - gap)
    ratio = np.full(sigma.shape, np.inf)
    ratio[positive] = Nc / phase_boundary(sigma[positive], q)
    tie = exists & (np.abs(ratio - 1.0) <= TIE_TOLERANCE)
    active = exists & (ratio < 1.0) & ~tie
    state = np.where(positive, COLLAPSED, EMPTY).astype(object)
    state[exists] = WINDOW
    state[active] = ACTIVE
    state[tie] = TIE
    z = np.where(active, z_local, 0.0)
    residual[exists] = np.where(active[exists], sigma[exists] * gap, sigma[exists])
    return DirectionMinima(z=z, z_local=z_local, residual=residual, state=state.astype(str))


def _soft_threshold(sigma: np.ndarray, Nc: float) -> DirectionMinima:
    z = np.maximum(sigma - Nc, 0.0)
    active = z > 0
    state = np.where(active, ACTIVE, np.where(sigma > 0, COLLAPSED, EMPTY))
    return DirectionMinima(
        z=z,
        z_local=np.where(active, z, np.nan),
        residual=np.where(active, Nc, sigma),
        state=state,
    )


def _gap_root(beta: np.ndarray, q: float, max_iter: int = 200) -> np.ndarray:
    """Solve ``(1 - v)^(1-q) v = beta`` for the small root v = 1 - z/sigma.

    In logs, ``h(v) = (1-q) log(1-v) + log v - log beta`` is increasing and
    concave on (0, 1 - u_m), so Newton started at v = beta (where h <= 0)
    increases monotonically to the root; near the existence boundary the
    convergence slows to linear, hence the generous iteration cap.
    """
    v = np.array(beta, dtype=float)
    target = np.log(beta)
    for _ in range(max_iter):
        h = (1.0 - q) * np.log1p(-v) + np.log(v) - target
        # h'(v) = (1/v) * scaled, written so that a subnormal v cannot overflow
        scaled = 1.0 - (1.0 - q) * v / (1.0 - v)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = -h * v / scaled
        v_new = v + np.where(scaled > 0, step, 0.0)
        v_new = np.minimum(v_new, 1.0 - (1.0 - q) / (2.0 - q))
        converged = np.abs(v_new - v) <= 4 * np.finfo(float).eps * v
        v = v_new
        if np.all(converged):
            break
    return v


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
