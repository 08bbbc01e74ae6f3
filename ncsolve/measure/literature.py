"""The literature's neural-collapse metrics of one layer, from class statistics alone.

Every function takes the class means as rows (K x d), the class counts and, where
needed, the within-class scatter ``S_W = sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T``
(d x d, not divided by N).  ``mu_G`` is the sample-weighted global mean
``sum_k n_k mu_k / N``, as Papyan et al. (2020) and a streaming accumulator take it.
Formulas, references and which other code reports each: docs/measure.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import metrics

__all__ = ["Nc1Forms", "around_global_mean", "gnc2", "nc1_forms", "nc5", "pinv_cutoff",
           "unc3"]


def pinv_cutoff(width: int) -> float:
    """Relative cutoff on the eigenvalues of the d x d ``Sigma_B`` that ``numpy.linalg.pinv``
    (``rtol=None``) and ``torch.linalg.pinv`` apply by default: ``d eps``."""
    return width * np.finfo(np.float64).eps


@dataclass(frozen=True)
class Nc1Forms:
    """NC1 in the literature's three forms, and what the pseudo-inverse cut.

    Attributes
    ----------
    nc1 : float
        ``tr(Sigma_W Sigma_B^+) / K`` with the default pseudo-inverse cutoff, at least 0.
    nc1_svd : float
        The same with ``Sigma_B`` inverted on its top K - 1 eigenvectors, whatever
        their size (Han et al.'s form).
    nc1_quotient : float
        ``tr(Sigma_W) / tr(Sigma_B)`` (Tirer et al.'s form).
    dropped : int
        Directions of the centred class means that the cutoff left out although they
        stand above rounding (singular value above ``d eps`` of the largest).
    """

    nc1: float
    nc1_svd: float
    nc1_quotient: float
    dropped: int


def around_global_mean(means: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Class means (rows) minus the sample-weighted global mean."""
    weights = counts / counts.sum()
    return means - weights @ means


def nc1_forms(means: np.ndarray, scatter: np.ndarray, counts: np.ndarray,
              rms: float | None = None) -> Nc1Forms:
    """NC1, its top-(K-1) form and the trace quotient (see :class:`Nc1Forms`).

    ``Sigma_W = S_W / N`` and ``Sigma_B = (1/K) sum_k (mu_k - mu_G)(mu_k - mu_G)^T``.
    nan when the class means coincide: no between-class spread, or (given ``rms``, the
    root-mean-square sample length) a spread within the pseudo-inverse's cutoff of it.
    """
    K, N = counts.size, float(counts.sum())
    spread = around_global_mean(means, counts).T  # d x K
    U, s, _ = np.linalg.svd(spread, full_matrices=False)
    nan = float("nan")
    floor = 0.0 if rms is None else np.sqrt(pinv_cutoff(spread.shape[0])) * rms
    if not s.size or not np.isfinite(s[0]) or s[0] <= floor:
        return Nc1Forms(nan, nan, nan, 0)
    # u^T S_W u per direction; Sigma_B^+ = K U diag(1/s^2) U^T, so each direction adds
    # K (u^T S_W u / N) / s^2, and NC1 divides by K
    projected = np.einsum("ij,ij->j", U, scatter @ U) / N
    eigen = s**2
    keep = eigen > pinv_cutoff(spread.shape[0]) * eigen[0]
    resolved = int(np.count_nonzero(s > pinv_cutoff(spread.shape[0]) * s[0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = projected / eigen
    top = slice(0, max(K - 1, 1))
    value = max(float(np.sum(terms[keep])), 0.0)
    svd = max(float(np.sum(terms[top][s[top] > 0])), 0.0)
    quotient = max(float(np.trace(scatter)) / N, 0.0) / (float(np.sum(eigen)) / K)
    return Nc1Forms(value, svd, quotient, resolved - int(np.count_nonzero(keep)))


def _unit_rows(rows: np.ndarray) -> np.ndarray | None:
    lengths = np.linalg.norm(rows, axis=1)
    if np.any(lengths <= 0):
        return None
    return rows / lengths[:, None]


def gnc2(means: np.ndarray, counts: np.ndarray) -> float | None:
    """Hyperspherical energy of the normalized centred class means: the mean over pairs
    k != l of ``log(1 / ||u_k - u_l||)`` (Liu et al. 2023; Wu & Papyan 2024).

    Lower is more uniform; the simplex ETF attains the minimum,
    ``-log(sqrt(2K/(K-1)))``.  None for K < 2 or a centred mean of length 0."""
    K = counts.size
    units = _unit_rows(around_global_mean(means, counts))
    if K < 2 or units is None:
        return None
    cosines = np.clip(units @ units.T, -1.0, 1.0)
    distances = np.sqrt(np.maximum(2.0 - 2.0 * cosines[np.triu_indices(K, 1)], 0.0))
    if np.any(distances <= 0):
        return None
    return float(-np.mean(np.log(distances)))


def unc3(classifier: np.ndarray, means: np.ndarray, counts: np.ndarray) -> float | None:
    """Uniformity of duality: the coefficient of variation (std / mean) over classes of
    ``cos(w_k, mu_k - mu_G)``, classifier row against centred class mean (Wu & Papyan
    2024).  0 when every class is equally aligned with its classifier row."""
    rows = _unit_rows(classifier)
    units = _unit_rows(around_global_mean(means, counts))
    if rows is None or units is None:
        return None
    cosines = np.einsum("ij,ij->i", rows, units)
    mean = float(cosines.mean())
    return float(cosines.std() / mean) if mean != 0 else None


def nc5(means: np.ndarray, counts: np.ndarray, ood_mean: np.ndarray) -> float | None:
    """ID/OOD orthogonality (Ammar et al. 2024): the mean over classes of
    ``|cos(mu_k - mu_G, mu_ood - mu_G)|``, ``mu_ood`` the mean of the
    out-of-distribution features; 0 when they are orthogonal to every class mean."""
    centre = (counts / counts.sum()) @ means
    ood = np.asarray(ood_mean, dtype=float) - centre
    units = _unit_rows(means - centre)
    length = float(np.linalg.norm(ood))
    if units is None or length <= 0:
        return None
    return float(np.mean(np.abs(units @ (ood / length))))


def centred_equinorm(means: np.ndarray, counts: np.ndarray) -> float:
    """Coefficient of variation of ``||mu_k - mu_G||`` (Papyan et al.'s NC2 equinorm)."""
    return metrics.coefficient_of_variation(
        np.linalg.norm(around_global_mean(means, counts), axis=1))
