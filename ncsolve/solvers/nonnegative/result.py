"""The answer under H >= 0: a configuration of class means and weights, read off directly.

Unlike the unconstrained answers, which are read off a spectrum, a nonnegative
answer holds the matrices themselves (class means Hbar, the weights W_j and the
bias): every per-class field and Gram matrix is computed from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...core.constants import CE_JSON_GRAMS_MAX_K, RUN_RANK_RTOL, SEARCH_COLLAPSED_RTOL
from ...inputs.problem import Problem
from ...results.base import Found, Result, frozen_array
from ...results.table import column, fmt, table, shown_rows
from .reduced import Point

__all__ = ["NonnegativeSolution", "frame_geometry"]

ORTHOGONAL_ATOL = 1e-6  # |cosine| between class means below this: orthogonal


def frame_geometry(means: np.ndarray, collapsed: np.ndarray, balanced: bool) -> str:
    """Name of the class-mean structure: orthogonal frame or not (with the largest cosine)."""
    active = means[:, ~collapsed]
    if active.shape[1] == 0:
        return "collapsed (every class mean is zero)"
    unit = active / np.linalg.norm(active, axis=0)
    cos = unit.T @ unit - np.eye(active.shape[1])
    worst = float(np.max(np.abs(cos), initial=0.0))
    if worst > ORTHOGONAL_ATOL:
        return f"nonnegative, not orthogonal (largest cosine between class means {worst:.3g})"
    lengths = np.linalg.norm(active, axis=0)
    same = balanced and np.allclose(lengths, lengths[0], rtol=1e-6)
    kind = "orthogonal frame" if same else "general orthogonal frame"
    return f"{kind} in the nonnegative orthant"


@dataclass(frozen=True, eq=False)
class NonnegativeSolution(Result):
    """Minimizer of the model with nonnegative features (H >= 0), proved or best found.

    Attributes
    ----------
    problem : Problem
        The input (``problem.features == "nonnegative"``).
    loss : float
        Objective at the reported configuration (NC1 holds: every sample at its class mean).
    point : Point
        Class means (d_1 x K, >= 0), weights W_1..W_M and bias.
    certainty, certainty_reason : str
        ``proved`` (a closed form) or ``best found`` (a bounded search), and why.
    unique : bool or None
    notes : tuple of str
    ends : tuple of Found
        Where the local runs of a search ended (empty for a closed form).
    class_critical_decay : ndarray
        Per class, the lbar at and above which its mean is zero (nan: not known).
    """

    problem: Problem
    loss: float
    point: Point
    certainty: str
    certainty_reason: str
    unique: bool | None
    notes: tuple = ()
    ends: tuple = ()
    class_critical_decay: np.ndarray = field(default=None)

    GRAM_LIMIT = CE_JSON_GRAMS_MAX_K
    JSON_KEYS = ("problem", "features", "loss", "certainty", "certainty_reason", "unique",
                 "geometry", "rank", "rank_cap", "notes", "bias_value", "classes", "search",
                 "gram")
    CLASS_KEYS = ("class", "n", "feature_norm", "classifier_norm", "output", "collapsed",
                  "critical_decay", "state", "feature_norms_by_layer")
    TEXT_CLASS_COLUMNS = ("class", "n", "feature_norm", "classifier_norm", "output", "state",
                          "critical_decay")

    @property
    def LOSS_NAME(self) -> str:  # noqa: N802 (the base's class attribute, per answer here)
        return "cross-entropy" if self.problem.loss == "ce" else "MSE"

    # ---- per class --------------------------------------------------------------------

    @frozen_array
    def feature_norm(self) -> np.ndarray:
        """||hbar_k|| per class."""
        return np.linalg.norm(self.point.means, axis=0)

    @frozen_array
    def classifier_norm(self) -> np.ndarray:
        """Row lengths of W_M ... W_1."""
        return np.linalg.norm(self.point.product(), axis=1)

    @frozen_array
    def output(self) -> np.ndarray:
        """Per class: output of its mean on its own label (before any bias)."""
        return np.diag(self.gram_outputs()).copy()

    @frozen_array
    def collapsed(self) -> np.ndarray:
        """Class means that are zero (relative to the largest)."""
        norm = self.feature_norm
        return norm <= SEARCH_COLLAPSED_RTOL * max(float(norm.max(initial=0.0)), 1e-300)

    @property
    def critical_decay(self) -> np.ndarray:
        if self.class_critical_decay is None:
            return np.full(self.problem.K, np.nan)
        return self.class_critical_decay

    @property
    def bias_value(self):
        return self.point.bias

    @property
    def geometry(self) -> str:
        return frame_geometry(self.point.means, self.collapsed, self.problem.balanced)

    @property
    def rank(self) -> int:
        out = self.gram_outputs()
        s = np.linalg.svd(out, compute_uv=False)
        return int(np.count_nonzero(s > RUN_RANK_RTOL * max(float(s.max(initial=0)), 1e-300)))

    @frozen_array
    def layer_feature_norms(self) -> np.ndarray:
        """(M + 1, K): class-mean lengths after 0..M layers (row M: outputs before the bias)."""
        return np.array([np.linalg.norm(f, axis=0) for f in self.point.layer_features()])

    # ---- matrices ---------------------------------------------------------------------

    def gram_features(self, layer: int = 0) -> np.ndarray:
        F = self.point.layer_features()[layer]
        return F.T @ F

    def gram_classifier(self, layer: int = 0) -> np.ndarray:
        W = self.point.weights[layer]
        for V in self.point.weights[layer + 1:]:
            W = V @ W
        return W @ W.T

    def gram_outputs(self) -> np.ndarray:
        return self.point.layer_features()[-1]

    def layer_singular_values(self) -> np.ndarray:
        """(K, M + 1): singular values of H (that is, of Hbar D^(1/2)) and of each W_j."""
        K = self.problem.K
        G = self.point.means * np.sqrt(np.asarray(self.problem.n, dtype=float))
        out = np.zeros((K, self.problem.depth + 1))
        for j, A in enumerate((G, *self.point.weights)):
            s = np.linalg.svd(A, compute_uv=False)[:K]
            out[: s.size, j] = s
        return out

    def _search_ends(self) -> tuple[Found, ...]:
        return tuple(self.ends)

    # ---- JSON and text ----------------------------------------------------------------

    def _extra_dict(self, grams: bool) -> dict:
        record = self.search_record()
        return {"features": self.problem.features, "certainty_reason": self.certainty_reason,
                "search": {"restarts": record.restarts, "hits": record.hits,
                           "ends": [{"start": e.label, "loss": e.loss, "rank": e.rank}
                                    for e in self.ends]}}

    def _body_lines(self) -> list[str]:
        record = self.search_record()
        lines = ["features: nonnegative (H >= 0 elementwise, as after a ReLU)",
                 f"why {self.certainty}: {self.certainty_reason}"]
        if self.ends:
            lines.append(f"search: {record.restarts} bounded local runs, {record.hits} reached "
                         "the reported loss")
        if self.bias_value is not None:
            lines.append(f"bias: {', '.join(fmt(v) for v in column(self.bias_value))}")
        return [*lines, "", *table(*self._class_rows(shown_rows(self.problem.K)),
                                   self.problem.K)]
