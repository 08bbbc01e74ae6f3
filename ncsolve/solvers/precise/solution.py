"""The high-precision answer: :class:`PreciseSolution` (mpmath numbers, decimal-string JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
from mpmath import mpf

from ...core import readoff
from ...core.constants import EXACT
from ...inputs.problem import Problem
from .digits import GUARD_DIGITS
from .sparse import sparse_gram
from .text import PreciseText

__all__ = ["PreciseSolution"]


@dataclass(frozen=True, eq=False)
class PreciseSolution(PreciseText):
    """The global minimizer computed to ``precision`` significant digits.

    The same quantities as the float64 :class:`ncsolve.solvers.mse.Solution`, as
    mpmath numbers: per-direction fields follow decreasing target singular
    value, per-class fields the input order. ``to_dict()`` has the keys of
    ``ncsolve predict --json`` with every number as a decimal string of
    ``precision`` significant digits, plus ``precision`` and ``route``.

    Attributes
    ----------
    problem : Problem
    precision : int
        Requested significant digits.
    sigma, z : tuple of mpf
        Per direction: target singular value and global-minimum output singular value.
    z_local : tuple of (mpf or None)
        Per direction: the nonzero local minimum, None where there is none.
    residual : tuple of mpf
        Per direction: ``sigma - z``, computed without cancellation (from the
        relative gap of the root, not by subtraction).
    roots : tuple of tuple
        Per direction: every positive stationary point, increasing.
    direction_state : tuple of str
        Per direction: active, collapsed, window, tie, empty or capped.
    singular_values : tuple of tuple
        Per direction: singular values of H, W_1, ..., W_M.
    direction_critical_decay : tuple of mpf
        Per direction: the lbar above which it is zero at the global minimum
        (0 for empty and capped directions).
    critical_decay, state : tuple
        Per class: those of its leading direction (the first with a component on
        the class), as for :class:`ncsolve.solvers.mse.Solution`.
    feature_norm, classifier_norm, output : tuple of mpf
        Per class: ``||hbar_k||``, ``||w_k||`` (row k of ``W_M...W_1``) and the
        output of the class mean on its own label (before any bias).
    collapsed : tuple of bool
    layer_feature_norms : tuple of tuple
        Row j: class-mean lengths of the features ``W_j...W_1 H`` (row 0 is H).
    loss : mpf
    notes : tuple of str
    """

    problem: Problem
    precision: int
    sigma: tuple
    z: tuple
    z_local: tuple
    residual: tuple
    roots: tuple
    direction_state: tuple
    singular_values: tuple
    direction_critical_decay: tuple
    vectors: tuple
    feature_norm: tuple
    classifier_norm: tuple
    output: tuple
    collapsed: tuple
    layer_feature_norms: tuple
    loss: mpf
    notes: tuple = field(default=())
    certainty: str = field(default=EXACT, init=False)

    @property
    def _leading_direction(self) -> np.ndarray:
        """Per class, the first direction with a nonzero entry on it."""
        touched = np.zeros((self.problem.K, len(self.vectors)), dtype=bool)
        for i, vector in enumerate(self.vectors):
            touched[list(vector), i] = True
        return readoff.first_touching(touched)

    @property
    def critical_decay(self) -> tuple:
        decay = np.array(self.direction_critical_decay, dtype=object)
        return tuple(readoff.per_class(decay, self._leading_direction))

    @property
    def state(self) -> tuple:
        return tuple(np.array(self.direction_state)[self._leading_direction].tolist())

    @property
    def rank(self) -> int:
        """Number of nonzero directions (rank of the product W_M...W_1 H)."""
        return sum(1 for v in self.z if v > 0)

    @property
    def unique(self) -> bool:
        return not any(note.startswith("non-unique") for note in self.notes)

    @property
    def geometry(self) -> str:
        return readoff.geometry(self.problem, self.rank)

    @property
    def bias_value(self) -> tuple | None:
        """The learned bias n / N (free bias only)."""
        if self.problem.bias == "none":
            return None
        with mpmath.workdps(self.precision + GUARD_DIGITS):
            return tuple(mpf(int(v)) / self.problem.N for v in self.problem.n)

    def _matrix(self, weight, left=None, right=None) -> list:
        """``diag(1/left) A diag(w) A^T diag(1/right)`` with ``w_i = weight(i)``, every
        product at the working precision (outside it mpmath rounds to 53 bits)."""
        with mpmath.workdps(self.precision + GUARD_DIGITS):
            weights = [weight(i) for i in range(len(self.sigma))]
            return sparse_gram(self.vectors, weights, self.problem.K, left, right)

    def gram_features(self, layer: int = 0) -> list:
        """Class-mean Gram ``Hbar_j^T Hbar_j`` of the features after W_j...W_1 (K x K, mpf)."""
        n = [int(v) for v in self.problem.n]
        return self._matrix(lambda i: (self.sigma[i] * mpmath.fprod(
            self.singular_values[i][: layer + 1])) ** 2, n, n)

    def gram_classifier(self, layer: int = 0) -> list:
        """Gram ``W W^T`` of the product ``W = W_M ... W_{layer+1}`` (K x K)."""
        return self._matrix(lambda i: mpmath.fprod(self.singular_values[i][layer + 1:]) ** 2)

    def gram_outputs(self) -> list:
        """Outputs ``W Hbar`` (K x K): column k is class k's mean output."""
        n = [int(v) for v in self.problem.n]
        return self._matrix(lambda i: self.z[i] * self.sigma[i], None, n)

    def layer_singular_values(self) -> tuple:
        return self.singular_values

    def __repr__(self) -> str:
        p = self.problem
        return (
            f"PreciseSolution(K={p.K}, depth={p.depth}, bias={p.bias!r}, "
            f"precision={self.precision}, loss={mpmath.nstr(self.loss, 6)}, rank={self.rank}, "
            f"geometry={self.geometry!r}, unique={self.unique})"
        )
