"""RegularizedCESolution: the cross-entropy answer with a regularized bias, and its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..crossentropy.result import GRAM_LIMIT, CESolution, Layers, feature_shape, read_off
from ...inputs.problem import Problem
from ...results.table import _column, _g, _records, _rows, _table, header_lines, summary_line
from .crossentropy import CEPoint, RegularizedCE


@dataclass(frozen=True, eq=False, repr=False)
class RegularizedCESolution:
    """Best cross-entropy minimizer found with a regularized bias, and how certain it is.

    Attributes
    ----------
    problem : Problem
    reduced : RegularizedCE
    best : CEPoint
        The reported logits X (K x K, column k: class k, without bias) and bias.
    certainty : {"proved", "best found"}
    notes : tuple of str
    duality_gap : float or None
        Depth 1: loss minus a proved lower bound on the full objective.
    runs : tuple of CEPoint
        Every start of the search and where it ended, best first.
    limit_losses : (float, float)
        Losses of the free-bias and bias-free answers (lambda_b -> 0 and -> infinity).
    limit_grams : (ndarray, ndarray)
        Their class-mean feature Grams, up to a common power of two
        (:func:`ncsolve.solvers.crossentropy.result.feature_shape`).
    origin_decay_proved : float
        Decay lbar above which the origin is proved to be a global minimizer.
    """

    problem: Problem
    reduced: RegularizedCE
    best: CEPoint
    certainty: str
    notes: tuple[str, ...] = field(default=())
    duality_gap: float | None = None
    runs: tuple[CEPoint, ...] = ()
    limit_losses: tuple[float, float] = (float("nan"), float("nan"))
    limit_grams: tuple = ()
    origin_decay_proved: float = float("nan")

    # ---- core fields -----------------------------------------------------------------------

    @property
    def loss(self) -> float:
        return self.best.loss

    @property
    def bias_value(self) -> np.ndarray:
        return self.best.b

    @property
    def logits(self) -> np.ndarray:
        return self.best.X

    @property
    def rank(self) -> int:
        return self.best.rank

    @cached_property
    def layers(self) -> Layers:
        return read_off(self.problem, self.best.X, self.rank)

    # the same read-off as the other cross-entropy answers
    feature_norm = property(CESolution.feature_norm.fget)
    classifier_norm = property(CESolution.classifier_norm.fget)
    collapsed = property(CESolution.collapsed.fget)

    @property
    def output(self) -> np.ndarray:
        """Own-label logit of each class mean, before the bias."""
        return np.diag(self.best.X).copy()

    @cached_property
    def class_loss(self) -> np.ndarray:
        return self.reduced.red.class_losses(self.best.X, self.best.b)

    @cached_property
    def margin(self) -> np.ndarray:
        Z = self.best.X + self.best.b[:, None]
        if self.problem.K == 1:
            return np.zeros(1)
        other = np.where(np.eye(self.problem.K, dtype=bool), -np.inf, Z).max(axis=0)
        return np.diag(Z) - other

    @cached_property
    def ce_loss(self) -> float:
        return float(self.reduced.red.ce(self.best.X, self.best.b)[0])

    @cached_property
    def bias_penalty(self) -> float:
        return 0.5 * self.reduced.lambda_b * float(self.best.b @ self.best.b)

    @property
    def unique(self) -> bool | None:
        return True if self.rank == 0 else None

    @cached_property
    def toward_bias_free(self) -> float | None:
        from .solver import position_of

        return position_of(feature_shape(self.problem, self.best.X, self.rank), *self.limit_grams)

    @cached_property
    def geometry(self) -> str:
        p, X = self.problem, self.best.X
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

    # ---- matrices --------------------------------------------------------------------------

    def gram_features(self) -> np.ndarray:
        return self.layers.feature_gram

    def gram_classifier(self) -> np.ndarray:
        return self.layers.classifier_gram

    def gram_outputs(self) -> np.ndarray:
        return self.best.X

    # ---- output ----------------------------------------------------------------------------

    def to_dict(self, grams: bool | None = None) -> dict:
        """JSON-ready dictionary (``ncsolve predict --loss ce --bias regularized --json``)."""
        include = self.problem.K <= GRAM_LIMIT if grams is None else bool(grams)
        p = self.problem
        out = {
            "problem": p.to_dict(),
            "loss": float(self.loss),
            "ce_loss": self.ce_loss,
            "penalty": float(self.loss - self.ce_loss - self.bias_penalty),
            "bias_penalty": self.bias_penalty,
            "unique": self.unique,
            "geometry": self.geometry,
            "certainty": self.certainty,
            "rank": self.rank,
            "rank_cap": p.rank_cap,
            "notes": list(self.notes),
            "bias_value": _column(self.bias_value),
            "toward_bias_free": self.toward_bias_free,
            "duality_gap": self.duality_gap,
            "limits": {"free": self.limit_losses[0], "none": self.limit_losses[1]},
            "origin_proved_above_decay": float(self.origin_decay_proved),
            "classes": _records({
                "class": list(range(p.K)), "n": p.n.tolist(),
                "feature_norm": _column(self.feature_norm),
                "classifier_norm": _column(self.classifier_norm),
                "output": _column(self.output), "bias_value": _column(self.bias_value),
                "collapsed": self.collapsed.tolist(), "class_loss": _column(self.class_loss),
                "margin": _column(self.margin)}),
            "runs": [{"start": r.start, "loss": float(r.loss), "rank": r.rank,
                      "iterations": r.iterations} for r in self.runs],
            "singular_values": _column(self.layers.s),
        }
        out["gram"] = ({"features": self.gram_features().tolist(),
                        "classifier": self.gram_classifier().tolist(),
                        "outputs": self.gram_outputs().tolist()} if include else None)
        return out

    def __repr__(self) -> str:
        return (f"RegularizedCESolution(K={self.problem.K}, depth={self.problem.depth}, "
                f"lambda_b={self.problem.lambda_b:g}, loss={self.loss:.6g}, rank={self.rank}, "
                f"certainty={self.certainty!r})")

    def __str__(self) -> str:
        p = self.problem
        position = "-" if self.toward_bias_free is None else f"{self.toward_bias_free:.6g}"
        header = ["class", "n", "feature_norm", "classifier_norm", "output", "bias_value",
                  "class_loss", "margin", "collapsed"]
        rows = [None if k is None else [
            str(k), str(p.n[k]), _g(self.feature_norm[k]), _g(self.classifier_norm[k]),
            _g(self.output[k]), _g(self.bias_value[k]), _g(self.class_loss[k]),
            _g(self.margin[k]), "yes" if self.collapsed[k] else "no"] for k in _rows(p.K)]
        model, decays = header_lines(p, "cross-entropy")
        lines = [
            model.replace("bias regularized", f"bias regularized (lambda_b = {_g(p.lambda_b)})"),
            decays,
            summary_line(self),
            f"cross-entropy {self.ce_loss:.6g}, bias penalty {self.bias_penalty:.3g}; limits: "
            f"free bias {self.limit_losses[0]:.10g}, bias-free {self.limit_losses[1]:.10g}",
            f"position between the free-bias (0) and bias-free (1) geometry: {position}",
            "",
            *_table(header, rows, p.K),
        ]
        if self.notes:
            lines += ["", "notes:", *(f"  - {note}" for note in self.notes)]
        return "\n".join(lines)
