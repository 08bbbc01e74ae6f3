"""Neural-collapse measurements of a trained model and distances to theoretical targets.

Samples are ordered class by class (the layout of :mod:`ncsolve.core.objective`), so
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
    "LOSS_FLOOR",
    "RunGeometry",
    "class_means",
    "loss_scale",
    "nc1",
    "normalized_distance",
    "objective_gap",
    "relative_distance",
    "run_geometry",
    "spread_basis",
    "vector_norm",
]

LOSS_FLOOR = 1e-8  # losses below this fraction of loss_scale count as zero in relative terms


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
        cutoff would divide rounding noise by their square.  The spread as a whole
        counts as zero when its largest singular value is at most ``rtol`` times
        the root-mean-square norm of the samples.

    Returns
    -------
    float
        ``tr(Sigma_W Sigma_B^+) / K`` with ``Sigma_W`` the within-class covariance
        (average over all N samples) and ``Sigma_B`` the covariance of the K class
        means around the global mean (average over classes).  0 means exact
        collapse onto the class means.  nan (undefined) when the class means do
        not spread (one class, all class means equal, features that are zero) or
        when the features are not finite.
    """
    n = np.asarray(n, dtype=np.int64)
    means = class_means(features, n)
    with np.errstate(over="ignore", invalid="ignore"):
        spread = means - features.mean(axis=1, keepdims=True)
    if not np.all(np.isfinite(spread)):
        return float("nan")  # overflowed features (a diverging run)
    rms = vector_norm(features) / np.sqrt(max(features.shape[1], 1))
    basis = spread_basis(spread, rms, rtol)
    if basis is None:
        return float("nan")
    U, s = basis
    within = features - np.repeat(means, n, axis=1)
    # Sigma_B = spread spread^T / K, so Sigma_B^+ = K U diag(1/s^2) U^T on its range;
    # dividing before squaring keeps tiny (but resolved) spreads from underflowing.
    scaled = (U.T @ within) / s[:, None]
    return float(np.sum(scaled**2) / n.sum())


def spread_basis(spread: np.ndarray, rms: float, rtol: float = 1e-6):
    """Range of the between-class spread as ``(U, s)``, cut where NC1 cuts it; None when
    the class means do not spread (largest singular value at most ``rtol`` x ``rms``,
    the root-mean-square sample norm)."""
    U, s, _ = np.linalg.svd(spread, full_matrices=False)
    if not s.size or not np.isfinite(s[0]) or s[0] <= 0 or not s[0] > rtol * rms:
        return None
    keep = s > rtol * s[0]
    return U[:, keep], s[keep]


def vector_norm(values: np.ndarray) -> float:
    """Frobenius norm that does not overflow for entries near the float64 limit.

    ``np.linalg.norm`` squares the entries and gives inf (with a warning) above
    about 1e154; here they are scaled by the largest first.  inf or nan entries
    give inf or nan, silently.
    """
    values = np.asarray(values, dtype=float).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        plain = float(np.linalg.norm(values))
        if np.isfinite(plain) or not values.size:
            return plain
        largest = float(np.max(np.abs(values)))
    if not np.isfinite(largest):
        return largest
    return largest * float(np.linalg.norm(values / largest))


def _unit(matrix: np.ndarray) -> np.ndarray:
    norm = vector_norm(matrix)
    return matrix / norm if 0 < norm < np.inf else matrix


def normalized_distance(measured: np.ndarray, target: np.ndarray) -> float:
    """``|| A/||A||_F - B/||B||_F ||_F``: distance in shape, ignoring scale (0..2).

    A zero matrix is left at zero, so a zero measurement against a nonzero target
    gives 1.
    """
    return float(np.linalg.norm(_unit(np.asarray(measured)) - _unit(np.asarray(target))))


def relative_distance(measured: np.ndarray, target: np.ndarray) -> float:
    """``||A - B||_F / ||B||_F`` (the absolute distance ``||A||_F`` when B is zero)."""
    scale = vector_norm(target)
    with np.errstate(over="ignore", invalid="ignore"):
        gap = vector_norm(np.asarray(measured) - np.asarray(target))
        return float(gap / scale if scale > 0 else gap)


def loss_scale(objective: FullObjective) -> float:
    """The problem's own unit of objective: its value with every parameter zero.

    That is ``||Y||^2 / (2N) = 1/2`` for the squared loss (bias zero too) and
    ``log K`` for cross-entropy; 1 when it is zero (cross-entropy with one class).
    Every candidate's objective is at most this value, so it is the natural yardstick
    when the theory's objective itself is zero or tiny.
    """
    value = float(objective.value(np.zeros(objective.size)))
    return value if np.isfinite(value) and value > 0 else 1.0


def objective_gap(loss: float, theory_loss: float, scale: float = 1.0) -> float:
    """Relative gap ``(loss - theory_loss) / max(|theory_loss|, LOSS_FLOOR * scale)``.

    Always a ratio: relative to the theory's objective, except that an objective
    below ``LOSS_FLOOR`` (1e-8) of ``scale`` (normally :func:`loss_scale`) is
    replaced by that floor, so a theoretical minimum of 0 gives a finite gap
    measured on the problem's scale instead of a division by zero.  Negative
    values beyond rounding would refute the theory.
    """
    denominator = max(abs(float(theory_loss)), LOSS_FLOOR * float(scale))
    with np.errstate(over="ignore", invalid="ignore"):
        return float((np.float64(loss) - theory_loss) / denominator)


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


def run_geometry(objective: FullObjective, x: np.ndarray, with_nc1: bool = True) -> RunGeometry:
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


# ---- metrics of class statistics (ncsolve.measure) ------------------------------------

PAIR_BLOCK = 1024  # rows of the K x K pairwise distances held at once


def cdnv(means: np.ndarray, variances: np.ndarray) -> float:
    """Class-distance-normalized variance, averaged over pairs of classes.

    ``(Var_k + Var_l) / (2 ||mu_k - mu_l||^2)`` for every pair k < l (Galanti,
    Gyorgy & Hutter 2022), with ``Var_k`` the mean squared distance of class k's
    samples to their mean.  Pairs of coinciding means (both collapsed to the same
    point) have no finite value and are left out; nan when no pair remains.

    Parameters
    ----------
    means : ndarray, shape (K, d)
        Class means, one row per class.
    variances : ndarray, shape (K,)
        ``Var_k``.

    Memory O(block K): the K x K distances are formed ``PAIR_BLOCK`` rows at a time.
    """
    K = means.shape[0]
    squares = np.einsum("ij,ij->i", means, means)
    total, pairs = 0.0, 0
    scale = max(float(squares.max(initial=0.0)), np.finfo(float).tiny)
    for lo in range(0, K, PAIR_BLOCK):
        hi = min(lo + PAIR_BLOCK, K)
        dist = squares[lo:hi, None] + squares[None, :] - 2.0 * (means[lo:hi] @ means.T)
        upper = np.arange(lo, hi)[:, None] < np.arange(K)[None, :]
        ok = upper & (dist > 1e-14 * scale)
        ratio = (variances[lo:hi, None] + variances[None, :]) / (2.0 * np.where(ok, dist, 1.0))
        total += float(ratio[ok].sum())
        pairs += int(ok.sum())
    return total / pairs if pairs else float("nan")


def coefficient_of_variation(values: np.ndarray) -> float:
    """``std / mean`` (population std) of lengths: the equinorm measure; 0 is equal norms."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if values.size else 0.0
    return float(values.std() / mean) if mean > 0 else float("nan")


def self_duality(classifier: np.ndarray, means: np.ndarray) -> float:
    """``|| C^T / ||C||_F - M / ||M||_F ||_F`` for a classifier C (K x d) and class means M
    (d x K): 0 when the classifier rows point along the class means (NC3, 0..2)."""
    return normalized_distance(np.asarray(classifier).T, means)


def self_duality_from_grams(trace_outputs: float, classifier_sq: float,
                            means_sq: float) -> float:
    """:func:`self_duality` from ``tr(C M)``, ``||C||_F^2`` and ``||M||_F^2`` alone."""
    if classifier_sq <= 0 or means_sq <= 0:
        return float("nan")
    cosine = trace_outputs / np.sqrt(classifier_sq * means_sq)
    return float(np.sqrt(max(2.0 - 2.0 * cosine, 0.0)))


def nearest_centre(rows: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Index of the nearest class mean (Euclidean) for every row of ``rows`` (B x d)."""
    squares = np.einsum("ij,ij->i", means, means)
    return np.argmin(squares[None, :] - 2.0 * (rows @ means.T), axis=1)
