"""One pass over the samples: counts, class means and within-class scatter per class.

:class:`ClassAccumulator` takes batches of features (rows are samples, labels in
any order) and keeps, in float64 (in float32 with compensated merges on a device
without float64 or with ``precision="float32"``, :mod:`.compensated`),

* ``counts`` (K,), ``means`` (K x d) and the within-class scatter
  ``S_W = sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T`` (d x d);
* per class and per layer of the head, the within-class sum of squared distances
  ``sum_{i in k} ||h_i - mu_k||^2`` (what the CDNV needs, K numbers a layer);
* with a head given, the summed cross-entropy of its outputs and how many samples
  it classifies correctly.

Memory is O(K d + d^2) whatever N is.  Each batch is centred on its own class
means before its scatter is formed, and batches are merged with the pairwise
update of Chan, Golub & LeVeque (1979): for a class with n samples and mean mu
joined by c samples with mean m and centred scatter S_b, the new scatter is
``S + S_b + (n c / (n + c)) (m - mu)(m - mu)^T``.  No large sums of squares are
ever subtracted, so the result equals a two-pass computation to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.objective import softmax_cross_entropy
from ..inputs.problem import ProblemError, whole_number
from ..inputs.validation import Options, check
from .arrays import as_numpy, check_finite, float_matrix, float_vector, integer_labels
from .compensated import Float32State
from .device import DeviceState, device_namespace, has_float64

__all__ = ["ClassAccumulator", "ClassStatistics", "Head"]


@dataclass(frozen=True)
class Head:
    """A linear head: ``W_1`` (d_2 x d_1) first, ``W_M`` (K x d_M) last, PyTorch layout.

    ``biases[j]`` is the bias of layer j + 1 or None; ``biases[-1]`` is the
    last-layer (output) bias, the others are hidden-layer biases.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray | None, ...]

    @classmethod
    def build(cls, weights, biases=None, *, num_classes: int | None = None,
              width: int | None = None) -> "Head":
        """Validate that the layers chain: ``W1`` has ``width`` columns, ``WM`` K rows."""
        weights = list(weights)
        if not weights:
            raise ProblemError("weights: give at least one layer W1 (the last one has K rows)")
        checked = []
        for j, W in enumerate(weights, start=1):
            columns = width if j == 1 else checked[-1].shape[0]
            rows = num_classes if j == len(weights) else None
            where = (f" (PyTorch layout: out x in; W{j} acts on "
                     + ("the features" if j == 1 else f"the outputs of W{j - 1}") + ")")
            checked.append(float_matrix(W, f"W{j}", rows, columns, layout=where))
        biases = [None] * len(checked) if biases is None else list(biases)
        if len(biases) != len(checked):
            raise ProblemError(f"biases: give one per layer (None for none), {len(checked)} "
                               f"in all, got {len(biases)}")
        out = tuple(None if b is None else float_vector(b, f"b{j}", W.shape[0])
                    for j, (W, b) in enumerate(zip(checked, biases), start=1))
        return cls(tuple(checked), out)

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        """d_1 (feature width), ..., d_M."""
        return tuple(W.shape[1] for W in self.weights)

    @property
    def hidden_biases(self) -> bool:
        return any(b is not None for b in self.biases[:-1])

    def layers(self, features: np.ndarray) -> list[np.ndarray]:
        """Rows of features at layers 0..M (layer M: the outputs), samples as rows."""
        out = [features]
        with np.errstate(over="ignore", invalid="ignore"):  # refused later if not finite
            for W, b in zip(self.weights, self.biases):
                nxt = out[-1] @ W.T
                if b is not None:
                    nxt += b
                out.append(nxt)
        return out


@dataclass(frozen=True)
class ClassStatistics:
    """What one pass leaves: enough for every metric of :mod:`ncsolve.measure`.

    Attributes
    ----------
    counts : ndarray of int, shape (K,)
    means : ndarray, shape (K, d)
        Class means of the layer-0 features (rows).
    scatter : ndarray, shape (d, d)
        Within-class scatter ``sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T`` (not divided by N).
    class_spread : ndarray, shape (L, K)
        Row j: per class, ``sum_{i in k} ||h^(j)_i - mu^(j)_k||^2`` at layer j of the
        head (only layer 0 without a head).
    ce_sum : float or None
        Summed cross-entropy of the head's outputs (None without a head).
    correct : int or None
        Samples whose largest output is their label.
    scatter_error : float or None
        With float32 sums on a device: a bound on the Frobenius norm of the
        scatter's rounding error (docs/measure.md, "Float32 on the device").  None
        for float64 sums.
    """

    counts: np.ndarray
    means: np.ndarray
    scatter: np.ndarray
    class_spread: np.ndarray
    ce_sum: float | None = None
    correct: int | None = None
    scatter_error: float | None = None

    @property
    def N(self) -> int:
        return int(self.counts.sum())

    @property
    def K(self) -> int:
        return int(self.counts.size)

    @property
    def width(self) -> int:
        return int(self.means.shape[1])


class ClassAccumulator:
    """Streaming class statistics of features, batch by batch (see the module docstring).

    Parameters
    ----------
    num_classes : int
        K; labels must lie in 0..K-1.
    width : int, optional
        Feature width d (taken from the first batch when left out).
    weights, biases : optional
        A linear head (PyTorch layout, layer 1 first, see :class:`Head`); with it
        the per-layer class spreads, the cross-entropy and the accuracy of its
        outputs are accumulated too.
    where : {"auto", "host", "input"}
        Where the sums live.  ``auto``: on the input's device when numpy cannot read
        the first batch without a copy (a GPU tensor, through array-api-compat),
        else in host memory; ``input``: always in the input's namespace and device
        (PyTorch on the CPU too); ``host``: numpy, batch by batch, float64.
    precision : {"auto", "float64", "float32"}
        The dtype of the sums on a device.  ``auto``: float64 where the device has
        it, else float32; ``float64``: refused on a device without it; ``float32``:
        float32 with compensated merges even where float64 exists (faster on GPUs
        with slow float64), its error bound in ``statistics().scatter_error``.
        Host sums are always float64, so ``float32`` needs ``where`` other than
        ``host``.

    Examples
    --------
    >>> acc = ClassAccumulator(num_classes=10)
    >>> for features, labels in batches:            # doctest: +SKIP
    ...     acc.update(features, labels)            # N x d rows, labels in any order
    >>> stats = acc.statistics()                    # doctest: +SKIP
    """

    def __init__(self, num_classes: int, width: int | None = None, weights=None,
                 biases=None, where: str = "auto", precision: str = "auto"):
        self.K = whole_number(num_classes, "num_classes", "the number of classes")
        self.head = None
        if weights is not None:
            self.head = Head.build(weights, biases, num_classes=self.K, width=width)
            width = self.head.widths[0]
        self.width = None if width is None else whole_number(width, "width", "the feature width")
        self.counts = np.zeros(self.K, dtype=np.int64)
        self.ce_sum = 0.0
        self.correct = 0
        self._means = self._scatter = self._spread = None
        self.where = check(where, Options(("auto", "host", "input")), "where")
        self.precision = check(precision, Options(("auto", "float64", "float32")),
                               "precision")
        if self.where == "host" and self.precision == "float32":
            raise ProblemError("precision: float32 sums live on the input's device; "
                               "host sums are float64 (use where='input' or 'auto')")
        self.scatter_error = None
        self._device = None  # a DeviceState once the first batch chose the device
        if self.width is not None:
            self._allocate(self.width)

    def _allocate(self, d: int) -> None:
        layers = 1 if self.head is None else self.head.depth + 1
        self._means = np.zeros((self.K, d))
        self._scatter = np.zeros((d, d))
        self._spread = np.zeros((layers, self.K))

    def update(self, features, labels) -> "ClassAccumulator":
        """Add a batch: ``features`` (B x d, rows are samples), ``labels`` (B,) in 0..K-1."""
        if self._device is not None or (self.where != "host" and not self.counts.any()
                                        and self._start_device(features)):
            return self._device_update(features, labels)
        X = as_numpy(features, "features")
        if X.ndim != 2:
            raise ProblemError(f"features: expected a 2-D array (samples x width), got shape "
                               f"{X.shape}")
        if self.width is None:
            self.width = int(X.shape[1])
            self._allocate(self.width)
        X = _batch_matrix(X, self.width)
        y = integer_labels(labels, "labels", size=X.shape[0], num_classes=self.K)
        if not y.size:
            return self
        present, inverse, count = np.unique(y, return_inverse=True, return_counts=True)
        one_hot = _one_hot(inverse, present.size, X.shape[1])
        batch_means = (one_hot @ X) / count[:, None]
        if not np.all(np.isfinite(batch_means)):
            check_finite(X, "features")  # names the first bad entry
            raise ProblemError("features: the batch sums overflow float64; rescale the "
                               "features")
        if self.head is not None:
            self._head_totals(self.head.layers(X)[-1], y)
        old = self.counts[present].astype(np.float64)
        new = old + count
        weight = old * count / new  # Chan's factor n c / (n + c) per present class
        delta = batch_means - self._means[present]
        X -= batch_means[inverse]  # centred on the batch's own class means, in place
        self._scatter += X.T @ X + _weighted_gram(delta, weight)
        self._spread[0, present] += (one_hot @ _row_squares(X) + weight * _row_squares(delta))
        self._means[present] += delta * (count / new)[:, None]
        if self.head is not None:
            # layer j is an affine image of layer 0: its centred rows and its change of
            # class mean are the linear part of the head applied to layer 0's
            for j, W in enumerate(self.head.weights, start=1):
                X, delta = X @ W.T, delta @ W.T
                self._spread[j, present] += (one_hot @ _row_squares(X)
                                             + weight * _row_squares(delta))
        self.counts[present] += count
        return self

    def _start_device(self, features) -> bool:
        """Choose the input's device for the sums (see ``where``); False: the host."""
        xp = device_namespace(features, force=self.where == "input")
        if xp is None or getattr(features, "ndim", 0) != 2:
            return False
        import array_api_compat

        head = None if self.head is None else list(zip(self.head.weights, self.head.biases))
        width = int(features.shape[1]) if self.width is None else self.width
        device = array_api_compat.device(features)
        float32 = self.precision == "float32" or (self.precision == "auto"
                                                  and not has_float64(xp, device))
        try:
            self._device = (Float32State if float32 else DeviceState)(xp, device, self.K,
                                                                     width, head)
        except ProblemError:
            if self.where == "input":
                raise
            return False  # float64 asked for, none there: batches go to the host
        self.width = width
        return True

    def _device_update(self, features, labels) -> "ClassAccumulator":
        state = self._device
        xp = state.xp
        if getattr(features, "ndim", 0) != 2 or int(features.shape[1]) != self.width:
            raise ProblemError(f"features: expected {self.width} columns (rows are samples, "
                               f"columns the feature width), got shape "
                               f"{tuple(getattr(features, 'shape', ()))}")
        if "float" not in str(features.dtype) and "int" not in str(features.dtype):
            raise ProblemError(f"features: expected real numbers, got dtype {features.dtype}")
        y = state.labels(labels)
        if y.ndim != 1 or int(y.shape[0]) != int(features.shape[0]):
            raise ProblemError(f"labels: expected one label per sample ({features.shape[0]})")
        if int(y.shape[0]):
            low, high = int(xp.min(y)), int(xp.max(y))
            if low < 0 or high >= self.K:
                raise ProblemError(f"labels: labels must be integers 0..{self.K - 1} "
                                   f"(K = {self.K}), found {low if low < 0 else high}")
            state.update(features, y)
        return self

    def _head_totals(self, outputs: np.ndarray, labels: np.ndarray) -> None:
        check_finite(outputs, "outputs of the head")
        losses, _ = softmax_cross_entropy(outputs.T.copy(), labels)
        self.ce_sum += float(losses.sum())
        self.correct += int(np.count_nonzero(outputs.argmax(axis=1) == labels))

    def statistics(self) -> ClassStatistics:
        """The statistics so far (copies: the accumulator can keep going)."""
        if self._device is not None:
            totals = self._device.host()
            (self.counts, self._means, self._scatter, self._spread, self.ce_sum,
             self.correct) = totals[:6]
            self.scatter_error = totals[6] if len(totals) > 6 else None
        if self._means is None or not self.counts.sum():
            raise ProblemError("features: no samples were given to the accumulator")
        empty = np.flatnonzero(self.counts == 0)
        if empty.size:
            raise ProblemError(f"labels: every class 0..{self.K - 1} needs at least one sample; "
                               f"no samples for class(es) {_list(empty)} (pass num_classes to "
                               "match the labels that occur, or add samples)")
        scatter = 0.5 * (self._scatter + self._scatter.T)
        head = self.head is not None
        return ClassStatistics(self.counts.copy(), self._means.copy(), scatter,
                               self._spread.copy(), self.ce_sum if head else None,
                               self.correct if head else None, self.scatter_error)


def _batch_matrix(X: np.ndarray, width: int) -> np.ndarray:
    """A float64 copy of a batch (the accumulator centres it in place)."""
    if X.dtype.kind not in "fiu" or X.dtype == np.bool_:
        raise ProblemError(f"features: expected real numbers, got dtype {X.dtype}")
    if X.shape[1] != width:
        raise ProblemError(f"features: expected {width} columns (rows are samples, columns "
                           f"the feature width), got shape {X.shape}")
    return np.array(X, dtype=np.float64, order="C")


SMALL_BATCH = 1 << 17  # entries of a batch summed by np.add.at rather than a sparse product


def _one_hot(inverse: np.ndarray, classes: int, width: int):
    """(classes x B) indicator: ``one_hot @ X`` sums rows per class in one pass.

    Sparse (scipy) for large batches; a small batch (``B * width`` up to
    ``SMALL_BATCH``) is summed by :class:`_Indicator`, which adds in the same order
    (so the sums are the same to the bit) without the import of scipy.sparse, which
    costs more than a small measurement.
    """
    B = inverse.size
    if B * max(width, 1) <= SMALL_BATCH:
        return _Indicator(inverse, classes)
    from scipy.sparse import csr_matrix

    return csr_matrix((np.ones(B), (inverse, np.arange(B))), shape=(classes, B))


class _Indicator:
    """A class indicator whose product with rows sums them per class, in row order."""

    def __init__(self, inverse: np.ndarray, classes: int):
        self.inverse, self.classes = inverse, classes

    def __matmul__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        out = np.zeros((self.classes, *rows.shape[1:]))
        np.add.at(out, self.inverse, rows)
        return out


def _weighted_gram(rows: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``sum_k weight_k rows_k^T rows_k`` as one symmetric product (rows with weight 0,
    classes new to the accumulator, are skipped)."""
    keep = weight > 0
    scaled = rows[keep] * np.sqrt(weight[keep])[:, None]
    return scaled.T @ scaled


def _row_squares(rows: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", rows, rows)


def _list(indices: np.ndarray, limit: int = 10) -> str:
    head = ", ".join(str(int(i)) for i in indices[:limit])
    return head + (", ..." if indices.size > limit else "")
