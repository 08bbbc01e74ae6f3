"""The read-off of an MSE minimizer from its per-direction solutions.

Once every direction's scalar problem is solved (:mod:`ncsolve.core.scalar`),
what the answer says follows from comparisons and counts: which directions the
rank cap of narrow layers removes, which ties it settles, the notes, each
direction's critical decay where it has one, each class's leading direction,
which class means are zero, and the geometry label. These functions are that
read-off, once, for every MSE route:

* the float64 closed form (:mod:`ncsolve.solvers.mse`), on arrays of shape (K,);
* the vectorized sweep (:mod:`ncsolve.sweep.mse`), on arrays with a leading
  point axis, (P, K);
* the regularized bias's fixed-bias problem, on the singular values of ``T_b``;
* the high-precision route (:mod:`ncsolve.solvers.precise`), on object arrays of
  mpmath numbers: the functions compare and count, and the only numbers they
  write are ``zero`` (given in the caller's type) and values taken from their
  inputs, so they work for both number types.

States travel as the int8 codes of :data:`ncsolve.core.scalar.STATES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..inputs.problem import Problem
from .constants import COLLAPSED_RTOL, TIE_RTOL
from .scalar import ACTIVE, CAPPED, CODE, EMPTY, TIE, WINDOW
from .spectral import DiagonalSpectrum, Spectrum

_TINY = float(np.finfo(float).tiny)
_ACTIVE, _CAPPED, _EMPTY, _TIE, _WINDOW = (CODE[s] for s in (ACTIVE, CAPPED, EMPTY, TIE, WINDOW))


@dataclass(frozen=True, eq=False)
class Capping:
    """What the rank cap did, per point (arrays of the leading shape of the input).

    Attributes
    ----------
    cut : ndarray of int
        Nonzero directions the cap set to 0.
    equal : ndarray of bool
        The singular values on either side of the cap are equal (within ``rtol``).
    tie : ndarray of bool
        A tie direction is left with a free slot: 0 and its nonzero value are both optimal.
    """

    cut: np.ndarray
    equal: np.ndarray
    tie: np.ndarray

    @property
    def unique(self) -> np.ndarray:
        """Per point: no tie is left and the cap does not cut through equal values."""
        return ~(((self.cut > 0) & self.equal) | self.tie)


def cap_rank(cap: int, sigma, z, residual, code, rtol=TIE_RTOL, zero=0.0) -> Capping:
    """Zero every direction after the first ``cap`` and settle the ties (mutates
    ``z``, ``residual`` and ``code``; arrays of shape (..., K), sigma decreasing).

    Critical decays increase with sigma, so a direction with ``cap`` larger ones
    ahead of it can be nonzero only when they all are: the cap removes it at every
    decay, and it is ``capped`` whatever its own phase. A tie (zero reported, its
    nonzero value equally good) needs a free slot below the cap; ties beyond the
    free slots are ``capped`` as well.
    """
    K = sigma.shape[-1]
    lead = sigma.shape[:-1]
    cut, equal = np.zeros(lead, dtype=np.int64), np.zeros(lead, dtype=bool)
    if cap < K:
        tail = (..., slice(cap, None))
        beyond = sigma[tail] > 0
        cut = np.count_nonzero(beyond & (z[tail] > 0), axis=-1)
        z[tail] = np.where(beyond, zero, z[tail])
        residual[tail] = np.where(beyond, sigma[tail], residual[tail])
        code[tail] = np.where(beyond, _CAPPED, code[tail])
        if cap > 0:
            equal = abs(sigma[..., cap - 1] - sigma[..., cap]) <= rtol * sigma[..., cap - 1]
    tie = code == _TIE
    if tie.any():
        free = cap - np.count_nonzero(code == _ACTIVE, axis=-1)
        late = tie & (np.cumsum(tie, axis=-1) - 1 >= np.expand_dims(free, -1))
        code[late] = _CAPPED
        tie &= ~late
    return Capping(cut=cut, equal=np.asarray(equal, dtype=bool), tie=tie.any(axis=-1))


def cap_notes(cap: int, cut: int, equal: bool) -> tuple[str, ...]:
    """The notes of one point's rank cap (none when it cut nothing)."""
    if cut == 0:
        return ()
    notes = [f"rank capped at {cap} by the layer widths: {cut} direction(s) set to 0"]
    if cap > 0 and equal:
        notes.append("non-unique: the rank cap cuts through equal singular values; any "
                     f"{cap}-dimensional choice among them is optimal (one is reported)")
    return tuple(notes)


def tie_notes(code, z_local, number: Callable[[object], str], where: str = "") -> tuple[str, ...]:
    """One note per tie direction left after the cap; ``number`` prints ``z_local``."""
    return tuple(f"non-unique: direction {i} sits on the phase boundary{where}; z = 0 and "
                 f"z = {number(z_local[i])} give the same loss (0 is reported)"
                 for i in np.flatnonzero(code == _TIE))


def window_notes(code, z_local, excess: Callable[[np.ndarray], np.ndarray],
                 shown: int = 5) -> tuple[str, ...]:
    """One note per window direction (the first ``shown``), with how much higher the
    loss of its nonzero local minimum is (``excess`` of the window's indices)."""
    window = np.flatnonzero(code == _WINDOW)
    if window.size == 0:
        return ()
    notes = [f"direction {i}: the nonzero stationary point z = {z_local[i]:.10g} is only "
             f"a local minimum (loss higher by {extra:.3g}); the global minimizer sets it to 0, "
             "so the largest root would be the wrong answer here"
             for i, extra in zip(window[:shown], excess(window)[:shown])]
    if window.size > shown:
        notes.append(f"{window.size - shown} more direction(s) in the same window "
                     f"({_list(window[shown:])})")
    return tuple(notes)


def window_summary(code) -> tuple[str, ...]:
    """One note on all window directions together."""
    window = np.flatnonzero(code == _WINDOW)
    if window.size == 0:
        return ()
    return (f"{window.size} direction(s) ({_list(window)}) have a nonzero stationary point "
            "that is only a local minimum: the global minimizer sets them to 0",)


def _list(indices: np.ndarray, limit: int = 10) -> str:
    head = ", ".join(str(i) for i in indices[:limit])
    return head + (", ..." if indices.size > limit else "")


def direction_decays(decay, code, zero=0.0):
    """Critical decays with ``zero`` where a direction is zero at every decay
    (capped or empty); ``decay`` is each direction's from its own sigma."""
    return np.where((code == _CAPPED) | (code == _EMPTY), zero, decay)


# ---- per class ---------------------------------------------------------------------------


def leading_directions(spectrum: Spectrum) -> np.ndarray:
    """Per class, the index of the first direction with a nonzero component on it.

    Every direction ahead of it is zero on the class, so the class mean is zero
    exactly when this direction is: its critical decay and state are the class's.
    Bias-free, direction i is class ``order[i]``. Otherwise groups of equal sigma
    are scanned from the largest, a few at a time (one batched ``diag`` of prefix
    indicators per batch): a secular direction touches every class, so the scan
    ends within the first groups.
    """
    K = spectrum.size
    if isinstance(spectrum, DiagonalSpectrum):
        return spectrum.diag(np.arange(K, dtype=float)).astype(np.intp)
    sigma = spectrum.sigma
    starts = np.flatnonzero(np.r_[True, sigma[1:] != sigma[:-1]])  # first of each group
    leading = np.full(K, -1, dtype=np.intp)
    done, batch = 0, 1
    while done < starts.size and np.any(leading < 0):
        cuts = starts[done:done + batch]
        ends = np.r_[starts, K][done + 1:done + 1 + cuts.size]
        prefix = (np.arange(K)[:, None] < ends[None, :]).astype(float)
        touched = spectrum.diag(prefix) > 0.0  # (K classes, batch)
        first = np.argmax(touched, axis=1)
        new = (leading < 0) & touched.any(axis=1)
        leading[new] = cuts[first[new]]
        done, batch = done + cuts.size, 2 * batch
    leading[leading < 0] = K - 1  # unreachable for an orthogonal A; kept total
    return leading


def first_touching(touched: np.ndarray) -> np.ndarray:
    """:func:`leading_directions` from a (classes, directions) table of which
    direction has a component on which class (the last direction where none has)."""
    touched = np.asarray(touched, dtype=bool)
    leading = np.argmax(touched, axis=1)
    leading[~touched.any(axis=1)] = touched.shape[1] - 1
    return leading


def leading_in_vectors(vectors: np.ndarray, rtol: float = COLLAPSED_RTOL) -> np.ndarray:
    """:func:`leading_directions` for dense orthogonal ``vectors`` (column i is
    direction i): an entry counts above ``rtol`` of its row's largest."""
    weight = np.abs(vectors)
    return first_touching(weight > rtol * np.max(weight, axis=1, initial=0.0)[:, None])


def per_class(values, leading):
    """Per class, the value of its leading direction (arrays of shape (..., K))."""
    return np.take_along_axis(values, leading, axis=-1)


def collapsed(norm, rtol=COLLAPSED_RTOL, floor=_TINY):
    """Per class (last axis): its class mean is zero, at most ``rtol`` of the largest
    (at least ``floor``, so that all-zero lengths count as zero)."""
    largest = np.maximum(np.max(norm, axis=-1, initial=0.0), floor)
    return norm <= rtol * np.expand_dims(largest, -1)


def geometry(problem: Problem, rank: int, cosine: Callable[[], float] | None = None) -> str:
    """The geometry label of a minimizer of rank ``rank`` (THEORY.md section 5).

    ``cosine`` (regularized bias only) gives the mean cosine between distinct
    class means; it is called only where the label needs it.
    """
    K = problem.K
    if rank == 0:
        return "collapsed to the origin"
    if problem.bias == "regularized":
        return _regularized_geometry(problem, rank, cosine)
    if problem.bias == "none":
        frame = "orthogonal frame" if problem.balanced else "general orthogonal frame"
        return frame if rank == K else f"{frame} on {rank} of {K} classes ({K - rank} collapsed)"
    full = K - 1
    if problem.balanced:
        return "simplex ETF" if rank == full else f"rank-{rank} subspace of a simplex ETF"
    shape = "general (imbalanced, free bias)"
    return shape if rank == full else f"{shape}, rank {rank} of {full}"


def _regularized_geometry(problem: Problem, rank: int, cosine: Callable[[], float]) -> str:
    K = problem.K
    if K == 1:
        return "a single class"
    if problem.balanced and rank == K:
        return (f"equiangular frame between simplex ETF and orthogonal frame "
                f"(cosine {cosine():.6g})")
    if problem.balanced and rank == K - 1 > 0 and abs(cosine() * (K - 1) + 1.0) <= 1e-9:
        return "simplex ETF"
    shape = "general (imbalanced, regularized bias)" if not problem.balanced else "general"
    return shape if rank == K else f"{shape}, rank {rank} of {K}"
