"""A searched answer's class-space matrices, and a run compared with them up to relabeling.

A cross-entropy answer (or a regularized bias of either loss) is a logit matrix;
:class:`CETarget` reads its Grams at every layer off by factor balancing.  Minimizers
such as the square of K = 4 are not unique under permutations of classes of equal
size, so :func:`align` compares a run with the answer after the relabeling
(:func:`class_permutations`) that fits best, or by spectra when there are too many.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..core.balance import factor_values
from ..core.metrics import RunGeometry, normalized_distance, relative_distance

PERMUTATION_LIMIT = 40320  # class relabelings tried exhaustively (8!); beyond it: spectra


@dataclass(frozen=True, eq=False)
class CETarget:
    """Class-space matrices of a cross-entropy answer at every layer.

    Read off from the logit matrix X by factor balancing (docs/crossentropy.md,
    section 1).  With ``X D^(1/2) = U diag(s) V^T``, the features after layer j have
    class-mean Gram ``D^(-1/2) V diag(t_j^2) V^T D^(-1/2)`` with ``t_j`` the singular
    values of H times those of ``W_1 .. W_j``; the classifier ``W_M ... W_{j+1}`` has
    Gram ``U diag(r_j^2) U^T`` with ``r_j`` the product of the singular values of
    ``W_{j+1} .. W_M``; the outputs (no bias) are X.
    """

    feature_grams: list
    classifier_grams: list
    outputs: np.ndarray
    singular_values: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def from_solution(cls, solution) -> CETarget:
        """The matrices of an answer, read off from its outputs ``gram_outputs()`` (any
        answer: cross-entropy, or a regularized bias of either loss)."""
        p = solution.problem
        r = int(solution.rank)
        logits = np.asarray(solution.gram_outputs(), dtype=float)
        root_n = np.sqrt(np.asarray(p.n, dtype=float))
        U, s, Vt = np.linalg.svd(logits * root_n[None, :])
        U, s, Vs = U[:, :r], s[:r], Vt[:r].T / root_n[:, None]
        factors = factor_values(p, s)  # H, W_1, ..., W_M: each within float64
        t = np.cumprod(factors, axis=1)  # of the layer-j features
        weights = np.ascontiguousarray(factors[:, 1:].T)
        features, classifiers = [], []
        for j in range(p.depth):
            rest = np.prod(weights[j:], axis=0)  # of W_M ... W_{j+1}
            features.append((Vs * t[:, j] ** 2) @ Vs.T)
            classifiers.append((U * rest**2) @ U.T)
        return cls(features, classifiers, np.array(logits, dtype=float), s)

    @property
    def is_zero(self) -> bool:
        """True for the origin (every matrix zero)."""
        return not np.any(self.outputs) and not np.any(self.feature_grams[0])


def class_permutations(n, limit: int = PERMUTATION_LIMIT) -> np.ndarray | None:
    """Relabelings of the classes that keep every class size, identity first.

    Parameters
    ----------
    n : sequence of int
        Class sizes.
    limit : int
        Largest number of relabelings to enumerate.

    Returns
    -------
    ndarray of shape (P, K) or None
        Row ``perm``: run class k is compared with theory class ``perm[k]``.
        None when there are more than ``limit``.
    """
    n = np.asarray(n)
    groups = [np.flatnonzero(n == size) for size in np.unique(n)]
    if math.prod(math.factorial(len(g)) for g in groups) > limit:
        return None
    rows = []
    for images in itertools.product(*(itertools.permutations(g) for g in groups)):
        perm = np.empty(n.size, dtype=int)
        for g, image in zip(groups, images):
            perm[g] = image
        rows.append(perm)
    return np.array(rows)


def _matrix_pairs(run: RunGeometry, target: CETarget) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(kind, run matrix, theory matrix) for every layer's Grams and the outputs."""
    pairs = [("features", a, b) for a, b in zip(run.feature_grams, target.feature_grams)]
    pairs += [("classifier", a, b) for a, b in zip(run.classifier_grams, target.classifier_grams)]
    pairs.append(("outputs", run.outputs, target.outputs))
    return pairs


def _unit(matrix: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(matrix)
    return matrix / norm if norm > 0 else matrix


def _best_permutation(pairs, perms: np.ndarray) -> np.ndarray:
    """The relabeling with the smallest sum of squared normalized distances over all pairs."""
    total = np.zeros(len(perms))
    rows, cols = perms[:, :, None], perms[:, None, :]
    for _, run, theory in pairs:
        moved = _unit(theory)[rows, cols]
        total += np.sum((_unit(run)[None] - moved) ** 2, axis=(1, 2))
    return perms[int(np.argmin(total))]


def _spectrum(matrix: np.ndarray, kind: str) -> np.ndarray:
    if kind == "outputs":
        return np.linalg.svd(matrix, compute_uv=False)
    return np.sort(np.linalg.eigvalsh(0.5 * (matrix + matrix.T)))[::-1]


def _spectral_distance(run: np.ndarray, theory: np.ndarray, kind: str, normalized: bool) -> float:
    if normalized:
        return float(np.linalg.norm(_spectrum(_unit(run), kind) - _spectrum(_unit(theory), kind)))
    scale = np.linalg.norm(theory)
    gap = np.linalg.norm(_spectrum(run, kind) - _spectrum(theory, kind))
    return float(gap / scale if scale > 0 else gap)


@dataclass(frozen=True)
class Alignment:
    """Distances of a run's class-space matrices to a cross-entropy answer.

    Attributes
    ----------
    method : {"permutation", "spectrum", "none", "diverged"}
        "permutation": Frobenius distances after the relabeling of equal-size classes
        that fits best (one relabeling for all matrices); "spectrum": distances
        between sorted spectra (too many relabelings to try); "none": the answer is
        the origin, and the numbers are the run's own norms.
    permutation : list of int or None
        Run class k was compared with theory class ``permutation[k]``.
    normalized, relative : dict
        Per-layer lists for "features", "classifier", "outputs": normalized (shape)
        and relative (scale included) distances.
    """

    method: str
    permutation: list | None
    normalized: dict
    relative: dict

    @property
    def comparable(self) -> bool:
        return self.method not in ("none", "diverged")


def align(run: RunGeometry, target: CETarget, perms: np.ndarray | None) -> Alignment:
    """Compare a run with a cross-entropy answer up to relabeling equal-size classes.

    Parameters
    ----------
    run : RunGeometry
        From :func:`ncsolve.core.metrics.run_geometry`.
    target : CETarget
    perms : ndarray or None
        From :func:`class_permutations`; None selects the spectral comparison.
    """
    pairs = _matrix_pairs(run, target)
    normalized = {"features": [], "classifier": [], "outputs": []}
    relative = {"features": [], "classifier": [], "outputs": []}
    if target.is_zero:
        for kind, a, _ in pairs:
            normalized[kind].append(float(np.linalg.norm(a)))
            relative[kind].append(float(np.linalg.norm(a)))
        return Alignment("none", None, normalized, relative)
    if perms is None:
        for kind, a, b in pairs:
            normalized[kind].append(_spectral_distance(a, b, kind, True))
            relative[kind].append(_spectral_distance(a, b, kind, False))
        return Alignment("spectrum", None, normalized, relative)
    perm = _best_permutation(pairs, perms)
    for kind, a, b in pairs:
        moved = b[np.ix_(perm, perm)]
        normalized[kind].append(normalized_distance(a, moved))
        relative[kind].append(relative_distance(a, moved))
    return Alignment("permutation", [int(k) for k in perm], normalized, relative)


def comparison_text(method: str, perms) -> str:
    """How the Grams were compared, for the report: ``method`` of :class:`Alignment`."""
    if method == "permutation":
        return (f"Frobenius distances after the best of {len(perms)} relabeling(s) of classes "
                "of equal size (one relabeling for all matrices)")
    if method == "spectrum":
        return "distances between sorted spectra (too many class relabelings to try)"
    if method == "diverged":
        return "none: the run diverged"
    return "none: the answer is the origin; errors are the run's own Frobenius norms"
