"""The reduced cross-entropy problem over class logits (THEORY.md section 6).

After neural collapse of the features (NC1) and factor balancing, the full deep
linear UFM with softmax cross-entropy becomes a problem over the K x K logit
matrix X, whose column k is the logit vector shared by every sample of class k:

    F(X, b) = sum_k w_k CE(X e_k + b, k) + c sum_i sigma_i(X D^(1/2))^q

with w_k = n_k / N, D = diag(n), c = (L/2) lbar, q = 2/L and b the free bias
(b = 0 for the bias-free model).  Nothing here depends on N beyond the weights
w_k and D, nor on the layer widths beyond the rank cap.

Two evaluations are provided:

* :meth:`ReducedCE.value` -- the exact objective (penalty from an SVD);
* :class:`FactorObjective` -- the smooth over-parametrization
  X D^(1/2) = A_L ... A_1 with penalty (lbar/2) sum_j ||A_j||_F^2, whose minimum
  over factorizations of a fixed product is exactly the spectral penalty above.
  Gradient methods run on this form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..objective import softmax_cross_entropy
from ..problem import Problem

__all__ = ["RANK_RTOL", "FactorObjective", "ReducedCE"]

RANK_RTOL = 1e-12  # singular values below this times the largest are treated as zero
BIAS_GTOL = 4 * np.finfo(float).eps  # bias gradient at rounding level: this x K x term size
MAX_BIAS_STEP = 16.0  # longest first Newton step for the bias (logit units); doubles on runs


class ReducedCE:
    """The reduced objective F(X, b) of one problem.

    Parameters
    ----------
    problem : Problem
        A problem with ``loss == "ce"`` (the loss field is not checked here).

    Attributes
    ----------
    K : int
        Number of classes.
    w : ndarray, shape (K,)
        Class weights n_k / N.
    root_n : ndarray, shape (K,)
        sqrt(n_k), the column scaling D^(1/2).
    c, q, L, lbar : float, float, int, float
        Penalty constants (THEORY.md section 1 shorthand).
    rank_cap : int
        Largest admissible rank of X, min(K, widths).
    bias : bool
        True for a free (unregularized) bias.
    """

    def __init__(self, problem: Problem):
        n = np.asarray(problem.n, dtype=float)
        self.problem = problem
        self.K = problem.K
        self.w = n / n.sum()
        self.root_n = np.sqrt(n)
        self.c, self.q, self.L, self.lbar = problem.c, problem.q, problem.L, problem.lbar
        self.rank_cap = problem.rank_cap
        self.bias = problem.bias == "free"
        self._diag = np.arange(self.K)

    # ---- the data term ------------------------------------------------------------------

    def ce_terms(self, X: np.ndarray,
                 b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-class cross-entropy and its unweighted gradient, computed without cancellation.

        Parameters
        ----------
        X : ndarray, shape (K, K)
            Column k is the logit vector of class k (bias not included).
        b : ndarray, shape (K,), optional
            Bias added to every column.

        Returns
        -------
        losses : ndarray, shape (K,)
            CE(X e_k + b, k) = log(1 + sum_{j != k} exp(z_j - z_k)), accurate also
            when it is far below the rounding unit (large margins).
        G : ndarray, shape (K, K)
            Column k: softmax of class k's logits minus e_k; its own entry is
            -sum_{j != k} p_j, so it keeps full relative precision too.
        """
        Z = X if b is None else X + b[:, None]
        return softmax_cross_entropy(Z, self._diag)

    def ce(self, X: np.ndarray, b: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Weighted cross-entropy of the class logits and its gradient in the logits.

        Returns
        -------
        value : float
            sum_k w_k CE(X e_k + b, k).
        grad : ndarray, shape (K, K)
            Gradient with respect to X (its row sums give the gradient in b).
        """
        losses, G = self.ce_terms(X, b)
        G *= self.w[None, :]
        return float(self.w @ losses), G

    def class_losses(self, X: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """Cross-entropy CE(X e_k + b, k) of every class, shape (K,)."""
        return self.ce_terms(X, b)[0]

    def _bias_model(self, X: np.ndarray,
                    b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """CE value, gradient, (regularized) Hessian in the bias, and the gradient's scale.

        The scale, the largest |w_k (p_jk - delta_jk)|, is the size of the terms
        summed into the gradient: a gradient below a few ulps of it is rounding.

        The Hessian of one column is diag(p) - p p^T.  Its diagonal
        p_i (1 - p_i) is formed as p_i times the sum of the other probabilities
        for the largest p_i, so no entry is a difference of numbers close to 1
        (saturated softmax, large margins).  The all-ones direction, along which
        CE is constant, gets the Hessian's own scale, so the Newton system is
        well conditioned at any magnitude.
        """
        Z = X + b[:, None]
        losses, G = self.ce_terms(X, b)
        grad = G @ self.w
        P = np.exp(Z - Z.max(axis=0))
        P /= P.sum(axis=0)
        hess = -(P * self.w[None, :]) @ P.T
        np.fill_diagonal(hess, (P * _complement(P)) @ self.w)
        scale = max(float(np.trace(hess)) / self.K, np.finfo(float).tiny)
        hess += scale * (np.full((self.K, self.K), 1.0 / self.K) + 1e-14 * np.eye(self.K))
        return float(self.w @ losses), grad, hess, float(np.max(np.abs(G))) * float(self.w.max())

    def best_bias(self, X: np.ndarray, b0: np.ndarray | None = None) -> np.ndarray:
        """The optimal free bias for fixed logits X (mean-zero representative).

        The data term is convex in b and invariant along the all-ones vector;
        Newton's method with backtracking on the complement converges in a few
        steps.  It stops when the gradient is at rounding level relative to
        the terms it sums, so tiny losses (large margins) are handled like
        ordinary ones, and the optimality condition sum_k w_k (p_k - e_k) = 0,
        which the depth-1 dual certificate relies on, holds to rounding.

        Returns
        -------
        ndarray, shape (K,)
        """
        b = np.zeros(self.K) if b0 is None else np.array(b0, dtype=float)
        model = self._bias_model(X, b)
        limit = MAX_BIAS_STEP
        for _ in range(60):
            value, grad, hess, size = model
            if not np.max(np.abs(grad)) > BIAS_GTOL * self.K * size:  # rounding level (or nan)
                break
            step, capped = _newton_step(hess, grad, limit)
            limit = 2.0 * limit if capped else MAX_BIAS_STEP  # trust grows on long runs
            decrement = float(grad @ step)
            trial = self._bias_step(X, b, step, value, decrement) if decrement > 0 else None
            if trial is None:
                break
            new = self._bias_model(X, trial)
            if decrement < 1e-13 * value and np.max(np.abs(new[1])) >= np.max(np.abs(grad)):
                break  # only rounding left: the gradient no longer shrinks
            b, model = trial, new
        return b - b.mean()

    def _bias_step(self, X, b, step, value, decrement) -> np.ndarray | None:
        """Backtracking (Armijo) along the Newton step; None when no step decreases CE."""
        t = 1.0
        while t > 1e-6:
            trial = b - t * step
            trial_value = self.ce(X, trial)[0]
            if trial_value <= value - 0.25 * t * decrement or decrement < 1e-13 * value:
                return trial
            t *= 0.5
        return None

    # ---- the penalty --------------------------------------------------------------------

    def singular_values(self, X: np.ndarray) -> np.ndarray:
        """Singular values of X D^(1/2), descending."""
        return np.linalg.svd(X * self.root_n[None, :], compute_uv=False)

    def penalty(self, X: np.ndarray) -> float:
        """c * sum_i sigma_i(X D^(1/2))^q.

        Singular values below ``RANK_RTOL`` times the largest are rounding noise
        of the SVD and count as zero (with q < 1 their q-th power would not be
        negligible).
        """
        s = self.singular_values(X)
        s = s[s > RANK_RTOL * s[0]] if s.size and s[0] > 0 else s[:0]
        return self.c * float(np.sum(s ** self.q))

    def rank(self, X: np.ndarray) -> int:
        """Numerical rank of X D^(1/2) (relative tolerance ``RANK_RTOL``)."""
        s = self.singular_values(X)
        return int(np.sum(s > RANK_RTOL * s[0])) if s.size and s[0] > 0 else 0

    # ---- the whole objective ------------------------------------------------------------

    def value(self, X: np.ndarray, b: np.ndarray | None = None) -> float:
        """Exact reduced objective; with a free bias and ``b=None`` the bias is optimized."""
        if self.bias and b is None:
            b = self.best_bias(X)
        if not self.bias:
            b = None
        return self.ce(X, b)[0] + self.penalty(X)

    def origin_value(self) -> float:
        """Objective at X = 0: log K bias-free, the entropy of the class prior with a bias."""
        if not self.bias:
            return math.log(self.K)
        return float(-np.sum(self.w * np.log(self.w)))

    def origin_gradient_norm(self) -> float:
        """Spectral norm of the gradient of the data term in Y = X D^(1/2) at X = 0.

        With a free bias the bias is at its optimum (the log class prior), where
        the data term is flat in b.
        """
        b = np.log(self.w) - np.mean(np.log(self.w)) if self.bias else None
        _, grad = self.ce(np.zeros((self.K, self.K)), b)
        return float(np.linalg.norm(grad / self.root_n[None, :], 2))


def _complement(P: np.ndarray) -> np.ndarray:
    """1 - P for a column-stochastic P, exact also where an entry is close to 1.

    For the largest entry of each column, 1 - p is the sum of the other entries.
    """
    out = 1.0 - P
    cols = np.arange(P.shape[1])
    top = P.argmax(axis=0)
    rest = P.copy()
    rest[top, cols] = 0.0
    out[top, cols] = rest.sum(axis=0)
    return out


def _newton_step(hess: np.ndarray, grad: np.ndarray, limit: float) -> tuple[np.ndarray, bool]:
    """Newton direction for the bias, at most ``limit`` long in every entry.

    A saturated softmax has a nearly singular Hessian (CE is almost linear in
    b there); the cap keeps the step finite and the line search meaningful.

    Returns
    -------
    step : ndarray
    capped : bool
        Whether the cap shortened the step.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        step = np.linalg.solve(hess, grad)
    if not np.all(np.isfinite(step)):
        step = grad.copy()
    longest = float(np.max(np.abs(step), initial=0.0))
    if longest > limit:
        return step * (limit / longest), True
    return step, False


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

    def __post_init__(self):
        K, r, L = self.reduced.K, self.width, self.reduced.L
        self.shapes = [(r, K)] + [(r, r)] * (L - 2) + [(K, r)]
        sizes = [a * b for a, b in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.size = int(self.offsets[-1]) + (K if self.reduced.bias else 0)

    def split(self, theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Factors A_1..A_L (views) and the bias (or None)."""
        factors = [
            theta[self.offsets[i]: self.offsets[i + 1]].reshape(shape)
            for i, shape in enumerate(self.shapes)
        ]
        b = theta[self.offsets[-1]:] if self.reduced.bias else None
        return factors, b

    def pack(self, factors, b: np.ndarray | None = None) -> np.ndarray:
        """Flat vector from factors (and bias, default zero)."""
        parts = [np.asarray(A, dtype=float).ravel() for A in factors]
        if self.reduced.bias:
            parts.append(np.zeros(self.reduced.K) if b is None else np.asarray(b, float))
        return np.concatenate(parts)

    def logits(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The logit matrix X (without bias) and the bias of a flat vector."""
        factors, b = self.split(theta)
        Y = factors[-1]
        for A in reversed(factors[:-1]):
            Y = Y @ A
        return Y / self.reduced.root_n[None, :], b

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and exact gradient (what scipy's ``minimize(jac=True)`` expects)."""
        red = self.reduced
        factors, b = self.split(theta)
        L = len(factors)
        prefix = [factors[0]]  # prefix[j] = A_{j+1} ... A_1
        for A in factors[1:]:
            prefix.append(A @ prefix[-1])
        X = prefix[-1] / red.root_n[None, :]
        value, GX = red.ce(X, b)
        GY = GX / red.root_n[None, :]
        grad = np.empty(self.size)
        gfac, gb = self.split(grad)
        upstream = GY  # gradient with respect to A_L ... A_{j+1} times the rest
        sq = 0.0
        for j in range(L - 1, -1, -1):
            A = factors[j]
            sq += float(np.vdot(A, A))
            below = prefix[j - 1] if j > 0 else None
            if below is None:
                np.copyto(gfac[j], upstream)
            else:
                np.matmul(upstream, below.T, out=gfac[j])
            gfac[j] += red.lbar * A
            if j > 0:
                upstream = A.T @ upstream
        if gb is not None:
            np.sum(GX, axis=1, out=gb)
        return value + 0.5 * red.lbar * sq, grad

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
