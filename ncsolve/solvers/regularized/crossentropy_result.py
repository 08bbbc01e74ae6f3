"""RegularizedCESolution: the cross-entropy answer with a regularized bias."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..crossentropy.result import Layers, read_off
from ...inputs.problem import Problem
from ...results.base import Found
from ...results.table import column
from ..crossentropy.result import LogitAnswer, RunSummary
from .result import position_line


@dataclass(frozen=True, eq=False, repr=False)
class RegularizedCESolution(LogitAnswer):
    """Best cross-entropy minimizer found with a regularized bias, and how certain it is.

    Attributes
    ----------
    problem : Problem
    loss : float
        The reduced objective, bias penalty included.
    logits : ndarray, shape (K, K)
        The reported X (column k: class k, without bias).
    bias_value : ndarray, shape (K,)
        The reported bias (optimal for X).
    rank : int
        Rank of X.
    ce_loss, bias_penalty : float
        Its mean cross-entropy and ``lambda_b/2 ||b||^2``.
    class_loss : ndarray, shape (K,)
        Per-class cross-entropy.
    certainty : {"proved", "best found"}
    notes : tuple of str
    duality_gap : float or None
        Depth 1: loss minus a proved lower bound on the full objective.
    runs : tuple of RunSummary
        Every start of the search and where it ended, best first.
    limit_losses : (float, float)
        Losses of the free-bias and bias-free answers (lambda_b -> 0 and -> infinity).
    toward_bias_free : float or None
        Where the class-mean geometry sits between those two limits (0: free bias).
    origin_decay_proved : float
        Decay lbar above which the origin is proved to be a global minimizer.
    """

    problem: Problem
    loss: float
    logits: np.ndarray
    bias_value: np.ndarray
    rank: int
    ce_loss: float
    bias_penalty: float
    class_loss: np.ndarray
    certainty: str
    notes: tuple[str, ...] = field(default=())
    duality_gap: float | None = None
    runs: tuple[RunSummary, ...] = ()
    limit_losses: tuple[float, float] = (float("nan"), float("nan"))
    toward_bias_free: float | None = None
    origin_decay_proved: float = float("nan")

    certainty_reason = ""  # the notes say why (origin bound, duality gap or search)
    JSON_KEYS = ("problem", "loss", "ce_loss", "penalty", "bias_penalty", "unique", "geometry",
                 "certainty", "rank", "rank_cap", "notes", "bias_value", "toward_bias_free",
                 "duality_gap", "limits", "origin_proved_above_decay", "classes", "runs",
                 "singular_values", "gram")
    CLASS_KEYS = ("class", "n", "feature_norm", "classifier_norm", "output", "bias_value",
                  "collapsed", "class_loss", "margin")
    TEXT_CLASS_COLUMNS = ("class", "n", "feature_norm", "classifier_norm", "output",
                          "bias_value", "class_loss", "margin", "collapsed")

    @cached_property
    def layers(self) -> Layers:
        return read_off(self.problem, self.logits, self.rank)

    @cached_property
    def margin(self) -> np.ndarray:
        """Per class: own logit minus the largest other, bias included."""
        Z = self.logits + self.bias_value[:, None]
        if self.problem.K == 1:
            return np.zeros(1)
        other = np.where(np.eye(self.problem.K, dtype=bool), -np.inf, Z).max(axis=0)
        return np.diag(Z) - other

    @property
    def unique(self) -> bool | None:
        return True if self.rank == 0 else None

    @cached_property
    def geometry(self) -> str:
        p, X = self.problem, self.logits
        if self.rank == 0:
            return "collapsed to the origin (all logits zero)"
        K = p.K
        if K == 1:
            return "a single class"
        off = X[~np.eye(K, dtype=bool)]
        symmetric = np.allclose(np.diag(X), X[0, 0], rtol=1e-6, atol=1e-12) and np.allclose(
            off, off[0], rtol=1e-6, atol=1e-12)
        if symmetric and self.rank == K - 1:
            return "simplex ETF"
        if self.rank == K - 1 and not p.balanced:
            return f"full-rank ({self.rank}) frame: the simplex ETF adjusted to the class sizes"
        return f"rank-{self.rank} logit structure found by search"

    # ---- JSON and text (the rest is the base's) --------------------------------------------

    def _extra_dict(self, grams: bool) -> dict:
        return {
            "ce_loss": self.ce_loss,
            "penalty": float(self.loss - self.ce_loss - self.bias_penalty),
            "bias_penalty": self.bias_penalty,
            "toward_bias_free": self.toward_bias_free,
            "duality_gap": self.duality_gap,
            "limits": {"free": self.limit_losses[0], "none": self.limit_losses[1]},
            "origin_proved_above_decay": float(self.origin_decay_proved),
            "runs": [{"start": r.start, "loss": float(r.loss), "rank": r.rank,
                      "iterations": r.iterations} for r in self.runs],
            "singular_values": column(self.layers.s),
        }

    def _extra_class_columns(self) -> dict:
        return {"bias_value": column(self.bias_value), "class_loss": column(self.class_loss),
                "margin": column(self.margin)}

    def _search_ends(self) -> tuple[Found, ...]:
        return tuple(Found(r.start, float(r.loss), int(r.rank)) for r in self.runs)

    def _body_lines(self) -> list[str]:
        return [f"cross-entropy {self.ce_loss:.6g}, bias penalty {self.bias_penalty:.3g}; limits: "
                f"free bias {self.limit_losses[0]:.10g}, bias-free {self.limit_losses[1]:.10g}",
                position_line(self.toward_bias_free), "", *self._class_table()]

    def __repr__(self) -> str:
        return (f"RegularizedCESolution(K={self.problem.K}, depth={self.problem.depth}, "
                f"lambda_b={self.problem.lambda_b:g}, loss={self.loss:.6g}, rank={self.rank}, "
                f"certainty={self.certainty!r})")
