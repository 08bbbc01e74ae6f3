"""The cross-entropy answer: the minimizer read off from the reduced logit solution.

Given the optimal class-logit matrix X (K x K) and bias b, NC1 holds (every
sample of class k has the class-mean feature hbar_k) and factor balancing
(THEORY.md 2a) applied to Y = X D^(1/2) = W_M ... W_1 (Hbar D^(1/2)) gives every
layer.  With the SVD Y = U diag(s) V^T:

* the feature factor Hbar D^(1/2) has singular values s_H = sqrt(lbar/lambda_H) s^(1/L)
  and right singular vectors V, so Hbar^T Hbar = D^(-1/2) V diag(s_H^2) V^T D^(-1/2);
* W_j has singular values sqrt(lbar/lambda_j) s^(1/L);
* the end-to-end classifier W = W_M ... W_1 has W W^T = U diag((s/s_H)^2) U^T;
* the features after layer j, W_j ... W_1 Hbar, have class-mean Gram
  D^(-1/2) V diag(t_j^2) V^T D^(-1/2) with t_j = s_H prod_{i<=j} sqrt(lbar/lambda_i) s^(1/L);
* the outputs W Hbar are X itself (column k: class k's logits without bias).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...core.balance import class_lengths, factor_values, layer_parts, layer_values
from ...inputs.problem import Problem
from ...results.base import Found, Result, SearchRecord
from ...core.constants import CE_JSON_GRAMS_MAX_K, SEARCH_COLLAPSED_RTOL
from ...results.table import column, fmt, shown_rows, table
from .text import CLASS_DIGITS, INDENT, body_lines

__all__ = ["BatchSummary", "CESolution", "CandidateSummary", "Layers", "LogitAnswer",
           "RunSummary", "feature_shape", "read_off"]

COLLAPSE_RTOL = SEARCH_COLLAPSED_RTOL  # feature norm below this x the largest: collapsed


@dataclass(frozen=True)
class CandidateSummary:
    """One structured candidate: name, rank, loss (objective) at its best scale and that scale.

    ``origin_decay`` is the decay lbar above which the origin beats every multiple
    of the candidate (nan when not computed: only the ETF and the leading
    candidates get one).
    """

    name: str
    rank: int
    loss: float
    scale: float
    origin_decay: float

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class RunSummary:
    """One local minimization of the search: where it started, where it ended."""

    start: str
    loss: float
    rank: int
    iterations: int
    batch: int = 0

    @property
    def label(self) -> str:
        return self.start


@dataclass(frozen=True)
class BatchSummary:
    """One independent batch of the search: its best objective and how many runs reached it.

    ``hits`` counts the batch's runs that ended within ``HIT_RTOL`` of the
    reported objective (after refinement), ``runs`` all of its runs.
    """

    batch: int
    loss: float
    hits: int
    runs: int


@dataclass(frozen=True)
class Layers:
    """Everything read off from X by factor balancing (see the module docstring).

    Attributes
    ----------
    s : ndarray
        Nonzero singular values of X D^(1/2), descending.
    feature_sv, weight_sv : ndarray, list of ndarray
        Singular values of H (equivalently Hbar D^(1/2)) and of each W_j.
    feature_gram : ndarray, shape (K, K)
        Hbar^T Hbar (class-mean features of H).
    classifier_gram : ndarray, shape (K, K)
        W W^T of the end-to-end classifier W = W_M ... W_1.
    last_layer_gram : ndarray, shape (K, K)
        W_M W_M^T (rows: the last layer's class vectors).
    layer_norms : ndarray, shape (K, M + 1)
        ||class mean|| of the features after 0, 1, ..., M layers (M: the logits).
    classifier_norms : ndarray, shape (K,)
        Row lengths of W = W_M ... W_1 (from the balanced scales: finite even where
        ``classifier_gram`` is not).
    """

    s: np.ndarray
    feature_sv: np.ndarray
    weight_sv: tuple[np.ndarray, ...]
    feature_gram: np.ndarray
    classifier_gram: np.ndarray
    last_layer_gram: np.ndarray
    layer_norms: np.ndarray
    classifier_norms: np.ndarray


def read_off(problem: Problem, X: np.ndarray, rank: int) -> Layers:
    """Layer singular values, Gram matrices and per-layer class-mean norms of a logit matrix."""
    root_n = np.sqrt(np.asarray(problem.n, dtype=float))
    U, s, Vt = np.linalg.svd(X * root_n[None, :])
    U, s, V = U[:, :rank], s[:rank], Vt[:rank].T
    factors = factor_values(problem, s)  # balanced: (rank, M + 1), H first
    s_h, weights = factors[:, 0], tuple(np.ascontiguousarray(factors[:, 1:].T))
    Vs = V / root_n[:, None]  # D^(-1/2) V
    classifier = layer_values(problem, s, classifier=True)[:, 0]  # of W_M ... W_1
    with np.errstate(over="ignore", invalid="ignore"):  # inf where beyond float64
        feature_gram = (Vs * s_h**2) @ Vs.T
        classifier_gram = (U * classifier**2) @ U.T
        last_layer_gram = (U * weights[-1] ** 2) @ U.T
    # lengths from mantissas: their squares may leave float64
    norms = class_lengths(Vs**2, *layer_parts(problem, s))
    rows = class_lengths(U**2, *layer_parts(problem, s, classifier=True, layers=slice(0, 1)))
    return Layers(s, s_h, weights, feature_gram, classifier_gram, last_layer_gram, norms,
                  rows[:, 0])


def feature_shape(problem: Problem, X: np.ndarray, rank: int) -> np.ndarray:
    """``Layers.feature_gram`` of the logits X times ``2^(-2e)``, the power of two of the
    feature scale ``sqrt(lbar/lambda_H)``: finite even for decays far apart, and enough
    for anything that depends only on the shape of the Gram."""
    root_n = np.sqrt(np.asarray(problem.n, dtype=float))
    _, s, Vt = np.linalg.svd(X * root_n[None, :])
    Vs = Vt[:rank].T / root_n[:, None]
    m_h = layer_parts(problem, s[:rank], layers=slice(0, 1))[0][:, 0]
    return (Vs * m_h**2) @ Vs.T


class LogitAnswer(Result):
    """The read-off shared by the cross-entropy answers (free or no bias, regularized bias).

    A subclass has ``problem``, ``logits`` (X, K x K, column k: class k without
    bias), ``rank`` and ``layers`` (:func:`read_off` of X); every per-class field
    and matrix follows from them by factor balancing.
    """

    LOSS_NAME = "cross-entropy"
    GRAM_LIMIT = CE_JSON_GRAMS_MAX_K

    @property
    def feature_norm(self) -> np.ndarray:
        """||hbar_k||, the class-mean feature length of H, per class."""
        return self.layers.layer_norms[:, 0]

    @property
    def classifier_norm(self) -> np.ndarray:
        """Row norms of the end-to-end classifier W_M ... W_1, per class."""
        return self.layers.classifier_norms

    @property
    def output(self) -> np.ndarray:
        """Per class: the logit of the class mean on its own label (before any bias)."""
        return np.diag(self.logits).copy()

    @property
    def layer_feature_norms(self) -> np.ndarray:
        """(M + 1, K): row j holds the class-mean lengths after j layers (row M: the logits)."""
        return self.layers.layer_norms.T

    @property
    def last_layer_norm(self) -> np.ndarray:
        """Row norms of the last layer W_M, per class."""
        return np.sqrt(np.maximum(np.diag(self.layers.last_layer_gram), 0.0))

    @property
    def collapsed(self) -> np.ndarray:
        """True for classes whose class-mean feature is zero."""
        norm = self.feature_norm
        return norm <= COLLAPSE_RTOL * max(float(norm.max(initial=0.0)), np.finfo(float).tiny)

    def gram_features(self, layer: int = 0) -> np.ndarray:
        """Class-mean Gram of the features W_layer ... W_1 H (K x K; layer 0: Hbar^T Hbar)."""
        if layer == 0:
            return self.layers.feature_gram
        _, V = self._vectors()
        Vs = V / np.sqrt(np.asarray(self.problem.n, dtype=float))[:, None]
        t = np.asarray(self.layers.feature_sv, dtype=float)
        for w in self.layers.weight_sv[:layer]:
            t = t * np.asarray(w)[: t.size]
        return (Vs * t**2) @ Vs.T

    def gram_classifier(self, layer: int = 0) -> np.ndarray:
        """W W^T of W = W_M ... W_{layer+1} (K x K; layer 0: the end-to-end classifier)."""
        if layer == 0:
            return self.layers.classifier_gram
        U, _ = self._vectors()
        tail = self._classifier_values(layer)
        return (U * tail**2) @ U.T

    def gram_outputs(self) -> np.ndarray:
        """Outputs W Hbar (K x K) = the logit matrix without bias; column k is class k."""
        return self.logits

    def classifier_row_norms(self, layer: int = 0) -> np.ndarray:
        """Per class, the row length of W_M ... W_{layer+1}."""
        U, _ = self._vectors()
        return np.sqrt(np.maximum((U**2) @ self._classifier_values(layer) ** 2, 0.0))

    def layer_singular_values(self) -> np.ndarray:
        """(K, M + 1): singular values of H, W_1, ..., W_M, descending, 0 beyond the rank."""
        lay = self.layers
        out = np.zeros((self.problem.K, self.problem.depth + 1))
        for j, values in enumerate((lay.feature_sv, *lay.weight_sv)):
            out[: np.size(values), j] = values
        return out

    def _vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """U and V of X D^(1/2) = U diag(s) V^T, the first ``rank`` columns."""
        root_n = np.sqrt(np.asarray(self.problem.n, dtype=float))
        U, _, Vt = np.linalg.svd(self.logits * root_n[None, :])
        return U[:, : self.rank], Vt[: self.rank].T

    def _classifier_values(self, layer: int) -> np.ndarray:
        """Singular values of W_M ... W_{layer+1} (the first ``rank``)."""
        return np.prod(np.array([w[: self.rank] for w in self.layers.weight_sv[layer:]]), axis=0)


@dataclass(frozen=True, eq=False)
class CESolution(LogitAnswer):
    """Best cross-entropy minimizer found, with how certain it is.

    Attributes
    ----------
    problem : Problem
        The input.
    loss : float
        Reduced (= full) objective at the reported minimizer.
    ce_loss, penalty : float
        Its mean cross-entropy and its regularization (balanced factors).
    logits : ndarray, shape (K, K)
        X: column k is the logit vector of class k without bias (columns centred).
    bias_value : ndarray or None
        Free bias (mean zero), None for the bias-free model.
    rank : int
        Rank of X (the logit rank).
    certainty : {"proved", "best found"}
        "proved" when a theorem or a certificate makes the objective the global
        minimum (see ``certainty_reason``), otherwise the best of the search.
    certainty_reason : str
        Why.
    restarts : int
        Random starts of the search (besides the candidate-seeded runs).
    hits : int
        Search runs that ended at the reported objective (within 1e-9 relative,
        after refinement).
    runner_up : CandidateSummary or RunSummary or None
        Best configuration with a strictly higher objective.
    gap : float or None
        Its objective minus the reported one.
    duality_gap : float or None
        Depth 1: primal minus a dual lower bound.
    geometry : str
        Name of the structure.
    unique : bool or None
        False when the minimizer is known not to be unique (class permutations
        of a non-symmetric structure), None when unknown.
    candidates : tuple of CandidateSummary
        Structured candidates, best first.
    runs : tuple of RunSummary
        Local minimizations of the search.
    etf_scale, etf_loss : float
        Best margin rho of the simplex ETF X = rho (I - 11^T/K) and its objective
        (nan when the rank cap excludes the ETF).
    origin_decay_etf : float
        Decay lbar above which the origin beats every multiple of the ETF.
    origin_decay_best : float
        Largest such decay over every candidate and the reported structure.
    origin_decay_proved : float
        Decay above which the origin is proved to be a global minimizer (exact at depth 1).
    layers : Layers
        Singular values, Gram matrices and class-mean norms of every layer.
    class_loss, margin : ndarray
        Per-class cross-entropy and logit margin (own logit minus the largest other).
    notes : tuple of str
        Remarks (bias, uniqueness, rank cap).
    batches : tuple of BatchSummary
        The two independent batches of the search (empty when nothing was searched).
    """

    problem: Problem
    loss: float
    ce_loss: float
    penalty: float
    logits: np.ndarray
    bias_value: np.ndarray | None
    rank: int
    certainty: str
    certainty_reason: str
    restarts: int
    hits: int
    runner_up: CandidateSummary | RunSummary | None
    gap: float | None
    duality_gap: float | None
    geometry: str
    unique: bool | None
    candidates: tuple[CandidateSummary, ...]
    runs: tuple[RunSummary, ...]
    etf_scale: float
    etf_loss: float
    origin_decay_etf: float
    origin_decay_best: float
    origin_decay_proved: float
    layers: Layers
    class_loss: np.ndarray
    margin: np.ndarray
    notes: tuple[str, ...] = field(default=())
    batches: tuple[BatchSummary, ...] = field(default=())

    JSON_KEYS = ("problem", "loss", "ce_loss", "penalty", "certainty", "certainty_reason",
                 "restarts", "hits", "runner_up", "gap_to_runner_up", "duality_gap", "geometry",
                 "unique", "rank", "rank_cap", "singular_values", "layer_singular_values",
                 "bias_value", "etf", "origin", "notes", "classes", "candidates", "runs",
                 "batches", "logits", "gram")
    CLASS_KEYS = ("class", "n", "feature_norm", "classifier_norm", "output", "last_layer_norm",
                  "collapsed", "class_loss", "margin", "shares_logits_with",
                  "feature_norms_by_layer")
    TEXT_CLASS_COLUMNS = ("class", "n", "feature_norm", "classifier_norm", "output",
                          "class_loss", "margin", "collapsed", "shares_logits_with")

    # ---- convenience ----------------------------------------------------------------------

    def shared_logits(self) -> list[list[int]]:
        """For each class, the other classes with the same logit vector (not separated)."""
        X = self.logits
        scale = max(float(np.abs(X).max(initial=0.0)), 1e-300)
        out = []
        for k in range(X.shape[1]):
            diff = np.abs(X - X[:, [k]]).max(axis=0)
            out.append([int(j) for j in np.flatnonzero(diff <= 1e-6 * scale) if j != k])
        return out

    def search_record(self) -> SearchRecord:
        runner = self.runner_up
        return SearchRecord(
            reason=self.certainty_reason,
            candidates=tuple(Found(c.name, float(c.loss), int(c.rank)) for c in self.candidates),
            ends=tuple(Found(r.start, float(r.loss), int(r.rank)) for r in self.runs),
            runner_up=None if runner is None else Found(runner.label, float(runner.loss),
                                                        int(runner.rank)),
            etf_loss=float(self.etf_loss) if np.isfinite(self.etf_loss) else None,
            restarts=int(self.restarts), hits=int(self.hits))

    def full_parameters(self, widths=None) -> tuple[np.ndarray, tuple[np.ndarray, ...],
                                                    np.ndarray | None]:
        """Parameters (H, (W_1, ..., W_M), b) of the full model at this minimizer.

        Built by factor balancing from the SVD of X D^(1/2); samples are ordered
        class by class.  Evaluating the full objective there gives ``loss``.

        Parameters
        ----------
        widths : sequence of int, optional
            Widths d_1..d_M (each >= ``rank``); default ``problem.widths`` or K.

        Returns
        -------
        H : ndarray, shape (d_1, N)
        weights : tuple of ndarray
            W_1 (d_2 x d_1), ..., W_M (K x d_M).
        b : ndarray or None
        """
        p = self.problem
        d = tuple(widths) if widths is not None else (p.widths or (p.K,) * p.depth)
        r = self.rank
        if len(d) != p.depth or min(d) < r:
            raise ValueError(f"widths must be {p.depth} values >= the logit rank {r}, got {d}")
        root_n = np.sqrt(np.asarray(p.n, dtype=float))
        U, _, Vt = np.linalg.svd(self.logits * root_n[None, :])
        U, V = U[:, :r], Vt[:r].T
        lay = self.layers

        def frame(dim: int) -> np.ndarray:
            return np.eye(dim, r)

        means = frame(d[0]) @ (lay.feature_sv[:, None] * (V / root_n[:, None]).T)
        H = np.repeat(means, np.asarray(p.n), axis=1)
        weights = []
        for j, sv in enumerate(lay.weight_sv):
            left = U if j == p.depth - 1 else frame(d[j + 1])
            weights.append((left * sv) @ frame(d[j]).T)
        return H, tuple(weights), None if self.bias_value is None else self.bias_value.copy()

    # ---- JSON and text (the rest is the base's) ------------------------------------------

    def _json_matrix(self, matrix) -> list:
        return [[float(v) + 0.0 for v in row] for row in np.asarray(matrix)]  # no "-0.0"

    def _extra_class_columns(self) -> dict:
        return {"last_layer_norm": column(self.last_layer_norm),
                "class_loss": column(self.class_loss), "margin": column(self.margin),
                "shares_logits_with": self.shared_logits()}

    def _extra_dict(self, grams: bool) -> dict:
        def finite(x) -> float | None:
            return float(x) if np.isfinite(x) else None

        def point(item) -> dict | None:
            return None if item is None else {"name": item.label, "loss": float(item.loss),
                                              "rank": int(item.rank)}

        lay = self.layers
        return {
            "ce_loss": float(self.ce_loss),
            "penalty": float(self.penalty),
            "certainty_reason": self.certainty_reason,
            "restarts": self.restarts,
            "hits": self.hits,
            "runner_up": point(self.runner_up),
            "gap_to_runner_up": None if self.gap is None else float(self.gap),
            "duality_gap": None if self.duality_gap is None else float(self.duality_gap),
            "singular_values": column(lay.s),
            "layer_singular_values": {"H": column(lay.feature_sv),
                                      **{f"W_{j + 1}": column(v)
                                         for j, v in enumerate(lay.weight_sv)}},
            "etf": {"rho": finite(self.etf_scale), "loss": finite(self.etf_loss),
                    "origin_beats_etf_above_decay": finite(self.origin_decay_etf)},
            "origin": {"loss": float(self.origin_loss),
                       "best_found_above_decay": finite(self.origin_decay_best),
                       "proved_above_decay": finite(self.origin_decay_proved)},
            "candidates": [{"name": c.name, "loss": float(c.loss), "rank": c.rank,
                            "scale": float(c.scale),
                            "origin_beats_it_above_decay": finite(c.origin_decay)}
                           for c in self.candidates],
            "runs": [{"start": r.start, "loss": float(r.loss), "rank": r.rank,
                      "iterations": r.iterations, "batch": r.batch} for r in self.runs],
            "batches": [{"batch": b.batch, "loss": float(b.loss), "hits": b.hits,
                         "runs": b.runs} for b in self.batches],
            "logits": self._json_matrix(self.logits.T) if grams else None,
        }

    @property
    def origin_loss(self) -> float:
        """The loss of the origin (the rank-0 candidate)."""
        return next(c.loss for c in self.candidates if c.rank == 0)

    def _text_column(self, name: str):
        if name == "shares_logits_with":
            return [",".join(str(j) for j in shared) or "-" for shared in self.shared_logits()]
        return super()._text_column(name)

    def _class_table(self) -> list[str]:
        K = self.problem.K
        return [INDENT + line for line in table(*self._class_rows(shown_rows(K)), K)]

    def _text_number(self, value) -> str:
        return fmt(float(value), CLASS_DIGITS)

    def _body_lines(self) -> list[str]:
        return body_lines(self, self._class_table())

    def _note_lines(self) -> list[str]:
        return [] if self.problem.K == 1 else super()._note_lines()

    def __repr__(self) -> str:
        p = self.problem
        return (f"CESolution(K={p.K}, depth={p.depth}, bias={p.bias!r}, "
                f"loss={self.loss:.6g}, rank={self.rank}, "
                f"geometry={self.geometry!r}, certainty={self.certainty!r})")
