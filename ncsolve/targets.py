"""Helpers that build the targets of :func:`ncsolve.predict` (docs/targets.md).

>>> import numpy as np
>>> from ncsolve import targets
>>> targets.one_hot([0, 2, 1], 3, smoothing=0.3)[0]
array([0.8, 0.1, 0.1])
>>> targets.smoothing_matrix(2, 0.2)
array([[0.9, 0.1],
       [0.1, 0.9]])
>>> targets.class_soft_labels([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]], [0, 0, 1], 2)
array([[0.8, 0.2],
       [0.2, 0.8]])
"""

from __future__ import annotations

import numpy as np

from .inputs.targets import SampleMoments, sample_moments, smoothing_matrix
from .inputs.validation import invalid

__all__ = ["SampleMoments", "class_soft_labels", "multi_hot", "one_hot", "sample_moments",
           "smoothing_matrix"]


def _labels(labels, classes: int | None) -> tuple[np.ndarray, int]:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.size == 0:
        raise invalid("labels", "must be a non-empty 1-D array of class indices", "")
    K = int(labels.max()) + 1 if classes is None else int(classes)
    if labels.min() < 0 or labels.max() >= K:
        raise invalid("labels", f"every label must be in 0..{K - 1}", "")
    return labels, K


def one_hot(labels, classes: int | None = None, smoothing: float = 0.0) -> np.ndarray:
    """Per-sample targets (N x K) of integer labels, smoothed by ``smoothing`` in [0, 1):
    row i is ``(1 - eps) e_{label_i} + eps / K``."""
    labels, K = _labels(labels, classes)
    return smoothing_matrix(K, float(smoothing))[:, labels].T.copy()


def multi_hot(label_sets, classes: int) -> np.ndarray:
    """Multi-label targets (N x K, entries 0/1): row i has a 1 at each label of sample i."""
    out = np.zeros((len(label_sets), int(classes)))
    for row, labels in enumerate(label_sets):
        out[row, list(labels)] = 1.0
    return out


def class_soft_labels(probabilities, labels, classes: int | None = None) -> np.ndarray:
    """Class-level soft labels (K' x K) from per-sample probabilities (N x K', e.g. a
    teacher's softmax): column k is the mean over the samples of class k."""
    labels, K = _labels(labels, classes)
    P = np.asarray(probabilities, dtype=float)
    if P.ndim != 2 or P.shape[0] != labels.size:
        raise invalid("probabilities", f"must be N x K' with N = {labels.size} rows, got shape "
                      f"{P.shape}", "")
    counts = np.bincount(labels, minlength=K)
    if np.any(counts == 0):
        raise invalid("labels", f"class {int(np.argmin(counts))} has no sample", "")
    sums = np.zeros((P.shape[1], K))
    np.add.at(sums.T, labels, P)
    return sums / counts
