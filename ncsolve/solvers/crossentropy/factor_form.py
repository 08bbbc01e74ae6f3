"""The smooth factor form of the reduced cross-entropy problem (THEORY.md section 6).

X D^(1/2) = A_L ... A_1 with penalty (lbar/2) sum_j ||A_j||_F^2: its minimum over
factorizations of a fixed product is exactly the spectral penalty
c sum_i sigma_i(X D^(1/2))^q of :class:`~ncsolve.solvers.crossentropy.reduced.ReducedCE`,
and unlike that penalty it is smooth, so gradient methods run on this form.
Everything is evaluated on stacks of points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .reduced import ReducedCE

__all__ = ["FactorObjective"]

PROFILE_RTOL = 1e-8  # bias accuracy inside a profiled evaluation (relative gradient)
BIAS_UNIT = 3.0  # a free bias is a factor-form variable in units of this many logits


@dataclass
class FactorObjective:
    """Smooth over-parametrization X D^(1/2) = A_L ... A_1 of the reduced problem.

    Layout of the flat vector: A_1 (r x K), A_2 .. A_{L-1} (r x r), A_L (K x r),
    then b (K,) with a free bias.  The value is
    CE(X + b) + (lbar/2) sum_j ||A_j||_F^2, which equals F(X, b) at balanced
    factors and is never below it.

    Parameters
    ----------
    reduced : ReducedCE
        The problem.
    width : int
        Inner width r (caps the rank of X).
    """

    reduced: ReducedCE
    width: int
    profile: bool = False

    def __post_init__(self):
        K, r, L = self.reduced.K, self.width, self.reduced.L
        # profiled: the free bias is not a variable but optimized at every evaluation
        self.has_bias = self.reduced.bias and not self.profile
        self._warm = None  # biases of the last profiled call: the start of the next one
        self.shapes = [(r, K)] + [(r, r)] * (L - 2) + [(K, r)]
        sizes = [a * b for a, b in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.size = int(self.offsets[-1]) + (K if self.has_bias else 0)

    def split(self, theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Factors A_1..A_L and the bias (or None) of a flat vector or a stack (S, size).

        For a single vector the factors are views; for a stack they have shape
        (S, rows, cols).
        """
        lead = theta.shape[:-1]
        factors = [
            theta[..., self.offsets[i]: self.offsets[i + 1]].reshape(*lead, *shape)
            for i, shape in enumerate(self.shapes)
        ]
        b = theta[..., self.offsets[-1]:] * BIAS_UNIT if self.has_bias else None
        return factors, b

    def pack(self, factors, b: np.ndarray | None = None) -> np.ndarray:
        """Flat vector from factors (and bias, default zero)."""
        parts = [np.asarray(A, dtype=float).ravel() for A in factors]
        if self.has_bias:
            parts.append(np.zeros(self.reduced.K) if b is None
                         else np.asarray(b, float) / BIAS_UNIT)
        return np.concatenate(parts)

    def logits(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The logit matrix X (without bias) and the bias of a flat vector (or a stack)."""
        factors, b = self.split(theta)
        Y = factors[-1]
        for A in reversed(factors[:-1]):
            Y = Y @ A
        return Y / self.reduced.root_n, b

    def __call__(self, theta: np.ndarray):
        """Value and exact gradient (what scipy's ``minimize(jac=True)`` expects).

        ``theta`` may be one flat vector or a stack (S, size) of independent
        points; the stack is evaluated in one pass (values (S,), gradients (S, size)).
        """
        if theta.ndim == 1:
            value, grad = self(theta[None])
            return float(value[0]), grad[0]
        red = self.reduced
        factors, b = self.split(theta)
        prefix = [factors[0]]  # prefix[j] = A_{j+1} ... A_1
        for A in factors[1:]:
            prefix.append(A @ prefix[-1])
        X = prefix[-1] / red.root_n
        if self.profile and red.bias:  # variable projection: the gradient in b vanishes
            warm = self._warm if self._warm is not None and len(self._warm) == len(X) else None
            b = self._warm = red.best_bias(X, warm, PROFILE_RTOL)
        value, GX, gb = red.data_term(X, b)
        if not self.has_bias:
            gb = None
        upstream = GX / red.root_n  # gradient in A_L ... A_{j+1} times the rest
        grad = np.empty_like(theta)
        for j in range(len(factors) - 1, -1, -1):
            part = upstream if j == 0 else upstream @ np.swapaxes(prefix[j - 1], -1, -2)
            grad[:, self.offsets[j]: self.offsets[j + 1]] = part.reshape(theta.shape[0], -1)
            if j > 0:
                upstream = np.swapaxes(factors[j], -1, -2) @ upstream
        weights = theta[:, : self.offsets[-1]]
        grad[:, : self.offsets[-1]] += red.lbar * weights
        if gb is not None:
            grad[:, self.offsets[-1]:] = gb * BIAS_UNIT
        return value + 0.5 * red.lbar * np.einsum("ij,ij->i", weights, weights), grad

    def embed(self, theta: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A flat vector of a narrower factor form, zero-padded to this width, and its mask.

        The product of the padded factors is the narrower product, and entries
        outside the narrower blocks have zero gradient as long as they are zero
        and masked, so a masked run at this width is the narrower run.

        Returns
        -------
        theta : ndarray, shape (size,)
        mask : ndarray, shape (size,)
            1 on the narrower blocks (and the bias), 0 on the padding.
        """
        small = FactorObjective(self.reduced, width, self.profile)
        factors, b = small.split(theta)
        big = [np.zeros(shape) for shape in self.shapes]
        ones = [np.zeros(shape) for shape in self.shapes]
        for A, B, M in zip(factors, big, ones):
            B[: A.shape[0], : A.shape[1]] = A
            M[: A.shape[0], : A.shape[1]] = 1.0
        mask = np.concatenate([M.ravel() for M in ones] + ([np.ones(b.size)] if self.has_bias
                                                           else []))
        return self.pack(big, b), mask

    def balanced_point(self, X: np.ndarray, b: np.ndarray | None = None,
                       rng: np.random.Generator | None = None,
                       noise: float = 0.0) -> np.ndarray:
        """Balanced factors of X (truncated or zero-padded to the width), optionally perturbed.

        At the returned point (without noise) the factor value equals F(X, b)
        restricted to the ``width`` largest singular directions.
        """
        red, r, L = self.reduced, self.width, self.reduced.L
        U, s, Vt = np.linalg.svd(X * red.root_n[None, :])
        k = min(r, s.size)
        root = np.zeros(r)
        root[:k] = s[:k] ** (1.0 / L)
        Ur = np.zeros((red.K, r))
        Ur[:, :k] = U[:, :k]
        Vr = np.zeros((r, red.K))
        Vr[:k] = Vt[:k]
        factors = [root[:, None] * Vr] + [np.diag(root) for _ in range(L - 2)] + [Ur * root]
        if noise > 0 and rng is not None:
            scale = noise * max(float(root.max(initial=0.0)), 1e-3)
            factors = [A + scale * rng.standard_normal(A.shape) for A in factors]
        return self.pack(factors, b)

    def random_point(self, rng: np.random.Generator, singular: float) -> np.ndarray:
        """Random factors whose product has singular values of order ``singular``."""
        per = max(singular, 1e-12) ** (1.0 / self.reduced.L)
        factors = []
        for rows, cols in self.shapes:
            G = rng.standard_normal((rows, cols))
            factors.append(per * G / (math.sqrt(rows) + math.sqrt(cols)) * 2.0)
        return self.pack(factors, None)
