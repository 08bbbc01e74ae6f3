"""JSON and text of a :class:`~ncsolve.solvers.precise.PreciseSolution`: decimal strings.

What ``str(predict(..., precision=D))``, ``ncsolve predict --precision D`` and
its ``--json`` print. The layout is the base's (:class:`ncsolve.results.base.Result`);
this module gives the numbers as decimal strings of ``precision`` significant
digits and lays long ones out one per line. No mathematics and no sympy: the
result object carries mpmath numbers. The command-line layer re-exports
:func:`format_precise`; nothing here imports it.
"""

from __future__ import annotations

import mpmath
import numpy as np

from ...results.base import Result
from ...core.constants import PRECISE_JSON_GRAMS_MAX_K
from ...results.table import left_table, summary_line

__all__ = ["PreciseText", "TABLE_DIGITS", "decimal_string", "format_precise"]

TABLE_DIGITS = 24  # up to this precision values fit a table; above, one value per line


def decimal_string(value, digits: int) -> str:
    """``value`` rounded to ``digits`` significant digits, as a plain decimal string."""
    if value == 0:
        return "0"
    text = mpmath.nstr(value, digits, min_fixed=-6, max_fixed=digits + 1, strip_zeros=True)
    return text.removesuffix(".0")


class PreciseText(Result):
    """The base's JSON and text with every number a decimal string of ``precision`` digits.

    ``to_dict()`` has the keys of ``ncsolve predict --json`` plus ``route``,
    ``precision`` and each direction's ``roots``; a subclass has the fields of
    :class:`ncsolve.solvers.mse.Solution` (as mpmath numbers and tuples) and ``precision``.
    """

    certainty_reason = ""  # a closed form: nothing to explain
    GRAM_LIMIT = PRECISE_JSON_GRAMS_MAX_K
    JSON_KEYS = ("problem", "route", "precision", "loss", "certainty", "unique", "geometry",
                 "rank", "rank_cap", "notes", "bias_value", "classes", "directions", "gram")
    CLASS_KEYS = ("class", "n", "feature_norm", "classifier_norm", "output", "collapsed",
                  "critical_decay", "state", "feature_norms_by_layer")
    DIRECTION_KEYS = ("direction", "sigma", "z", "z_local", "state", "critical_decay",
                      "singular_values", "roots")
    TEXT_CLASS_COLUMNS = ("class", "n", "feature_norm", "classifier_norm", "output",
                          "critical_decay", "state", "collapsed")

    precision: int

    def _json_number(self, value):
        return None if value is None else decimal_string(value, self.precision)

    def _json_column(self, values) -> list:
        return [self._json_column(v) if isinstance(v, (tuple, list, np.ndarray))
                else self._json_number(v) for v in values]

    def _row_column(self, values) -> list:
        return self._json_column(values)

    def _json_matrix(self, matrix) -> list:
        return self._json_column(matrix)

    def _representable(self, matrix) -> bool:
        return True  # decimal strings have no largest value

    def _extra_dict(self, grams: bool) -> dict:
        return {"route": "high-precision (mpmath)", "precision": self.precision}

    def classifier_row_norms(self, layer: int = 0) -> list:
        """Per class, the row length of W_M ... W_{layer+1} (mpf)."""
        gram = self.gram_classifier(layer)
        return [mpmath.sqrt(max(row[k], 0)) for k, row in enumerate(gram)]

    def _extra_direction_columns(self) -> dict:
        return {"roots": [self._json_column(r) for r in self.roots]}

    def _text_number(self, value) -> str:
        return "-" if value is None else decimal_string(value, self.precision)

    def _summary_line(self) -> str:
        return summary_line(self, self._text_number(self.loss), f"{self.certainty} "
                            f"({self.precision} significant digits, high-precision route)")

    def _body_lines(self) -> list[str]:
        """A table per class and per direction, then every layer's singular values.

        Indices start at 0, as in ``ncsolve predict`` and its notes.
        """
        num, p = self._text_number, self.problem
        directions = [[str(i), num(self.sigma[i]), num(self.z[i]), num(self.z_local[i]),
                       self.direction_state[i], num(self.direction_critical_decay[i])]
                      for i in range(len(self.sigma))]
        out = ["", "classes", *self._block(*self._class_rows(range(p.K)))]
        out += ["", "directions (decreasing target singular value sigma)"]
        out += self._block(["direction", "sigma", "z", "z_local", "state", "critical_decay"],
                           directions)
        layers = ["H"] + [f"W_{j}" for j in range(1, p.depth + 1)]
        out += ["", "singular values per direction: " + ", ".join(layers)]
        for i, values in enumerate(self.singular_values):
            out.append(f"  {i}: " + ", ".join(num(v) for v in values))
        return out

    def _note_lines(self) -> list[str]:
        return [f"note: {note}" for note in self.notes]

    def _block(self, header: list[str], rows: list[list[str]]) -> list[str]:
        """An aligned table for short numbers, else one ``name = value`` line per entry."""
        if self.precision <= TABLE_DIGITS:
            return left_table(header, rows)
        out = []
        for r in rows:
            out.append(f"  {header[0]} {r[0]}:")
            out += [f"    {h} = {c}" for h, c in zip(header[1:], r[1:])]
        return out


def format_precise(result) -> str:
    """The text of a high-precision answer (``str(result)``).

    Parameters
    ----------
    result : ncsolve.solvers.precise.PreciseSolution

    Returns
    -------
    str
    """
    return str(result)
