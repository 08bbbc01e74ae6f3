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

from ...core import readoff
from ...inputs.problem import Problem
from ..mse import GRAM_LIMIT, classifier_values, factor_values, feature_values
from .outer import OuterRun
from .target import FixedBias

PROVED = "proved"
BEST_FOUND = "best found"


@dataclass(frozen=True, eq=False, repr=False)
class RegularizedSolution:
    """The minimizer of one MSE problem with a regularized bias.

    Direction arrays (index i) follow the singular values of the shifted
    target ``T_b`` in decreasing order; class arrays (index k) follow the input
    order of ``n``.

    Attributes
    ----------
    problem : Problem
    point : FixedBias
        The exact inner minimizer at the reported bias.
    certainty : {"proved", "best found"}
        "proved": balanced classes (exact one-variable outer problem) or depth 1
        with a duality gap at rounding level; "best found": the best of a local
        search of the outer problem over the bias (the inner problem is exact).
    notes : tuple of str
    duality_gap : float or None
        Depth 1: reported loss minus a proved lower bound on the full objective.
    runs : tuple of OuterRun
        The outer local searches (empty when the bias is exact).
    toward_bias_free : float or None
        Where the class-mean geometry sits: 0 is the free-bias geometry, 1 the
        bias-free one (see :func:`ncsolve.solvers.regularized.solver.position`).
    direction_critical_decay : ndarray or None
        Balanced classes only: per direction, the geometric-mean decay above
        which it is zero at the global minimum (all else, lambda_b included, fixed).
    """

    problem: Problem
    point: FixedBias
    certainty: str
    notes: tuple[str, ...] = field(default=())
    duality_gap: float | None = None
    runs: tuple[OuterRun, ...] = ()
    toward_bias_free: float | None = None
    direction_critical_decay: np.ndarray | None = None

    # ---- per direction -------------------------------------------------------------------

    @property
    def loss(self) -> float:
        return self.point.loss

    @property
    def bias_value(self) -> np.ndarray:
        return self.point.b

    @property
    def sigma(self) -> np.ndarray:
        return self.point.sigma

    @property
    def z(self) -> np.ndarray:
        return self.point.z

    @property
    def z_local(self) -> np.ndarray:
        return self.point.z_local

    @property
    def direction_state(self) -> np.ndarray:
        return self.point.state

    @cached_property
    def rank(self) -> int:
        return int(np.count_nonzero(self.z))

    @cached_property
    def singular_values(self) -> np.ndarray:
        """(K, M + 1): per direction, the singular values of H (all samples), W_1, ..., W_M."""
        return factor_values(self.problem, self.z)

    def _layer_values(self) -> np.ndarray:
        return feature_values(self.singular_values)

    def _classifier_values(self) -> np.ndarray:
        return classifier_values(self.singular_values)

    @cached_property
    def _direction_decay(self) -> np.ndarray:
        """Per direction: the decay lbar above which it is zero at the global minimum,
        all else (lambda_b included) fixed; known for balanced classes, nan otherwise."""
        if self.direction_critical_decay is None:
            return np.full(self.problem.K, np.nan)
        return self.direction_critical_decay

    @cached_property
    def _leading_direction(self) -> np.ndarray:
        """Per class, the first direction with a component on it (see Solution)."""
        return readoff.leading_in_vectors(self.point.V)

    @property
    def critical_decay(self) -> np.ndarray:
        """Per class: that of its leading direction (nan where not known)."""
        return readoff.per_class(self._direction_decay, self._leading_direction)

    @property
    def state(self) -> np.ndarray:
        """Per class: the state of its leading direction."""
        return readoff.per_class(self.direction_state, self._leading_direction)

    # ---- per class -----------------------------------------------------------------------

    @cached_property
    def _scaled_v(self) -> np.ndarray:
        """D^(-1/2) V: column i maps direction i to class-mean coordinates."""
        return self.point.V / np.sqrt(self.problem.n.astype(float))[:, None]

    @cached_property
    def layer_feature_norms(self) -> np.ndarray:
        """(M + 1, K): row j holds the class-mean lengths of W_j...W_1 H (row 0 is H)."""
        squares = (self._scaled_v**2) @ (self._layer_values() ** 2)
        return np.sqrt(np.maximum(squares, 0.0)).T

    @property
    def feature_norm(self) -> np.ndarray:
        return self.layer_feature_norms[0]

    @cached_property
    def classifier_norm(self) -> np.ndarray:
        return np.sqrt(np.maximum((self.point.U**2) @ (self._classifier_values()[:, 0] ** 2), 0))

    @cached_property
    def output(self) -> np.ndarray:
        """Per class: its mean output on its own label, before the bias."""
        return np.einsum("ki,i,ki->k", self.point.U, self.z, self._scaled_v)

    @cached_property
    def collapsed(self) -> np.ndarray:
        return readoff.collapsed(self.feature_norm)

    # ---- K x K matrices --------------------------------------------------------------------

    def gram_features(self, layer: int = 0) -> np.ndarray:
        """Class-mean Gram ``Hbar_j^T Hbar_j`` of the features after W_j...W_1 (K x K)."""
        values = self._layer_values()[:, _layer(layer, self.problem.depth)]
        return (self._scaled_v * values**2) @ self._scaled_v.T

    def gram_classifier(self, layer: int = 0) -> np.ndarray:
        """Gram ``W W^T`` of the product ``W = W_M ... W_{layer+1}`` (K x K)."""
        values = self._classifier_values()[:, _layer(layer, self.problem.depth - 1)]
        return (self.point.U * values**2) @ self.point.U.T

    def gram_outputs(self) -> np.ndarray:
        """Outputs ``W_M ... W_1 Hbar`` (K x K, before the bias): column k is class k's."""
        return (self.point.U * self.z) @ self._scaled_v.T

    # ---- summary ---------------------------------------------------------------------------

    @cached_property
    def geometry(self) -> str:
        return readoff.geometry(self.problem, self.rank,
                                cosine=lambda: mean_cosine(self.gram_features()))

    @property
    def unique(self) -> bool:
        return not any(note.startswith("non-unique") for note in self.notes)

    def to_dict(self, grams: bool | None = None) -> dict:
        """JSON-ready dictionary (the output of ``ncsolve predict --json``)."""
        from .report import solution_dict

        include = self.problem.K <= GRAM_LIMIT if grams is None else bool(grams)
        return solution_dict(self, include)

    def __repr__(self) -> str:
        return (f"RegularizedSolution(K={self.problem.K}, depth={self.problem.depth}, "
                f"lambda_b={self.problem.lambda_b:g}, loss={self.loss:.6g}, rank={self.rank}, "
                f"geometry={self.geometry!r}, certainty={self.certainty!r})")

    def __str__(self) -> str:
        from .report import solution_text

        return solution_text(self)


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
