"""Balanced classes with a free bias: the unconstrained answer at a larger feature decay.

With a free bias b, write each class mean as hbar_k = c + ht_k with c the mean of
the class means and ht_k = hbar_k - c (so sum_k ht_k = 0). The outputs
W hbar_k + b = W ht_k + (W c + b) depend on the means only through the centred
ht_k once the free bias absorbs W c. For nonnegative vectors every inner product
is >= 0, so ||sum_k hbar_k||^2 >= sum_k ||hbar_k||^2, and

    sum_k ||hbar_k||^2 = sum_k ||ht_k||^2 + ||sum_k hbar_k||^2 / K
                       >= sum_k ||ht_k||^2 + sum_k ||hbar_k||^2 / K,

that is, sum_k ||hbar_k||^2 >= K/(K-1) sum_k ||ht_k||^2, with equality exactly for
orthogonal means. With equal class sizes the feature penalty is
lambda_H n/2 sum_k ||hbar_k||^2, so every nonnegative configuration costs at
least the unconstrained objective of (ht, W, W c + b) with lambda_H replaced by
lambda_H K/(K-1): the unconstrained free-bias minimum at that decay is a lower
bound. It is attained when the unconstrained minimizer's centred means form a
simplex ETF (Gram a multiple of I - 11^T/K, or zero): hbar_k = a e_k on K axes has
exactly those centred means and equality in the bound. This holds for MSE at
every depth (balanced, free bias: the centred target spectrum is flat) and for
cross-entropy wherever the unconstrained answer is the ETF (depth 1, proved);
where it is not (deeper cross-entropy heads can prefer lower rank) the bound
stays a certified lower bound beside the searched answer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...inputs.problem import Problem
from .reduced import Point

__all__ = ["ETF_RTOL", "applies", "lower_bound_problem", "realize"]

ETF_RTOL = 1e-9  # the unconstrained feature Gram within this of a multiple of I - 11^T/K


def applies(problem: Problem) -> bool:
    """Balanced classes, a free bias (or a bias-free cross-entropy, which a free bias can
    only lower), K >= 2 and room for K axes in the features."""
    bias = problem.bias == "free" or (problem.bias == "none" and problem.loss == "ce")
    return (bias and problem.balanced and problem.K >= 2
            and (problem.widths is None or problem.widths[0] >= problem.K))


def lower_bound_problem(problem: Problem) -> Problem:
    """The same problem with a free bias, unconstrained, with lambda_H K/(K-1)."""
    K = problem.K
    return dataclasses.replace(problem, lambda_h=problem.lambda_h * K / (K - 1),
                               bias="free", features="unconstrained")


def realize(problem: Problem, bound) -> Point | None:
    """Orthogonal nonnegative means (on K axes) and weights attaining ``bound``, the
    unconstrained answer of :func:`lower_bound_problem`; None when its centred means are
    not a simplex ETF (then the bound is not attained this way)."""
    K = problem.K
    P = np.eye(K) - 1.0 / K
    gram = np.asarray(bound.gram_features(), dtype=float)
    scale = float(np.trace(gram)) / (K - 1)
    if np.linalg.norm(gram - scale * P) > ETF_RTOL * max(np.linalg.norm(gram), 1e-300):
        return None
    a = np.sqrt(max(scale, 0.0))  # ||ht_k||^2 = a^2 (K-1)/K: the diagonal of scale * P
    widths = problem.widths or (K,) * problem.depth
    means = np.zeros((widths[0], K))
    means[np.arange(K), np.arange(K)] = a
    outputs = np.asarray(bound.gram_outputs(), dtype=float)  # W ht_k, columns sum to 0
    product = np.zeros((K, widths[0]))
    if a > 0:
        product[:, :K] = outputs / a  # on the axes: W (a e_k) = outputs e_k
    weights = _balanced_factors(problem, product, widths)
    bias = np.asarray(bound.bias_value, dtype=float)
    if problem.bias == "none":  # cross-entropy ignores a bias along the all-ones vector
        if np.ptp(bias) > ETF_RTOL * max(float(np.max(np.abs(bias))), 1.0):
            return None
        bias = None
    return Point(means, weights, bias)


def dims_of(problem: Problem, widths) -> tuple[int, ...]:
    """d_1, ..., d_M, K."""
    return (*widths, problem.K)


def _balanced_factors(problem: Problem, product: np.ndarray, widths) -> tuple:
    """W_1 .. W_M with product ``product`` and the least weight decay (equal lambda_j s_j^2)."""
    M = problem.depth
    U, s, Vt = np.linalg.svd(product, full_matrices=False)  # K x r, r, r x d_1
    r = int(np.count_nonzero(s > 1e-15 * max(float(s.max(initial=0.0)), 1e-300)))
    r = min(r, *dims_of(problem, widths))
    U, s, Vt = U[:, :r], s[:r], Vt[:r]
    lam = np.asarray(problem.lambda_w, dtype=float)
    mean = np.exp(np.mean(np.log(lam)))
    values = [np.sqrt(mean / lam[j]) * s ** (1.0 / M) for j in range(M)]
    dims = (*widths, problem.K)
    weights = []
    for j in range(M):
        W = np.zeros((dims[j + 1], dims[j]))
        if j == 0 and M == 1:
            W = (U * values[0]) @ Vt
        elif j == 0:
            W[:r, :] = values[0][:, None] * Vt
        elif j == M - 1:
            W[:, :r] = U * values[j]
        else:
            W[np.arange(r), np.arange(r)] = values[j]
        weights.append(W)
    return tuple(weights)
