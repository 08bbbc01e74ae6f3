"""The UFM objective and its gradient at trained parameters, from class statistics.

The features are the free variables of the unconstrained feature model, so the
objective at a trained network is that of ``ncsolve.core.objective`` with H the
trained features.  For the squared error everything is a quadratic form in the
samples, so counts, class means and the within-class scatter give the value
and the exact gradient without a second pass over N samples:

* ``||H||^2 = tr(S_W) + sum_k n_k ||mu_k||^2`` and
  ``sum_i ||P h_i + c - y_i||^2 = sum_k n_k ||P mu_k + c - e_k||^2 + tr(P S_W P^T)``;
* ``grad W_j = T_j^T E Q_{j-1}^T + lambda_j W_j`` with ``E = R H^T / N``
  ``= (P S_2 + b (Mu^T n)^T - diag(n) Mu) / N``, ``S_2 = S_W + Mu^T diag(n) Mu``;
* ``sum_i ||grad h_i||^2 = sum_k n_k ||A mu_k + P^T (b - e_k) / N||^2 + tr(A S_W A)``
  with ``A = P^T P / N + lambda_H I``.

(P = W_M ... W_1, T_j = W_M ... W_{j+1}, Q_{j-1} = W_{j-1} ... W_1, rows of Mu the
class means.)  Cross-entropy needs the samples: its data term is the sum the
accumulator adds up over the head's outputs, and no gradient is computed.
"""

from __future__ import annotations

import numpy as np

from ..core.objective import chain
from .stream import ClassStatistics, Head


def feature_square(stats: ClassStatistics) -> float:
    """``||H||_F^2`` of the raw features."""
    return float(np.trace(stats.scatter) + stats.counts @ np.einsum("ij,ij->i", stats.means,
                                                                      stats.means))


def output_offset(head: Head) -> np.ndarray:
    """The constant part of the head's output: its biases carried through the layers."""
    c = np.zeros(head.weights[0].shape[1])
    for W, b in zip(head.weights, head.biases):
        c = W @ c + (0.0 if b is None else b)
    return c


def penalty(stats, head: Head, lambda_w, lambda_h: float, lambda_b: float | None) -> float:
    total = lambda_h * feature_square(stats)
    total += sum(lam * float(np.vdot(W, W)) for lam, W in zip(lambda_w, head.weights))
    if lambda_b is not None and head.biases[-1] is not None:
        total += lambda_b * float(np.vdot(head.biases[-1], head.biases[-1]))
    return 0.5 * total


def data_term(stats: ClassStatistics, head: Head, loss: str) -> float:
    """Mean loss over the N samples (MSE: ``1/(2N) ||Z - Y||^2``; CE: the accumulated sum)."""
    N = stats.N
    if loss == "ce":
        return float(stats.ce_sum) / N
    P = chain(head.weights)
    residual = stats.means @ P.T + output_offset(head)
    residual[np.arange(stats.K), np.arange(stats.K)] -= 1.0
    fit = float(stats.counts @ np.einsum("ij,ij->i", residual, residual))
    fit += float(np.einsum("ij,ij->", P @ stats.scatter, P))
    return fit / (2.0 * N)


def stationarity(stats: ClassStatistics, head: Head, lambda_w, lambda_h: float,
                 lambda_b: float | None, bias: str) -> tuple[float, float]:
    """MSE gradient at the trained point: ``(||g|| / (||g_fit|| + ||g_decay||), ||g||)``.

    0 at a critical point, about 1 far from one (the fit and decay parts of the
    gradient cancel only at a critical point).  The variables are H, every W_j and,
    with a free or regularized bias, the last-layer bias.  Hidden-layer biases are
    not variables of the theory: call this only without them.
    """
    n = stats.counts.astype(float)
    N, Mu, S = float(stats.N), stats.means, stats.scatter
    weights = head.weights
    b = head.biases[-1] if head.biases[-1] is not None else np.zeros(weights[-1].shape[0])
    P = chain(weights)
    second = S + (Mu * n[:, None]).T @ Mu
    total_mean = n @ Mu  # sum of all samples (d,)
    E = (P @ second + np.outer(b, total_mean) - n[:, None] * Mu) / N
    fit_sq, decay_sq, grad_sq = 0.0, 0.0, 0.0
    for j, (lam, W) in enumerate(zip(lambda_w, weights)):
        T = chain(weights[j + 1:]) if j + 1 < len(weights) else np.eye(W.shape[0])
        Q = chain(weights[:j]) if j else np.eye(W.shape[1])
        fit = T.T @ E @ Q.T
        fit_sq += _sq(fit)
        decay_sq += lam**2 * _sq(W)
        grad_sq += _sq(fit + lam * W)
    # features: g_i = A h_i + c_{y_i} with A = P^T P / N + lambda_H I
    gram = P.T @ P / N
    offsets = (b[None, :] - np.eye(P.shape[0])) @ P / N  # row k: P^T (b - e_k) / N
    for A, part in ((gram, "fit"), (gram + lambda_h * np.eye(gram.shape[0]), "all")):
        value = float(n @ np.einsum("ij,ij->i", *(2 * [Mu @ A + offsets])))
        value += float(np.einsum("ij,ij->", A @ S, A))
        if part == "fit":
            fit_sq += value
        else:
            grad_sq += value
    decay_sq += lambda_h**2 * feature_square(stats)
    if bias != "none":
        fit_b = (P @ total_mean + N * b - n) / N
        lam_b = 0.0 if lambda_b is None else lambda_b
        fit_sq += _sq(fit_b)
        decay_sq += lam_b**2 * _sq(b)
        grad_sq += _sq(fit_b + lam_b * b)
    scale = np.sqrt(fit_sq) + np.sqrt(decay_sq)
    norm = float(np.sqrt(max(grad_sq, 0.0)))
    return (norm / scale if scale > 0 else 0.0), norm


def _sq(array: np.ndarray) -> float:
    return float(np.vdot(array, array))
