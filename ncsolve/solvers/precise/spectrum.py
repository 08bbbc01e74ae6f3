"""The target spectrum in mpmath: singular values and sparse unit vectors.

It stays apart from the float64 spectrum because its algorithm differs: the
float64 secular solver is a vectorized fixed-weight iteration over all roots
at once with implicit Helmert vectors, this one a bracketed Newton per root
with extra working digits and explicit sparse vectors.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import mpmath
from mpmath import mpf

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
    return origin, bracketed_newton(f, df, lo, hi, increasing=False)
