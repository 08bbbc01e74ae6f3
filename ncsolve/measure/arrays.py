"""Arrays from the frameworks users train with, checked before any heavy work.

Accepts numpy arrays and anything with ``__dlpack__`` (PyTorch tensors on the CPU,
JAX arrays) or ``__array__``; a DLPack export is read without a copy, and the only
copy made is the conversion to float64.  Messages name the array and what is expected.
"""

from __future__ import annotations

import numpy as np

from ..inputs.problem import MAX_CLASSES, ProblemError


def as_numpy(value, name: str) -> np.ndarray:
    """``value`` as a numpy array, through DLPack where it can (no copy), else ``__array__``.

    Raises
    ------
    ProblemError
        When ``value`` is not array-like (a string, None, an object without either protocol).
    """
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and getattr(value, "requires_grad", False):
        value = value.detach()  # a torch Parameter or a tensor inside autograd
    if hasattr(value, "__dlpack__"):
        try:
            return np.from_dlpack(value)
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass  # e.g. a tensor on a GPU or a dtype numpy has not: fall back to __array__
    if isinstance(value, (str, bytes)) or value is None:
        raise ProblemError(f"{name}: expected an array, got {type(value).__name__}")
    if hasattr(value, "cpu") and hasattr(value, "numpy"):
        value = value.cpu()  # a device tensor: one transfer to host memory
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ProblemError(f"{name}: expected an array, got {type(value).__name__} "
                           f"({error})") from None


def float_matrix(value, name: str, rows: int | None = None, columns: int | None = None,
                 *, layout: str = "") -> np.ndarray:
    """A finite 2-D real array of the given shape, as float64 (one copy at most)."""
    array = as_numpy(value, name)
    if array.ndim != 2:
        raise ProblemError(f"{name}: expected a 2-D array{layout}, got shape {array.shape}")
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise ProblemError(f"{name}: expected real numbers, got dtype {array.dtype}")
    for axis, want in ((0, rows), (1, columns)):
        if want is not None and array.shape[axis] != want:
            what = "rows" if axis == 0 else "columns"
            raise ProblemError(f"{name}: expected {want} {what}{layout}, got shape {array.shape}")
    array = np.asarray(array, dtype=np.float64)
    check_finite(array, name)
    return array


def float_vector(value, name: str, size: int | None = None) -> np.ndarray:
    """A finite 1-D float64 array of the given size."""
    array = as_numpy(value, name)
    if array.ndim != 1 or (size is not None and array.size != size):
        want = f"{size} values" if size is not None else "a 1-D array"
        raise ProblemError(f"{name}: expected {want}, got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise ProblemError(f"{name}: expected real numbers, got dtype {array.dtype}")
    array = np.asarray(array, dtype=np.float64)
    check_finite(array, name)
    return array


def check_finite(array: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        where = ", ".join(str(int(i)) for i in bad)
        raise ProblemError(f"{name}: every entry must be finite, found {array[tuple(bad)]} "
                           f"at [{where}]")


def _in_label_range(array: np.ndarray, name: str) -> None:
    """Refuse labels outside 0..MAX_CLASSES-1 before the int64 cast (which would wrap
    uint64 >= 2^63 and turn 1e300 into a value that is not in the file)."""
    if not array.size:
        return
    low, high = array.min(), array.max()
    if low < 0 or high >= MAX_CLASSES:
        bad = low if low < 0 else high
        shown = f"{int(bad):,}" if array.dtype.kind in "iu" else f"{float(bad):g}"
        raise ProblemError(f"{name}: labels must be integers 0..K-1 with K at most "
                           f"{MAX_CLASSES:,}, found {shown}")


def integer_labels(value, name: str, size: int | None = None,
                   num_classes: int | None = None) -> np.ndarray:
    """Integer class labels 0..K-1 as int64 (floats with integral values are accepted)."""
    array = as_numpy(value, name)
    if array.ndim != 1:
        raise ProblemError(f"{name}: expected a 1-D array of integer labels, got shape "
                           f"{array.shape}")
    if size is not None and array.size != size:
        raise ProblemError(f"{name}: expected one label per sample ({size}), got {array.size}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ProblemError(f"{name}: labels must be integers 0..K-1, got non-integer values")
    elif array.dtype.kind not in "iu":
        raise ProblemError(f"{name}: labels must be integers 0..K-1, got dtype {array.dtype}")
    _in_label_range(array, name)
    labels = array.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        raise ProblemError(f"{name}: labels must be integers 0..K-1, found {labels.min()}")
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise ProblemError(f"{name}: labels must be integers 0..{num_classes - 1} "
                           f"(K = {num_classes}), found {labels.max()}")
    return labels
