"""The theory's targets for a measured network: predict for the same class sizes,
depth, widths and bias mode, read off per class and per layer.

Every answer (:class:`ncsolve.results.base.Result`) gives its per-layer singular
values, class-mean lengths, classifier row lengths and Grams; the targets are
formed from those, whatever the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results.constants import MEASURE_GRAM_TARGETS_MAX_K

GRAM_LIMIT = MEASURE_GRAM_TARGETS_MAX_K  # K x K targets (Grams, outputs) up to this K


@dataclass(frozen=True)
class LayerTargets:
    """The global minimizer at layers 0..M-1 (features ``W_j ... W_1 H``) in class order.

    Attributes
    ----------
    feature_values : ndarray, shape (M, K)
        Row j: singular values of the layer-j features, descending.
    weight_values : ndarray, shape (M, K)
        Row j: singular values of W_{j+1}, descending.
    feature_norms : ndarray, shape (M + 1, K)
        Row j: class-mean lengths at layer j (row M: of the outputs).
    classifier_norms : ndarray, shape (M, K)
        Row j: row lengths of the classifier W_M ... W_{j+1} of layer j.
    output_trace : float
        tr(W_M ... W_1 Hbar): the same at every layer.
    """

    feature_values: np.ndarray
    weight_values: np.ndarray
    feature_norms: np.ndarray
    classifier_norms: np.ndarray
    output_trace: float

    def self_duality(self, layer: int) -> float:
        from ..core.metrics import self_duality_from_grams

        return self_duality_from_grams(self.output_trace,
                                       float(np.sum(self.classifier_norms[layer] ** 2)),
                                       float(np.sum(self.feature_norms[layer] ** 2)))


def _descending(values: np.ndarray, K: int) -> np.ndarray:
    out = np.zeros(K)
    values = np.sort(np.asarray(values, dtype=float))[::-1][:K]
    out[: values.size] = values
    return out


def layer_targets(solution) -> LayerTargets:
    """Per-layer targets of an answer (MSE or cross-entropy alike: read through the base)."""
    K, M = solution.problem.K, solution.problem.depth
    sv = np.asarray(solution.layer_singular_values(), dtype=float)  # (K, M + 1)
    weights = np.array([_descending(sv[:, j + 1], K) for j in range(M)])
    cum = np.cumprod(sv, axis=1)
    values = [_descending(cum[:, j], K) for j in range(M)]
    norms = np.asarray(solution.layer_feature_norms)
    classifier = [solution.classifier_row_norms(j) for j in range(M)]
    trace = float(np.sum(solution.output))
    return LayerTargets(np.array(values), weights, norms, np.array(classifier), trace)


def feature_gram(solution, layer: int) -> np.ndarray:
    """Class-mean Gram of the layer-``layer`` features at the global minimizer (K x K)."""
    return solution.gram_features(layer)


def output_matrix(solution) -> np.ndarray:
    """W_M ... W_1 Hbar at the global minimizer; column k is class k (K x K)."""
    return solution.gram_outputs()
