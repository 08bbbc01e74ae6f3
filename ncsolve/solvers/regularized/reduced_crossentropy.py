"""Cross-entropy with a regularized bias: the reduced class-logit problem with b as variables.

NC1 holds as for the other bias modes (for fixed weights and bias every
feature solves a strongly convex problem that depends only on its label), and
factor balancing gives the reduced problem over the K x K logits X and the bias b

    F(X, b) = sum_k w_k CE(X e_k + b, k) + c sum_i sigma_i(X D^(1/2))^q + lambda_b/2 ||b||^2.

Cross-entropy ignores a common shift of a column of X and of b; the penalties
do not, so at a minimizer the columns of X and the bias have mean zero.
Depth 1 (q = 1) is jointly convex (Hong & Ling, arXiv 2309.09725, write it
this way); its Fenchel dual

    max  sum_k w_k Entropy(p_k) - ||sum_k w_k (p_k - e_k)||^2 / (2 lambda_b)
    s.t. p_k in the simplex,  || [w_k (p_k - e_k) / sqrt(n_k)]_k ||_2 <= c

gives a certificate (the free-bias dual has the constraint sum_k w_k (p_k - e_k) = 0
instead of the quadratic term, its lambda_b -> 0 limit). At any depth the
origin is proved optimal when c >= g^q H0^(1-q), with H0 = min_b F(0, b) and g
the spectral norm of the gradient of the data term in X D^(1/2) there (the
argument of :mod:`ncsolve.solvers.crossentropy.certificate`: the data term minimized
over b is convex in X).

The search runs L-BFGS on the factor form of the problem with the bias
eliminated (:class:`EliminatedBias`), from the free-bias and the bias-free
answers and from random starts; the origin is a candidate of its own.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..crossentropy.certificate import ROUNDING_ULPS, _entropy_near_vertex
from ..crossentropy.factor_form import FactorObjective
from ..crossentropy.reduced import ReducedCE
from ...core import lbfgs
from ...inputs.problem import Problem

CUT_LEVELS = (1e-3, 1e-5, 1e-7, 1e-9)  # relative singular-value levels tried when cutting
GTOL = 1e-11  # L-BFGS gradient tolerance, relative to the starting objective
MEMORY = 10  # L-BFGS correction pairs
ROUNDING = 4 * np.finfo(float).eps  # relative change of a value that rounding can hide


@dataclass(frozen=True, eq=False)
class CEPoint:
    """One point of the reduced problem, evaluated exactly.

    Attributes
    ----------
    start : str
        Where the local search that produced it started.
    X : ndarray, shape (K, K)
        Logits without bias (columns of mean zero).
    b : ndarray, shape (K,)
        The bias (mean zero), optimal for X.
    loss : float
        F(X, b).
    rank : int
    iterations : int
    """

    start: str
    X: np.ndarray
    b: np.ndarray
    loss: float
    rank: int
    iterations: int


class RegularizedCE:
    """The reduced objective F(X, b) of one problem with a regularized bias.

    Parameters
    ----------
    problem : Problem
        ``bias == "regularized"`` (the loss field is not checked).

    Attributes
    ----------
    red : ReducedCE
        The cross-entropy term and the logit penalty, with a bias block (built
        from the same problem with a free bias; the bias penalty is added here).
    lambda_b : float
    """

    def __init__(self, problem: Problem):
        self.problem = problem
        self.lambda_b = float(problem.lambda_b)
        self.red = ReducedCE(dataclasses.replace(problem, bias="free", lambda_b=None))
        self.K = problem.K

    def value(self, X: np.ndarray, b: np.ndarray) -> float:
        """F(X, b), exactly (penalty from an SVD)."""
        return self.data(X, b) + self.red.penalty(X)

    def data(self, X: np.ndarray, b: np.ndarray) -> float:
        """The cross-entropy plus the bias penalty."""
        return float(self.red.ce(X, b)[0]) + 0.5 * self.lambda_b * float(b @ b)

    def best_bias(self, X: np.ndarray, b0: np.ndarray | None = None) -> np.ndarray:
        """The bias minimizing F(X, .) (strongly convex: damped Newton), mean zero."""
        b = np.zeros(self.K) if b0 is None else np.array(b0, dtype=float)
        lam, w = self.lambda_b, self.red.w
        value = self.data(X, b)
        for _ in range(100):
            _, G = self.red.ce_terms(X, b)  # column k: p_k - e_k
            grad = G @ w + lam * b
            P = G + np.eye(self.K)
            hess = np.diag(P @ w) - (P * w) @ P.T + lam * np.eye(self.K)
            step = np.linalg.solve(hess, grad)
            decrement = float(grad @ step)  # about twice the distance to the minimum
            if not decrement > 1e-17 * max(value, 1e-300):
                break
            for t in 0.5 ** np.arange(30):
                if 0.25 * t * decrement <= ROUNDING * value:
                    return b - b.mean()  # no decrease left that rounding would not hide
                trial = b - t * step
                trial_value = self.data(X, trial)
                if trial_value <= value - 0.25 * t * decrement:
                    break
            else:
                break
            b, value = trial, trial_value
        return b - b.mean()

    def point(self, start: str, X: np.ndarray, b0: np.ndarray | None = None,
              iterations: int = 0) -> CEPoint:
        """The exact point at logits X (centred) with its optimal bias."""
        X = X - X.mean(axis=0, keepdims=True)
        b = self.best_bias(X, b0)
        return CEPoint(start, X, b, self.value(X, b), int(self.red.rank(X)), iterations)

    # ---- local search on the factor form ---------------------------------------------------

    def descend(self, starts: list[tuple[str, np.ndarray]], width: int,
                maxiter: int = 4000) -> list[CEPoint]:
        """L-BFGS on the factor form with the bias eliminated (:class:`EliminatedBias`)
        from each ``(name, factors)`` start (one stack), then the cut-and-polish step."""
        forms = [EliminatedBias(self, width) for _ in starts]
        end = lbfgs.minimize_stack(lbfgs.row_by_row(forms), np.stack([t for _, t in starts]),
                                   maxiter, GTOL, maxcor=MEMORY, indexed=True)
        return [self.polish(self.point(name, form.logits(x), form.b, int(iterations)))
                for (name, _), form, x, iterations in zip(starts, forms, end.x, end.iterations)]

    def polish(self, point: CEPoint) -> CEPoint:
        """Cut numerically vanishing singular directions of X D^(1/2) when that lowers F
        (with q < 1 they are not negligible in the penalty)."""
        best = point
        root_n = self.red.root_n
        U, s, Vt = np.linalg.svd(point.X * root_n[None, :])
        if not s.size or s[0] <= 0:
            return point
        for level in CUT_LEVELS:
            keep = s > level * s[0]
            if keep.all():
                continue
            X = ((U[:, keep] * s[keep]) @ Vt[keep]) / root_n[None, :]
            cut = self.point(point.start, X, point.b, point.iterations)
            if cut.loss < best.loss:
                best = cut
        return best

    # ---- certificates -------------------------------------------------------------------

    def dual_bound(self, X: np.ndarray, b: np.ndarray) -> float:
        """Depth 1: a lower bound on the global minimum from the dual point at (X, b)."""
        if self.red.L != 2:
            raise ValueError("the dual bound is for depth 1 (nuclear-norm penalty) only")
        red = self.red
        _, G = red.ce_terms(X, b)  # P - I, accurate near I
        lam = G * red.w[None, :]
        norm = float(np.linalg.norm(lam / red.root_n[None, :], 2))
        t = 1.0 if norm <= red.c else red.c / norm
        row = t * (G @ red.w)
        value = float(red.w @ _entropy_near_vertex(t * G)) - float(row @ row) / (
            2.0 * self.lambda_b)
        return value - ROUNDING_ULPS * self.K * np.finfo(float).eps * abs(value)

    def origin(self) -> CEPoint:
        """X = 0 with its optimal bias."""
        return self.point("origin", np.zeros((self.K, self.K)))

    def origin_proof_decay(self) -> float:
        """The decay lbar above which the origin is proved to be a global minimizer
        (exact at depth 1, sufficient at depth >= 2)."""
        zero = self.origin()
        _, G = self.red.ce(zero.X, zero.b)
        g = float(np.linalg.norm(G / self.red.root_n[None, :], 2))
        q = self.red.q
        return 2.0 * g**q * zero.loss ** (1.0 - q) / self.red.L

    def random_start(self, rng: np.random.Generator, width: int, singular: float) -> np.ndarray:
        """Random factors (no bias block) with products of singular values near ``singular``."""
        fo = FactorObjective(self.red, width)
        return fo.random_point(rng, singular)[:fo.offsets[-1]]

    def balanced_start(self, X: np.ndarray, width: int,
                       rng: np.random.Generator | None = None) -> np.ndarray:
        """Balanced factors of X (no bias block), perturbed by 1% with ``rng`` (so that
        X = 0, a stationary point of the factor form, is not a dead end)."""
        fo = FactorObjective(self.red, width)
        return fo.balanced_point(X, None, rng, 0.0 if rng is None else 1e-2)[:fo.offsets[-1]]


class EliminatedBias:
    """Factor form of ``min_b F(X, b)``: ``X D^(1/2) = A_L ... A_1`` with the penalty
    ``(lbar/2) sum_j ||A_j||_F^2``, the bias solved exactly (Newton) at every point.

    Eliminating the bias keeps L-BFGS well conditioned when lambda_b is much
    larger than the curvature of cross-entropy in the logits. By the envelope
    theorem the gradient in X is that of cross-entropy at the optimal bias.
    Layout of the flat vector: A_1 (r x K), A_2 .. A_{L-1} (r x r), A_L (K x r).
    """

    def __init__(self, rce: RegularizedCE, width: int):
        K, r, L = rce.K, width, rce.red.L
        self.rce = rce
        self.shapes = [(r, K)] + [(r, r)] * (L - 2) + [(K, r)]
        self.offsets = np.concatenate([[0], np.cumsum([a * b for a, b in self.shapes])])
        self.b = np.zeros(K)  # the last optimal bias: the warm start of the next point

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        return [theta[self.offsets[i]: self.offsets[i + 1]].reshape(shape)
                for i, shape in enumerate(self.shapes)]

    def logits(self, theta: np.ndarray) -> np.ndarray:
        factors = self.factors(theta)
        Y = factors[0]
        for A in factors[1:]:
            Y = A @ Y
        return Y / self.rce.red.root_n[None, :]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        red, factors = self.rce.red, self.factors(theta)
        prefix = [factors[0]]  # prefix[j] = A_{j+1} ... A_1
        for A in factors[1:]:
            prefix.append(A @ prefix[-1])
        X = prefix[-1] / red.root_n[None, :]
        self.b = self.rce.best_bias(X, self.b)
        value, G = red.ce(X, self.b)
        value = float(value) + 0.5 * self.rce.lambda_b * float(self.b @ self.b)
        upstream = np.asarray(G) / red.root_n[None, :]  # gradient in the product
        grads = [None] * len(factors)
        for j in range(len(factors) - 1, -1, -1):
            A = factors[j]
            grads[j] = (upstream if j == 0 else upstream @ prefix[j - 1].T) + red.lbar * A
            value += 0.5 * red.lbar * float(np.vdot(A, A))
            upstream = A.T @ upstream
        return value, np.concatenate([g.ravel() for g in grads])


def typical_singular_value(points: list[CEPoint], root_n: np.ndarray) -> float:
    """Largest singular value of X D^(1/2) among the points (1 if all are zero)."""
    values = [np.linalg.norm(p.X * root_n[None, :], 2) for p in points]
    top = max(values, default=0.0)
    return float(top) if top > 0 and math.isfinite(top) else 1.0
