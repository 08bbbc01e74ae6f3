"""The one base of every answer of :func:`ncsolve.solvers.solve` and its JSON and text.

``Solution`` (MSE, float64 closed form), ``PreciseSolution`` (MSE to any number
of digits), ``CESolution`` (cross-entropy), ``RegularizedSolution`` and
``RegularizedCESolution`` subclass :class:`Result`. The core fields mean the same
in each; ``to_dict()`` (exactly the ``--json`` of the command line) and ``str()``
(exactly its text) are written here once, and each answer type adds only its
extras through hooks (``_extra_dict``, ``_extra_class_columns``, ``_body_lines``,
...), as in scipy's ``OptimizeResult``: one result type, one printer.

The base holds no data of its own (it is a mixin for frozen dataclasses), so a
subclass declares its fields in any order.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from ..core import readoff
from ..core.constants import SAME_MINIMUM_RTOL
from ..inputs.problem import Problem
from .table import Records, column, direction_rows, header_lines, records, shown_rows
from .table import summary_line
from .table import fmt, table

__all__ = ["CLASS_FIELDS", "CORE_FIELDS", "Found", "Mapped", "Result", "SearchRecord"]

CORE_FIELDS = ("problem", "loss", "certainty", "unique", "geometry", "notes", "rank",
               "bias_value")
CLASS_FIELDS = ("feature_norm", "classifier_norm", "output", "collapsed")  # class order


@dataclass(frozen=True)
class Found:
    """A point a search considered: a structured candidate or where a local search ended."""

    label: str
    loss: float
    rank: int


@dataclass(frozen=True)
class SearchRecord:
    """How an answer was reached: what a comparison with gradient-method runs reads.

    Attributes
    ----------
    reason : str
        Why the answer is as certain as it says.
    candidates : tuple of Found
        Structured candidates, best first (none for a closed form or a bias search).
    ends : tuple of Found
        Where the local searches ended.
    runner_up : Found or None
        Best point with a strictly higher loss, when the search names one.
    etf_loss : float or None
        Loss of the best multiple of the simplex ETF, when it was compared.
    restarts, hits : int
        Random starts, and local searches that reached the reported loss.
    """

    reason: str
    candidates: tuple[Found, ...] = ()
    ends: tuple[Found, ...] = ()
    runner_up: Found | None = None
    etf_loss: float | None = None
    restarts: int = 0
    hits: int = 0


class Result(abc.ABC):
    """Core fields, JSON and text of an answer (per-class arrays in class, i.e. input, order).

    Attributes
    ----------
    problem : Problem
        The validated input.
    loss : float or mpf
        Objective value at the reported minimizer.
    certainty : {"exact", "proved", "best found"}
        ``exact`` for the MSE closed form; otherwise ``proved`` (a theorem or a
        certificate) or ``best found`` (the best of a search).
    certainty_reason : str
        Why, in one sentence; empty where the notes say it (a closed form, a
        regularized bias).
    unique : bool or None
        Whether the minimizer is unique (up to rotations); None when unknown.
    geometry : str
        Name of the structure (orthogonal frame, simplex ETF, ...).
    notes : tuple of str
        What the numbers alone do not say.
    rank : int
        Rank of the product W_M ... W_1 H (cross-entropy: of the logit matrix).
    bias_value : array or None
        The learned bias, None for a bias-free model.
    feature_norm, classifier_norm, output, collapsed
        Per class: class-mean length of H, row length of W_M ... W_1, output of
        the class mean on its own label (before any bias), and whether the class
        mean is zero.
    layer_feature_norms : array, shape (M + 1, K)
        Row j: class-mean lengths of the features W_j ... W_1 H (row 0 is H).
    state, critical_decay
        Per class: the state of its leading direction and the decay above which
        the class mean is zero ("active"/"collapsed" and nan where the answer
        has no directions).

    Subclasses set the class attributes below and fill in the hooks.
    """

    LOSS_NAME: ClassVar[str] = "MSE"  # the first word of the text
    GRAM_LIMIT: ClassVar[int]  # to_dict() includes the K x K matrices up to this K
    JSON_KEYS: ClassVar[tuple[str, ...]]  # the keys of to_dict(), in order
    CLASS_KEYS: ClassVar[tuple[str, ...]]  # the keys of each class record, in order
    DIRECTION_KEYS: ClassVar[tuple[str, ...]] = ()  # ... of each direction record (if any)
    TEXT_CLASS_COLUMNS: ClassVar[tuple[str, ...]]  # the columns of the text's class table

    problem: Problem
    loss: Any
    certainty: str
    certainty_reason: str
    unique: bool | None
    geometry: str
    notes: tuple
    rank: int
    bias_value: Any
    feature_norm: Any
    classifier_norm: Any
    output: Any
    collapsed: Any

    # ---- what every answer has --------------------------------------------------------------

    @property
    def state(self) -> np.ndarray:
        """Per class: "collapsed" or "active" (answers with directions say which state)."""
        return np.where(np.asarray(self.collapsed, dtype=bool), "collapsed", "active")

    @property
    def critical_decay(self) -> np.ndarray:
        """Per class: the decay above which the class mean is zero (nan: not known)."""
        return np.full(self.problem.K, np.nan)

    @abc.abstractmethod
    def layer_singular_values(self) -> np.ndarray:
        """(K, M + 1): per direction, singular values of H, W_1, ..., W_M (0 beyond the rank)."""

    @abc.abstractmethod
    def gram_features(self, layer: int = 0):
        """Class-mean Gram of the features after W_layer ... W_1 (K x K)."""

    @abc.abstractmethod
    def gram_classifier(self, layer: int = 0):
        """Gram ``W W^T`` of the product ``W = W_M ... W_{layer+1}`` (K x K)."""

    @abc.abstractmethod
    def gram_outputs(self):
        """Outputs ``W_M ... W_1 Hbar`` (K x K, before any bias): column k is class k's."""

    def classifier_row_norms(self, layer: int = 0) -> np.ndarray:
        """Per class, the row length of the classifier W_M ... W_{layer+1}."""
        return np.sqrt(np.maximum(np.diag(self.gram_classifier(layer)), 0.0))

    def surely_representable(self) -> bool:
        """True when a cheap bound shows every value is within float64; False: look."""
        return False

    def search_record(self) -> SearchRecord:
        """How the answer was reached (a closed form: no search; see :class:`SearchRecord`)."""
        ends = self._search_ends()
        loss = float(self.loss)
        hits = sum(abs(end.loss - loss) <= SAME_MINIMUM_RTOL * abs(loss) for end in ends)
        return SearchRecord(reason=self.certainty_reason or " ".join(self.notes), ends=ends,
                            restarts=len(ends), hits=hits)

    def _search_ends(self) -> tuple[Found, ...]:
        return ()

    # ---- JSON -----------------------------------------------------------------------------

    def to_dict(self, grams: bool | None = None, *, lazy: bool = False) -> dict:
        """JSON-ready dictionary: exactly the output of ``ncsolve predict --json``.

        ``grams`` includes the K x K matrices; by default for K <= ``GRAM_LIMIT``.
        ``lazy`` gives the per-class and per-direction rows as :class:`Records`, whose
        dicts are built when read (what ``--json`` streams), instead of lists.
        """
        include = self.problem.K <= self.GRAM_LIMIT if grams is None else bool(grams)
        notes = list(self.notes)
        rows = Records if lazy else records
        entries = {
            "problem": self.problem.to_dict(),
            "loss": self._json_number(self.loss),
            "certainty": self.certainty,
            "unique": self.unique,
            "geometry": self.geometry,
            "rank": self.rank,
            "rank_cap": self.problem.rank_cap,
            "notes": notes,
            "bias_value": None if self.bias_value is None else self._json_column(self.bias_value),
            "classes": rows(self._class_columns(), self.CLASS_KEYS),
            **self._extra_dict(include),
        }
        if self.DIRECTION_KEYS:
            entries["directions"] = rows(self._direction_columns(), self.DIRECTION_KEYS)
        entries["gram"] = self._gram_dict(notes) if include else None
        return {key: entries[key] for key in self.JSON_KEYS}

    def _json_number(self, value):
        return float(value)

    def _json_column(self, values) -> list:
        return column(values)

    def _row_column(self, values):
        """A per-class or per-direction column for :class:`Records` (converted when read)."""
        return np.asarray(values, dtype=float)

    def _json_matrix(self, matrix) -> list:
        return np.asarray(matrix).tolist()

    def _extra_dict(self, grams: bool) -> dict:
        """Entries of to_dict() beyond the core ones (placed by ``JSON_KEYS``)."""
        return {}

    def _class_columns(self) -> dict:
        K = self.problem.K
        return {
            "class": range(K),
            "n": np.asarray(self.problem.n),
            "feature_norm": self._row_column(self.feature_norm),
            "classifier_norm": self._row_column(self.classifier_norm),
            "output": self._row_column(self.output),
            "collapsed": np.asarray(self.collapsed, dtype=bool),
            "critical_decay": self._row_column(self.critical_decay),
            "state": np.asarray(self.state),
            "feature_norms_by_layer": self._row_column(np.asarray(self.layer_feature_norms).T),
            **self._extra_class_columns(),
        }

    def _extra_class_columns(self) -> dict:
        """Per-class columns beyond the core ones (placed by ``CLASS_KEYS``)."""
        return {}

    def _direction_columns(self) -> dict:
        """The per-direction table of an answer with directions (``DIRECTION_KEYS``)."""
        return {
            "direction": range(len(self.sigma)),
            "sigma": self._row_column(self.sigma),
            "z": self._row_column(self.z),
            "z_local": self._row_column(self.z_local),
            "state": np.asarray(self.direction_state),
            "critical_decay": self._row_column(self.direction_critical_decay),
            "singular_values": self._row_column(self.singular_values),
            **self._extra_direction_columns(),
        }

    def _extra_direction_columns(self) -> dict:
        return {}

    def _gram_dict(self, notes: list) -> dict | None:
        """The K x K matrices, or None (with a note) when their entries are beyond
        float64: squared lengths can overflow where the lengths themselves do not."""
        with np.errstate(over="ignore", invalid="ignore"):
            matrices = {"features": self.gram_features(), "classifier": self.gram_classifier(),
                        "outputs": self.gram_outputs()}
        if all(self._representable(m) for m in matrices.values()):
            return {name: self._json_matrix(m) for name, m in matrices.items()}
        notes.append("gram is null: entries of the Gram matrices (squared lengths) are beyond "
                     "float64 with these decays; the lengths above are exact")
        return None

    def _representable(self, matrix) -> bool:
        return bool(np.all(np.isfinite(matrix)))

    # ---- text -----------------------------------------------------------------------------

    def __str__(self) -> str:
        """The readable report: exactly what ``ncsolve predict`` prints."""
        lines = [*header_lines(self.problem, self.LOSS_NAME), self._summary_line(),
                 *self._body_lines(), *self._note_lines()]
        return "\n".join(lines)

    def _summary_line(self) -> str:
        return summary_line(self)

    @abc.abstractmethod
    def _body_lines(self) -> list[str]:
        """The lines between the summary and the notes."""

    def _note_lines(self) -> list[str]:
        if not self.notes:
            return []
        return ["", "notes:", *(f"  - {note}" for note in self.notes)]

    def _text_number(self, value) -> str:
        return fmt(value)

    def _text_cell(self, value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (int, np.integer)):
            return str(value)
        return self._text_number(value)

    def _text_column(self, name: str):
        """The values of one column of the class table (cells formatted when shown)."""
        if name == "class":
            return range(self.problem.K)
        if name == "n":
            return self.problem.n
        return getattr(self, name)

    def _class_rows(self, shown) -> tuple[list[str], list]:
        header = list(self.TEXT_CLASS_COLUMNS)
        columns = [self._text_column(name) for name in header]
        rows = [None if k is None else [self._text_cell(values[k]) for values in columns]
                for k in shown]
        return header, rows

    def _class_table(self) -> list[str]:
        K = self.problem.K
        return table(*self._class_rows(shown_rows(K)), K)

    def _direction_table(self) -> list[str]:
        return table(*direction_rows(self), self.problem.K)


def frozen_array(method):
    """``cached_property`` whose array is read-only, so a caller cannot corrupt the cache."""

    def compute(self):
        array = method(self)
        array.setflags(write=False)
        return array

    compute.__doc__ = method.__doc__
    return cached_property(compute)


class ClassesFromDirections:
    """Per-class fields of a closed-form answer, read off each class's leading direction.

    A class follows the first direction (largest target singular value) with a
    component on it. A subclass gives ``_leading_direction`` (per class, that
    direction's index), ``direction_critical_decay``, ``direction_state`` and
    ``feature_norm``.
    """

    @frozen_array
    def critical_decay(self) -> np.ndarray:
        """Per class: the geometric-mean decay above which its class mean is zero."""
        return readoff.per_class(self.direction_critical_decay, self._leading_direction)

    @frozen_array
    def state(self) -> np.ndarray:
        """Per class: the state of its leading direction."""
        return readoff.per_class(self.direction_state, self._leading_direction)

    @frozen_array
    def collapsed(self) -> np.ndarray:
        """Per class: its class mean (hence its outputs) is zero."""
        return readoff.collapsed(self.feature_norm)


@dataclass(frozen=True, eq=False)
class Mapped:
    """An answer whose decays were mapped from training conventions.

    Every field of the answer reads through (``mapped.loss``, ``mapped.notes``,
    ...); ``to_dict()`` adds the mapping under ``convention`` and ``str()`` adds
    its lines, exactly as ``ncsolve predict --weight-decay ...`` prints them.

    Attributes
    ----------
    result : Result
        The answer of the mapped problem.
    convention : object
        The mapping (``to_dict()`` and a readable ``str()``).
    """

    result: Any
    convention: Any

    def __getattr__(self, name: str):
        if name in ("result", "convention"):  # not yet set (copying, unpickling)
            raise AttributeError(name)
        return getattr(self.result, name)

    def to_dict(self, grams: bool | None = None, *, lazy: bool = False) -> dict:
        """The answer's JSON with the mapping under ``convention``."""
        data = self.result.to_dict(grams, lazy=lazy)
        return {**data, "convention": self.convention.to_dict()}

    def __str__(self) -> str:
        return f"{self.result}\n{self.convention}"


Result.register(Mapped)  # reads like the answer it wraps: an answer too
