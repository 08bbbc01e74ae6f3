"""What can be proved about the reduced cross-entropy problem.

Two certificates are available.

1. Depth 1 (q = 1) is convex.  Cross-entropy is convex in the logits, and the
   penalty c ||X D^(1/2)||_* is a norm of a linear image of X, so F(X, b) is
   jointly convex in (X, b).  Its Fenchel dual is

       max  sum_k w_k Entropy(p_k)
       s.t. p_k in the probability simplex,
            || [w_k (p_k - e_k) / sqrt(n_k)]_k ||_2 <= c,
            sum_k w_k (p_k - e_k) = 0            (free bias only),

   and any dual-feasible point bounds the global minimum from below.  From a
   primal point we take p_k = softmax of its logits (with the optimal bias) and
   shrink p_k - e_k by t = min(1, c / ||.||_2), which stays feasible.  The
   primal-dual gap then bounds the distance of the reported objective to the
   global minimum.  The rank cap only shrinks the feasible set, so the bound
   holds with narrow layers too.

2. Any depth: the origin is a global minimizer when c >= g^q H0^(1-q), where H0
   is the objective at X = 0 and g the spectral norm of the gradient of the data
   term in Y = X D^(1/2) at X = 0 (with the optimal bias).  Proof: by convexity
   CE >= max(0, H0 - g ||Y||_*), and sum sigma^q >= (sum sigma)^q for q <= 1, so
   F >= max(0, H0 - g t) + c t^q >= H0 for every t = ||Y||_* >= 0 exactly when
   the inequality holds.  At depth 1 this is also necessary.
"""

from __future__ import annotations

import numpy as np

from .reduced import ReducedCE, softmax_columns

__all__ = ["dual_bound", "origin_is_proved", "origin_proof_decay"]


def _entropy(P: np.ndarray) -> np.ndarray:
    """Shannon entropy of every column of a column-stochastic matrix."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
    return -terms.sum(axis=0)


def dual_bound(red: ReducedCE, X: np.ndarray, b: np.ndarray | None = None) -> float:
    """Lower bound on the global minimum of the depth-1 reduced problem.

    Parameters
    ----------
    red : ReducedCE
        A depth-1 problem (``red.q == 1``).
    X : ndarray, shape (K, K)
        A primal point (the closer to optimal, the tighter the bound).
    b : ndarray, optional
        Its bias; re-optimized for a free bias.

    Returns
    -------
    float
        sum_k w_k Entropy(p_k) at the dual-feasible point built from X.

    Raises
    ------
    ValueError
        If the problem is not of depth 1.
    """
    if red.L != 2:
        raise ValueError("the dual bound is for depth 1 (nuclear-norm penalty) only")
    if red.bias:
        b = red.best_bias(X, b)
    Z = X if not red.bias else X + b[:, None]
    P, _ = softmax_columns(Z)
    eye = np.eye(red.K)
    lam = (P - eye) * red.w[None, :]
    norm = float(np.linalg.norm(lam / red.root_n[None, :], 2))
    t = 1.0 if norm <= red.c else red.c / norm
    return float(red.w @ _entropy(t * P + (1.0 - t) * eye))


def origin_proof_decay(red: ReducedCE) -> float:
    """The decay lbar above which the origin is proved to be a global minimizer.

    Returns lbar such that c = (L/2) lbar equals g^q H0^(1-q) (see the module
    docstring).  Exact (necessary and sufficient) at depth 1; sufficient only at
    depth >= 2, where the true threshold is lower.
    """
    g = red.origin_gradient_norm()
    h0 = red.origin_value()
    c_needed = g ** red.q * h0 ** (1.0 - red.q)
    return 2.0 * c_needed / red.L


def origin_is_proved(red: ReducedCE) -> bool:
    """True when c >= g^q H0^(1-q): the origin is a global minimizer."""
    return red.lbar >= origin_proof_decay(red)
