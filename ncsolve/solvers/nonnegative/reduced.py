"""The class-mean problem under H >= 0, and its bounded local minimization.

NC1 survives the constraint: for fixed weights and bias each feature column
solves its own strictly convex problem over the nonnegative orthant (a convex
loss of a linear map plus lambda_H/2 ||h||^2), and that problem depends only on
the label, so every sample of class k sits at the class mean hbar_k. The full
objective is then, exactly,

    (1/N) sum_k n_k loss(W hbar_k + b, k) + lambda_H/2 sum_k n_k ||hbar_k||^2
        + sum_j lambda_j/2 ||W_j||^2 [+ lambda_b/2 ||b||^2],   hbar_k >= 0,

with W = W_M ... W_1. The variable held here is G = Hbar D^(1/2) (column k is
sqrt(n_k) hbar_k, still >= 0), which makes the feature penalty lambda_H/2 ||G||^2,
as in the full model with one sample per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.objective import softmax_cross_entropy
from ...inputs.problem import Problem

__all__ = ["ClassMeanObjective", "Point", "minimize_bounded"]

FTOL = 1e-15  # L-BFGS-B: relative decrease below which a run stops
GTOL = 1e-11  # ... and projected-gradient size
MAX_ITER = 20_000


@dataclass(frozen=True)
class Point:
    """Class means and weights of one configuration.

    Attributes
    ----------
    means : ndarray, shape (d_1, K)
        Hbar, column k the class mean of class k (>= 0).
    weights : tuple of ndarray
        W_1 (d_2 x d_1) ... W_M (K x d_M).
    bias : ndarray of shape (K,) or None
    """

    means: np.ndarray
    weights: tuple[np.ndarray, ...]
    bias: np.ndarray | None

    def layer_features(self) -> list[np.ndarray]:
        """[Hbar, W_1 Hbar, ..., W_M ... W_1 Hbar]."""
        out = [self.means]
        for W in self.weights:
            out.append(W @ out[-1])
        return out

    def product(self) -> np.ndarray:
        """W_M ... W_1 (K x d_1)."""
        out = self.weights[0]
        for W in self.weights[1:]:
            out = W @ out
        return out


class ClassMeanObjective:
    """Value and gradient of the class-mean objective on a flat vector (G, W_1..W_M, b)."""

    def __init__(self, problem: Problem, widths: tuple[int, ...]):
        self.problem = problem
        self.widths = tuple(int(d) for d in widths)
        self.K, self.N, self.M = problem.K, problem.N, problem.depth
        self.n = np.asarray(problem.n, dtype=float)
        self.root_n = np.sqrt(self.n)
        self.has_bias = problem.bias != "none"
        self.lambda_b = problem.lambda_b or 0.0
        d = self.widths
        self.shapes = [(d[0], self.K)] + [(d[j + 1], d[j]) for j in range(self.M - 1)]
        self.shapes.append((self.K, d[-1]))
        if self.has_bias:
            self.shapes.append((self.K, 1))
        sizes = [r * c for r, c in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.size = int(self.offsets[-1])

    def split(self, x: np.ndarray) -> Point:
        """The configuration of a flat vector (class means, not G)."""
        blocks = [x[self.offsets[i]:self.offsets[i + 1]].reshape(s)
                  for i, s in enumerate(self.shapes)]
        bias = blocks.pop()[:, 0].copy() if self.has_bias else None
        return Point(blocks[0] / self.root_n, tuple(b.copy() for b in blocks[1:]), bias)

    def pack(self, point: Point) -> np.ndarray:
        """The flat vector of a configuration."""
        parts = [point.means * self.root_n, *point.weights]
        if self.has_bias:
            parts.append(np.zeros(self.K) if point.bias is None else point.bias)
        return np.concatenate([np.ravel(p) for p in parts]).astype(float)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds: G >= 0, everything else free."""
        free = self.size - self.offsets[1]
        return [(0.0, None)] * int(self.offsets[1]) + [(None, None)] * free

    def data_loss(self, outputs: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted loss of the class outputs (K x K) and its gradient."""
        if self.problem.loss == "ce":
            losses, grad = softmax_cross_entropy(outputs, np.arange(self.K))
        else:
            resid = outputs - np.eye(self.K)
            losses, grad = 0.5 * np.sum(resid**2, axis=0), resid
        weight = self.n / self.N
        return float(losses @ weight), grad * weight

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        p = self.split(x)
        feats = p.layer_features()
        outputs = feats[-1] + (0.0 if p.bias is None else p.bias[:, None])
        value, dF = self.data_loss(outputs)
        d_out = dF
        lam_h, lam_w = self.problem.lambda_h, self.problem.lambda_w
        G = p.means * self.root_n
        value += 0.5 * lam_h * float(np.vdot(G, G))
        grads = [None] * self.M
        for j in range(self.M - 1, -1, -1):
            W = p.weights[j]
            value += 0.5 * lam_w[j] * float(np.vdot(W, W))
            grads[j] = dF @ feats[j].T + lam_w[j] * W
            dF = W.T @ dF
        parts = [dF / self.root_n + lam_h * G, *grads]
        if self.has_bias:
            db = d_out.sum(axis=1) + self.lambda_b * p.bias
            value += 0.5 * self.lambda_b * float(p.bias @ p.bias)
            parts.append(db)
        return value, np.concatenate([np.ravel(g) for g in parts])

    def value(self, point: Point) -> float:
        """Objective of a configuration."""
        return self(self.pack(point))[0]


def minimize_bounded(objective: ClassMeanObjective, x0: np.ndarray):
    """One L-BFGS-B run from ``x0`` (projected onto G >= 0): (value, x, iterations)."""
    from scipy.optimize import minimize  # heavy: only for a searched answer

    start = np.array(x0, dtype=float)
    start[:objective.offsets[1]] = np.maximum(start[:objective.offsets[1]], 0.0)
    run = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=objective.bounds(),
                   options={"maxiter": MAX_ITER, "maxfun": 2 * MAX_ITER, "ftol": FTOL,
                            "gtol": GTOL, "maxcor": 30})
    return float(run.fun), run.x, int(run.nit)
