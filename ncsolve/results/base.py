"""The protocol every answer of :func:`ncsolve.predict` follows.

``Solution`` (MSE, float64 closed form), ``PreciseSolution`` (MSE to any number
of digits) and ``CESolution`` (cross-entropy) are different dataclasses, but
code that only reads the core fields works with all three: the names below mean
the same thing in each, ``to_dict()`` is exactly the ``--json`` of the command
line and ``str()`` exactly its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..inputs.problem import Problem

__all__ = ["CORE_FIELDS", "CLASS_FIELDS", "Mapped", "Result"]

CORE_FIELDS = ("problem", "loss", "certainty", "unique", "geometry", "notes", "rank",
               "bias_value")
CLASS_FIELDS = ("feature_norm", "classifier_norm", "output", "collapsed")  # class order


@runtime_checkable
class Result(Protocol):
    """Core fields of an answer (per-class arrays in class, i.e. input, order).

    Attributes
    ----------
    problem : Problem
        The validated input.
    loss : float or mpf
        Objective value at the reported minimizer.
    certainty : {"exact", "proved", "best found"}
        ``exact`` for the MSE closed form; for cross-entropy ``proved`` (a theorem
        or a certificate) or ``best found`` (the best of a search).
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
    """

    problem: Problem
    loss: Any
    certainty: str
    unique: bool | None
    geometry: str
    notes: tuple
    rank: int
    bias_value: Any
    feature_norm: Any
    classifier_norm: Any
    output: Any
    collapsed: Any

    def to_dict(self, grams: bool | None = None) -> dict:
        """The JSON of ``ncsolve predict --json``."""
        ...


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

    def to_dict(self, grams: bool | None = None) -> dict:
        """The answer's JSON with the mapping under ``convention``."""
        data = self.result.to_dict() if grams is None else self.result.to_dict(grams)
        return {**data, "convention": self.convention.to_dict()}

    def __str__(self) -> str:
        return f"{self.result}\n{self.convention}"
