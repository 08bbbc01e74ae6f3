"""The reduced cross-entropy problem over class logits (THEORY.md section 6).

After neural collapse of the features (NC1) and factor balancing, the full deep
linear UFM with softmax cross-entropy becomes a problem over the K x K logit
matrix X, whose column k is the logit vector shared by every sample of class k:

    F(X, b) = sum_k w_k CE(X e_k + b, k) + c sum_i sigma_i(X D^(1/2))^q

with w_k = n_k / N, D = diag(n), c = (L/2) lbar, q = 2/L and b the free bias
(b = 0 for the bias-free model).  Nothing here depends on N beyond the weights
w_k and D, nor on the layer widths beyond the rank cap.

:meth:`ReducedCE.value` is the exact objective (penalty from an SVD); the free
bias is optimized by a safeguarded Newton iteration (:meth:`ReducedCE.best_bias`).
Gradient methods run on the smooth factor form of
:class:`~ncsolve.solvers.crossentropy.factor_form.FactorObjective`.
"""

from __future__ import annotations

import math

import numpy as np

from ...inputs.problem import Problem
from ...core.constants import RANK_RTOL

__all__ = ["ReducedCE", "class_softmax"]

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
        self._bias_ridge = np.full((self.K, self.K), 1.0 / self.K) + 1e-14 * np.eye(self.K)

    # ---- the data term ------------------------------------------------------------------

    def ce_terms(self, X: np.ndarray,
                 b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-class cross-entropy and its unweighted gradient, computed without cancellation.

        Parameters
        ----------
        X : ndarray, shape (..., K, K)
            Column k is the logit vector of class k (bias not included); leading
            axes are a stack of independent points.
        b : ndarray, shape (..., K), optional
            Bias added to every column.

        Returns
        -------
        losses : ndarray, shape (..., K)
            CE(X e_k + b, k) = log(1 + sum_{j != k} exp(z_j - z_k)), accurate also
            when it is far below the rounding unit (large margins).
        G : ndarray, shape (..., K, K)
            Column k: softmax of class k's logits minus e_k; its own entry is
            -sum_{j != k} p_j, so it keeps full relative precision too.
        """
        return class_softmax(X if b is None else X + b[..., :, None])[:2]

    def ce(self, X: np.ndarray, b: np.ndarray | None = None):
        """Weighted cross-entropy of the class logits and its gradient in the logits.

        Returns
        -------
        value : float, or ndarray of shape (...) for a stack of points
            sum_k w_k CE(X e_k + b, k).
        grad : ndarray, shape (..., K, K)
            Gradient with respect to X (its row sums give the gradient in b).
        """
        losses, G = self.ce_terms(X, b)
        G *= self.w
        value = losses @ self.w
        return (float(value) if np.ndim(value) == 0 else value), G

    def data_term(self, X: np.ndarray,
                  b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Everything of the objective that is not the logit penalty, on a stack of points.

        This is the interface the factor form and the search build on: for a
        free bias it is the weighted cross-entropy; a model with another bias
        term (a regularized bias, say) overrides it and adds that term's value
        and gradient.

        Parameters
        ----------
        X : ndarray, shape (S, K, K)
            Logit matrices (bias excluded).
        b : ndarray, shape (S, K), or None
            Bias of each point (None for the bias-free model).

        Returns
        -------
        value : ndarray, shape (S,)
        grad_X : ndarray, shape (S, K, K)
        grad_b : ndarray, shape (S, K), or None
        """
        value, G = self.ce(X, b)
        return value, G, (None if b is None else G.sum(axis=-1))

    def class_losses(self, X: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """Cross-entropy CE(X e_k + b, k) of every class, shape (K,)."""
        return self.ce_terms(X, b)[0]

    def _bias_model(self, X: np.ndarray, b: np.ndarray):
        """CE value, gradient, (regularized) Hessian in the bias, and the gradient's scale.

        Stacked: X (S, K, K), b (S, K).  The scale, the largest |w_k (p_jk - delta_jk)|,
        is the size of the terms summed into the gradient: a gradient below a few
        ulps of it is rounding.

        The Hessian of one column is diag(p) - p p^T.  Its diagonal
        p_i (1 - p_i) is formed as p_i times the sum of the other probabilities
        for the largest p_i, so no entry is a difference of numbers close to 1
        (saturated softmax, large margins).  The all-ones direction, along which
        CE is constant, gets the Hessian's own scale, so the Newton system is
        well conditioned at any magnitude.
        """
        losses, G, own = class_softmax(X + b[..., :, None])
        grad = G @ self.w
        P = G.copy()
        _diagonal(P)[...] = own
        Pw = P * self.w
        hess = -Pw @ np.swapaxes(P, -1, -2)
        _diagonal(hess)[...] = (P * _complement(P)) @ self.w
        scale = np.maximum(np.trace(hess, axis1=-2, axis2=-1) / self.K,
                           np.finfo(float).tiny)
        hess += scale[:, None, None] * self._bias_ridge
        size = np.abs(G).max(axis=(-2, -1)) * float(self.w.max())
        return losses @ self.w, grad, hess, size

    def best_bias(self, X: np.ndarray, b0: np.ndarray | None = None,
                  rtol: float | None = None) -> np.ndarray:
        """The optimal free bias for fixed logits X (mean-zero representative).

        The data term is convex in b and invariant along the all-ones vector;
        Newton's method with backtracking on the complement converges in a few
        steps.  It stops when the gradient is at rounding level relative to
        the terms it sums, so tiny losses (large margins) are handled like
        ordinary ones, and the optimality condition sum_k w_k (p_k - e_k) = 0,
        which the depth-1 dual certificate relies on, holds to rounding.

        Parameters
        ----------
        X : ndarray, shape (K, K) or (S, K, K)
            Logits, or a stack of them (solved together, each on its own).
        b0 : ndarray, shape (K,) or (S, K), optional
            Starting bias (default zero).
        rtol : float, optional
            Stop when the gradient is below this times the size of its terms
            (default: rounding level, ``BIAS_GTOL * K``).  The search's inner
            evaluations use a looser one; every reported value uses the default.

        Returns
        -------
        ndarray, shape (K,) or (S, K)
        """
        X = np.asarray(X, dtype=float)
        single = X.ndim == 2
        Xs = X.reshape(-1, self.K, self.K)
        S = Xs.shape[0]
        b = np.zeros((S, self.K)) if b0 is None else np.array(
            np.broadcast_to(np.asarray(b0, dtype=float).reshape(-1, self.K), (S, self.K)))
        todo = np.arange(S)
        model = self._bias_model(Xs, b)
        limit = np.full(S, MAX_BIAS_STEP)
        tol = BIAS_GTOL * self.K if rtol is None else max(rtol, BIAS_GTOL * self.K)
        for _ in range(60):
            value, grad, hess, size = model
            gmax = np.abs(grad).max(axis=-1)
            live = gmax > tol * size  # False at rounding level (or nan)
            step, capped = _newton_step(hess, grad, limit[todo])
            decrement = np.einsum("ij,ij->i", grad, step)
            live &= decrement > 0
            limit[todo] = np.where(capped, 2.0 * limit[todo], MAX_BIAS_STEP)
            keep = np.flatnonzero(live)
            if keep.size == 0:
                break
            todo, value, grad, step, decrement, gmax = (
                todo[keep], value[keep], grad[keep], step[keep], decrement[keep], gmax[keep])
            trial, moved = self._bias_step(Xs[todo], b[todo], step, value, decrement)
            todo, trial, gmax, decrement, value = (
                todo[moved], trial[moved], gmax[moved], decrement[moved], value[moved])
            if todo.size == 0:
                break
            new = self._bias_model(Xs[todo], trial)
            # only rounding left: the gradient no longer shrinks
            stalled = (decrement < 1e-13 * value) & (np.abs(new[1]).max(axis=-1) >= gmax)
            go = np.flatnonzero(~stalled)
            todo = todo[go]
            b[todo] = trial[go]
            model = tuple(part[go] for part in new)
            if todo.size == 0:
                break
        b -= b.mean(axis=-1, keepdims=True)
        return b[0] if single else b.reshape(X.shape[:-1])

    def _bias_step(self, X, b, step, value, decrement):
        """Backtracking (Armijo) along the Newton steps; which rows found a decrease."""
        trial = b.copy()
        moved = np.zeros(b.shape[0], dtype=bool)
        todo = np.arange(b.shape[0])
        t = 1.0
        while t > 1e-6 and todo.size:
            cand = b[todo] - t * step[todo]
            trial_value = self.ce(X[todo], cand)[0]
            ok = (trial_value <= value[todo] - 0.25 * t * decrement[todo]) | (
                decrement[todo] < 1e-13 * value[todo])
            trial[todo[ok]] = cand[ok]
            moved[todo[ok]] = True
            todo = todo[~ok]
            t *= 0.5
        return trial, moved

    # ---- the penalty --------------------------------------------------------------------

    def singular_values(self, X: np.ndarray) -> np.ndarray:
        """Singular values of X D^(1/2), descending."""
        return np.linalg.svd(X * self.root_n[None, :], compute_uv=False)

    def penalty(self, X: np.ndarray):
        """c * sum_i sigma_i(X D^(1/2))^q (a float, or an array for a stack of X).

        Singular values below ``RANK_RTOL`` times the largest are rounding noise
        of the SVD and count as zero (with q < 1 their q-th power would not be
        negligible).
        """
        s = self.singular_values(X)
        live = s > RANK_RTOL * s[..., :1]
        value = self.c * np.sum(np.where(live, s, 0.0) ** self.q, axis=-1)
        return float(value) if np.ndim(value) == 0 else value

    def rank(self, X: np.ndarray):
        """Numerical rank of X D^(1/2) (relative tolerance ``RANK_RTOL``), per point of a stack."""
        s = self.singular_values(X)
        rank = np.sum((s > RANK_RTOL * s[..., :1]) & (s[..., :1] > 0), axis=-1)
        return int(rank) if np.ndim(rank) == 0 else rank

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


def _diagonal(A: np.ndarray) -> np.ndarray:
    """Writable view of the diagonals of a stack of contiguous square matrices, shape (..., K)."""
    K = A.shape[-1]
    return A.reshape(*A.shape[:-2], K * K)[..., :: K + 1]


def class_softmax(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-entropy of column k of Z for label k, its gradient and own probability.

    Stacked over leading axes: Z (..., K, K).  With d_j = z_j - z_k,
    CE = log(1 + sum_{j != k} e^(d_j)).  The sum excludes the own term, so a
    loss far below the rounding unit of 1 keeps full relative precision:
    CE = s + log1p(o + expm1(-s)) with s = max(0, max_j d_j) and o the shifted
    sum of the others (exactly log1p(o) when s = 0).  The gradient is p_j off
    the diagonal and -sum_{j != k} p_j on it, never 1 - p_k.

    Returns
    -------
    losses : ndarray, shape (..., K)
    grad : ndarray, shape (..., K, K)
    own : ndarray, shape (..., K)
        p_k of every column (its own class).
    """
    D = Z - np.diagonal(Z, axis1=-2, axis2=-1)[..., None, :]
    _diagonal(D)[...] = -np.inf
    shift = D.max(axis=-2)
    np.maximum(shift, 0.0, out=shift)
    D -= shift[..., None, :]
    np.exp(D, out=D)
    others = D.sum(axis=-2)
    rest = others + np.expm1(-shift)  # own + others - 1
    losses = shift + np.log1p(rest)
    rest += 1.0  # the softmax denominator
    D /= rest[..., None, :]
    own = np.exp(-shift) / rest
    _diagonal(D)[...] = -others / rest
    return losses, D, own


def _complement(P: np.ndarray) -> np.ndarray:
    """1 - P for column-stochastic P (stacked), exact also where an entry is close to 1.

    For the largest entry of each column, 1 - p is the sum of the other entries.
    """
    out = 1.0 - P
    top = P.argmax(axis=-2)[..., None, :]
    rest = P.copy()
    np.put_along_axis(rest, top, 0.0, axis=-2)
    np.put_along_axis(out, top, rest.sum(axis=-2)[..., None, :], axis=-2)
    return out


def _newton_step(hess: np.ndarray, grad: np.ndarray,
                 limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Newton directions for the bias (stacked), at most ``limit`` long in every entry.

    A saturated softmax has a nearly singular Hessian (CE is almost linear in
    b there); the cap keeps the step finite and the line search meaningful.

    Returns
    -------
    step : ndarray, shape (S, K)
    capped : ndarray of bool, shape (S,)
        Whether the cap shortened the step.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.full_like(grad, np.nan)
    bad = ~np.all(np.isfinite(step), axis=-1)
    step[bad] = grad[bad]
    longest = np.abs(step).max(axis=-1, initial=0.0)
    capped = longest > limit
    step[capped] *= (limit[capped] / longest[capped])[:, None]
    return step, capped
