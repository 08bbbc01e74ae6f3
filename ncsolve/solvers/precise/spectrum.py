"""The target spectrum in mpmath: singular values and sparse unit vectors.

It stays apart from the float64 spectrum because its algorithm differs: the
float64 secular solver is a vectorized fixed-weight iteration over all roots
at once with implicit Helmert vectors, this one a bracketed Newton per root
with extra working digits and explicit sparse vectors.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import mpmath
import numpy as np
from mpmath import mpf

from ...core.spectral import target_spectrum
from .newton import bracketed_newton

__all__ = ["target_directions"]


def target_directions(n: Sequence[int], bias: str) -> list[tuple]:
    """Eigenpairs of the K x K target Gram, largest first, at the current precision.

    Returns
    -------
    list of (sigma, vector)
        ``sigma`` is the singular value of the target in that direction and
        ``vector`` the unit eigenvector of ``G`` as a sparse dict
        ``{class index: entry}`` (nonzero entries only).
    """
    pairs = _directions(tuple(int(v) for v in n), bias, mpmath.mp.prec)
    return [(sigma, dict(vector)) for sigma, vector in pairs]


@functools.lru_cache(maxsize=4)
def _directions(n: tuple[int, ...], bias: str, prec: int) -> tuple:
    """:func:`target_directions`, computed once per sizes, bias and precision (a report
    asks for them twice: the symbolic view and the numbers)."""
    K = len(n)
    if bias == "none":
        pairs = [(mpmath.sqrt(n[k]), {k: mpf(1)}) for k in range(K)]
    else:
        pairs = _centered_pairs(list(n))
    order = sorted(range(K), key=lambda i: -pairs[i][0])  # stable: ties keep input order
    return tuple(pairs[i] for i in order)


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
    starts = _float_roots(n)
    with mpmath.workdps(mpmath.mp.dps + len(str(N)) + 2):
        weight = {d: mpf(len(members[d]) * d * d) / N for d in sizes}
        secular = [_secular_pair(n, sizes, weight, left, right, start)
                   for (left, right), start in zip(itertools.pairwise(sizes), starts)]
    return pairs + [(+sigma, {k: +x for k, x in unit.items()}) for sigma, unit in secular]


def _float_roots(n: list[int]) -> list[tuple[int, float]]:
    """The secular roots in float64 (:func:`~ncsolve.core.spectral.target_spectrum`),
    increasing, as ``(nearest size, offset from it)``: starts for the Newton steps."""
    spectrum = target_spectrum(np.asarray(n), "free")
    nearest = spectrum.sizes[spectrum.origin].astype(np.int64)
    return list(zip(nearest[1:].tolist(), spectrum.tau[1:].tolist()))  # root 0 is mu = 0


def _secular_pair(n: list[int], sizes, weight, left: int, right: int, start=None) -> tuple:
    """``(sqrt(mu), unit eigenvector)`` for the secular root mu in (left, right)."""
    origin, offset = _secular_root(sizes, weight, left, right, start)
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


def _secular_root(sizes, weight, left: int, right: int, start=None) -> tuple:
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
    guess = None if start is None else (start[0] - origin) + mpf(start[1])
    if guess is not None and not lo < guess < hi:
        guess = None  # the float root fell on the other side of the midpoint
    return origin, bracketed_newton(f, df, lo, hi, increasing=False, start=guess)
