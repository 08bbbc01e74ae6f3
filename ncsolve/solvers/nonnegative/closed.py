"""Closed forms under H >= 0: where the constraint does not bind, and cross-entropy at depth 1.

Bias-free MSE (any depth, any widths). The unconstrained minimizer has
orthogonal class means (the target Gram D is diagonal, THEORY.md section 5),
at most min(K, d_1) of them nonzero. Orthogonal vectors can be rotated onto
distinct coordinate axes, and a rotation of H (undone in W_1) changes no term
of the objective; the rotated minimizer is nonnegative. The unconstrained
minimum is a lower bound of the constrained one and is attained: the answer is
today's, unchanged.

Bias-free cross-entropy, depth 1, d_1 >= the number of classes that do not
collapse (Dang, Tran, Nguyen, Ho, ICML 2024: the class means of a minimizer
are orthogonal). Put hbar_k = a_k e_k on its own axis; the logits of class k
are then a_k u_k with u_k = W e_k, the k-th column of W, and the objective
splits into one problem per class,

    (n_k/N) CE(a_k u_k, k) + lambda_W/2 ||u_k||^2 + lambda_H n_k/2 a_k^2.

CE depends on u_k only through the differences of its entries, so the best u_k
has mean zero, and (convex and symmetric in the other K-1 entries for fixed
a_k) equal other entries: u_k = m_k (e_k - 1/K). With the margin p = a_k m_k,
the two decays are balanced at lambda_W (K-1)/K m^2 = lambda_H n_k a^2, and
their sum is beta_k p with beta_k = sqrt(lambda_W lambda_H n_k (K-1)/K). What
remains is one convex scalar problem per class,

    min_{p >= 0}  (n_k/N) log(1 + (K-1) e^(-p)) + beta_k p,

whose derivative vanishes at p_k = log((K-1)(1 - t_k)/t_k), t_k = N beta_k / n_k,
and is nonnegative at p = 0 exactly when t_k >= (K-1)/K, i.e. when

    n_k <= K N^2 lambda_W lambda_H / (K - 1)

(class k collapses: hbar_k = 0 and its logits are 0). In the geometric-mean
decay lbar = sqrt(lambda_W lambda_H): class k collapses for
lbar >= sqrt(n_k (K-1)/K) / N, the smallest classes first (minority collapse),
every class at once above sqrt(n_max (K-1)/K) / N (global collapse).
"""

from __future__ import annotations

import numpy as np

from ...inputs.problem import Problem
from .reduced import Point

__all__ = ["ce_critical_decay", "ce_depth1", "ce_depth1_applies", "ce_margin", "critical_decays"]


def ce_critical_decay(problem: Problem) -> np.ndarray:
    """Per class: the lbar = sqrt(lambda_W lambda_H) at and above which its mean is zero."""
    return critical_decays(problem.n, problem.N, problem.K)


def critical_decays(n, N, K: int) -> np.ndarray:
    """``sqrt(n (K-1)/K) / N`` elementwise: the collapse threshold in lbar of a class of
    size ``n`` among ``K`` classes and ``N`` samples (real sizes allowed, any shape;
    ``N`` broadcasts against ``n``)."""
    return np.sqrt(np.asarray(n, dtype=float) * (K - 1) / K) / np.asarray(N, dtype=float)


def ce_margin(problem: Problem) -> np.ndarray:
    """Per class: the optimal margin p_k = a_k m_k (0 for a collapsed class)."""
    K, N = problem.K, problem.N
    n = np.asarray(problem.n, dtype=float)
    if K == 1:
        return np.zeros(1)
    beta = np.sqrt(problem.lambda_w[0] * problem.lambda_h * n * (K - 1) / K)
    t = N * beta / n
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.log((K - 1) * (1.0 - t) / t)
    return np.where(t < (K - 1) / K, p, 0.0)


def ce_depth1(problem: Problem, width: int) -> tuple[Point, float]:
    """The minimizer (class means on the first K axes of R^width) and its objective."""
    K, N = problem.K, problem.N
    n = np.asarray(problem.n, dtype=float)
    lam_w, lam_h = problem.lambda_w[0], problem.lambda_h
    p = ce_margin(problem)
    kappa = np.sqrt(lam_h * n * K / (lam_w * max(K - 1, 1)))  # m_k = kappa_k a_k
    a = np.sqrt(p / kappa)
    means = np.zeros((width, K))
    means[np.arange(K), np.arange(K)] = a
    W = np.zeros((K, width))
    W[:, :K] = (np.eye(K) - 1.0 / K) * (kappa * a)[None, :]
    beta = np.sqrt(lam_w * lam_h * n * (K - 1) / K)
    ce = np.log1p((K - 1) * np.exp(-p)) if K > 1 else np.zeros(1)
    loss = float(np.sum(n / N * ce + beta * p))
    return Point(means, (W,), None), loss


def ce_depth1_applies(problem: Problem) -> bool:
    """Bias-free CE at depth 1 with room for every class that keeps a nonzero mean."""
    if problem.loss != "ce" or problem.bias != "none" or problem.depth != 1:
        return False
    active = int(np.count_nonzero(ce_margin(problem) > 0))
    return problem.widths is None or problem.widths[0] >= active
