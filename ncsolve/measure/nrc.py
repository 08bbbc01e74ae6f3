"""Neural regression collapse (NRC1-3 of Andriopoulos et al., NeurIPS 2024), from moments.

For features ``h_i`` (rows of an N x d array), their unit vectors ``u_i = h_i / ||h_i||``
and a regression head whose end-to-end weight is ``W`` (t x d):

* **NRC1** ``= mean_i ||u_i - P u_i||^2`` with ``P`` the projection onto the top t
  principal directions of the features (eigenvectors of their covariance): how far the
  features are from a t-dimensional subspace;
* **NRC2** ``= mean_i ||u_i - P_W u_i||^2`` with ``P_W`` the projection onto the row
  space of ``W``: how far the features are from the span of the weight vectors;
* **NRC3** ``= min_s || W W^T / ||W W^T||_F - (A - s I) / ||A - s I||_F ||_F^2`` over
  ``s`` in ``[0, lambda_min(A)]``, ``A = Sigma^(1/2)`` the square root of the target
  covariance (the paper's gamma is ``s^2``): how far the classifier Gram is from the
  depth-1 UFM form. ``s`` is searched (a grid, then a bounded refinement).

Both projections act on ``mean_i u_i u_i^T`` only (``mean ||u - P u||^2 = 1 - tr(P M)``
for a projection P), so one streamed pass over the rows gives everything: the count,
the mean and centred scatter of the features, and ``M`` (all d x d). No N x N matrix,
and no second copy of the features, is formed.

:func:`gram_distance` is the same normalized distance against any exact Gram (the
ncsolve answer at any depth: ``nrc3_exact`` of :mod:`ncsolve.measure.regression`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs.targets import CHUNK_ELEMENTS, sample_moments

__all__ = ["FeatureMoments", "feature_moments", "gram_distance", "nrc1", "nrc2", "nrc3"]

GRID = 2001  # grid points of s in NRC3 before the bounded refinement


@dataclass(frozen=True, eq=False)
class FeatureMoments:
    """What NRC1 and NRC2 need of the features.

    Attributes
    ----------
    count : int
    mean : ndarray (d,)
    scatter : ndarray (d, d)
        Centred second moments ``sum_i (h_i - mean)(h_i - mean)^T``.
    unit : ndarray (d, d)
        ``mean_i u_i u_i^T`` of the unit feature vectors (zero rows left out of the sum
        but counted: they are nowhere).
    """

    count: int
    mean: np.ndarray
    scatter: np.ndarray
    unit: np.ndarray


def feature_moments(features, chunk_elements: int = CHUNK_ELEMENTS) -> FeatureMoments:
    """Count, mean, centred scatter and unit-vector second moments of N x d features
    (rows are samples), in blocks of at most ``chunk_elements`` numbers."""
    features = np.asarray(features)
    moments = sample_moments(features, chunk_elements)  # validates: finite, N x d
    d = moments.dim
    unit = np.zeros((d, d))
    step = max(1, chunk_elements // d)
    for start in range(0, features.shape[0], step):
        block = np.asarray(features[start:start + step], dtype=np.float64).reshape(-1, d)
        norms = np.linalg.norm(block, axis=1)
        block = block[norms > 0] / norms[norms > 0, None]
        unit += block.T @ block
    unit /= moments.count
    return FeatureMoments(moments.count, moments.mean, moments.scatter, 0.5 * (unit + unit.T))


def _top_directions(scatter: np.ndarray, t: int) -> np.ndarray:
    values, vectors = np.linalg.eigh(0.5 * (scatter + scatter.T))
    return vectors[:, np.argsort(-values, kind="stable")[:t]]


def nrc1(moments: FeatureMoments, t: int) -> float:
    """NRC1: the unit features' mean squared distance to their top-t principal subspace."""
    basis = _top_directions(moments.scatter, min(int(t), moments.mean.size))
    return _outside(moments, basis)


def nrc2(moments: FeatureMoments, W: np.ndarray) -> float:
    """NRC2: the unit features' mean squared distance to the row space of ``W`` (t x d)."""
    W = np.asarray(W, dtype=float)
    u, s, _ = np.linalg.svd(W.T, full_matrices=False)
    keep = s > s.max(initial=0.0) * max(W.shape) * np.finfo(float).eps
    return _outside(moments, u[:, keep])


def _outside(moments: FeatureMoments, basis: np.ndarray) -> float:
    """``mean ||u - P u||^2 = mean ||u||^2 - tr(B^T M B)`` for P onto the columns of B."""
    inside = float(np.trace(basis.T @ moments.unit @ basis))
    return max(float(np.trace(moments.unit)) - inside, 0.0)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(matrix)
    return matrix / norm if norm > 0 else matrix


def gram_distance(gram: np.ndarray, reference: np.ndarray) -> float:
    """``|| G / ||G||_F - R / ||R||_F ||_F^2`` (0 for the same shape, at most 4)."""
    return float(np.sum((_unit(np.asarray(gram, float)) - _unit(np.asarray(reference, float)))
                        ** 2))


def nrc3(gram: np.ndarray, covariance: np.ndarray) -> tuple[float, float]:
    """NRC3 of a classifier Gram ``W W^T`` (t x t) against the target covariance.

    Returns
    -------
    value : float
        The smallest distance found over ``s`` in ``[0, lambda_min(Sigma^(1/2))]``.
    s : float
        Where (the paper's gamma is ``s^2``).
    """
    from scipy.optimize import minimize_scalar

    gram = np.asarray(gram, dtype=float)
    values, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
    roots = np.sqrt(np.maximum(values, 0.0))
    G = _unit(vectors.T @ gram @ vectors)  # in the covariance's eigenbasis: A is diagonal

    def distance(s):
        return float(np.sum((G - _unit(np.diag(roots - s))) ** 2))

    top = float(roots.min()) if roots.size else 0.0
    grid = np.linspace(0.0, top, GRID)
    scores = np.array([distance(s) for s in grid])
    i = int(np.argmin(scores))
    if top > 0:
        low, high = grid[max(i - 1, 0)], grid[min(i + 1, GRID - 1)]
        found = minimize_scalar(distance, bounds=(low, high), method="bounded",
                                options={"xatol": 1e-12 * max(top, 1.0)})
        if found.fun < scores[i]:
            return float(found.fun), float(found.x)
    return float(scores[i]), float(grid[i])
