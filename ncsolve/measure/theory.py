"""The theory's targets for a measured network: predict for the same class sizes,
depth, widths and bias mode, read off per class and per layer.

Works for the MSE closed form (:class:`ncsolve.solvers.mse.Solution`) and for the
cross-entropy answer (:class:`ncsolve.solvers.crossentropy.CESolution`), which carry the
same per-class fields; per-layer targets are computed here from their spectra.
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


def _is_ce(solution) -> bool:
    return hasattr(solution, "layers") and hasattr(solution, "logits")


def _descending(values: np.ndarray, K: int) -> np.ndarray:
    out = np.zeros(K)
    values = np.sort(np.asarray(values, dtype=float))[::-1][:K]
    out[: values.size] = values
    return out


def layer_targets(solution) -> LayerTargets:
    """Per-layer targets of an MSE or CE solution."""
    p = solution.problem
    K, M = p.K, p.depth
    if _is_ce(solution):
        lay = solution.layers
        weights = np.array([_descending(w, K) for w in lay.weight_sv])  # (M, K)
        values = [_descending(_ce_layer(solution, j), K) for j in range(M)]
        norms = lay.layer_norms.T  # (M + 1, K)
        U, _, rank = _ce_vectors(solution)
        classifier = []
        for j in range(M):
            tail = np.prod(np.array([w[:rank] for w in lay.weight_sv[j:]]), axis=0)
            classifier.append(np.sqrt(np.maximum((U**2) @ tail**2, 0.0)))
        trace = float(np.trace(solution.logits))
    else:
        sv = np.asarray(solution.singular_values)  # (K, M + 1), direction order
        weights = np.array([_descending(sv[:, j + 1], K) for j in range(M)])
        cum = np.cumprod(sv, axis=1)
        values = [_descending(cum[:, j], K) for j in range(M)]
        norms = np.asarray(solution.layer_feature_norms)
        classifier = [np.sqrt(np.maximum(_classifier_diagonal(solution, j), 0.0))
                      for j in range(M)]
        trace = float(np.sum(solution.output))
    return LayerTargets(np.array(values), weights, norms, np.array(classifier), trace)


def _classifier_diagonal(solution, layer: int) -> np.ndarray:
    """Squared row lengths of W_M ... W_{layer+1}: from the spectrum when the solution
    has one (O(K) bias-free), else the diagonal of its K x K classifier Gram."""
    spectrum = getattr(solution, "spectrum", None)
    if spectrum is None:
        return np.diag(solution.gram_classifier(layer)).copy()
    w = np.asarray(solution.singular_values)[:, 1:]
    return spectrum.diag(np.prod(w[:, layer:], axis=1) ** 2)


def _ce_vectors(solution):
    root_n = np.sqrt(np.asarray(solution.problem.n, dtype=float))
    U, _, Vt = np.linalg.svd(solution.logits * root_n[None, :])
    r = solution.rank
    return U[:, :r], Vt[:r].T, r


def _ce_layer(solution, layer: int) -> np.ndarray:
    lay = solution.layers
    values = np.asarray(lay.feature_sv, dtype=float)
    for w in lay.weight_sv[:layer]:
        values = values * np.asarray(w)[: values.size]
    return values


def feature_gram(solution, layer: int) -> np.ndarray:
    """Class-mean Gram of the layer-``layer`` features at the global minimizer (K x K)."""
    if not _is_ce(solution):
        return solution.gram_features(layer)
    root_n = np.sqrt(np.asarray(solution.problem.n, dtype=float))
    _, V, _ = _ce_vectors(solution)
    Vs = V / root_n[:, None]
    t = _ce_layer(solution, layer)
    return (Vs * t**2) @ Vs.T


def output_matrix(solution) -> np.ndarray:
    """W_M ... W_1 Hbar at the global minimizer; column k is class k (K x K)."""
    return solution.gram_outputs()
