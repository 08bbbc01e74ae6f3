"""The full, un-reduced objective of the deep linear unconstrained feature model.

For features ``H`` (d_1 x N), weights ``W_1`` (d_2 x d_1), ..., ``W_M`` (K x d_M)
and an optional bias ``b`` (K,), the objective is

    f = loss(W_M ... W_1 H + b 1^T, Y)
        + sum_j lambda_{W_j}/2 ||W_j||_F^2 + lambda_H/2 ||H||_F^2 [+ lambda_b/2 ||b||^2]

with ``loss`` either ``1/(2N) ||. - Y||_F^2`` (MSE) or the mean softmax
cross-entropy of the logit columns (CE); the bias term is present with a
regularized bias only (a free bias is not penalized).  Samples are ordered class by class, so
the labels are implied by the class sizes ``n``.

The MSE target ``Y`` is one matrix (K' x N, one column per sample), built once by
:func:`target_matrix`: one-hot labels (K' = K), a class-level target (label smoothing,
soft labels: sample i of class k has target ``S[:, k]``), or per-sample targets given
as an N x t array (K' = t; N x t numbers are stored, never an N x N matrix).

Everything works on one flat float64 parameter vector ``x = (H, W_1, ..., W_M, b)``
(each block in C order; ``b`` only with a learned bias), which is what scipy's
optimizers and the descent loops in :mod:`ncsolve.core.descent` move around.

Cost.  The gradient is the exact gradient of the full objective, but products
are associated so that the large dimensions N and d are multiplied by K, the
number of outputs, instead of by each other: with ``T_j = W_M ... W_{j+1}``
(K x d_{j+1}) and ``U_j = G H_{j-1}^T`` (K x d_j), where ``G`` is the gradient of
the loss with respect to the outputs and ``H_{j-1} = W_{j-1} ... W_1 H``,

    grad W_j = T_j^T U_j,   U_{j+1} = U_j W_j^T,   grad H = T_0^T G + lambda_H H.

One evaluation costs about 3 K d_1 N + 3 K sum_j d_j d_{j+1} multiply-adds and
never forms d x N intermediate products other than ``H`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs.problem import Problem
from ..inputs.validation import WholeNumber, check, invalid

__all__ = ["DEFAULT_WIDTH", "FullObjective", "Parameters", "class_labels", "default_widths",
           "softmax_cross_entropy", "target_matrix"]

DEFAULT_WIDTH = 64  # verify's width of every layer (Python and CLI): the paper's setting


def default_widths(problem: Problem, width: int | None = None) -> tuple[int, ...]:
    """Layer widths d_1..d_M to use for ``problem``.

    Parameters
    ----------
    problem : Problem
        The problem; its ``widths`` win when set.
    width : int, optional
        One width for every layer when ``problem.widths`` is None; default K.

    Returns
    -------
    tuple of int
        Widths d_1 (feature width) .. d_M.
    """
    if problem.widths is not None:
        return tuple(int(d) for d in problem.widths)
    if width is None:
        width = problem.K
    return (check(width, WholeNumber(1), "width"),) * problem.depth


def class_labels(n: np.ndarray) -> np.ndarray:
    """Label of every sample when samples are ordered class by class, shape (N,)."""
    return np.repeat(np.arange(len(n)), np.asarray(n, dtype=np.int64))


def softmax_cross_entropy(Z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax cross-entropy of every logit column and its gradient, without cancellation.

    With d_j = z_j - z_k (k the label of the column), CE = log(1 + sum_{j != k} e^(d_j)).
    When the own logit is the largest this is ``log1p`` of a sum of terms <= 1, so
    losses far below the rounding unit of 1 (margins above ~37) keep full
    relative precision; otherwise it is a shifted log-sum-exp.  The gradient is
    p_j for j != k and p_k - 1 = -sum_{j != k} p_j, again without forming 1 - p_k.

    Parameters
    ----------
    Z : ndarray, shape (K, m)
        Logits, one column per sample (or class).
    labels : ndarray of int, shape (m,)
        The correct class of every column.

    Returns
    -------
    losses : ndarray, shape (m,)
        CE of every column (0 for a single class).
    grad : ndarray, shape (K, m)
        Gradient of each column's loss with respect to its logits (softmax minus one-hot).
    """
    cols = np.arange(Z.shape[1])
    D = Z - Z[labels, cols]
    D[labels, cols] = -np.inf  # the own term e^0 = 1 is handled separately
    shift = np.maximum(D.max(axis=0, initial=-np.inf), 0.0)
    expo = np.exp(D - shift)
    others = expo.sum(axis=0)
    own = np.exp(-shift)
    losses = np.where(shift > 0, shift + np.log(own + others), np.log1p(others))
    grad = expo / (own + others)
    grad[labels, cols] = -grad.sum(axis=0)
    return losses, grad


def target_matrix(problem: Problem, samples=None) -> np.ndarray:
    """The MSE target ``Y`` (K' x N, one column per sample, class by class).

    Parameters
    ----------
    problem : Problem
        One-hot labels when ``problem.target`` is None (exactly the matrix of before),
        else its class-level matrix ``S`` (column k for every sample of class k) or, for
        per-sample targets, ``samples``.
    samples : array of shape (N, t), optional
        The per-sample targets themselves (rows are samples), required with per-sample
        targets: the problem holds only their moments. Refused otherwise.

    Returns
    -------
    ndarray, shape (K', N)
    """
    target = problem.target
    if target is None or target.moments is None:
        if samples is not None:
            raise invalid("targets", "per-sample targets belong to a problem built with "
                          "them (Problem.build(targets=Y)); leave them out here")
        labels = class_labels(problem.n)
        if target is None:
            Y = np.zeros((problem.K, problem.N))
            Y[labels, np.arange(problem.N)] = 1.0
            return Y
        return np.ascontiguousarray(target.soft[:, labels], dtype=float)
    return _sample_matrix(target.moments, samples)


def _sample_matrix(moments, samples) -> np.ndarray:
    """Per-sample targets as a t x N matrix, checked against the problem's moments."""
    if samples is None:
        raise invalid("targets", "the full problem needs the per-sample targets themselves "
                      "(the problem holds only their moments); pass targets=Y")
    if hasattr(samples, "detach"):
        samples = samples.detach().cpu().numpy()
    Y = np.asarray(samples, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.shape != (moments.count, moments.dim) or not np.all(np.isfinite(Y)):
        raise invalid("targets", f"must be the N x t = {moments.count} x {moments.dim} finite "
                      f"array the problem was built from, got shape {Y.shape}")
    mean = Y.mean(axis=0)
    if not np.allclose(mean, moments.mean, rtol=1e-9, atol=1e-12 * (1 + np.abs(mean).max())):
        raise invalid("targets", "differ from the targets the problem was built from "
                      "(their means differ); pass the same array")
    return np.ascontiguousarray(Y.T)


@dataclass(frozen=True)
class Parameters:
    """Views of one flat parameter vector as arrays.

    Attributes
    ----------
    H : ndarray, shape (d_1, N)
        Free features, one column per sample (class by class).
    weights : tuple of ndarray
        ``W_1`` (d_2 x d_1) ... ``W_M`` (K x d_M), layer 1 first.
    b : ndarray of shape (K,) or None
        The bias (free or regularized), or None for the bias-free model.
    """

    H: np.ndarray
    weights: tuple[np.ndarray, ...]
    b: np.ndarray | None

    def product(self) -> np.ndarray:
        """The end-to-end classifier ``W_M ... W_1`` (K x d_1)."""
        return chain(self.weights)

    def layer_features(self, layer: int) -> np.ndarray:
        """Features after ``layer`` weights, ``W_layer ... W_1 H`` (layer 0 is H)."""
        out = self.H
        for W in self.weights[:layer]:
            out = W @ out
        return out


def chain(weights) -> np.ndarray:
    """Product ``W_last ... W_first`` of a sequence given first-to-last."""
    out = weights[-1]
    for W in reversed(weights[:-1]):
        out = out @ W
    return out


class FullObjective:
    """Value and exact gradient of the full objective on a flat parameter vector.

    Parameters
    ----------
    problem : Problem
        Class sizes, depth, decays, bias mode and loss (``problem.loss`` is
        ``"mse"`` or ``"ce"``), and the target (``problem.target``; MSE).
    widths : sequence of int, optional
        Widths d_1..d_M.  Default: ``problem.widths``, or K for every layer.
    samples : array of shape (N, t), optional
        Per-sample targets, for a problem built with them (:func:`target_matrix`).

    Examples
    --------
    >>> f = FullObjective(Problem.build([3, 2], depth=2))
    >>> x = f.random_point(np.random.default_rng(0))
    >>> value, grad = f(x)  # what scipy.optimize.minimize(..., jac=True) expects
    """

    def __init__(self, problem: Problem, widths=None, samples=None):
        if widths is None:
            widths = default_widths(problem)
        widths = tuple(int(d) for d in widths)
        if len(widths) != problem.depth or min(widths) < 1:
            raise invalid(
                "widths", f"give depth={problem.depth} positive widths d_1,...,d_M, "
                f"got {list(widths)}"
            )
        self.problem = problem
        self.widths = widths
        self.N, self.M = problem.N, problem.depth
        self.labels = class_labels(problem.n)
        self.Y = target_matrix(problem, samples)
        self.K = int(self.Y.shape[0])  # outputs: K' (the classes for one-hot labels)
        self.has_bias = problem.bias in ("free", "regularized")
        self.lambda_b = problem.lambda_b if problem.bias == "regularized" else 0.0
        self.loss_name = problem.loss
        self.decays = np.asarray(problem.lambda_w, dtype=float)
        self.shapes = self._shapes()
        sizes = [r * c for r, c in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.size = int(self.offsets[-1])

    # ---- layout -----------------------------------------------------------------------

    def _shapes(self) -> list[tuple[int, int]]:
        d = self.widths
        shapes = [(d[0], self.N)]
        shapes += [(d[j + 1], d[j]) for j in range(self.M - 1)]
        shapes.append((self.K, d[-1]))
        if self.has_bias:
            shapes.append((self.K, 1))
        return shapes

    def split(self, x: np.ndarray) -> Parameters:
        """View the flat vector ``x`` (length ``size``) as :class:`Parameters` (no copy)."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.size,):
            raise ValueError(f"expected a flat vector of length {self.size}, got shape {x.shape}")
        blocks = [
            x[self.offsets[i]: self.offsets[i + 1]].reshape(shape)
            for i, shape in enumerate(self.shapes)
        ]
        b = blocks.pop()[:, 0] if self.has_bias else None
        return Parameters(H=blocks[0], weights=tuple(blocks[1:]), b=b)

    def pack(self, H: np.ndarray, weights, b: np.ndarray | None = None) -> np.ndarray:
        """Flat vector from arrays.

        ``b`` defaults to zero with a learned bias and is ignored without.
        """
        parts = [np.asarray(H, dtype=float)] + [np.asarray(W, dtype=float) for W in weights]
        if self.has_bias:
            parts.append(np.zeros(self.K) if b is None else np.asarray(b, dtype=float))
        x = np.concatenate([p.ravel() for p in parts])
        if x.size != self.size:
            raise ValueError(f"arrays do not match the layout {self.shapes}")
        return x

    def random_point(self, rng: np.random.Generator, scale: float = 0.1) -> np.ndarray:
        """Weights and features drawn i.i.d. N(0, scale^2); the bias starts at zero."""
        x = scale * rng.standard_normal(self.size)
        if self.has_bias:
            x[self.offsets[-2]:] = 0.0
        return x

    # ---- evaluation -------------------------------------------------------------------

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Network outputs ``W_M ... W_1 H + b 1^T`` (K x N)."""
        p = self.split(x)
        out = p.product() @ p.H
        if p.b is not None:
            out += p.b[:, None]
        return out

    def data_loss(self, out: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss of outputs (K x N) and its gradient with respect to them."""
        if self.loss_name == "ce":
            losses, grad = softmax_cross_entropy(out, self.labels)
            grad /= self.N
            return float(np.sum(losses)) / self.N, grad
        resid = out - self.Y
        return float(np.vdot(resid, resid)) / (2 * self.N), resid / self.N

    def penalty(self, x: np.ndarray) -> float:
        """The weight, feature and (regularized) bias decay terms."""
        p = self.split(x)
        total = self.problem.lambda_h * np.vdot(p.H, p.H)
        for lam, W in zip(self.decays, p.weights):
            total += lam * np.vdot(W, W)
        if self.lambda_b:
            total += self.lambda_b * np.vdot(p.b, p.b)
        return 0.5 * float(total)

    def value(self, x: np.ndarray) -> float:
        """Objective value at ``x``."""
        return self.data_loss(self.outputs(x))[0] + self.penalty(x)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective value and exact gradient at ``x`` (flat, same layout as ``x``)."""
        p = self.split(x)
        grad = np.empty(self.size)
        g = self.split(grad)
        suffix = [p.weights[-1]]  # T_{M-1} = W_M, T_{j-1} = T_j W_j
        for W in reversed(p.weights[:-1]):
            suffix.append(suffix[-1] @ W)
        suffix.reverse()  # suffix[j] = W_M ... W_{j+1} (0-based: T_j for layer j+1)
        out = suffix[0] @ p.H
        if p.b is not None:
            out += p.b[:, None]
        value, G = self.data_loss(out)
        value += self.penalty(x)
        U = G @ p.H.T
        for j, (W, gW) in enumerate(zip(p.weights, g.weights)):
            if j + 1 < self.M:
                np.matmul(suffix[j + 1].T, U, out=gW)
            else:
                np.copyto(gW, U)
            gW += self.decays[j] * W
            if j + 1 < self.M:
                U = U @ W.T
        gH = g.H
        np.matmul(suffix[0].T, G, out=gH)
        gH += self.problem.lambda_h * p.H
        if g.b is not None:
            np.sum(G, axis=1, out=g.b)
            if self.lambda_b:
                g.b[:] += self.lambda_b * p.b
        return value, grad

    __call__ = value_and_grad
