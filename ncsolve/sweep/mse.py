"""The MSE closed form vectorized across grid points.

Points that share class sizes, depth, bias mode and widths share one target
spectrum; only lbar and lambda_H differ between them. The scalar problem is
homogeneous: with ``t = (N c)^(1/(2-q))``, ``z(sigma; N c) = t z(sigma / t; 1)``,
so :func:`ncsolve.core.scalar.minimize` solves every point of a group in one call,
and the read-off (:mod:`ncsolve.core.readoff`, the functions of ``predict``) runs
on every point at once, the per-class part as one batched pass over the spectrum.
The tests compare every column with ``predict``.
"""

from __future__ import annotations

import numpy as np

from ..core import scalar
from ..core.balance import power, sqrt_ratio
from ..core import readoff
from ..core.spectral import DiagonalSpectrum, target_spectrum


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
        direction, as in :class:`ncsolve.solvers.mse.Solution`).
    """
    return solve_groups([(n, depth, bias, lambda_w, lambda_h)], widths)[0]


def solve_groups(groups, widths) -> list[dict[str, np.ndarray]]:
    """:func:`solve_group` for many groups ``(n, depth, bias, lambda_w, lambda_h)``:
    one scalar solve per depth, and the read-off of every bias-free group with the
    same number of classes as one stack of rows (its spectrum is a permutation)."""
    prepared = [_prepare(*g) for g in groups]
    results: list = [None] * len(groups)
    for depth in sorted({g[1] for g in groups}):
        members = [i for i, g in enumerate(groups) if g[1] == depth]
        scaled = np.concatenate([prepared[i]["scaled"].ravel() for i in members])
        minima = scalar.minimize(scaled, 1, 1.0, 2.0 / (depth + 1))
        offsets = np.cumsum([0] + [prepared[i]["scaled"].size for i in members])
        where = dict(zip(members, zip(offsets[:-1], offsets[1:])))
        batches: dict = {}
        for i in members:  # bias-free groups of equal K together; others one by one
            key = ("none", prepared[i]["n"].size) if groups[i][2] == "none" else ("free", i)
            batches.setdefault(key, []).append(i)
        for batch in batches.values():
            rows = np.concatenate([np.arange(*where[i]) for i in batch])
            stacked = _stack([prepared[i] for i in batch])
            out = _finish(stacked, minima.z[rows], minima.residual[rows], minima.code[rows],
                          widths)
            _split(out, batch, [prepared[i]["t"].size for i in batch], results)
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
    N = float(n.sum())
    with np.errstate(over="ignore"):  # t = inf past float64: every direction collapses
        t = (N * c) ** (1.0 / (2.0 - q))
    return {"n": n, "L": L, "spectrum": spectrum, "lbar": lbar, "lambda_h": lambda_h, "c": c,
            "t": t, "N": N, "scaled": spectrum.sigma[None, :] / t[:, None]}


def _stack(parts: list[dict]) -> dict:
    """Row-stacked inputs of several groups: per row its sigma, sizes and decays."""
    reps = [p["t"].size for p in parts]
    out = {"L": parts[0]["L"], "spectra": [p["spectrum"] for p in parts], "reps": reps}
    for name in ("lbar", "lambda_h", "c", "t"):
        out[name] = np.concatenate([p[name] for p in parts])
    out["N"] = np.repeat([p["N"] for p in parts], reps)
    for name, value in (("sigma", lambda p: p["spectrum"].sigma), ("n", lambda p: p["n"]),
                        ("lead", lambda p: readoff.leading_directions(p["spectrum"]))):
        out[name] = np.repeat(np.stack([value(p) for p in parts]), reps, axis=0)
    return out


def _split(out: dict, batch: list[int], reps: list[int], results: list) -> None:
    bounds = np.cumsum([0] + reps)
    for i, a, b in zip(batch, bounds[:-1], bounds[1:]):
        results[i] = {name: values[a:b] for name, values in out.items()}


def _finish(st: dict, z, residual, code, widths) -> dict[str, np.ndarray]:
    sigma, L, t, N = st["sigma"], st["L"], st["t"], st["N"]
    K, q = sigma.shape[1], 2.0 / L
    code = code.reshape(-1, K)  # a fresh copy (fancy-indexed rows)
    # sigma / t below the smallest float (or t = inf) read as sigma = 0 ("empty"); the
    # direction is collapsed, far below its threshold, with the whole target as residual
    gone = (sigma > 0) & ((sigma / t[:, None] == 0) | ~np.isfinite(t)[:, None])
    with np.errstate(invalid="ignore"):
        z = np.where(gone, 0.0, z.reshape(-1, K) * t[:, None])
        residual = np.where(gone, sigma, residual.reshape(-1, K) * t[:, None])
    code[gone] = scalar.CODE[scalar.COLLAPSED]
    cap = min((K, *widths)) if widths else K
    unique = readoff.cap_rank(cap, sigma, z, residual, code).unique
    loss = np.sum(residual**2, axis=1) / (2.0 * N) + st["c"] * np.sum(z**q, axis=1)
    out = _class_read_off(st, z)
    # critical decays are homogeneous in sigma: one call for rows of different N
    crit_dir = readoff.direction_decays(
        scalar.critical_decay(sigma * N[:, None] ** (-1.0 / (2.0 - q)), 1, L), code)
    lead = st["lead"]  # a class's state and critical decay are its leading direction's
    out.update(loss=loss, rank=np.count_nonzero(z, axis=1), unique=unique,
               state=scalar.state_names(readoff.per_class(code, lead)),
               critical_decay=readoff.per_class(crit_dir, lead))
    return out


def _class_read_off(st: dict, z) -> dict[str, np.ndarray]:
    """Per-class lengths from the per-direction values, every row at once."""
    sigma, n, L, lbar, lambda_h = st["sigma"], st["n"], st["L"], st["lbar"], st["lambda_h"]
    # H has z^(1/L) sqrt(lbar/lambda_H) = z^(1/L) m 2^e; the product classifier z^(1-1/L)
    # (1/m) 2^-e (as in predict): lengths from mantissas, the powers of two applied last
    m, e = sqrt_ratio(lbar, lambda_h)
    feature = power(z, 1.0 / L) * m[:, None]
    classifier = power(z, 1.0 - 1.0 / L) * (1.0 / m)[:, None]
    weights = np.stack([(sigma * feature) ** 2, classifier**2, z * sigma])  # (3, P, K)
    diag = _to_classes(st, weights)
    with np.errstate(over="ignore"):
        feature_norm = np.ldexp(np.sqrt(np.maximum(diag[0], 0.0)), e[:, None]) / n
        classifier_norm = np.ldexp(np.sqrt(np.maximum(diag[1], 0.0)), -e[:, None])
    output = diag[2] / n
    return {"feature_norm": feature_norm, "classifier_norm": classifier_norm,
            "output": output, "collapsed": readoff.collapsed(feature_norm)}


def _to_classes(st: dict, weights: np.ndarray) -> np.ndarray:
    """Diagonals of ``A diag(w) A^T`` for every row of ``weights`` (3, P, K)."""
    spectra = st["spectra"]
    if isinstance(spectra[0], DiagonalSpectrum):  # a permutation: direction i is a class
        rank = np.argsort(np.repeat(np.stack([s.order for s in spectra]), st["reps"],
                                    axis=0), axis=1)  # class k sits at direction rank[k]
        return np.take_along_axis(weights, np.broadcast_to(rank, weights.shape), axis=2)
    (spectrum,) = spectra
    three, P, K = weights.shape
    flat = spectrum.diag(weights.transpose(2, 0, 1).reshape(K, three * P))
    return flat.reshape(K, three, P).transpose(1, 2, 0)
