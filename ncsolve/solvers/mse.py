"""Assembling the global minimizer of the MSE model from the scalar solutions.

Data flow: Problem -> target spectrum (spectral) -> per-direction minima
(scalar) -> rank cap -> every layer's singular values, per-class lengths,
Grams, loss and geometry (here). See docs/theory.md for the derivation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..core import scalar
from ..core.balance import (decay_scales, factor_values, layer_parts, layer_scales,
                            layer_values, power)
from ..inputs.problem import Problem
from ..results.base import ClassesFromDirections, Result, frozen_array
from ..core.constants import EXACT, MSE_JSON_GRAMS_MAX_K
from ..core.spectral import Spectrum, target_spectrum
from ..core import readoff

CAPPED = scalar.CAPPED  # nonzero on its own, but cut by the rank cap of narrow layers
SAFE_LOG2 = 1020.0  # log2 of the largest value taken as surely finite (float64 ends at 1024)


@dataclass(frozen=True, eq=False, repr=False)
class Solution(ClassesFromDirections, Result):
    """The exact global minimizer of one MSE problem.

    Direction arrays (index i) are ordered by decreasing target singular value
    ``sigma``; class arrays (index k) follow the input order of ``n``.

    Attributes
    ----------
    problem : Problem
    loss : float
        Objective value at the global minimum.
    unique : bool
        False when the minimizer is not unique (a phase-boundary tie, or the
        rank cap cutting through equal singular values); ``notes`` says why.
    geometry : str
        Orthogonal frame, simplex ETF, general orthogonal frame, ...
    notes : tuple of str
        Everything the user should know beyond the numbers.
    sigma, z, z_local : ndarray, shape (K,)
        Target singular value, global-minimum output singular value, and the
        nonzero local minimum of each direction (nan where none exists).
    code : ndarray of int8, shape (K,)
        Per direction, the state as an index into ``scalar.STATES`` (cheap at large K).
    direction_state : ndarray of str, shape (K,)
        Per direction: ``active``, ``collapsed``, ``window``, ``tie``, ``empty``
        or ``capped`` (beyond the rank cap of narrow layers: zero at every decay).
    direction_critical_decay : ndarray, shape (K,)
        Per direction, the geometric mean of all decays above which it is zero
        at the global minimum, everything else fixed (0 where it is zero at any
        decay: capped or empty directions).
    singular_values : ndarray, shape (K, M + 1)
        Per direction, the singular values of H, W_1, ..., W_M.
    feature_norm, classifier_norm, output : ndarray, shape (K,)
        Per class: ``||hbar_k||``, the length of row k of W_M...W_1, and the
        output of the class mean on its own label (before any bias).
    collapsed : ndarray of bool, shape (K,)
        Per class: its class mean (hence its outputs) is zero.
    critical_decay, state : ndarray, shape (K,)
        Per class: the geometric-mean decay above which its class mean is zero,
        and the state of its leading direction (the largest-sigma direction with
        a component on the class; bias-free, the class's own direction).
    certainty : str
        ``"exact"``: the closed form is the global minimum.
    layer_feature_norms : ndarray, shape (M + 1, K)
        Row j: class-mean lengths of the features W_j...W_1 H (row 0 is H).
    bias_value : ndarray or None
        The learned bias (free bias only); it equals n / N.
    """

    problem: Problem
    spectrum: Spectrum
    z: np.ndarray
    z_local: np.ndarray
    code: np.ndarray
    residual: np.ndarray
    notes: tuple[str, ...] = field(default=())
    certainty: str = field(default=EXACT, init=False)

    certainty_reason = ""  # a closed form: nothing to explain
    GRAM_LIMIT = MSE_JSON_GRAMS_MAX_K  # their JSON grows as K^2: about 0.3 s and 3 MB at K = 200
    JSON_KEYS = ("problem", "loss", "certainty", "unique", "geometry", "rank", "rank_cap",
                 "notes", "bias_value", "classes", "directions", "gram")
    CLASS_KEYS = ("class", "n", "feature_norm", "classifier_norm", "output", "collapsed",
                  "critical_decay", "state", "feature_norms_by_layer")
    DIRECTION_KEYS = ("direction", "sigma", "z", "z_local", "state", "critical_decay",
                      "singular_values")
    TEXT_CLASS_COLUMNS = ("class", "n", "feature_norm", "classifier_norm", "output",
                          "critical_decay", "state", "collapsed")

    def __post_init__(self):
        for array in (self.z, self.z_local, self.code, self.residual):
            array.setflags(write=False)

    @frozen_array
    def direction_state(self) -> np.ndarray:
        """Per direction, the state named from the int8 ``code``."""
        return scalar.state_names(self.code)

    # ---- per direction ---------------------------------------------------------------

    @property
    def sigma(self) -> np.ndarray:
        return self.spectrum.sigma

    @cached_property
    def rank(self) -> int:
        """Number of nonzero directions: the rank of the product W_M...W_1 H."""
        return int(np.count_nonzero(self.z))

    @cached_property
    def loss(self) -> float:
        p = self.problem
        fit = float(np.sum(self.residual**2)) / (2.0 * p.N)
        active = self.z[self.z > 0]  # c may overflow where every direction is zero
        return fit + (p.c * float(np.sum(power(active, p.q))) if active.size else 0.0)

    @frozen_array
    def singular_values(self) -> np.ndarray:
        return factor_values(self.problem, self.z)

    @frozen_array
    def direction_critical_decay(self) -> np.ndarray:
        decay = scalar.critical_decay(self.sigma, self.problem.N, self.problem.L)
        return readoff.direction_decays(decay, self.code)

    @cached_property
    def _layer_scales(self):
        """:func:`layer_scales` of the problem (a Python loop over the layers): once."""
        return layer_scales(self.problem)

    def surely_representable(self) -> bool:
        """True when every length and singular value of the answer is below float64's
        largest number by a margin; False means "form them and look".

        O(K + depth) from the largest sigma and z: each per-class length is a root
        mean square of per-direction values (a row of the orthogonal A weights
        them), so it is at most the largest of them, and that is at most
        ``sigma_max * z_max^p * 2^e`` for the layer's power p of z and scale 2^e.
        The bounds are taken in log2, so they never overflow themselves. The squared
        mantissas that the lengths are formed from need no bound: with N <= 2^53,
        sigma z^p <= sigma^2 <= N, so they stay below 2^108.
        """
        z_max = float(np.max(self.z, initial=0.0))
        if z_max == 0.0:
            return True  # every value is zero
        p = self.problem
        log_z, log_sigma = math.log2(z_max), math.log2(max(float(self.sigma[0]), 1.0))
        f_m, f_e, c_m, c_e = self._layer_scales
        d_m, d_e = decay_scales(p)
        power = np.arange(1, p.depth + 2) / p.L
        feature = log_sigma + power * log_z + np.log2(f_m)  # mantissas, before 2^f_e
        classifier = (1.0 - power) * log_z + np.log2(c_m)
        logs = np.concatenate([feature + f_e, classifier + c_e,
                               log_z / p.L + np.log2(d_m) + d_e])  # singular values
        return bool(np.all(logs < SAFE_LOG2))

    def _layer_parts(self, classifier: bool = False,
                     layers: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """:func:`ncsolve.core.balance.layer_parts` of this answer."""
        return layer_parts(self.problem, self.z, classifier, layers, self._layer_scales)

    def _layer_values(self) -> np.ndarray:
        return layer_values(self.problem, self.z, scales=self._layer_scales)

    def _classifier_values(self) -> np.ndarray:
        return layer_values(self.problem, self.z, classifier=True, scales=self._layer_scales)

    def _class_lengths(self, mantissa: np.ndarray, exponent: np.ndarray) -> np.ndarray:
        """sqrt(diag(A diag(mantissa^2) A^T)) * 2**exponent per column: lengths whose
        squares need not be representable."""
        squares = self.spectrum.diag(mantissa**2)
        with np.errstate(over="ignore"):
            return np.ldexp(np.sqrt(np.maximum(squares, 0.0)), exponent)

    # ---- per class -------------------------------------------------------------------

    @frozen_array
    def _class_diagonals(self) -> np.ndarray:
        """One batched pass over the spectrum: squared class-mean lengths of H,
        squared classifier row lengths, and own-label outputs."""
        sigma = self.sigma
        # H has z^(1/L) sqrt(lbar/lambda_H) and the product of all L factors is z, so
        # the product classifier has z^(1-1/L) sqrt(lambda_H/lbar): no per-layer work.
        # The lengths are formed from mantissas, their powers of two applied after
        # the square root (the squares need not be representable)
        feature, f_e = self._layer_parts(layers=slice(0, 1))
        classifier, c_e = self._layer_parts(classifier=True, layers=slice(0, 1))
        columns = np.stack([(sigma * feature[:, 0]) ** 2, classifier[:, 0] ** 2, self.z * sigma],
                           axis=1)
        out = self.spectrum.diag(columns)
        with np.errstate(over="ignore"):
            out[:, 0] = np.ldexp(np.sqrt(np.maximum(out[:, 0], 0.0)), f_e[0])
            out[:, 1] = np.ldexp(np.sqrt(np.maximum(out[:, 1], 0.0)), c_e[0])
        return out

    @frozen_array
    def feature_norm(self) -> np.ndarray:
        return self._class_diagonals[:, 0] / self.problem.n

    @frozen_array
    def classifier_norm(self) -> np.ndarray:
        return self._class_diagonals[:, 1].copy()

    @frozen_array
    def output(self) -> np.ndarray:
        return self._class_diagonals[:, 2] / self.problem.n

    @frozen_array
    def layer_feature_norms(self) -> np.ndarray:
        mantissa, exponent = self._layer_parts()
        lengths = self._class_lengths(self.sigma[:, None] * mantissa, exponent[None, :])
        return (lengths / self.problem.n[:, None]).T

    @frozen_array
    def _leading_direction(self) -> np.ndarray:
        """Per class, the first direction (largest sigma) with a component on it."""
        return readoff.leading_directions(self.spectrum)

    @property
    def bias_value(self) -> np.ndarray | None:
        if self.problem.bias == "none":
            return None
        return self.problem.n / float(self.problem.N)

    # ---- K x K matrices, computed only on request ------------------------------------

    def gram_features(self, layer: int = 0) -> np.ndarray:
        """Class-mean Gram ``Hbar_j^T Hbar_j`` of the features after W_j...W_1 (K x K);
        inf where an entry is beyond float64 (decays far apart; the lengths stay exact)."""
        values = self._layer_values()[:, self._layer(layer, self.problem.depth)]
        inv_n = 1.0 / self.problem.n
        with np.errstate(over="ignore", invalid="ignore"):
            gram = self.spectrum.matrix((self.sigma * values) ** 2)
        return gram * inv_n[:, None] * inv_n[None, :]

    def gram_classifier(self, layer: int = 0) -> np.ndarray:
        """Gram ``W W^T`` of the product ``W = W_M ... W_{layer+1}`` (K x K); inf where an
        entry is beyond float64."""
        values = self._classifier_values()[:, self._layer(layer, self.problem.depth - 1)]
        with np.errstate(over="ignore", invalid="ignore"):
            return self.spectrum.matrix(values**2)

    def gram_outputs(self) -> np.ndarray:
        """Outputs ``W_M ... W_1 Hbar`` (K x K): column k is class k's mean output."""
        return self.spectrum.matrix(self.z * self.sigma) / self.problem.n[None, :]

    def directions(self) -> np.ndarray:
        """The K x K orthogonal matrix A; column i is direction i in class space."""
        return self.spectrum.vectors()

    @staticmethod
    def _layer(layer: int, top: int) -> int:
        if not 0 <= int(layer) <= top:
            raise ValueError(f"layer must be between 0 and {top}, got {layer}")
        return int(layer)

    # ---- other critical points ----------------------------------------------------------

    def with_z(self, z) -> "Solution":
        """The critical point of the same problem with output singular values ``z``
        (for example the global ``z`` with some directions set to 0)."""
        z = np.array(z, dtype=float)  # a copy: the result freezes its arrays
        if z.shape != self.z.shape or np.any(z < 0):
            raise ValueError(f"z must be {self.z.size} non-negative values")
        code = np.where(z > 0, scalar.CODE[scalar.ACTIVE], scalar.CODE[scalar.COLLAPSED])
        code[self.code == scalar.CODE[CAPPED]] = scalar.CODE[CAPPED]
        return Solution(self.problem, self.spectrum, z, self.z_local, code, self.sigma - z)

    # ---- output -----------------------------------------------------------------------

    @cached_property
    def geometry(self) -> str:
        return readoff.geometry(self.problem, self.rank)

    @property
    def unique(self) -> bool:
        return not any(note.startswith("non-unique") for note in self.notes)

    def layer_singular_values(self) -> np.ndarray:
        return self.singular_values

    def classifier_row_norms(self, layer: int = 0) -> np.ndarray:
        """Row lengths of W_M ... W_{layer+1} from the spectrum (O(K) bias-free)."""
        w = self.singular_values[:, 1:]
        return np.sqrt(np.maximum(self.spectrum.diag(np.prod(w[:, layer:], axis=1) ** 2), 0.0))

    def __repr__(self) -> str:
        p = self.problem
        return (
            f"Solution(K={p.K}, depth={p.depth}, bias={p.bias!r}, loss={self.loss:.6g}, "
            f"rank={self.rank}, geometry={self.geometry!r}, unique={self.unique})"
        )

    def _body_lines(self) -> list[str]:
        lines = ["", *self._class_table(), "", *self._direction_table()]
        if self.bias_value is not None:
            lines += ["", "learned bias b = n / N (the class frequencies)"]
        return lines


def solve(problem: Problem) -> Solution:
    """The exact global minimizer of an MSE problem."""
    spectrum = target_spectrum(problem.n, problem.bias)
    minima = scalar.minimize(spectrum.sigma, problem.N, problem.c, problem.q)
    z, code, residual = minima.z, minima.code, minima.residual  # ours: edited in place
    cap = problem.rank_cap
    capping = readoff.cap_rank(cap, spectrum.sigma, z, residual, code)
    notes = (_phase_notes(problem, spectrum.sigma, minima.z_local, code)
             + readoff.cap_notes(cap, int(capping.cut), bool(capping.equal)))
    return Solution(problem, spectrum, z, minima.z_local, code, residual, notes)


def _phase_notes(problem: Problem, sigma: np.ndarray, z_local: np.ndarray,
                 code: np.ndarray) -> tuple[str, ...]:
    """Notes on the ties and window directions left after the rank cap."""

    def excess(window):
        return (scalar.objective(z_local[window], sigma[window], problem.N, problem.c,
                                 problem.q) - sigma[window] ** 2 / (2.0 * problem.N))

    return (readoff.tie_notes(code, z_local, "{:.17g}".format)
            + readoff.window_notes(code, z_local, excess))
