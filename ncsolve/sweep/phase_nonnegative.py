"""Phase maps with nonnegative features (H >= 0, after a ReLU; docs/nonnegative.md).

Two cases have thresholds that are not searched:

* bias-free MSE, any depth: the constraint does not bind, so the curves are the
  unconstrained ones (exact);
* bias-free cross-entropy at depth 1: class k is zero at the global minimum
  exactly when ``n_k <= K N^2 lambda_W lambda_H / (K - 1)``, i.e. above the
  critical decay ``lbar_k = sqrt(n_k (K-1)/K) / N`` (proved; the closed form of
  :mod:`ncsolve.solvers.nonnegative.closed`). Each class's reduced problem is a
  convex scalar problem, so its nonzero stationary point exists exactly below
  the same decay: no window, ``existence_decay = critical_decay``.

Everything else (a bias, deeper cross-entropy heads) is only searched; a phase map
of it is refused with what is available instead.
"""

from __future__ import annotations

import numpy as np

from ..core.constants import EXACT, PROVED
from ..inputs.problem import Problem
from ..inputs.validation import invalid
from ..solvers.nonnegative.closed import ce_depth1_applies, critical_decays
from ..solvers.nonnegative.solver import does_not_bind

AVAILABLE = ("with --features nonnegative, phase has exact curves for --loss mse --bias none "
             "(the constraint does not bind) and proved ones for --loss ce --bias none "
             "--depth 1 (per-class collapse thresholds)")
SEARCHED = ("; use ncsolve sweep --features nonnegative over ratio and decay instead (its "
            "answers there are searched: best found)")


def check(classes: int, depths, bias: str, loss: str) -> str:
    """The certainty of a nonnegative phase map, or a refusal naming what is available.

    The rule is the solver's own: a probe problem of each depth asks
    :func:`does_not_bind` and :func:`ce_depth1_applies` (wide layers).
    """
    for depth in depths:
        probe = Problem.build([1] * classes, depth, bias=bias, loss=loss,
                              features="nonnegative")
        if does_not_bind(probe) or ce_depth1_applies(probe):
            continue
        if bias != "none":
            raise invalid("bias", f"{AVAILABLE}; {loss} with a {bias} bias is only "
                          f"searched{SEARCHED}")
        raise invalid("depth", f"{AVAILABLE}; cross-entropy at depth {depth} is only "
                      f"searched{SEARCHED}")
    return PROVED if loss == "ce" else EXACT


def ce_thresholds(group_sizes: np.ndarray, N: np.ndarray, K: int) -> np.ndarray:
    """Critical decays (lbar) of the class groups, shape (P, S), at every ratio."""
    return critical_decays(group_sizes, np.asarray(N, dtype=float)[:, None], K)


def notes(loss: str) -> tuple[str, ...]:
    if loss == "mse":
        return ("features >= 0 does not bind for bias-free MSE (orthogonal class means "
                "rotate onto coordinate axes): these are the unconstrained curves, exact",)
    return ("nonnegative features, cross-entropy, bias-free, depth 1 (Dang, Tran, Nguyen, Ho, "
            "ICML 2024; docs/nonnegative.md section 2): class k is zero at the global minimum "
            "exactly when n_k <= K N^2 lambda_W lambda_H / (K-1), i.e. lbar >= "
            "sqrt(n_k (K-1)/K) / N (proved); smallest classes first, all at once above the "
            "largest class's decay (loss log K)",
            "no window: each class's reduced problem is convex in its margin, so "
            "existence_decay equals critical_decay",
            "sigma is sqrt(n_k), the scale of the class (as for bias-free MSE)")
