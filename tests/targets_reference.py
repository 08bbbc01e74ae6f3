"""Direct minimization of the full MSE objective for an arbitrary target matrix.

Written independently of ncsolve (numpy gradients, scipy's L-BFGS): the arbiter of
the closed form for label smoothing, soft labels and per-sample targets.

    f = 1/(2N) ||W_M ... W_1 H + b 1^T - Y||^2 + sum_j lambda_j/2 ||W_j||^2
        + lambda_H/2 ||H||^2 (+ lambda_b/2 ||b||^2 with a regularized bias)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize


@dataclass
class Run:
    loss: float
    H: np.ndarray
    weights: list
    b: np.ndarray

    @property
    def W(self) -> np.ndarray:
        product = self.weights[0]
        for W in self.weights[1:]:
            product = W @ product
        return product


def _shapes(out_dim, N, widths):
    dims = list(widths) + [out_dim]
    return [(dims[0], N)] + [(dims[j + 1], dims[j]) for j in range(len(widths))]


def _unpack(x, shapes, out_dim, with_bias):
    parts, start = [], 0
    for shape in shapes:
        size = shape[0] * shape[1]
        parts.append(x[start:start + size].reshape(shape))
        start += size
    b = x[start:start + out_dim] if with_bias else np.zeros(out_dim)
    return parts[0], parts[1:], b


def objective(x, Y, lambda_h, lambda_w, shapes, bias, lambda_b):
    out_dim, N = Y.shape
    H, Ws, b = _unpack(x, shapes, out_dim, bias != "none")
    factors = [H, *Ws]
    prefix = [factors[0]]
    for A in factors[1:]:
        prefix.append(A @ prefix[-1])
    R = prefix[-1] + b[:, None] - Y
    decays = [lambda_h, *lambda_w]
    f = float(np.sum(R * R)) / (2 * N)
    f += sum(0.5 * lam * float(np.sum(A * A)) for lam, A in zip(decays, factors))
    dZ = R / N
    grads = []
    suffix = np.eye(out_dim)  # product of the factors after factor j
    for j in range(len(factors) - 1, -1, -1):
        left = suffix.T @ dZ
        g = left @ prefix[j - 1].T if j > 0 else left
        grads.append(g + decays[j] * factors[j])
        suffix = suffix @ factors[j]
    grads = grads[::-1]
    flat = np.concatenate([g.ravel() for g in grads])
    if bias != "none":
        gb = R.sum(axis=1) / N
        if bias == "regularized":
            f += 0.5 * lambda_b * float(b @ b)
            gb = gb + lambda_b * b
        flat = np.concatenate([flat, gb])
    return f, flat


def minimize_full(Y, lambda_h, lambda_w, widths, bias="none", lambda_b=None, seeds=range(4),
                  scale=1.0):
    """Best of L-BFGS runs from random starts (float64, gradient tolerance 1e-13)."""
    Y = np.asarray(Y, dtype=float)
    out_dim, N = Y.shape
    shapes = _shapes(out_dim, N, widths)
    size = sum(a * b for a, b in shapes) + (out_dim if bias != "none" else 0)
    best = None
    for seed in seeds:
        x0 = np.random.default_rng(seed).normal(scale=scale, size=size)
        res = minimize(objective, x0, jac=True, method="L-BFGS-B",
                       args=(Y, lambda_h, list(lambda_w), shapes, bias, lambda_b),
                       options={"maxiter": 50000, "maxfun": 100000, "gtol": 1e-13,
                                "ftol": 1e-16, "maxcor": 30})
        if best is None or res.fun < best.fun:
            best = res
    H, Ws, b = _unpack(best.x, shapes, out_dim, bias != "none")
    return Run(loss=float(best.fun), H=H, weights=Ws, b=b)


def class_means(H, n):
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    return np.add.reduceat(H, starts, axis=1) / np.asarray(n)


def class_target(S, n):
    """Y (K' x N): sample i of class k has target S[:, k]; samples class by class."""
    return np.repeat(np.asarray(S, dtype=float), np.asarray(n), axis=1)


def relative(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300))
