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
from ..solution import CAPPED, leading_directions
from ..spectral import target_spectrum

_TIE = 1e-12  # as in ncsolve.solution: relative tolerance of equal singular values
STATE_DTYPE = "<U9"  # the longest state name, "collapsed"


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
        ``collapsed``, ``state``, ``critical_decay`` (those of the class's leading
        direction, as in :class:`ncsolve.solution.Solution`).
    """
    return solve_groups([(n, depth, bias, lambda_w, lambda_h)], widths)[0]


def solve_groups(groups, widths) -> list[dict[str, np.ndarray]]:
    """:func:`solve_group` for many groups ``(n, depth, bias, lambda_w, lambda_h)``,
    with one scalar solve per depth for all of them."""
    prepared = [_prepare(*g) for g in groups]
    results: list = [None] * len(groups)
    for depth in sorted({g[1] for g in groups}):
        members = [i for i, g in enumerate(groups) if g[1] == depth]
        scaled = np.concatenate([prepared[i]["scaled"].ravel() for i in members])
        minima = scalar.minimize(scaled, 1, 1.0, 2.0 / (depth + 1))
        z_all, residual_all = minima.z, minima.residual
        state_all = np.asarray(minima.state, dtype=STATE_DTYPE)  # names once per depth
        start = 0
        for i in members:
            size = prepared[i]["scaled"].size
            part = slice(start, start + size)
            start += size
            results[i] = _finish(prepared[i], z_all[part], residual_all[part],
                                 state_all[part], widths)
    return results


def _prepare(n, depth, bias, lambda_w, lambda_h) -> dict:
    n = np.asarray(n)
    L = depth + 1
    q = 2.0 / L
    spectrum = target_spectrum(n, bias)
    lambda_h = np.asarray(lambda_h, dtype=float)
    lbar = np.exp((np.log(lambda_h) + np.log(np.asarray(lambda_w, dtype=float)).sum(axis=1))
                  / L)
    c = 0.5 * L * lbar
    t = (float(n.sum()) * c) ** (1.0 / (2.0 - q))
    return {"n": n, "L": L, "spectrum": spectrum, "lbar": lbar, "lambda_h": lambda_h, "c": c,
            "t": t, "scaled": spectrum.sigma[None, :] / t[:, None]}


def _finish(prep: dict, z, residual, state, widths) -> dict[str, np.ndarray]:
    n, L, spectrum, t = prep["n"], prep["L"], prep["spectrum"], prep["t"]
    K, N, q, sigma = n.size, float(n.sum()), 2.0 / L, spectrum.sigma
    z = z.reshape(-1, K) * t[:, None]
    residual = residual.reshape(-1, K) * t[:, None]
    state = state.reshape(-1, K).copy()
    cap = min((K, *widths)) if widths else K
    unique = _rank_cap(cap, sigma, z, residual, state)
    loss = np.sum(residual**2, axis=1) / (2.0 * N) + prep["c"] * np.sum(z**q, axis=1)
    out = _class_read_off(spectrum, n, z, L, prep["lbar"], prep["lambda_h"])
    crit_dir = np.broadcast_to(scalar.critical_decay(sigma, N, L), z.shape).copy()
    crit_dir[(state == CAPPED) | (state == scalar.EMPTY)] = 0.0
    lead = leading_directions(spectrum)  # a class's state is its leading direction's
    out.update(loss=loss, rank=np.count_nonzero(z, axis=1), unique=unique,
               state=state[:, lead], critical_decay=crit_dir[:, lead])
    return out


def _rank_cap(cap, sigma, z, residual, state) -> np.ndarray:
    """Zero every direction after the first ``cap`` and settle ties, as
    :func:`ncsolve.solution.solve` does (mutates); per point, whether the minimizer
    is unique."""
    K = sigma.size
    unique = np.ones(z.shape[0], dtype=bool)
    beyond = np.zeros(K, dtype=bool)
    beyond[cap:] = sigma[cap:] > 0
    if beyond.any():
        cut = (z[:, beyond] > 0).any(axis=1)
        z[:, beyond] = 0.0
        residual[:, beyond] = sigma[beyond]
        state[:, beyond] = CAPPED
        if 0 < cap < K and abs(sigma[cap - 1] - sigma[cap]) <= _TIE * sigma[cap - 1]:
            unique &= ~cut
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
