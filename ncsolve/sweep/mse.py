"""The MSE closed form vectorized across grid points.

Points that share class sizes, depth, bias mode and widths share one target
spectrum; only lbar and lambda_H differ between them. The scalar problem is
homogeneous: with ``t = (N c)^(1/(2-q))``, ``z(sigma; N c) = t z(sigma / t; 1)``,
so :func:`ncsolve.scalar.minimize` solves every point of a group in one call,
and the per-class read-off (as in :class:`ncsolve.solution.Solution`) is one
batched pass over the spectrum. The tests compare every column with ``predict``.
"""

from __future__ import annotations

import numpy as np

from .. import scalar
from ..solution import CAPPED
from ..spectral import target_spectrum

_TIE = 1e-12  # as in ncsolve.solution: relative tolerance of equal singular values


def solve_group(n: np.ndarray, depth: int, bias: str, widths, lambda_w: np.ndarray,
                lambda_h: np.ndarray) -> dict[str, np.ndarray]:
    """Exact MSE minimizers of P problems that differ only in their decays.

    Parameters
    ----------
    n : array of int, shape (K,)
    depth : int
    bias : {"none", "free"}
    widths : sequence of int or None
    lambda_w : array, shape (P, depth)
    lambda_h : array, shape (P,)

    Returns
    -------
    dict
        Per point (P,): ``loss``, ``rank``, ``unique``; per point and class (P, K),
        in class order: ``feature_norm``, ``classifier_norm``, ``output``,
        ``collapsed``, ``state``, ``critical_decay`` (nan with a free bias).
    """
    n = np.asarray(n)
    K, N, L = n.size, float(n.sum()), depth + 1
    q = 2.0 / L
    spectrum = target_spectrum(n, bias)
    sigma = spectrum.sigma
    lbar = np.exp((np.log(lambda_h) + np.log(lambda_w).sum(axis=1)) / L)
    c = 0.5 * L * lbar
    t = (N * c) ** (1.0 / (2.0 - q))
    minima = scalar.minimize((sigma[None, :] / t[:, None]).ravel(), 1, 1.0, q)
    z = minima.z.reshape(-1, K) * t[:, None]
    residual = minima.residual.reshape(-1, K) * t[:, None]
    state = minima.state.reshape(-1, K).astype(object)
    cap = min((K, *widths)) if widths else K
    unique = _rank_cap(cap, sigma, z, residual, state)
    loss = np.sum(residual**2, axis=1) / (2.0 * N) + c * np.sum(z**q, axis=1)
    out = _class_read_off(spectrum, n, z, L, lbar, lambda_h)
    crit_dir = np.broadcast_to(scalar.critical_decay(sigma, N, L), z.shape).copy()
    crit_dir[(state == CAPPED) | (state == scalar.EMPTY)] = 0.0
    if bias == "none":
        order = spectrum.order
        per_class_state = np.empty_like(state)
        per_class_state[:, order] = state
        crit = np.empty_like(crit_dir)
        crit[:, order] = crit_dir
    else:
        per_class_state = np.where(out["collapsed"], scalar.COLLAPSED, scalar.ACTIVE)
        crit = np.full(z.shape, np.nan)
    out.update(loss=loss, rank=np.count_nonzero(z, axis=1), unique=unique,
               state=per_class_state.astype(str), critical_decay=crit)
    return out


def _rank_cap(cap, sigma, z, residual, state) -> np.ndarray:
    """Keep the ``cap`` largest nonzero directions (mutates); settle ties as the solver
    does; return per point whether the minimizer is unique."""
    K = sigma.size
    nonzero = z > 0
    cut = nonzero & (np.cumsum(nonzero, axis=1) > cap)
    z[cut] = 0.0
    residual[cut] = np.broadcast_to(sigma, z.shape)[cut]
    state[cut] = CAPPED
    unique = np.ones(z.shape[0], dtype=bool)
    if 0 < cap < K and abs(sigma[cap - 1] - sigma[cap]) <= _TIE * sigma[cap - 1]:
        unique &= ~cut.any(axis=1)
    tie = state == scalar.TIE
    if tie.any():
        free = cap - np.count_nonzero(state == scalar.ACTIVE, axis=1)
        late = tie & (np.cumsum(tie, axis=1) - 1 >= free[:, None])
        state[late] = CAPPED
        unique &= ~(tie & ~late).any(axis=1)
    return unique


def _class_read_off(spectrum, n, z, L, lbar, lambda_h) -> dict[str, np.ndarray]:
    """Per-class lengths from the per-direction values, all points in one pass."""
    P = z.shape[0]
    sigma = spectrum.sigma
    feature = z ** (1.0 / L) * np.sqrt(lbar / lambda_h)[:, None]
    classifier = z ** (1.0 - 1.0 / L) * np.sqrt(lambda_h / lbar)[:, None]
    columns = np.concatenate([((sigma * feature) ** 2).T, (classifier**2).T, (z * sigma).T],
                             axis=1)  # (K, 3P): one weight vector per column
    diag = spectrum.diag(columns)
    feature_norm = np.sqrt(np.maximum(diag[:, :P], 0.0)).T / n
    classifier_norm = np.sqrt(np.maximum(diag[:, P:2 * P], 0.0)).T
    output = diag[:, 2 * P:].T / n
    largest = np.maximum(feature_norm.max(axis=1, initial=0.0), np.finfo(float).tiny)
    collapsed = feature_norm <= _TIE * largest[:, None]
    return {"feature_norm": feature_norm, "classifier_norm": classifier_norm,
            "output": output, "collapsed": collapsed}
