"""Spectrum of the regression target, in K x K terms only.

With a bias-free model the target is Y and ``G = Y Y^T = D = diag(n)``. With a
free bias it is the centred ``Y (I - 11^T/N)`` and ``G = D - n n^T / N``, a
diagonal matrix minus a rank-one term. Its eigenpairs come from the secular
equation ``1 = sum_g w_g / (d_g - mu)`` over the distinct class sizes ``d_g``
(``w_g = m_g d_g^2 / N`` for ``m_g`` classes of that size). Because
``sum_g m_g d_g = N``, that equation equals ``-(mu/N) sum_g m_g d_g / (d_g - mu)``,
so the nonzero eigenvalues solve ``sum_g m_g d_g / (d_g - mu) = 0``: no constant
term, hence no cancellation against 1 when the sizes span many decades. A size shared by
``m_g`` classes contributes ``m_g - 1`` eigenvalues exactly equal to ``d_g``
(exact deflation), so the work scales with the number of distinct sizes ``S``:
O(S^2) time and O(S) memory, never a K x K matrix unless one is asked for.

Each eigenvector column ``a_i`` of ``A`` is a *direction*; directions are
ordered by decreasing singular value ``sigma_i = sqrt(mu_i)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np

_BLOCK = 1 << 16  # elements per temporary block in the O(S^2) passes
_EPS = np.finfo(float).eps
_SCRATCH = threading.local()  # per-thread work array of the O(S^2) block loops


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Eigen-decomposition ``G = A diag(sigma^2) A^T`` of the K x K target Gram.

    Attributes
    ----------
    sigma : ndarray, shape (K,)
        Singular values of the target, in decreasing order (one per direction).
    """

    sigma: np.ndarray

    @property
    def size(self) -> int:
        return int(self.sigma.size)

    def diag(self, weights: np.ndarray) -> np.ndarray:
        """Diagonals of ``A diag(w) A^T`` for each column ``w`` of ``weights``.

        ``weights`` has shape (K,) or (K, m) (one row per direction); the result
        has shape (K,) or (K, m), one row per class in input order.
        """
        raise NotImplementedError

    def matrix(self, weights: np.ndarray) -> np.ndarray:
        """The K x K matrix ``A diag(w) A^T`` (class order)."""
        vectors = self.vectors()
        return (vectors * weights) @ vectors.T

    def vectors(self) -> np.ndarray:
        """The K x K orthogonal matrix ``A``; column i is direction i."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class DiagonalSpectrum(Spectrum):
    """Bias-free target: ``A`` is a permutation, direction i is class ``order[i]``."""

    order: np.ndarray

    @cached_property
    def _inverse(self) -> np.ndarray:
        """Direction of each class (the inverse permutation of ``order``)."""
        inverse = np.empty_like(self.order)
        inverse[self.order] = np.arange(self.order.size)
        return inverse

    def diag(self, weights):
        # a gather along axis 0 (np.take) is several times faster than a row scatter
        return np.take(np.asarray(weights, dtype=float), self._inverse, axis=0)

    def matrix(self, weights):
        return np.diag(self.diag(np.asarray(weights, dtype=float)))

    def vectors(self):
        vectors = np.zeros((self.size, self.size))
        vectors[self.order, np.arange(self.size)] = 1.0
        return vectors


@dataclass(frozen=True, eq=False)
class CenteredSpectrum(Spectrum):
    """Free-bias target ``G = D - n n^T / N``, solved by its secular equation.

    Directions come in one block per size group, largest size first (the
    interlacing order, see :func:`_direction_order`): group g's block starts at
    direction ``block[g]``, holds its ``counts[g] - 1`` deflated Helmert vectors
    j = 1, ..., counts[g] - 1 in that order and ends with the secular root g.

    Attributes
    ----------
    sizes : ndarray, shape (S,)
        Distinct class sizes, increasing.
    counts : ndarray, shape (S,)
        How many classes have each size.
    group : ndarray, shape (K,)
        Index into ``sizes`` of each class.
    rank_in_group : ndarray, shape (K,)
        Position of each class among the classes of its size (0-based).
    origin, tau : ndarray, shape (S,)
        Secular roots as ``mu_i = sizes[origin_i] + tau_i``; keeping the offset
        from the nearest pole makes every difference ``d_g - mu_i`` accurate.
    weights : ndarray, shape (S,)
        Squared rank-one weights recomputed from the roots (Loewner's formula),
        so the eigenvectors are orthogonal to working precision.
    norms : ndarray, shape (S,)
        ``sum_g weights_g / (d_g - mu_i)^2`` for each root i.
    block : ndarray, shape (S,)
        First direction of each size group's block.
    by_size : ndarray, shape (K,)
        The classes sorted by size, stably (so in rank order within a group).
    """

    sizes: np.ndarray
    counts: np.ndarray
    group: np.ndarray
    rank_in_group: np.ndarray
    origin: np.ndarray
    tau: np.ndarray
    weights: np.ndarray
    norms: np.ndarray
    block: np.ndarray
    by_size: np.ndarray

    def _gaps(self, rows, out=None) -> np.ndarray:
        """``d_g - mu_i`` for roots i in ``rows`` (axis 0) and sizes g (axis 1)."""
        return _gap_block(self.sizes, self.origin, self.tau, rows, out)

    @cached_property
    def kind(self) -> np.ndarray:
        """(K,) int8: 0 where direction i is a secular root, 1 where it is a deflated
        Helmert vector (eigenvalue equal to its group's size)."""
        kind = np.ones(self.size, dtype=np.int8)
        kind[self._secular] = 0
        return kind

    @cached_property
    def _secular(self) -> np.ndarray:
        """(S,): the direction of secular root g (the last of its block)."""
        return self.block + self.counts - 1

    @cached_property
    def _within_helmert(self) -> np.ndarray:
        """(K - 1,) bool: directions i and i + 1 are Helmert vectors of one group."""
        helmert = self.kind == 1
        return helmert[:-1] & helmert[1:]

    @cached_property
    def _helmert(self):
        """Static tables of the deflated part, one pass over K built once:
        per direction the Helmert factor ``1/(j(j+1))`` (0 on secular roots);
        per class its slot ``block + rank`` (Helmert vector j = rank + 1 starts
        the class's tail), the end of its block, and ``rank/(rank+1)``."""
        first = self.block[self.group]
        ends = first + self.counts[self.group]
        within = np.arange(self.size) - np.repeat(self.block[::-1], self.counts[::-1])
        j = within + 1.0
        last = np.repeat(self.counts[::-1], self.counts[::-1]) - 1
        factor = np.where(within < last, 1.0 / (j * (j + 1.0)), 0.0)
        rank = self.rank_in_group
        owned = np.flatnonzero(rank > 0)
        own = rank[owned] / (rank[owned] + 1.0)
        return factor, first + rank, ends, owned, own

    def diag(self, weights):
        w = np.asarray(weights, dtype=float)
        flat = w.ndim == 1
        w = w.reshape(self.size, -1)
        out = self._secular_diag(w)
        if self.sizes.size < self.size:  # some size repeats: a deflated part
            out += self._deflated_diag(w)
        return out[:, 0] if flat else out

    def _secular_diag(self, w: np.ndarray) -> np.ndarray:
        per_root = w[self._secular] / self.norms[:, None]
        per_size = np.zeros((self.sizes.size, w.shape[1]))
        for rows, work in _row_blocks(self.sizes.size, self.sizes.size):
            inv = np.reciprocal(self._gaps(rows, work), out=work)
            inv *= inv
            per_size += inv.T @ per_root[rows]
        per_size *= (self.weights / self.counts)[:, None]
        return np.take(per_size, self.group, axis=0)  # faster than a 2-d fancy index

    def _suffix(self, w: np.ndarray) -> np.ndarray:
        """(K + 1,): entry i is ``sum_{i' >= i} w_i' / (j'(j'+1))`` over later
        directions (Helmert factor, 0 on secular roots); the last entry is 0."""
        suffix = np.zeros(self.size + 1)
        np.cumsum((w * self._helmert[0])[::-1], out=suffix[-2::-1])
        return suffix

    def _deflated_diag(self, w: np.ndarray) -> np.ndarray:
        """Diagonal of the Helmert-basis part: member p of a size group gets
        ``w_p p/(p+1) + sum_{j>p} w_j / (j(j+1))`` (w_j on Helmert vector j).

        When each group's Helmert directions share one weight c (as every function
        of the eigenvalue does), that sum telescopes to ``c (1 - 1/m)`` for all m
        members: O(S) instead of O(K) gathers and suffix sums."""
        flat = np.diff(w, axis=0) == 0.0
        if np.all(flat | ~self._within_helmert[:, None]):
            shared = (self.counts > 1)[:, None]  # a lone class has no Helmert vector
            per_group = np.where(shared, w[self.block] * (1.0 - 1.0 / self.counts)[:, None], 0.0)
            return np.take(per_group, self.group, axis=0)
        _, slot, ends, owned, own = self._helmert
        out = np.empty(w.shape)
        for column in range(w.shape[1]):  # one column at a time: 1-d gathers are fast
            x = w[:, column]
            suffix = self._suffix(x)
            diag = suffix[slot] - suffix[ends]
            diag[owned] += x[slot[owned] - 1] * own
            out[:, column] = diag
        return out

    def matrix(self, weights):
        """``A diag(w) A^T`` in O(S^2 + K^2): the secular part through partial
        fractions of Cauchy sums, the deflated part block by block."""
        w = np.asarray(weights, dtype=float)
        per_root = w[self._secular] / self.norms
        first = np.zeros(self.sizes.size)  # r_g = sum_i u_i / (d_g - mu_i)
        second = np.zeros(self.sizes.size)  # sum_i u_i / (d_g - mu_i)^2
        for rows, work in _row_blocks(self.sizes.size, self.sizes.size):
            inv = np.reciprocal(self._gaps(rows, work), out=work)
            first += per_root[rows] @ inv
            inv *= inv
            second += per_root[rows] @ inv
        d = self.sizes
        with np.errstate(divide="ignore", invalid="ignore"):
            pair = (first[:, None] - first[None, :]) / (d[None, :] - d[:, None])
        np.fill_diagonal(pair, second)
        scale = np.sqrt(self.weights / self.counts)[self.group]
        out = pair[np.ix_(self.group, self.group)] * scale[:, None] * scale[None, :]
        if self.sizes.size < self.size:
            self._add_deflated_blocks(out, w)
        return out

    def _members(self):
        """For each size group with more than one class, its classes in rank order."""
        starts = np.concatenate([[0], np.cumsum(self.counts)])
        for g in np.flatnonzero(self.counts > 1):
            yield g, self.by_size[starts[g]:starts[g + 1]]

    def _add_deflated_blocks(self, out: np.ndarray, w: np.ndarray) -> None:
        """Within a size group, the Helmert part has entry ``-w_r/(r+1) + tail_{r+1}``
        at members (p, r), p < r (it depends on the later member only)."""
        suffix = self._suffix(w)
        diag = self._deflated_diag(w[:, None])[:, 0]
        for g, members in self._members():
            start, m = self.block[g], members.size
            r = np.arange(m)
            later = np.zeros(m)
            later[1:] = -w[start + r[1:] - 1] / (r[1:] + 1.0) + suffix[start + r[1:]]
            later[1:] -= suffix[start + m]
            block = later[np.maximum.outer(r, r)]
            np.fill_diagonal(block, diag[members])
            out[np.ix_(members, members)] += block

    def vectors(self):
        K = self.size
        vectors = np.zeros((K, K))
        gaps = self._gaps(np.arange(self.sizes.size))  # (roots, sizes)
        per_size = np.sqrt(self.weights)[None, :] / gaps / np.sqrt(self.norms)[:, None]
        vectors[:, self._secular] = (per_size[:, self.group]
                                     / np.sqrt(self.counts[self.group])).T
        for g, members in self._members():
            p = np.arange(members.size)[:, None]
            j = np.arange(1, members.size)[None, :]
            helmert = np.where(p < j, 1.0, np.where(p == j, -j, 0.0)) / np.sqrt(j * (j + 1.0))
            vectors[np.ix_(members, self.block[g] + j[0] - 1)] = helmert
        return vectors


def target_spectrum(n: np.ndarray, bias: str) -> Spectrum:
    """Spectrum of ``G = Yt Yt^T`` for class sizes ``n`` and a bias mode."""
    n = np.asarray(n)
    if bias == "none":
        order = np.argsort(-n, kind="stable")
        return DiagonalSpectrum(sigma=np.sqrt(n[order].astype(float)), order=order)
    return _centered_spectrum(n)


def _centered_spectrum(n: np.ndarray) -> CenteredSpectrum:
    sizes, counts, group, rank_in_group, by_size = _size_groups(n)
    d = sizes.astype(float)
    origin, tau = _secular_roots(d, counts * d)
    weights = _loewner_weights(d, origin, tau)
    norms = np.empty(d.size)
    for rows, work in _row_blocks(d.size, d.size):
        gap = _gap_block(d, origin, tau, rows, work)
        np.square(gap, out=gap)
        norms[rows] = np.divide(weights[None, :], gap, out=gap).sum(axis=1)
    block, mu = _direction_order(d, counts, origin, tau)
    sigma = np.sqrt(np.maximum(mu, 0.0))
    return CenteredSpectrum(
        sigma=sigma, sizes=d, counts=counts, group=group, rank_in_group=rank_in_group,
        origin=origin, tau=tau, weights=weights, norms=norms, block=block, by_size=by_size,
    )


def _size_groups(n: np.ndarray):
    """Distinct sizes (increasing), their counts, each class's group and rank in it,
    and the classes sorted by size: all from one stable sort."""
    by_size = np.argsort(n, kind="stable")
    ordered = n[by_size]
    first = np.empty(n.size, dtype=bool)
    first[0], first[1:] = True, ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n.size))
    group = np.empty(n.size, dtype=np.int64)
    group[by_size] = np.cumsum(first) - 1
    rank = np.empty(n.size, dtype=np.int64)
    rank[by_size] = np.arange(n.size) - np.repeat(starts, counts)
    return ordered[starts], counts, group, rank, by_size


def _direction_order(d, counts, origin, tau):
    """Directions by decreasing eigenvalue. Interlacing fixes the order exactly:
    d_S (deflated copies), mu_S, d_{S-1} copies, mu_{S-1}, ..., d_1 copies, mu_1 = 0.

    Returns the first direction of each size group's block and the eigenvalues."""
    block = counts.sum() - np.cumsum(counts)
    mu = np.repeat(d[::-1], counts[::-1])
    mu[block + counts - 1] = d[origin] + tau
    return block, mu


def _row_blocks(rows: int, cols: int, buffers: int = 1):
    """Row slices of at most ``_BLOCK`` elements, each with work arrays of its shape.

    The work arrays live in one allocation for the whole loop (and for later loops
    of the same thread): fresh half-megabyte blocks would be page-faulted in anew on
    every pass, which costs as much as the arithmetic."""
    step = max(1, _BLOCK // max(cols, 1))
    height = min(step, rows)
    scratch = _scratch(buffers * height * cols)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        size = (stop - start) * cols
        work = [scratch[k * size:(k + 1) * size].reshape(stop - start, cols)
                for k in range(buffers)]
        yield slice(start, stop), work[0] if buffers == 1 else work


def _scratch(size: int) -> np.ndarray:
    """A thread-local float array of at least ``size`` elements, reused across calls.
    Callers hold it for one loop iteration and call nothing that takes it too."""
    buffer = getattr(_SCRATCH, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _SCRATCH.buffer = np.empty(max(size, 2 * _BLOCK))
    return buffer


def _gap_block(d, origin, tau, rows, out=None):
    """``d_g - mu_i`` for roots ``rows`` (axis 0) and every pole g (axis 1).

    The pole differences are exact (class sizes are integers), so subtracting
    the offset last keeps the gap to the nearest pole accurate."""
    gap = np.subtract(d[None, :], d[origin[rows], None], out=out)
    gap -= tau[rows, None]
    return gap


def _secular_roots(d: np.ndarray, w: np.ndarray, max_iter: int = 80):
    """Eigenvalues of ``D - n n^T / N`` from ``f(mu) = -sum_g w_g / (d_g - mu) = 0``
    with ``w_g = m_g d_g`` (see the module docstring).

    Root 0 is mu = 0 (the constant vector); root i >= 1 lies in (d_{i-1}, d_i),
    where f decreases from +inf to -inf.
    Each root is stored as (origin pole, offset), the origin being the nearer
    pole. The iteration keeps the origin's term exact and models the rest by
    ``c + s / (d_other - mu)`` matched in value and slope (the fixed-weight
    scheme of Bunch, Nielsen and Sorensen), safeguarded by bisection.
    """
    S = d.size
    origin = np.zeros(S, dtype=np.int64)
    tau = np.zeros(S)
    tau[0] = -d[0]  # mu_0 = 0 exactly: the rows of G sum to zero
    if S == 1:
        return origin, tau
    i = np.arange(1, S)
    half = 0.5 * (d[i] - d[i - 1])
    f, rest, slope = _secular_value(d, w, i - 1, half, i - 1)
    # f decreases on the interval, so f(midpoint) >= 0 puts the root right of it;
    # move the exact term to the nearer pole, at the same midpoint
    right = f >= 0
    origin[i] = np.where(right, i, i - 1)
    other = np.where(right, i - 1, i)
    rest = np.where(right, rest - (w[i - 1] + w[i]) / half, rest)
    slope = np.where(right, slope + (w[i - 1] - w[i]) / half**2, slope)
    t = np.where(right, -half, half)
    lo = np.where(right, -half, 0.0)  # bracket of the offset from the origin
    hi = np.where(right, 0.0, half)
    active = np.arange(S - 1)
    for _ in range(max_iter):
        o, q, ta = origin[i[active]], other[active], t[active]
        lo[active] = np.where(f > 0, ta, lo[active])
        hi[active] = np.where(f < 0, ta, hi[active])
        step = _fixed_weight_step(w[o], d[q] - d[o], ta, rest, slope)
        # quadratic convergence: a step this small leaves only rounding behind
        done = (f == 0) | (np.abs(step) <= 1e-10 * np.abs(ta))
        new = ta + step
        outside = ~((new >= lo[active]) & (new <= hi[active]))
        fallback = np.where(done, ta, 0.5 * (lo[active] + hi[active]))
        # a converged root takes the polishing Newton step of _newton_polish right
        # here, from the values already computed at ta: no extra O(S^2) pass
        newton = _newton_step(w[o], ta, f, slope, lo[active], hi[active])
        t[active] = np.where(done & np.isfinite(newton), newton,
                             np.where(outside | (f == 0), fallback, new))
        active = active[~done]
        if active.size == 0:
            break
        f, rest, slope = _secular_value(d, w, origin[i[active]], t[active], origin[i[active]])
    if active.size:  # the iteration cap was reached: polish what is left
        t[active] = _newton_polish(d, w, origin[i[active]], t[active], lo[active], hi[active])
    tau[1:] = t
    return origin, tau


def _newton_polish(d, w, origin, t, lo, hi, steps: int = 1):
    """A Newton step on f from the converged offsets. The rational model loses
    digits when the neighbouring pole on the far side is remote (its weight and
    constant grow huge and cancel); near the root plain Newton is accurate."""
    for _ in range(steps):
        f, rest, slope = _secular_value(d, w, origin, t, origin)
        new = _newton_step(w[origin], t, f, slope, lo, hi)
        t = np.where(np.isfinite(new), new, t)
    return t


def _newton_step(w_origin, t, f, slope, lo, hi):
    """Newton's step on f from offset t (``slope`` from the other poles), or nan where
    it leaves the bracket (lo, hi) or is not finite."""
    derivative = -(slope + w_origin / (t * t))
    with np.errstate(divide="ignore", invalid="ignore"):
        new = t - f / derivative
    return np.where((new > lo) & (new < hi) & np.isfinite(new), new, np.nan)


def _secular_value(d, w, origin, t, exact):
    """At ``mu = d[origin] + t``: f, and the value and slope of the sum over all
    poles except ``exact`` (whose term the caller treats exactly)."""
    out = np.empty((3, t.size))
    for rows, work in _row_blocks(t.size, d.size):
        inv = _gap_block(d, origin, t, rows, work)
        np.reciprocal(inv, out=inv)
        inv[np.arange(inv.shape[0]), exact[rows]] = 0.0
        rest = inv @ w
        inv *= inv
        slope = inv @ w
        own = w[exact[rows]] / ((d[exact[rows]] - d[origin[rows]]) - t[rows])
        out[:, rows] = (-rest - own, rest, slope)
    return out


def _fixed_weight_step(w_origin, delta, t, rest, slope):
    """Step from offset t to the root of ``w_origin / x - c - s / (delta - x)``,
    where ``c + s/(delta - x)`` matches the other poles' sum in value and slope."""
    gap = delta - t
    s = slope * gap * gap
    c = rest - s / gap
    a = c
    b = -c * delta - w_origin - s
    k = w_origin * delta
    disc = np.sqrt(np.maximum(b * b - 4 * a * k, 0.0))
    big = np.where(b >= 0, -b - disc, -b + disc)
    with np.errstate(divide="ignore", invalid="ignore"):
        r1, r2 = 2 * k / big, big / (2 * a)
    low, high = np.minimum(0.0, delta), np.maximum(0.0, delta)
    inside = (r1 > low) & (r1 < high)
    return np.where(inside, r1, r2) - t


def _loewner_weights(d, origin, tau):
    """Rank-one weights for which the computed roots are exact eigenvalues:
    ``w_g = -prod_i (mu_i - d_g) / prod_{j != g} (d_j - d_g)``, as a product of
    ratios pairing root i with pole i (each ratio is O(1), so nothing overflows)."""
    S = d.size
    product = np.ones(S)
    own = np.empty(S)
    for rows, work in _row_blocks(S, S, buffers=2):  # rows index the roots i
        i = np.arange(S)[rows]
        ratio = _gap_block(d, origin, tau, rows, work[0])  # d_g - mu_i
        own[i] = ratio[np.arange(i.size), i]
        pole_gap = np.subtract(d[i, None], d[None, :], out=work[1])  # d_i - d_g
        pole_gap[np.arange(i.size), i] = 1.0
        ratio /= pole_gap
        ratio[np.arange(i.size), i] = -1.0
        np.negative(ratio, out=ratio)
        product *= np.prod(ratio, axis=0)
    return own * product
