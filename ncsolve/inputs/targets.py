"""Targets other than one-hot labels, validated: label smoothing, class-level soft labels
and per-sample targets (regression, multi-label, distillation).

For MSE the global minimizer sees the target only through the singular values and
vectors of the (centred, with a free bias) target matrix, so each kind is stored in
the smallest form that holds them:

* label smoothing and soft labels as a K' x K class-level matrix ``S`` (column k is
  the target of every sample of class k; smoothing is ``S = (1 - eps) I + eps/K 11^T``);
* per-sample targets ``Y`` (N x t, rows are samples) as their count, mean and centred
  second moments, accumulated in one streamed pass of bounded memory
  (:func:`sample_moments`); an N x N matrix is never formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np

from .validation import invalid, show

KINDS = ("label smoothing", "soft labels", "per-sample")
CHUNK_ELEMENTS = 1 << 21  # floats per streamed block of per-sample targets (16 MiB)
MAX_TARGET_DIM = 4096  # t x t moments and their eigen-decomposition: O(t^3)
MAX_SOFT_ROWS = 4096
MAX_DENSE_CLASSES = 4096  # class-level targets take a dense K' x K SVD: O(K^3)
SHOWN_SOFT = 40_000  # to_dict() lists the soft-label matrix up to this many entries


@dataclass(frozen=True, eq=False)
class SampleMoments:
    """What the minimizer needs of per-sample targets ``Y`` (N x t).

    Attributes
    ----------
    count : int
        Number of samples N.
    mean : ndarray, shape (t,)
        Mean target (the learned free bias).
    scatter : ndarray, shape (t, t)
        Centred second moments ``sum_i (y_i - mean)(y_i - mean)^T``.
    """

    count: int
    mean: np.ndarray
    scatter: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    def gram(self, centred: bool) -> np.ndarray:
        """``Yt^T Yt``: the centred scatter, or the raw second moments ``Y^T Y``."""
        if centred:
            return self.scatter
        return self.scatter + self.count * np.outer(self.mean, self.mean)


@dataclass(frozen=True, eq=False)
class Targets:
    """A validated target other than one-hot labels.

    Attributes
    ----------
    kind : {"label smoothing", "soft labels", "per-sample"}
    soft : ndarray (K', K) or None
        Class-level targets: column k is the target of class k.
    epsilon : float or None
        The smoothing of ``kind == "label smoothing"``.
    moments : SampleMoments or None
        Per-sample targets, reduced to their moments.
    """

    kind: str
    soft: np.ndarray | None = None
    epsilon: float | None = None
    moments: SampleMoments | None = None

    def directions(self, classes: int) -> int:
        """How many target directions there are (the rank cap before the widths)."""
        if self.moments is not None:
            return min(self.moments.dim, self.moments.count)
        return min(self.soft.shape)

    @property
    def outputs(self) -> int:
        """Output dimension (rows of the classifier)."""
        return self.moments.dim if self.moments is not None else int(self.soft.shape[0])

    def to_dict(self) -> dict:
        data = {"kind": self.kind}
        if self.epsilon is not None:
            data["label_smoothing"] = self.epsilon
        if self.kind == "soft labels":
            data["shape"] = list(self.soft.shape)
            data["soft_labels"] = self.soft.tolist() if self.soft.size <= SHOWN_SOFT else None
        if self.moments is not None:
            data.update(samples=self.moments.count, dim=self.moments.dim,
                        mean=self.moments.mean.tolist())
        return data


def smoothing_matrix(classes: int, epsilon: float) -> np.ndarray:
    """``(1 - eps) I + (eps / K) 1 1^T``: column k is class k's smoothed target."""
    return (1.0 - epsilon) * np.eye(classes) + (epsilon / classes)


def smoothed_target(epsilon, classes: int) -> Targets:
    """Targets of label smoothing ``eps`` in [0, 1) over ``classes`` classes."""
    eps = _fraction(epsilon)
    _check_classes(classes, "label_smoothing")
    return Targets(kind="label smoothing", soft=smoothing_matrix(classes, eps), epsilon=eps)


def _fraction(epsilon) -> float:
    why = "must be a number in [0, 1) (0 is one-hot labels; 0.1 is the usual smoothing)"
    if isinstance(epsilon, (bool, np.bool_)):
        raise invalid("label_smoothing", f"{why}, got {show(epsilon)}")
    try:
        value = float(epsilon) if isinstance(epsilon, (Real, np.number, str)) else None
    except ValueError:
        value = None
    if value is None or not (0.0 <= value < 1.0):
        raise invalid("label_smoothing", f"{why}, got {show(epsilon)}")
    return value


def soft_labels_target(matrix, classes: int) -> Targets:
    """Class-level soft labels: a K' x K matrix (column k: class k's target).

    A 1-D array of length K is one output row."""
    S = _finite_array(matrix, "soft_labels")
    S = S[None, :] if S.ndim == 1 else S
    if S.ndim != 2 or S.shape[1] != classes or S.shape[0] < 1:
        raise invalid("soft_labels", f"must be a K' x K matrix with one column per class "
                      f"(K = {classes}, column k the target of class k), got shape "
                      f"{tuple(np.shape(matrix))}; transpose it if the rows are the classes")
    if S.shape[0] > MAX_SOFT_ROWS:
        raise invalid("soft_labels", f"at most {MAX_SOFT_ROWS} output rows, got {S.shape[0]}")
    _check_classes(classes, "soft_labels")
    S.setflags(write=False)
    return Targets(kind="soft labels", soft=S)


def _check_classes(classes: int, param: str) -> None:
    if classes > MAX_DENSE_CLASSES:
        raise invalid(param, f"class-level targets are solved through a dense K x K "
                      f"decomposition, for K <= {MAX_DENSE_CLASSES} classes, got K = {classes}")


def per_sample(targets, chunk_elements: int = CHUNK_ELEMENTS) -> Targets:
    """Per-sample targets: an N x t array (rows are samples; a 1-D array is t = 1), or
    an iterable of such row blocks, streamed to their moments (:func:`sample_moments`)."""
    return Targets(kind="per-sample", moments=sample_moments(targets, chunk_elements))


def sample_moments(targets, chunk_elements: int = CHUNK_ELEMENTS) -> SampleMoments:
    """Count, mean and centred second moments of per-sample targets in one pass.

    Blocks of at most ``chunk_elements`` floats are converted to float64 one at a
    time and merged with the pairwise update of Chan, Golub and LeVeque, so memory is
    O(t^2 + block) whatever N (an ``np.memmap`` or ``np.load(..., mmap_mode="r")``
    array, or a generator of blocks, is never read whole).
    """
    count, mean, scatter = 0, None, None
    for block in _blocks(targets, chunk_elements):
        rows = block.shape[0]
        if rows == 0:
            continue
        block_mean = block.mean(axis=0)
        centred = block - block_mean
        block_scatter = centred.T @ centred
        if mean is None:
            count, mean, scatter = rows, block_mean, block_scatter
            continue
        if block.shape[1] != mean.size:
            raise invalid("targets", f"every block must have t = {mean.size} columns, got "
                          f"{block.shape[1]}")
        total = count + rows
        delta = block_mean - mean
        scatter = scatter + block_scatter + np.outer(delta, delta) * (count * rows / total)
        mean = mean + delta * (rows / total)
        count = total
    if mean is None:
        raise invalid("targets", "holds no samples; give an N x t array (rows are samples)")
    scatter = 0.5 * (scatter + scatter.T)
    for array in (mean, scatter):
        array.setflags(write=False)
    return SampleMoments(count=count, mean=mean, scatter=scatter)


def _blocks(targets, chunk_elements: int):
    """Row blocks of ``targets`` as finite float64 2-D arrays."""
    if hasattr(targets, "detach"):  # a torch tensor
        targets = targets.detach().cpu().numpy()
    if isinstance(targets, (np.ndarray, list, tuple)):
        array = targets if isinstance(targets, np.ndarray) else _finite_array(targets, "targets")
        _check_kind(array)
        array = array[:, None] if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[1] == 0:
            raise invalid("targets", "must be an N x t array (rows are samples, t >= 1 "
                          f"columns), got shape {array.shape}")
        _check_dim(array.shape[1])
        step = max(1, chunk_elements // array.shape[1])
        for start in range(0, array.shape[0], step):
            yield _finite(array[start:start + step], start)
        return
    if isinstance(targets, (str, bytes)) or not hasattr(targets, "__iter__"):
        raise invalid("targets", f"expected an N x t array or an iterable of row blocks, got "
                      f"{show(targets)}")
    start = 0
    for block in targets:
        array = np.asarray(block.detach().cpu().numpy() if hasattr(block, "detach") else block)
        _check_kind(array)
        array = array[:, None] if array.ndim == 1 else array
        if array.ndim != 2:
            raise invalid("targets", f"every block must be 2-D (rows are samples), got "
                          f"shape {array.shape}")
        _check_dim(array.shape[1])
        yield _finite(array, start)
        start += array.shape[0]


def _check_kind(array: np.ndarray) -> None:
    if array.dtype.kind not in "biuf":
        raise invalid("targets", f"must hold real numbers, got dtype {array.dtype}")


def _check_dim(dim: int) -> None:
    if dim > MAX_TARGET_DIM:
        raise invalid("targets", f"at most t = {MAX_TARGET_DIM} target columns (the t x t "
                      f"moments are eigen-decomposed), got {dim}; are the rows the samples?")


def _finite(block: np.ndarray, start: int) -> np.ndarray:
    block = np.asarray(block, dtype=np.float64)
    bad = ~np.isfinite(block)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise invalid("targets", f"must be finite; entry ({start + row}, {col}) is "
                      f"{block[row, col]}")
    return block


def _finite_array(value, param: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(param, f"must be an array of real numbers, got {show(value)}") from None
    if array.size == 0:
        raise invalid(param, "is empty; give an array of real numbers")
    if not np.all(np.isfinite(array)):
        raise invalid(param, f"must be finite, got {np.count_nonzero(~np.isfinite(array))} "
                      "non-finite entries (nan or inf)")
    return array


def target_of(classes: int | None, n, label_smoothing, soft_labels, targets) -> Targets | None:
    """The one target that was given, validated (None: one-hot labels, also for
    ``label_smoothing=0``, which is exactly the one-hot answer).

    ``classes`` is K (None for per-sample targets, which then must come without ``n``).
    """
    given = [name for name, value in (("label_smoothing", label_smoothing),
                                      ("soft_labels", soft_labels), ("targets", targets))
             if value is not None]
    if len(given) > 1:
        raise invalid(tuple(given), "give one target: label smoothing, soft labels or "
                      "per-sample targets")
    if targets is not None:
        if n is not None:
            raise invalid("n", "per-sample targets carry their own number of samples N "
                          "(their rows); leave --n out with --targets")
        return per_sample(targets)
    if soft_labels is not None:
        return soft_labels_target(soft_labels, classes)
    if label_smoothing is not None:
        smoothed = smoothed_target(label_smoothing, classes)
        return None if smoothed.epsilon == 0.0 else smoothed
    return None
