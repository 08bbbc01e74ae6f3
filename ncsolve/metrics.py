"""Neural-collapse measurements of a trained model and distances to theoretical targets.

Samples are ordered class by class (the layout of :mod:`ncsolve.objective`), so
class statistics come from contiguous blocks of columns; nothing N x N is formed.

Layers are numbered as in the theory: the features of layer j are
``H_j = W_j ... W_1 H`` (layer 0 is ``H``) for j = 0..M-1, and the classifier of
layer j is the product ``W_M ... W_{j+1}`` acting on them, so that
``classifier_j @ H_j`` is the network output at every layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .objective import FullObjective

__all__ = [
    "RunGeometry",
    "class_means",
    "measure",
    "nc1",
    "normalized_distance",
    "objective_gap",
    "relative_distance",
]


def _starts(n: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)


def class_means(features: np.ndarray, n) -> np.ndarray:
    """Class means of ``features`` (d x N, class by class), shape (d, K)."""
    n = np.asarray(n, dtype=np.int64)
    sums = np.add.reduceat(features, _starts(n), axis=1)
    return sums / n


def nc1(features: np.ndarray, n, rtol: float = 1e-6) -> float:
    """Within-class variability relative to between-class spread, tr(Sigma_W Sigma_B^+)/K.

    Parameters
    ----------
    features : ndarray, shape (d, N)
        One column per sample, ordered class by class.
    n : sequence of int
        Class sizes.
    rtol : float
        Singular values of the centred class means below ``rtol`` times the largest
        are treated as zero in the pseudo-inverse of Sigma_B. Optimizers leave
        collapsed directions at about 1e-8 of the largest, not at 0; a smaller
        cutoff would divide rounding noise by their square.

    Returns
    -------
    float
        ``tr(Sigma_W Sigma_B^+) / K`` with ``Sigma_W`` the within-class covariance
        (average over all N samples) and ``Sigma_B`` the covariance of the K class
        means around the global mean (average over classes).  0 means exact
        collapse onto the class means; inf when all class means coincide.
    """
    n = np.asarray(n, dtype=np.int64)
    K = n.size
    means = class_means(features, n)
    spread = means - features.mean(axis=1, keepdims=True)
    U, s, _ = np.linalg.svd(spread, full_matrices=False)
    keep = s > rtol * s.max() if s.size and s.max() > 0 else np.zeros(s.size, bool)
    if not keep.any():
        return float("inf")
    within = features - np.repeat(means, n, axis=1)
    projected = U[:, keep].T @ within  # components of the deviations along Sigma_B's range
    # Sigma_B = spread spread^T / K, so Sigma_B^+ = K U diag(1/s^2) U^T on its range.
    trace = K * np.sum(np.sum(projected**2, axis=1) / s[keep] ** 2) / n.sum()
    return float(trace / K)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(matrix)
    return matrix / norm if norm > 0 else matrix


def normalized_distance(measured: np.ndarray, target: np.ndarray) -> float:
    """``|| A/||A||_F - B/||B||_F ||_F``: distance in shape, ignoring scale (0..2).

    A zero matrix is left at zero, so a zero measurement against a nonzero target
    gives 1.
    """
    return float(np.linalg.norm(_unit(np.asarray(measured)) - _unit(np.asarray(target))))


def relative_distance(measured: np.ndarray, target: np.ndarray) -> float:
    """``||A - B||_F / ||B||_F`` (the absolute distance ``||A||_F`` when B is zero)."""
    scale = np.linalg.norm(target)
    gap = np.linalg.norm(np.asarray(measured) - np.asarray(target))
    return float(gap / scale if scale > 0 else gap)


def objective_gap(loss: float, theory_loss: float) -> float:
    """Relative gap ``(loss - theory_loss) / |theory_loss|`` (negative would refute the theory)."""
    scale = abs(theory_loss)
    return float((loss - theory_loss) / scale if scale > 0 else loss - theory_loss)


@dataclass(frozen=True)
class RunGeometry:
    """Class-level geometry of a trained model, all as K x K matrices in class order.

    Attributes
    ----------
    feature_grams : list of ndarray
        ``Hbar_j^T Hbar_j`` for the class means of the layer-j features, j = 0..M-1.
    classifier_grams : list of ndarray
        ``W W^T`` of the classifier ``W_M ... W_{j+1}`` of layer j, j = 0..M-1.
    outputs : ndarray
        ``W_M ... W_1 Hbar``: column k is the mean output of class k, without bias.
    nc1 : list of float
        NC1 of the layer-j features, j = 0..M-1.
    """

    feature_grams: list
    classifier_grams: list
    outputs: np.ndarray
    nc1: list

    def to_dict(self) -> dict:
        return {"nc1": [float(v) for v in self.nc1]}


def measure(objective: FullObjective, x: np.ndarray, with_nc1: bool = True) -> RunGeometry:
    """Grams, outputs and NC1 of the parameters ``x`` at every layer.

    Parameters
    ----------
    objective : FullObjective
        Gives the layout of ``x`` and the class sizes.
    x : ndarray
        Flat parameter vector.
    with_nc1 : bool
        Skip the d x N work of NC1 when False (the list is then empty).
    """
    p = objective.split(x)
    n = objective.problem.n
    features, means = p.H, class_means(p.H, n)
    feature_grams, layer_nc1, layer_means = [], [], []
    for j in range(objective.M):
        if j:
            W = p.weights[j - 1]
            means = W @ means
            if with_nc1:
                features = W @ features
        layer_means.append(means)
        feature_grams.append(means.T @ means)
        if with_nc1:
            layer_nc1.append(nc1(features, n))
    classifiers = [p.weights[-1]]
    for W in reversed(p.weights[:-1]):
        classifiers.append(classifiers[-1] @ W)
    classifiers.reverse()  # classifiers[j] = W_M ... W_{j+1}
    return RunGeometry(
        feature_grams=feature_grams,
        classifier_grams=[C @ C.T for C in classifiers],
        outputs=classifiers[0] @ layer_means[0],
        nc1=layer_nc1,
    )
