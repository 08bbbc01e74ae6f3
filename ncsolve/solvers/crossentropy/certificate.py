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

from .reduced import ReducedCE

__all__ = ["dual_bound", "origin_is_proved", "origin_proof_decay"]

ROUNDING_ULPS = 4  # the dual bound is lowered by this many ulps per class: a safe bound


def _entropy_near_vertex(Delta: np.ndarray) -> np.ndarray:
    """Shannon entropy of every column of I + Delta, without cancellation.

    Column k of I + Delta is a probability vector p with p_j = Delta_jk >= 0 for
    j != k and p_k = 1 - s, s = sum_{j != k} Delta_jk.  Its own term
    -(1 - s) log(1 - s) is evaluated as -(1 - s) log1p(-s), so the entropy keeps
    full relative precision when p is close to e_k (large margins), where
    forming p_k first would round 1 - s to 1 and lose the term entirely.
    """
    off = Delta.copy()
    np.fill_diagonal(off, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        others = np.where(off > 0, off * np.log(np.where(off > 0, off, 1.0)), 0.0).sum(axis=0)
        s = off.sum(axis=0)
        own = np.where(s < 1.0, (1.0 - s) * np.log1p(-np.minimum(s, 1.0)), 0.0)
    return -(others + own)


def _bias_feasible(G: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Move the dual point onto the free-bias constraint sum_k w_k (p_k - e_k) = 0.

    Column k of G is p_k - e_k.  At an optimal bias its weighted row sums
    r = G w vanish; a bias accurate to rounding leaves a tiny r, and even a tiny
    violation invalidates the bound (the dual objective is unbounded off the
    constraint).  The off-diagonal entries of row j are scaled by (1 - alpha_j)
    and the mass moved to the own-class entries, which keeps every column a
    probability vector minus e_k; alpha solves the K x K linear system for
    G w = 0.  The correction is of the order of r, so it changes the bound by
    rounding only.  If it would not be small, G is returned unchanged.
    """
    off = G.copy()
    np.fill_diagonal(off, 0.0)
    A = np.diag(off @ w) - w[:, None] * off.T
    alpha = np.linalg.lstsq(A, G @ w, rcond=None)[0]
    if not np.all(np.abs(alpha) <= 0.5):
        return G
    moved = alpha[:, None] * off
    out = G - moved
    out[np.diag_indices_from(out)] = -(off - moved).sum(axis=0)
    return out


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
        sum_k w_k Entropy(p_k) at the dual-feasible point built from X, lowered
        by ``ROUNDING_ULPS * K`` ulps so that rounding in the sum cannot lift it
        above the true dual value.

    Raises
    ------
    ValueError
        If the problem is not of depth 1.
    """
    if red.L != 2:
        raise ValueError("the dual bound is for depth 1 (nuclear-norm penalty) only")
    if red.bias:
        b = red.best_bias(X, b)
    _, G = red.ce_terms(X, b if red.bias else None)  # G = P - I, accurate near I
    if red.bias:
        G = _bias_feasible(G, red.w)
    lam = G * red.w[None, :]
    norm = float(np.linalg.norm(lam / red.root_n[None, :], 2))
    t = 1.0 if norm <= red.c else red.c / norm
    value = float(red.w @ _entropy_near_vertex(t * G))
    return value - ROUNDING_ULPS * red.K * np.finfo(float).eps * abs(value)


def origin_proof_decay(red: ReducedCE) -> float:
    """The decay lbar above which the origin is proved to be a global minimizer.

    Returns lbar such that c = (L/2) lbar equals g^q H0^(1-q) (see the module
    docstring).  Exact (necessary and sufficient) at depth 1; sufficient only at
    depth >= 2, where the true threshold is lower.
    """
    cached = red.__dict__.get("_origin_proof_decay")
    if cached is None:  # a fixed number of the problem, asked for several times per solve
        g = red.origin_gradient_norm()
        h0 = red.origin_value()
        c_needed = g ** red.q * h0 ** (1.0 - red.q)
        cached = red.__dict__["_origin_proof_decay"] = 2.0 * c_needed / red.L
    return cached


def origin_is_proved(red: ReducedCE) -> bool:
    """True when c >= g^q H0^(1-q): the origin is a global minimizer."""
    return red.lbar >= origin_proof_decay(red)
