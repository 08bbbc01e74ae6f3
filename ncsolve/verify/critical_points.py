"""The MSE theory's critical points: their matrices, a run's directions, and a start on one.

Every critical point of interest has the target's singular directions and, in each
direction i, a product singular value 0 or ``z_local_i`` (docs/theory.md, sections
2-5). :class:`TheoryTarget` gives its Grams in class order, :func:`run_directions`
reads a run's value in each direction (rotating the theory's basis inside groups of
equal target singular values to the run's own), and :func:`critical_point` gives the
parameters of such a point, to start descent at or next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.balance import factor_values, layer_values
from ..core.metrics import (
    RunGeometry,
    class_means,
    normalized_distance,
    relative_distance,
    vector_norm,
)
from ..core.objective import FullObjective
from ..inputs.problem import Problem


def _target_gram(problem: Problem) -> np.ndarray:
    n = problem.n.astype(float)
    G = np.diag(n)
    if problem.bias == "free":
        G -= np.outer(n, n) / problem.N
    return G


@dataclass(frozen=True, eq=False)
class TheoryTarget:
    """Grams of one critical point of the theory, in class order (docs/theory.md, section 5).

    Built from directions ``A`` (columns), target singular values ``sigma`` and
    product singular values ``z``; every Gram is invariant to the internal
    rotations of the factors, so it can be compared with any run.
    """

    feature_grams: list
    classifier_grams: list
    outputs: np.ndarray
    z: np.ndarray
    loss: float

    @classmethod
    def build(cls, problem: Problem, A: np.ndarray, sigma: np.ndarray, z: np.ndarray,
              gram: np.ndarray | None = None):
        """The critical point with product singular values ``z`` in directions ``A``.

        ``gram`` replaces the target Gram ``G`` of the problem (used by :meth:`unit`).
        """
        z = np.maximum(np.asarray(z, dtype=float), 0.0)
        sigma = np.asarray(sigma, dtype=float)
        live = sigma > 0
        G = _target_gram(problem) if gram is None else gram
        # C^T = diag(1/sigma) A^T G D^{-1}: class-space coordinates of the features
        Ct = (A[:, live].T @ G) / problem.n / sigma[live, None]
        features, classifiers = [], []
        values = layer_values(problem, z)  # of the layer-j features, column j
        rest = layer_values(problem, z, classifier=True)  # of W_M ... W_{j+1}
        for s, r in zip(values.T[:problem.depth], rest.T):
            # decays many orders apart put a Gram outside float64: it becomes inf
            # or 0, and no run can match it (its distances are nan)
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                features.append(Ct.T @ (s[live, None] ** 2 * Ct))
                classifiers.append(A @ (r[:, None] ** 2 * A.T))
        outputs = A[:, live] @ (z[live, None] * Ct)
        loss = float(np.sum((z - sigma) ** 2) / (2 * problem.N) + problem.c * np.sum(z**problem.q))
        return cls(features, classifiers, outputs, z, loss)

    @classmethod
    def unit(cls, problem: Problem) -> TheoryTarget:
        """The natural size of every matrix of ``problem``: a model that outputs the labels.

        The balanced point without bias whose product is exactly ``Y`` (one direction
        per class, ``z_k = sigma_k = sqrt(n_k)``).  Its matrices are never zero, so
        they give a scale even when every critical point is the origin (for example
        one class with a free bias).
        """
        root = np.sqrt(problem.n.astype(float))
        return cls.build(problem, np.eye(problem.K), root, root, gram=np.diag(root**2))

    def matrices(self) -> dict:
        """The matrices by kind: per-layer lists for "features" and "classifier", "outputs"."""
        return {"features": self.feature_grams, "classifier": self.classifier_grams,
                "outputs": [self.outputs]}

    def distances(self, run: RunGeometry, normalized: bool = True, scales=()) -> dict:
        """Per-layer distances of a run's geometry to these targets.

        Normalized (shape) or relative Frobenius distances.  Where a target matrix
        is zero (every direction collapsed) neither is defined; the distance is then
        the run's norm divided by the norm of the same matrix of the first of
        ``scales`` where it is nonzero (normally the global minimizer, then
        :meth:`unit`), so that a run at the origin is measured on the scale of the
        problem and a run at rounding size counts as a match.
        """
        dist = normalized_distance if normalized else relative_distance
        runs = {"features": run.feature_grams, "classifier": run.classifier_grams,
                "outputs": [run.outputs]}
        fallbacks = [t.matrices() for t in scales]
        out = {}
        for kind, targets in self.matrices().items():
            out[kind] = []
            for j, (measured, target) in enumerate(zip(runs[kind], targets)):
                if np.any(target):
                    out[kind].append(dist(measured, target))
                else:
                    out[kind].append(_against_scale(measured, [f[kind][j] for f in fallbacks]))
        return out


def _against_scale(measured: np.ndarray, references: list) -> float:
    """``||measured|| / ||reference||`` for the first nonzero, finite reference.

    Without one, 0 for a zero run and 1 otherwise.
    """
    size = vector_norm(measured)
    for reference in references:
        norm = vector_norm(reference)
        if 0 < norm < np.inf:
            return size / norm
    return float(size > 0)


def _groups(sigma: np.ndarray, rtol: float = 1e-9) -> list[np.ndarray]:
    """Runs of (numerically) equal target singular values, in direction order."""
    scale = max(float(np.max(sigma, initial=0.0)), 1e-300)
    groups, start = [], 0
    for i in range(1, len(sigma) + 1):
        if i == len(sigma) or abs(sigma[i] - sigma[start]) > rtol * scale:
            groups.append(np.arange(start, i))
            start = i
    return groups


def run_directions(problem, Z: np.ndarray, A: np.ndarray, sigma: np.ndarray):
    """The run's value in each direction, and the theory basis rotated to the run's.

    For a critical point ``Z = A diag(z) V^T`` of the theory, ``A^T Z Yt^T A =
    diag(z sigma)``; inside a group of equal sigma the symmetric part of that block
    is diagonalized, which picks the basis the run actually uses.
    """
    n = problem.n
    target = class_means(Z, n) * n  # Z Y^T
    if problem.bias == "free":
        target -= np.outer(Z.sum(axis=1), n) / problem.N  # Z (I - 11^T/N) Y^T
    S = A.T @ target @ A
    z_run, rotated = np.zeros(len(sigma)), A.copy()
    for g in _groups(sigma):
        if sigma[g[0]] > 0:
            block = 0.5 * (S[np.ix_(g, g)] + S[np.ix_(g, g)].T) / sigma[g[0]]
        else:
            B = A[:, g].T @ Z
            block = B @ B.T
        values, vectors = np.linalg.eigh(block)
        order = np.argsort(-values, kind="stable")
        values, vectors = values[order], vectors[:, order]
        z_run[g] = values if sigma[g[0]] > 0 else np.sqrt(np.maximum(values, 0.0))
        rotated[:, g] = A[:, g] @ vectors
    S_rot = rotated.T @ target @ rotated
    off = S_rot - np.diag(np.diag(S_rot))
    misalignment = float(np.linalg.norm(off) / max(np.linalg.norm(S_rot), 1e-300))
    return z_run, rotated, misalignment

def critical_point(solution, objective: FullObjective, z=None) -> np.ndarray:
    """Parameters at a critical point of the theory, in the layout of ``objective``.

    The point has product ``W_M ... W_1 H = A diag(z) V^T`` (``V`` the right singular
    vectors of the target), balanced factors (docs/theory.md, section 2), every sample
    on its class mean, and the optimal bias ``n / N`` when the bias is free.  Useful
    to start descent at, or next to, a chosen critical point.

    Parameters
    ----------
    solution : Solution
        The theory for ``objective.problem``.
    objective : FullObjective
        Gives the widths; the number of nonzero directions must fit in every width.
    z : array of shape (K,), optional
        Product singular value per direction, each 0 or ``z_local``; default the
        global minimizer's ``solution.z``.

    Returns
    -------
    ndarray
        Flat parameter vector.
    """
    problem = objective.problem
    z = np.asarray(solution.z if z is None else z, dtype=float)
    active = np.flatnonzero(z > 0)
    r = active.size
    if r > min(objective.widths):
        raise ValueError(f"{r} nonzero directions do not fit in widths {objective.widths}")
    A = np.asarray(solution.directions(), dtype=float)[:, active]
    sigma = np.asarray(solution.sigma, dtype=float)[active]
    factors = factor_values(problem, z[active]).T  # row j: singular values of factor j
    # V^T = diag(1/sigma) A^T Yt, with Yt = Y or Y (I - 11^T/N): constant on each class
    per_class = A.T / sigma[:, None]
    if problem.bias == "free":
        per_class = per_class - (A.T @ problem.n)[:, None] / problem.N / sigma[:, None]
    Vt = np.repeat(per_class, problem.n, axis=1)
    H = np.zeros((objective.widths[0], problem.N))
    H[:r] = factors[0][:, None] * Vt
    bias = problem.n / problem.N if problem.bias == "free" else None
    return objective.pack(H, _weights(objective, factors[1:], A), bias)


def _weights(objective: FullObjective, factors: np.ndarray, A: np.ndarray) -> list:
    """W_1 .. W_M with singular values ``factors[j]`` on the first r coordinates.

    Diagonal blocks, except the last layer, which maps those coordinates onto the
    directions ``A`` (r columns).
    """
    r = A.shape[1]
    depth = objective.problem.depth
    weights = []
    for j, shape in enumerate(objective.shapes[1: depth + 1]):
        W = np.zeros(shape)
        block = np.diag(factors[j])
        if j == depth - 1:
            W[:, :r] = A @ block
        else:
            W[:r, :r] = block
        weights.append(W)
    return weights
