"""Depth 1 from a nearby answer: damped Newton steps on the factor form.

At depth 1 the reduced problem is convex, and a warm start (the answer at a
neighbouring decay) is already close to the minimum.  L-BFGS then still spends
tens of iterations building curvature; the exact Hessian is small (the factors
of X D^(1/2) = A_2 A_1 have 2 K r entries, plus K for a free bias), so a few
Newton steps reach the minimum to rounding.

The factor form f(A_1, A_2, b) = CE(A_2 A_1 D^(-1/2) + b 1^T) + (lbar/2)(||A_1||^2 +
||A_2||^2) is not convex and its Hessian is singular along the rotations
A_1 -> Q A_1, A_2 -> A_2 Q^T (and along b -> b + t 1), so each step solves
(H + mu I) d = -g with a Levenberg-Marquardt damping mu proportional to the
gradient norm (raised until d is a descent direction), followed by a
backtracking line search.  Nothing here decides certainty: the caller proves
the end point with the dual certificate and falls back to the search otherwise.
"""

from __future__ import annotations

import numpy as np

from .local_runs import LocalMinimum, cut_best
from .reduced import ReducedCE, class_softmax

__all__ = ["newton_polish", "warm_run"]

MAX_STEPS = 60  # Newton iterations of one polish (from a neighbouring decay: 3-4)
DAMPING = 0.01  # mu = DAMPING * ||g||_2, raised until the step is a descent direction
ARMIJO = 1e-4  # sufficient-decrease constant of the line search
STALL_ULPS = 16  # a step that lowers the value by at most this many ulps ends the polish


def warm_run(red: ReducedCE, start, label: str) -> LocalMinimum | None:
    """Newton steps from the logits (and bias) of a nearby answer, as a local run.

    The factors have the width of the start's rank (ranks fall along a chain of
    growing decay; a start of too low a rank ends at a point the certificate does
    not prove).  The end point is centred and its vanishing directions cut as
    every run's (:func:`~.local_runs.cut_best`); None if it is not finite.
    """
    X0 = np.asarray(start.logits, dtype=float)
    X0 = X0 - X0.mean(axis=0)
    b0 = getattr(start, "bias_value", None) if red.bias else None
    X, b, steps = newton_polish(red, X0, b0, max(1, min(red.rank_cap, red.rank(X0))))
    if not np.all(np.isfinite(X)) or (b is not None and not np.all(np.isfinite(b))):
        return None
    Xc, bc, values, ranks = cut_best(red, (X - X.mean(axis=0))[None],
                                     None if b is None else b[None])
    return LocalMinimum(label, float(values[0]), int(ranks[0]), Xc[0],
                        None if bc is None else bc[0], steps, batch=1, refined=True)


def newton_polish(red: ReducedCE, X: np.ndarray, b: np.ndarray | None,
                  width: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Minimize the depth-1 factor form from balanced factors of (X, b).

    Parameters
    ----------
    red : ReducedCE
        A depth-1 problem (``red.L == 2``).
    X : ndarray, shape (K, K)
        Starting logits (a nearby answer).
    b : ndarray, shape (K,), or None
        Starting bias (free bias only; None means zero).
    width : int
        Inner width r of the factors (at most the rank cap; the end point's rank is
        at most r).

    Returns
    -------
    X, b, steps
        The end point's logits (not centred) and bias (None bias-free), and the
        Newton steps taken.
    """
    form = _Form(red, width)
    theta = form.start(X, b)
    value, grad = form.value_grad(theta)
    steps, last = 0, np.inf
    while steps < MAX_STEPS and np.isfinite(value) and np.any(grad):
        moved = _step(form, theta, value, grad)
        if moved is None:
            break
        steps += 1
        gain = value - moved[1]
        theta, value, grad = moved
        if _converged(gain, last, value):
            break
        last = gain
    Xe, be = form.logits(theta)
    return Xe, be, steps


def _converged(gain: float, last: float, value: float) -> bool:
    """Whether what is left after a step that gained ``gain`` (the one before: ``last``)
    is below rounding.

    With linear convergence at rate ``gain / last`` the rest is at most
    gain * rate / (1 - rate); quadratic convergence leaves far less.
    """
    floor = STALL_ULPS * np.spacing(abs(value))
    if gain <= floor:
        return True
    rate = gain / last if 0 < last < np.inf else 1.0
    return rate < 0.5 and gain * rate / (1.0 - rate) <= floor


def _step(form: "_Form", theta, value, grad):
    """One damped Newton step with backtracking; None when no decrease is found."""
    H = form.hessian(theta)
    mu = DAMPING * float(np.linalg.norm(grad))
    diagonal = np.arange(H.shape[0])
    base = H[diagonal, diagonal].copy()
    floor = 1e-12 * max(float(np.abs(base).max()), np.finfo(float).tiny)
    for _ in range(30):
        H[diagonal, diagonal] = base + mu
        try:
            d = -np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            d = np.full_like(grad, np.nan)
        slope = float(grad @ d)
        if slope < 0 and np.all(np.isfinite(d)):
            break
        mu = max(10.0 * mu, floor)  # not a descent direction: damp more
    else:
        return None
    t = 1.0
    while t > 1e-10:
        trial = theta + t * d
        new, g = form.value_grad(trial)
        if new <= value + ARMIJO * t * slope:
            return trial, new, g
        t *= 0.5
    return None


class _Form:
    """The depth-1 factor form on a flat vector (A_1 r x K, A_2 K x r, then b)."""

    def __init__(self, red: ReducedCE, width: int):
        self.red, self.K, self.r = red, red.K, int(width)
        self.inv_root = 1.0 / red.root_n
        self.n1 = self.r * self.K
        self.n2 = 2 * self.n1
        self.size = self.n2 + (self.K if red.bias else 0)
        self._last = None

    def start(self, X: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        """Balanced factors of X D^(1/2) (truncated or padded to the width), and b."""
        K, r = self.K, self.r
        U, s, Vt = np.linalg.svd(X * self.red.root_n[None, :])
        k = min(r, s.size)
        root = np.sqrt(s[:k])
        A1 = np.zeros((r, K))
        A2 = np.zeros((K, r))
        A1[:k] = root[:, None] * Vt[:k]
        A2[:, :k] = U[:, :k] * root
        parts = [A1.ravel(), A2.ravel()]
        if self.red.bias:
            parts.append(np.zeros(K) if b is None else np.asarray(b, float))
        return np.concatenate(parts)

    def split(self, theta):
        A1 = theta[: self.n1].reshape(self.r, self.K)
        A2 = theta[self.n1: self.n2].reshape(self.K, self.r)
        b = theta[self.n2:] if self.red.bias else None
        return A1, A2, b

    def logits(self, theta):
        A1, A2, b = self.split(theta)
        return (A2 @ A1) * self.inv_root[None, :], (None if b is None else b.copy())

    def _softmax(self, theta):
        """Factors, class losses, gradient and own probabilities at theta (the last
        point is kept: the Hessian is asked for where the value was computed)."""
        if self._last is not None and self._last[0] is theta:
            return self._last[1]
        A1, A2, b = self.split(theta)
        Z = (A2 @ A1) * self.inv_root[None, :]
        if b is not None:
            Z = Z + b[:, None]
        losses, G, own = class_softmax(Z)
        self._last = (theta, (A1, A2, losses, G, own))
        return self._last[1]

    def value_grad(self, theta):
        """Value and gradient."""
        red = self.red
        A1, A2, losses, G, _ = self._softmax(theta)
        GZ = G * red.w[None, :]
        M = GZ * self.inv_root[None, :]
        value = float(losses @ red.w) + 0.5 * red.lbar * float(theta[: self.n2] @ theta[: self.n2])
        parts = [(A2.T @ M + red.lbar * A1).ravel(), (M @ A1.T + red.lbar * A2).ravel()]
        if red.bias:
            parts.append(GZ.sum(axis=1))
        return value, np.concatenate(parts)

    def hessian(self, theta) -> np.ndarray:
        """Exact Hessian of the factor form at theta, block by block.

        With Z = A_2 A_1 D^(-1/2) + b 1^T and column k's Hessian of CE
        w_k (diag(p_k) - p_k p_k^T), c_k = w_k / n_k and q_k = A_2^T p_k.
        """
        red, K, r, n1, n2 = self.red, self.K, self.r, self.n1, self.n2
        A1, A2, _, G, own = self._softmax(theta)
        P = G.copy()
        P[np.diag_indices(K)] = own  # column k: softmax probabilities of class k's logits
        s, w = self.inv_root, red.w
        c = w * s * s
        H = np.zeros((self.size, self.size))
        Q = A2.T @ P  # (r, K): column k is q_k
        # A_1 with A_1, one r x r block per column k
        B = (A2.T[None] * P.T[:, None, :]) @ A2 - Q.T[:, :, None] * Q.T[:, None, :]
        H11 = H[:n1, :n1].reshape(r, K, r, K)
        idx = np.arange(K)
        H11[:, idx, :, idx] = B * c[:, None, None]
        # A_2 with A_2: a diagonal part per row i, minus a rank-K part
        E = (P[:, None, :] * A1[None]).reshape(K * r, K)  # E[(i, a), k] = p_k[i] A1[a, k]
        H22 = H[n1:n2, n1:n2]
        H22[...] = -(E * c) @ E.T
        D = (A1[None] * (P * c)[:, None, :]) @ A1.T  # (K, r, r)
        H22v = H22.reshape(K, r, K, r)
        H22v[idx, :, idx, :] += D
        # A_1 with A_2: the Gauss-Newton part and the second-order part <M, dA2 dA1>
        C = (A2.T[None] - Q.T[:, :, None]) * P.T[:, None, :] * c[:, None, None]  # (K, r, K)
        M = G * (w * s)[None, :]
        H12 = np.einsum("kai,bk->akib", C, A1) + np.einsum("ik,ab->akib", M, np.eye(r))
        H[:n1, n1:n2] = H12.reshape(n1, n1)
        H[n1:n2, :n1] = H[:n1, n1:n2].T
        H[np.arange(n2), np.arange(n2)] += red.lbar
        if red.bias:
            self._bias_blocks(H, P, A1, C, E)
        return H

    def _bias_blocks(self, H, P, A1, C, E) -> None:
        """The rows and columns of a free bias (dZ = db 1^T)."""
        red, K, n1, n2 = self.red, self.K, self.n1, self.n2
        s, w = self.inv_root, red.w
        Pw = P * w
        H[n2:, n2:] = np.diag(Pw.sum(axis=1)) - Pw @ P.T
        Hb1 = np.transpose(C / s[:, None, None], (2, 1, 0))  # [i, a, k]
        Pws = Pw * s
        Hb2 = -(Pws @ E.T).reshape(K, K, self.r)
        Hb2[np.arange(K), np.arange(K)] += Pws @ A1.T
        H[n2:, :n1] = Hb1.reshape(K, n1)
        H[n2:, n1:n2] = Hb2.reshape(K, n1)
        H[:n2, n2:] = H[n2:, :n2].T
