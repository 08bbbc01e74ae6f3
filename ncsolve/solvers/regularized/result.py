"""RegularizedSolution: the MSE minimizer with a regularized bias, read off layer by layer.

For the bias ``b`` of the answer, ``T_b = U diag(sigma) V^T`` and the reduced
outputs are ``Z = U diag(z) V^T`` (``Z = Zbar D^(1/2)``). With balanced
factors, ``H D^(1/2)`` (class means scaled by sqrt(n_k)) has right singular
vectors V and singular values ``s_H = sqrt(lbar/lambda_H) z^(1/L)``; the
product classifier has left singular vectors U and singular values ``z / s_H``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ...core.balance import class_lengths, factor_values, layer_parts, layer_values
from ...core import readoff
from ...inputs.problem import Problem
from ...results.base import ClassesFromDirections, Found, Result
from ...core.constants import MSE_JSON_GRAMS_MAX_K
from ...results.table import column


@dataclass(frozen=True, eq=False)
class BiasRun:
    """Where one local search of the bias ended.

    Attributes
    ----------
    start : str
        Where it started, in words.
    loss : float
        The loss at the bias it reached (the rest exact for that bias).
    bias_value : ndarray, shape (K,)
    iterations : int
    rank : int
        Nonzero directions at that bias.
    """

    start: str
    loss: float
    bias_value: np.ndarray
    iterations: int
    rank: int


@dataclass(frozen=True, eq=False, repr=False)
class RegularizedSolution(ClassesFromDirections, Result):
    """The minimizer of one MSE problem with a regularized bias.

    Direction arrays (index i) follow the singular values of the shifted
    target ``T_b`` in decreasing order; class arrays (index k) follow the input
    order of ``n``.

    Attributes
    ----------
    problem : Problem
    loss : float
        Objective value, bias penalty included.
    bias_value : ndarray, shape (K,)
        The reported bias.
    U, V : ndarray, shape (K, K)
        Left (output space) and right (class space) singular vectors of ``T_b``;
        column i is direction i.
    sigma, z, z_local : ndarray, shape (K,)
        Per direction: singular value of ``T_b``, its output singular value and
        its nonzero local minimum (nan where none exists).
    direction_state : ndarray of str, shape (K,)
        Per direction, as for :class:`ncsolve.solvers.mse.Solution` (after the rank cap).
    certainty : {"proved", "best found"}
        "proved": balanced classes (exact one-variable outer problem) or depth 1
        with a duality gap at rounding level; "best found": the best of a local
        search of the outer problem over the bias (the inner problem is exact).
    notes : tuple of str
    duality_gap : float or None
        Depth 1: reported loss minus a proved lower bound on the full objective.
    runs : tuple of BiasRun
        The outer local searches, best first (empty when the bias is exact).
    toward_bias_free : float or None
        Where the class-mean geometry sits: 0 is the free-bias geometry, 1 the
        bias-free one (see :func:`ncsolve.solvers.regularized.solver.position`).
    direction_critical_decay : ndarray, shape (K,)
        Per direction, the geometric-mean decay above which it is zero at the
        global minimum (all else, lambda_b included, fixed); known for balanced
        classes, nan otherwise (None given: not known).
    """

    problem: Problem
    loss: float
    bias_value: np.ndarray
    U: np.ndarray
    V: np.ndarray
    sigma: np.ndarray
    z: np.ndarray
    z_local: np.ndarray
    direction_state: np.ndarray
    certainty: str
    notes: tuple[str, ...] = field(default=())
    duality_gap: float | None = None
    runs: tuple[BiasRun, ...] = ()
    toward_bias_free: float | None = None
    direction_critical_decay: np.ndarray | None = None

    certainty_reason = ""  # the notes say why (exact bias, duality gap or search)
    GRAM_LIMIT = MSE_JSON_GRAMS_MAX_K
    JSON_KEYS = ("problem", "loss", "unique", "geometry", "certainty", "rank", "rank_cap",
                 "notes", "bias_value", "toward_bias_free", "duality_gap", "classes",
                 "directions", "runs", "gram")
    CLASS_KEYS = ("class", "n", "feature_norm", "classifier_norm", "output", "bias_value",
                  "collapsed", "critical_decay", "state", "feature_norms_by_layer")
    DIRECTION_KEYS = ("direction", "sigma", "z", "z_local", "state", "critical_decay",
                      "singular_values")
    TEXT_CLASS_COLUMNS = ("class", "n", "feature_norm", "classifier_norm", "output",
                          "bias_value", "collapsed")

    def __post_init__(self):
        if self.direction_critical_decay is None:
            object.__setattr__(self, "direction_critical_decay", np.full(self.problem.K, np.nan))

    # ---- per direction -------------------------------------------------------------------

    @cached_property
    def rank(self) -> int:
        return int(np.count_nonzero(self.z))

    @cached_property
    def singular_values(self) -> np.ndarray:
        """(K, M + 1): per direction, the singular values of H (all samples), W_1, ..., W_M."""
        return factor_values(self.problem, self.z)

    def _layer_values(self) -> np.ndarray:
        return layer_values(self.problem, self.z)

    def _classifier_values(self) -> np.ndarray:
        return layer_values(self.problem, self.z, classifier=True)

    def layer_singular_values(self) -> np.ndarray:
        return self.singular_values

    @cached_property
    def _leading_direction(self) -> np.ndarray:
        """Per class, the first direction with a component on it (see Solution)."""
        return readoff.leading_in_vectors(self.V)

    # ---- per class -----------------------------------------------------------------------

    @cached_property
    def _scaled_v(self) -> np.ndarray:
        """D^(-1/2) V: column i maps direction i to class-mean coordinates."""
        return self.V / np.sqrt(self.problem.n.astype(float))[:, None]

    @cached_property
    def layer_feature_norms(self) -> np.ndarray:
        """(M + 1, K): row j holds the class-mean lengths of W_j...W_1 H (row 0 is H)."""
        return class_lengths(self._scaled_v**2, *layer_parts(self.problem, self.z)).T

    @property
    def feature_norm(self) -> np.ndarray:
        return self.layer_feature_norms[0]

    @cached_property
    def classifier_norm(self) -> np.ndarray:
        mantissa, exponent = layer_parts(self.problem, self.z, classifier=True,
                                         layers=slice(0, 1))
        return class_lengths(self.U**2, mantissa, exponent)[:, 0]

    @cached_property
    def output(self) -> np.ndarray:
        """Per class: its mean output on its own label, before the bias."""
        return np.einsum("ki,i,ki->k", self.U, self.z, self._scaled_v)

    # ---- K x K matrices --------------------------------------------------------------------

    def gram_features(self, layer: int = 0) -> np.ndarray:
        """Class-mean Gram ``Hbar_j^T Hbar_j`` of the features after W_j...W_1 (K x K)."""
        values = self._layer_values()[:, _layer(layer, self.problem.depth)]
        return (self._scaled_v * values**2) @ self._scaled_v.T

    def gram_classifier(self, layer: int = 0) -> np.ndarray:
        """Gram ``W W^T`` of the product ``W = W_M ... W_{layer+1}`` (K x K)."""
        values = self._classifier_values()[:, _layer(layer, self.problem.depth - 1)]
        return (self.U * values**2) @ self.U.T

    def gram_outputs(self) -> np.ndarray:
        """Outputs ``W_M ... W_1 Hbar`` (K x K, before the bias): column k is class k's."""
        return (self.U * self.z) @ self._scaled_v.T

    # ---- summary ---------------------------------------------------------------------------

    @cached_property
    def geometry(self) -> str:
        return readoff.geometry(self.problem, self.rank,
                                cosine=lambda: mean_cosine(self.gram_features()))

    @property
    def unique(self) -> bool:
        return not any(note.startswith("non-unique") for note in self.notes)

    # ---- JSON and text (the rest is the base's) ------------------------------------------

    def _extra_dict(self, grams: bool) -> dict:
        return {
            "toward_bias_free": self.toward_bias_free,
            "duality_gap": self.duality_gap,
            "runs": [{"start": run.start, "loss": float(run.loss),
                      "bias_value": column(run.bias_value), "iterations": run.iterations}
                     for run in self.runs],
        }

    def _extra_class_columns(self) -> dict:
        return {"bias_value": column(self.bias_value)}

    def _search_ends(self) -> tuple[Found, ...]:
        return tuple(Found(run.start, float(run.loss), int(run.rank)) for run in self.runs)

    def _body_lines(self) -> list[str]:
        return [position_line(self.toward_bias_free), "", *self._class_table(), "",
                *self._direction_table()]

    def __repr__(self) -> str:
        return (f"RegularizedSolution(K={self.problem.K}, depth={self.problem.depth}, "
                f"lambda_b={self.problem.lambda_b:g}, loss={self.loss:.6g}, rank={self.rank}, "
                f"geometry={self.geometry!r}, certainty={self.certainty!r})")



def position_line(toward_bias_free: float | None) -> str:
    """Where the geometry sits between the two limits of lambda_b, as a line of text."""
    position = "-" if toward_bias_free is None else f"{toward_bias_free:.6g}"
    return f"position between the free-bias (0) and bias-free (1) geometry: {position}"


def _layer(layer: int, top: int) -> int:
    if not 0 <= int(layer) <= top:
        raise ValueError(f"layer must be between 0 and {top}, got {layer}")
    return int(layer)


def mean_cosine(gram: np.ndarray) -> float:
    """Mean cosine between distinct class means, from their Gram matrix (nan if undefined)."""
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    K = gram.shape[0]
    if K < 2 or np.any(norms == 0):
        return float("nan")
    cos = gram / np.outer(norms, norms)
    return float((cos.sum() - np.trace(cos)) / (K * (K - 1)))
