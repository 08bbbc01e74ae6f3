"""Class statistics accumulated where the features live (GPU tensors, array-API arrays).

:class:`DeviceState` keeps the counts, class means, within-class scatter and
per-layer class spreads of :class:`ncsolve.measure.ClassAccumulator` as arrays of the
input's own namespace and device (through ``array-api-compat``: PyTorch, CuPy, JAX,
``array-api-strict``), in float64, with the same centring and pairwise merge as the
host path.  Only the K x d means and the d x d scatter travel to the host, once, in
:meth:`DeviceState.host`.  Class sums use ``index_add`` where the namespace has it
(PyTorch) and a dense K x B indicator otherwise.

A device without float64 (Apple's MPS) is refused here; the accumulator sums in
float32 there instead (:mod:`.compensated`, docs/measure.md).
"""

from __future__ import annotations

import numpy as np

from ..inputs.problem import ProblemError

__all__ = ["DeviceState", "device_namespace", "has_float64"]


def device_namespace(value, force: bool = False):
    """The array-API namespace of ``value`` when it should be accumulated in place: a
    non-numpy array that numpy cannot read without a copy (a GPU tensor), or any
    non-numpy array with ``force``.  None: use the host path."""
    if isinstance(value, np.ndarray):
        return None
    try:
        import array_api_compat as compat
    except ImportError:
        if force:
            raise ProblemError("where: accumulating on the input's device needs "
                               "array-api-compat (pip install 'ncsolve[accelerator]')") from None
        return None
    if not compat.is_array_api_obj(value) or compat.is_numpy_array(value):
        return None
    if not force and _host_readable(value, compat):
        return None
    return compat.array_namespace(value)


def _host_readable(value, compat) -> bool:
    device = str(compat.device(value)).lower()
    return device in ("cpu", "cpu_device") or device.startswith("cpu")


def has_float64(xp, device) -> bool:
    """Whether ``device`` can hold float64 arrays of namespace ``xp``."""
    try:
        return xp.zeros((1,), dtype=xp.float64, device=device) is not None
    except Exception:  # e.g. torch on MPS: "Cannot convert a MPS Tensor to float64"
        return False


class DeviceState:
    """Running sums on one device (see the module docstring).

    Parameters
    ----------
    xp : namespace
        From :func:`device_namespace`.
    device : object
        The device of the first batch; later batches must live there too.
    K, d : int
    head : list of (W, b) host arrays or None
        The linear head (numpy, float64), copied to the device once.
    """

    def __init__(self, xp, device, K: int, d: int, head=None):
        if not has_float64(xp, device):
            raise ProblemError(f"features: device {device} has no float64")
        self.xp, self.device, self.K = xp, device, K
        f64 = xp.float64
        self.counts = xp.zeros((K,), dtype=f64, device=device)
        self.means = xp.zeros((K, d), dtype=f64, device=device)
        self.scatter = xp.zeros((d, d), dtype=f64, device=device)
        layers = 1 if head is None else len(head) + 1
        self.spread = [xp.zeros((K,), dtype=f64, device=device) for _ in range(layers)]
        self.head = None if head is None else [
            (self._put(W), None if b is None else self._put(b)) for W, b in head]
        self.ce_sum = xp.zeros((), dtype=f64, device=device)
        self.correct = xp.zeros((), dtype=f64, device=device)
        self.classes = xp.arange(K, device=device)

    def _put(self, array):
        return self.xp.asarray(np.asarray(array, dtype=np.float64), device=self.device)

    def labels(self, labels):
        """Labels as an int64 array on the device (numpy or same-namespace input)."""
        xp = self.xp
        if isinstance(labels, np.ndarray):
            return xp.asarray(labels.astype(np.int64), device=self.device)
        return xp.astype(xp.asarray(labels, device=self.device), xp.int64)

    def _class_sums(self, y, rows):
        """``sum_{i: y_i = k} rows_i`` for every class k (K x ...)."""
        xp = self.xp
        shape = (self.K,) + tuple(rows.shape[1:])
        zeros = xp.zeros(shape, dtype=xp.float64, device=self.device)
        if hasattr(zeros, "index_add_"):  # PyTorch: O(B d), no K x B indicator
            return zeros.index_add_(0, y, rows)
        indicator = xp.astype(xp.reshape(self.classes, (-1, 1)) == xp.reshape(y, (1, -1)),
                              xp.float64)
        return indicator @ rows

    def update(self, X, y) -> None:
        """Merge a batch: ``X`` (B x d) in the namespace, ``y`` int64 labels on the device."""
        xp = self.xp
        X = xp.astype(X, xp.float64)
        count = self._class_sums(y, xp.ones((y.shape[0],), dtype=xp.float64,
                                            device=self.device))
        present = count > 0
        safe = xp.where(present, count, xp.ones_like(count))
        batch_means = self._class_sums(y, X) / xp.reshape(safe, (-1, 1))
        if not bool(xp.all(xp.isfinite(batch_means))):
            raise ProblemError("features: every entry must be finite, and the batch sums "
                               "must not overflow float64")
        if self.head is not None:
            self._head_totals(X, y)
        new = self.counts + count
        weight = xp.where(present, self.counts * count / xp.where(present, new, safe),
                          xp.zeros_like(count))
        delta = xp.where(xp.reshape(present, (-1, 1)), batch_means - self.means,
                         xp.zeros_like(self.means))
        rows = X - xp.take(batch_means, y, axis=0)
        root = delta * xp.reshape(xp.sqrt(weight), (-1, 1))
        self.scatter = self.scatter + rows.T @ rows + root.T @ root
        self.spread[0] = self.spread[0] + self._spread(y, rows, delta, weight)
        step = xp.where(present, count / xp.where(present, new, safe), xp.zeros_like(count))
        self.means = self.means + delta * xp.reshape(step, (-1, 1))
        for j, (W, _) in enumerate(self.head or (), start=1):
            rows, delta = rows @ W.T, delta @ W.T
            self.spread[j] = self.spread[j] + self._spread(y, rows, delta, weight)
        self.counts = new

    def _spread(self, y, rows, delta, weight):
        xp = self.xp
        return (self._class_sums(y, xp.sum(rows * rows, axis=1))
                + weight * xp.sum(delta * delta, axis=1))

    def _head_totals(self, X, y) -> None:
        ce, correct = head_terms(self.xp, self.head, self.classes, X, y)
        self.ce_sum = self.ce_sum + ce
        self.correct = self.correct + self.xp.astype(correct, self.xp.float64)

    def host(self):
        """(counts, means, scatter, spread, ce_sum, correct) as numpy: the only transfer."""
        counts = np.rint(_to_numpy(self.counts)).astype(np.int64)
        spread = np.stack([_to_numpy(s) for s in self.spread])
        return (counts, _to_numpy(self.means), _to_numpy(self.scatter), spread,
                float(_to_numpy(self.ce_sum)), int(round(float(_to_numpy(self.correct)))))


def _to_numpy(array) -> np.ndarray:
    if hasattr(array, "cpu") and hasattr(array, "numpy"):
        return array.detach().cpu().numpy()
    try:
        return np.from_dlpack(array)
    except (TypeError, RuntimeError, BufferError, ValueError, AttributeError):
        return np.asarray(array)


def head_terms(xp, head, classes, X, y):
    """Summed cross-entropy and the count of correct predictions of one batch through
    ``head`` (pairs ``(W, b)``), on the batch's device and in its dtype."""
    out = X
    for W, b in head:
        out = out @ W.T + (0.0 if b is None else b)
    if not bool(xp.all(xp.isfinite(out))):
        raise ProblemError("outputs of the head: every entry must be finite")
    top = xp.max(out, axis=1)
    shifted = out - xp.reshape(top, (-1, 1))
    own = xp.sum(xp.where(xp.reshape(y, (-1, 1)) == xp.reshape(classes, (1, -1)),
                          shifted, xp.zeros_like(shifted)), axis=1)
    ce = xp.sum(xp.log(xp.sum(xp.exp(shifted), axis=1)) - own)
    return ce, xp.sum(xp.astype(xp.argmax(out, axis=1) == y, xp.int64))
