"""Float32 class statistics on a device, merged across batches in double-float32.

For a device without float64 (Apple's MPS), or when float32 is asked for
(``ClassAccumulator(precision="float32")``: consumer GPUs run float64 at a small
fraction of their float32 speed).  Each class k gets a shift ``z_k``, its batch
mean in the first batch that holds it, in that batch's dtype (float64 input keeps
float64 shifts); the shift is stored, so it is exact whatever rounding produced
it.  Per batch, on the device:

* ``u_i = x_i - z_{y_i}``, subtracted in the shift's dtype, then rounded once to
  float32; everything after is float32:
* the class sums ``sum_{i in k} u_i`` (K x d), the Gram ``U^T U`` (d x d), the class
  sums of ``||u_i||^2`` and of the head's images ``||u_i W_1^T ... W_j^T||^2``.

These are added to running totals kept as unevaluated float32 pairs (hi + lo,
the "double-word plus float" addition of Joldes, Muller & Popescu 2017, relative
error at most ``2 u^2`` per addition, ``u = 2^-24``), so the merge adds
``2 T u^2`` relative at most over T batches instead of the ``T u`` of a plain
float32 running sum.  :meth:`Float32State.host` finishes in float64:
``mu_k = z_k + s_k / n_k`` and ``S_W = G - sum_k s_k s_k^T / n_k``.  The error bound
it returns is derived in docs/measure.md ("Float32 on the device").
"""

from __future__ import annotations

import numpy as np

from ..inputs.problem import ProblemError
from .device import DeviceState, _to_numpy, head_terms

__all__ = ["Float32State", "UNIT_ROUNDOFF"]

UNIT_ROUNDOFF = 2.0 ** -24  # float32, round to nearest


class _Pair:
    """A running float32 sum held as hi + lo (elementwise)."""

    def __init__(self, xp, shape, device):
        self.xp = xp
        self.hi = xp.zeros(shape, dtype=xp.float32, device=device)
        self.lo = xp.zeros(shape, dtype=xp.float32, device=device)

    def add(self, term) -> None:
        hi = self.hi
        s = hi + term  # TwoSum(hi, term): s + e == hi + term exactly
        back = s - hi
        e = (hi - (s - back)) + (term - back)
        e = e + self.lo
        self.hi = s + e  # FastTwoSum(s, e): |e| is far below |s| or s is 0
        self.lo = e - (self.hi - s)

    def value(self) -> np.ndarray:
        return _to_numpy(self.hi).astype(np.float64) + _to_numpy(self.lo).astype(np.float64)


class Float32State(DeviceState):
    """Float32 running sums on one device (see the module docstring).

    Parameters are those of :class:`DeviceState`; the head is copied to the device in
    float32 for the head's spreads and outputs and kept in float64 on the host for
    the final step.
    """

    def __init__(self, xp, device, K: int, d: int, head=None):
        self.xp, self.device, self.K, self.d = xp, device, K, d
        self.counts = xp.zeros((K,), dtype=xp.int64, device=device)
        self.shift = None  # K x d, in the first batch's dtype (float32 or float64)
        self.sums = _Pair(xp, (K, d), device)
        self.gram = _Pair(xp, (d, d), device)
        self.host_head = None if head is None else [
            (np.asarray(W, dtype=np.float64), b) for W, b in head]
        layers = 1 if head is None else len(head) + 1
        self.squares = [_Pair(xp, (K,), device) for _ in range(layers)]
        self.head = None if head is None else [
            (self._put(W), None if b is None else self._put(b)) for W, b in head]
        self.ce_sum = _Pair(xp, (), device)
        self.correct = xp.zeros((), dtype=xp.int64, device=device)
        self.classes = xp.arange(K, device=device)
        self.batches, self.largest = 0, 0

    def _put(self, array):
        return self.xp.asarray(np.asarray(array, dtype=np.float32), device=self.device)

    def _class_sums(self, y, rows):
        xp = self.xp
        zeros = xp.zeros((self.K,) + tuple(rows.shape[1:]), dtype=rows.dtype,
                         device=self.device)
        if hasattr(zeros, "index_add_"):
            return zeros.index_add_(0, y, rows)
        indicator = xp.astype(xp.reshape(self.classes, (-1, 1)) == xp.reshape(y, (1, -1)),
                              rows.dtype)
        return indicator @ rows

    def _shifted(self, X, y):
        """``fl32(x_i - z_{y_i})``, fixing the shift of classes seen for the first time."""
        xp = self.xp
        if self.shift is None:
            dtype = xp.float64 if X.dtype == xp.float64 else xp.float32
            self.shift = xp.zeros((self.K, self.d), dtype=dtype, device=self.device)
        if X.dtype != self.shift.dtype:
            X = xp.astype(X, self.shift.dtype)
        ones = xp.ones((y.shape[0],), dtype=xp.int64, device=self.device)
        count = self._class_sums(y, ones)
        new = (count > 0) & (self.counts == 0)
        if bool(xp.any(new)):
            safe = xp.astype(xp.where(new, count, xp.ones_like(count)), X.dtype)
            means = self._class_sums(y, X) / xp.reshape(safe, (-1, 1))
            self.shift = xp.where(xp.reshape(new, (-1, 1)), means, self.shift)
        U = xp.astype(X - xp.take(self.shift, y, axis=0), xp.float32)
        if not bool(xp.all(xp.isfinite(U))):
            raise ProblemError("features: every entry must be finite, and within float32 "
                               "range of its class's first batch mean (float32 sums)")
        return U, count

    def update(self, X, y) -> None:
        """Merge a batch: ``X`` (B x d) in the namespace, ``y`` int64 labels on the device."""
        xp = self.xp
        U, count = self._shifted(X, y)
        self.sums.add(self._class_sums(y, U))
        self.gram.add(U.T @ U)
        rows = U
        for j in range(len(self.squares)):
            if j:
                rows = rows @ self.head[j - 1][0].T
            self.squares[j].add(self._class_sums(y, xp.sum(rows * rows, axis=1)))
        if self.head is not None:
            self._head_totals(xp.astype(X, xp.float32), y)
        self.counts = self.counts + count
        self.batches += 1
        self.largest = max(self.largest, int(y.shape[0]))

    def _head_totals(self, X, y) -> None:
        ce, correct = head_terms(self.xp, self.head, self.classes, X, y)
        self.ce_sum.add(ce)
        self.correct = self.correct + correct

    def host(self):
        """(counts, means, scatter, spread, ce_sum, correct, bound) as numpy, float64.

        ``bound`` is the Frobenius-norm bound on the scatter's rounding error of
        docs/measure.md: ``((3 b + 6) u / (1 - (b + 2) u) + 2 T u^2) Q`` with b the
        largest batch, T the number of batches and ``Q = trace(G)``.
        """
        counts = _to_numpy(self.counts).astype(np.int64)
        n = np.maximum(counts, 1).astype(np.float64)
        offset = self.sums.value() / n[:, None]  # s_k / n_k: the mean's offset from z_k
        means = _to_numpy(self.shift).astype(np.float64) + offset
        gram = self.gram.value()
        scatter = gram - (offset * n[:, None]).T @ offset
        spread, image = [], offset
        for j, pair in enumerate(self.squares):
            if j:
                image = image @ self.host_head[j - 1][0].T
            spread.append(pair.value() - n * np.einsum("ij,ij->i", image, image))
        return (counts, means, scatter, np.stack(spread), float(self.ce_sum.value()),
                int(_to_numpy(self.correct)), self.bound(np.trace(gram)))

    def bound(self, Q: float) -> float:
        """The scatter's error bound for ``Q = sum_i ||x_i - z_{y_i}||^2``."""
        u, b, T = UNIT_ROUNDOFF, self.largest, self.batches
        return float(((3 * b + 6) * u / (1 - (b + 2) * u) + 2 * T * u * u) * Q)
