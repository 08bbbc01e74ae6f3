"""The exact MSE minimizer for any target: label smoothing, soft labels, per-sample.

Data flow: Problem (with ``target``) -> target spectrum (core.target_spectrum) ->
per-direction minima (core.scalar, the same scalar problem as one-hot labels) ->
rank cap and notes (core.readoff) -> every layer's singular values (core.balance)
-> per-class lengths, Grams, loss and geometry (here). docs/targets.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..core import readoff, scalar
from ..core.balance import factor_values, layer_values, power
from ..core.constants import EXACT, MSE_JSON_GRAMS_MAX_K
from ..core.target_spectrum import TargetSpectrum, target_spectrum_of
from ..inputs.problem import Problem
from ..results.base import ClassesFromDirections, Result, frozen_array
from ..results.table import fmt, shown_rows, table
from .mse import _phase_notes

SAME_RTOL = 1e-9  # lengths and cosines this close count as equal in the geometry label


@dataclass(frozen=True, eq=False, repr=False)
class TargetSolution(ClassesFromDirections, Result):
    """The exact global minimizer of an MSE problem whose target is not one-hot.

    Direction arrays (index i) follow decreasing target singular value ``sigma``;
    class arrays (index k) the input order of ``n`` (none for per-sample targets).
    Fields as :class:`ncsolve.solvers.mse.Solution`; in addition ``target_residual``
    per class (the distance of the class-mean output, bias included, to the class's
    own target) and, for per-sample targets, the regression read-off of
    :meth:`regression`.
    """

    problem: Problem
    spectrum: TargetSpectrum
    z: np.ndarray
    z_local: np.ndarray
    code: np.ndarray
    residual: np.ndarray
    notes: tuple[str, ...] = field(default=())
    certainty: str = EXACT
    bias: np.ndarray | None = None  # a regularized bias: the one found (else derived)

    certainty_reason = ""
    GRAM_LIMIT = MSE_JSON_GRAMS_MAX_K
    JSON_KEYS = ("problem", "loss", "certainty", "unique", "geometry", "rank", "rank_cap",
                 "notes", "bias_value", "target", "classes", "directions", "gram")
    CLASS_KEYS = ("class", "n", "feature_norm", "classifier_norm", "output", "target_residual",
                  "collapsed", "critical_decay", "state", "feature_norms_by_layer")
    DIRECTION_KEYS = ("direction", "sigma", "z", "z_local", "state", "critical_decay",
                      "singular_values")
    TEXT_CLASS_COLUMNS = ("class", "n", "feature_norm", "classifier_norm", "output",
                          "target_residual", "critical_decay", "state", "collapsed")

    def __post_init__(self):
        for array in (self.z, self.z_local, self.code, self.residual):
            array.setflags(write=False)

    # ---- per direction -------------------------------------------------------------------

    @property
    def sigma(self) -> np.ndarray:
        return self.spectrum.sigma

    @property
    def per_sample(self) -> bool:
        return self.spectrum.right is None

    @cached_property
    def rank(self) -> int:
        return int(np.count_nonzero(self.z))

    @cached_property
    def loss(self) -> float:
        p = self.problem
        fit = float(np.sum(self.residual**2)) / (2.0 * p.N)
        active = self.z[self.z > 0]
        penalty = 0.0 if self.bias is None else 0.5 * p.lambda_b * float(self.bias @ self.bias)
        return fit + penalty + (p.c * float(np.sum(power(active, p.q))) if active.size else 0.0)

    @frozen_array
    def direction_state(self) -> np.ndarray:
        return scalar.state_names(self.code)

    @frozen_array
    def direction_critical_decay(self) -> np.ndarray:
        """Per direction, the decay above which it is zero (nan with a regularized bias:
        the bias moves with the decay, so no single threshold is derived)."""
        if self.bias is not None:
            return np.full(self.sigma.size, np.nan)
        decay = scalar.critical_decay(self.sigma, self.problem.N, self.problem.L)
        return readoff.direction_decays(decay, self.code)

    @frozen_array
    def singular_values(self) -> np.ndarray:
        return factor_values(self.problem, self.z)

    def layer_singular_values(self) -> np.ndarray:
        return self.singular_values

    @cached_property
    def _features(self) -> np.ndarray:
        """(r, M + 1): singular values of W_j ... W_1 H, column j."""
        return layer_values(self.problem, self.z)

    @cached_property
    def _classifiers(self) -> np.ndarray:
        """(r, M + 1): singular values of W_M ... W_{j+1}, column j."""
        return layer_values(self.problem, self.z, classifier=True)

    # ---- per class (class-level targets) -------------------------------------------------

    def _per_class(self, values: np.ndarray) -> np.ndarray:
        return np.zeros(0) if self.per_sample else values

    @frozen_array
    def layer_feature_norms(self) -> np.ndarray:
        if self.per_sample:
            return np.zeros((self.problem.depth + 1, 0))
        squares = self.spectrum.diag(self._features**2)  # (K, M + 1)
        return (np.sqrt(np.maximum(squares, 0.0)) / np.sqrt(self.problem.n)[:, None]).T

    @frozen_array
    def feature_norm(self) -> np.ndarray:
        return self.layer_feature_norms[0].copy()

    @property
    def _square(self) -> bool:
        """Output k belongs to class k (K' = K), so per-class outputs have a meaning."""
        return not self.per_sample and self.spectrum.left.shape[0] == self.problem.K

    @frozen_array
    def classifier_norm(self) -> np.ndarray:
        if not self._square:
            return self._per_class(np.full(self.problem.K, np.nan))
        rows = (self.spectrum.left**2) @ (self._classifiers[:, 0] ** 2)
        return np.sqrt(np.maximum(rows, 0.0))

    @frozen_array
    def output(self) -> np.ndarray:
        if not self._square:
            return self._per_class(np.full(self.problem.K, np.nan))
        return np.diag(self.gram_outputs()).copy()

    @frozen_array
    def target_residual(self) -> np.ndarray:
        """Per class: ``||W hbar_k + b - S[:, k]||``, its output's distance to its target."""
        if self.per_sample:
            return np.zeros(0)
        outputs = self.gram_outputs()
        if self.bias_value is not None:
            outputs = outputs + self.bias_value[:, None]
        return np.linalg.norm(outputs - self.problem.target.soft, axis=0)

    @frozen_array
    def _leading_direction(self) -> np.ndarray:
        return readoff.leading_in_vectors(self.spectrum.right)

    @property
    def critical_decay(self) -> np.ndarray:
        return np.zeros(0) if self.per_sample else super().critical_decay

    @property
    def state(self) -> np.ndarray:
        return np.zeros(0, dtype=str) if self.per_sample else super().state

    @property
    def collapsed(self) -> np.ndarray:
        return np.zeros(0, dtype=bool) if self.per_sample else super().collapsed

    @property
    def bias_value(self) -> np.ndarray | None:
        """With a free bias: the mean target (the centred directions carry no mean)."""
        p = self.problem
        if p.bias == "none":
            return None
        if self.bias is not None:
            return self.bias
        if self.per_sample:
            return np.array(p.target.moments.mean)
        return p.target.soft @ (p.n / float(p.N))

    # ---- matrices --------------------------------------------------------------------------

    def gram_features(self, layer: int = 0) -> np.ndarray:
        """Class-mean Gram of W_j ... W_1 H (K x K); per-sample targets: ``H H^T`` in the
        target's eigenbasis, ``diag(h_i^2)`` (r x r; the N x N Gram is never formed)."""
        values = self._features[:, _layer(layer, self.problem.depth)] ** 2
        if self.per_sample:
            return np.diag(values)
        inv = 1.0 / np.sqrt(self.problem.n)
        return self.spectrum.matrix(values) * inv[:, None] * inv[None, :]

    def gram_classifier(self, layer: int = 0) -> np.ndarray:
        """``W W^T`` of ``W = W_M ... W_{layer+1}`` (K' x K', output space)."""
        values = self._classifiers[:, _layer(layer, self.problem.depth - 1)] ** 2
        return self.spectrum.output_matrix(values)

    def gram_outputs(self) -> np.ndarray:
        """Class-mean outputs ``W_M ... W_1 Hbar`` (K' x K, before the bias); per-sample
        targets: the output second moments ``Z Z^T / N`` (t x t)."""
        if self.per_sample:
            return self.spectrum.output_matrix(self.z**2) / self.problem.N
        inv = 1.0 / np.sqrt(self.problem.n)
        return (self.spectrum.left * self.z) @ self.spectrum.right.T * inv[None, :]

    def classifier_row_norms(self, layer: int = 0) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.gram_classifier(layer)), 0.0))

    # ---- regression read-off ---------------------------------------------------------------

    def regression(self) -> dict:
        """Regression collapse: surviving directions, the decay at which each collapses,
        and the Grams in the target's eigenbasis (direction i = eigenvector i of
        ``Yt^T Yt``, columns of ``directions_in_output_space``)."""
        return {
            "directions_surviving": self.rank,
            "collapse_decay": self.direction_critical_decay.tolist(),
            "target_covariance_eigenvalues": (self.sigma**2 / self.problem.N).tolist(),
            "classifier_gram_eigenbasis": (self._classifiers[:, 0] ** 2).tolist(),
            "feature_gram_eigenbasis": (self._features[:, 0] ** 2).tolist(),
        }

    # ---- output ------------------------------------------------------------------------------

    @cached_property
    def geometry(self) -> str:
        if self.rank == 0:
            return "collapsed to the origin"
        if self.per_sample:
            r = self.rank
            return (f"regression collapse onto the top {r} of {self.sigma.size} target "
                    "direction(s)")
        return _class_geometry(self.gram_features(), self.rank, self.problem.K)

    @property
    def unique(self) -> bool:
        return not any(note.startswith("non-unique") for note in self.notes)

    def surely_representable(self) -> bool:
        """Every per-class length is a weighted root mean square of per-direction values
        (over sqrt(n_k) >= 1), so finite layer values bound them all."""
        return bool(np.all(np.isfinite(self._features)) and np.all(np.isfinite(
            self._classifiers)) and np.all(np.isfinite(self.singular_values)))

    def _extra_dict(self, grams: bool) -> dict:
        target = self.problem.target.to_dict()
        if self.per_sample:
            target["regression"] = self.regression()
        return {"target": target}

    def _class_columns(self) -> dict:
        if self.per_sample:
            return {key: [] for key in self.CLASS_KEYS}
        return {**super()._class_columns(),
                "target_residual": self._json_column(self.target_residual)}

    def __str__(self) -> str:
        text = super().__str__()
        if not self.per_sample:
            return text
        dim = self.problem.target.moments.dim
        return text.replace(f"K = {self.problem.K} classes", f"t = {dim} target columns", 1)

    def _body_lines(self) -> list[str]:
        lines = [] if self.per_sample else ["", *self._class_table()]
        lines += ["", *self._directions_text()]
        if self.bias is not None:
            lines += ["", "regularized bias b = " + ", ".join(fmt(v) for v in self.bias)]
        elif self.bias_value is not None:
            lines += ["", "learned bias b = the mean target"]
        if self.per_sample:
            lines += ["", f"directions surviving: {self.rank} of {self.sigma.size}"]
        return lines

    def _directions_text(self) -> list[str]:
        header = ["direction", "sigma", "z", "state", "critical_decay", "s(H)", "s(W...)"]
        rows = []
        for i in shown_rows(self.sigma.size):
            if i is None:
                rows.append(None)
                continue
            sv = self.singular_values[i]
            rows.append([str(i), fmt(self.sigma[i]), fmt(self.z[i]),
                         str(self.direction_state[i]), fmt(self.direction_critical_decay[i]),
                         fmt(sv[0]), ",".join(fmt(v) for v in sv[1:])])
        return table(header, rows, self.sigma.size)

    def __repr__(self) -> str:
        p = self.problem
        return (f"TargetSolution({p.target.kind}, depth={p.depth}, bias={p.bias!r}, "
                f"loss={self.loss:.6g}, rank={self.rank}, geometry={self.geometry!r})")


def _layer(layer: int, top: int) -> int:
    if not 0 <= int(layer) <= top:
        raise ValueError(f"layer must be between 0 and {top}, got {layer}")
    return int(layer)


def _class_geometry(gram: np.ndarray, rank: int, K: int) -> str:
    """Name the class-mean configuration from its Gram: equal lengths and one common
    cosine give an orthogonal frame (0), a simplex ETF (-1/(K-1)) or an equiangular
    frame between or beyond them."""
    lengths = np.sqrt(np.maximum(np.diag(gram), 0.0))
    if K == 1:
        return "a single class"
    if np.all(np.abs(lengths - lengths[0]) <= SAME_RTOL * lengths[0]) and lengths[0] > 0:
        cosines = gram[~np.eye(K, dtype=bool)] / lengths[0] ** 2
        if np.ptp(cosines) <= SAME_RTOL:
            cosine = float(np.mean(cosines))
            if abs(cosine) <= SAME_RTOL:
                return "orthogonal frame"
            if abs(cosine * (K - 1) + 1.0) <= SAME_RTOL * K:
                return "simplex ETF"
            return f"equiangular frame (cosine {cosine:.6g})"
    return "general" if rank >= K - 1 else f"general, rank {rank} of {K}"


def solve(problem: Problem) -> TargetSolution:
    """The exact global minimizer of an MSE problem with ``problem.target`` set."""
    spectrum = target_spectrum_of(problem.target, problem.n, problem.bias)
    minima = scalar.minimize(spectrum.sigma, problem.N, problem.c, problem.q)
    z, code, residual = minima.z, minima.code, minima.residual
    cap = problem.rank_cap
    capping = readoff.cap_rank(cap, spectrum.sigma, z, residual, code)
    notes = (_phase_notes(problem, spectrum.sigma, minima.z_local, code)
             + readoff.cap_notes(cap, int(capping.cut), bool(capping.equal))
             + _target_notes(problem))
    return TargetSolution(problem, spectrum, z, minima.z_local, code, residual, notes)


def _target_notes(problem: Problem) -> tuple[str, ...]:
    target = problem.target
    if target.kind != "label smoothing":
        return ()
    eps = target.epsilon
    if problem.bias == "free":
        return (f"label smoothing {eps:g} with a free bias: the bias absorbs the constant "
                f"eps/K, the centred target is (1 - eps) = {1 - eps:g} times the one-hot one "
                "(same directions, same geometry, singular values scaled)",)
    return (f"label smoothing {eps:g} without a bias: the all-ones direction keeps the "
            f"weight of the full labels while the class-contrast directions shrink by "
            f"(1 - eps) = {1 - eps:g}; the frame tilts from the one-hot geometry",)
