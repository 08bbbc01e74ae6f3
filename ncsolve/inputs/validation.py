"""Validation as data: constraints on a parameter and the one formatter of its message.

Every refusal of user input in ncsolve is a :class:`ProblemError` whose message
starts with the parameter's name and its command-line flag::

    lambda_w (--lambda-w): must be a positive finite number, got -1

:func:`invalid` writes that prefix (and nothing else does); :func:`check` tests a
value against a constraint (:class:`Interval`, :class:`WholeNumber`,
:class:`Options`) and words the refusal from the constraint itself, so that the
same rule always reads the same way.

>>> check("5e-4", Interval(0, None, closed="neither"), "lambda_h")
0.0005
>>> check(" Free", Options(("none", "free")), "bias")
'free'
>>> print(invalid(("lambda_w", "lambda_h"), "decays too far apart"))
lambda_w (--lambda-w), lambda_h (--lambda-h): decays too far apart
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral, Real
from typing import Sequence

import numpy as np

SHOWN = 40  # characters of a bad value quoted in a message
CLOSED = ("both", "left", "right", "neither")


class ProblemError(ValueError):
    """Invalid input. The message names the parameter and what is allowed."""


def flag_of(param: str) -> str:
    """The command-line flag of a Python parameter: ``lambda_w`` -> ``--lambda-w``."""
    return "--" + param.replace("_", "-")


def invalid(param: str | Sequence[str], message: str,
            flag: str | Sequence[str] | None = None) -> ProblemError:
    """The error refusing ``param``: ``"param (--flag): message"``.

    Parameters
    ----------
    param : str or sequence of str
        The parameter, or several parameters refused together (then each is named
        with its flag, separated by commas).
    message : str
        What is wrong and what is allowed.
    flag : str or sequence of str, optional
        The flag of each parameter where it is not ``--`` plus the name with
        dashes (``grams`` given as ``--no-grams``); an empty string names a
        parameter of the Python API that has no flag (``"param: message"``).

    Returns
    -------
    ProblemError
        To be raised by the caller.
    """
    params = (param,) if isinstance(param, str) else tuple(param)
    given = (flag,) if flag is None or isinstance(flag, str) else tuple(flag)
    if len(given) == 1:
        given = given * len(params)
    if len(given) != len(params):
        raise ValueError(f"{len(params)} parameters but {len(given)} flags")
    names = [name if mark == "" else f"{name} ({flag_of(name) if mark is None else mark})"
             for name, mark in zip(params, given)]
    return ProblemError(f"{', '.join(names)}: {message}")


def show(value) -> str:
    """``repr(value)`` as the user wrote it (numpy scalars and arrays as Python
    numbers and lists), shortened so that a message stays one readable line."""
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 4] + " ..."


class Refused(Exception):
    """Raised by :meth:`Constraint.accept` for a value outside the constraint."""


def _is_flag(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _scalar(value):
    """A 0-d array as its element; anything else unchanged."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _number(bound: float) -> str:
    return f"{bound:g}"


class Constraint:
    """What a parameter may be: :meth:`accept` converts a value or raises
    :class:`Refused`; :meth:`describe` says in words what is accepted."""

    got = ", got"  # joins the description to the value refused

    def accept(self, value):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """A finite real number between ``low`` and ``high`` (None: no bound).

    ``closed`` says which bounds belong to the interval: "both", "left", "right"
    or "neither". Text such as "5e-4" is read as a number; booleans, nan and
    infinities are refused.
    """

    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def __post_init__(self):
        if self.closed not in CLOSED:
            raise ValueError(f"closed must be one of {', '.join(CLOSED)}, got {self.closed!r}")

    def accept(self, value) -> float:
        value = _scalar(value)
        if _is_flag(value) or isinstance(value, (complex, np.complexfloating, bytes)):
            raise Refused
        if isinstance(value, str) and not _plain_number_text(value):
            raise Refused
        try:
            number = float(value)  # also text, Decimal, a 0-d tensor
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64
            raise Refused from None
        if not math.isfinite(number) or not self._within(number):
            raise Refused
        return number

    def _within(self, number: float) -> bool:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        above = self.low is None or number > self.low or (left and number == self.low)
        below = self.high is None or number < self.high or (right and number == self.high)
        return above and below

    def describe(self) -> str:
        low, high = self.low, self.high
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if low is not None and high is not None:
            if left and right:
                return f"a number from {_number(low)} to {_number(high)}"
            return (f"a number in {'[' if left else '('}{_number(low)}, "
                    f"{_number(high)}{']' if right else ')'}")
        if low is not None:
            if low == 0 and not left:
                return "a positive finite number"
            return f"a finite number {'>=' if left else '>'} {_number(low)}"
        if high is not None:
            return f"a finite number {'<=' if right else '<'} {_number(high)}"
        return "a finite number"


@dataclass(frozen=True)
class WholeNumber(Constraint):
    """An integer from ``low`` to ``high`` (None: no upper bound), both included.

    Accepts Python and numpy integers, floats with an integer value, and text
    that spells an integer ("12", "3.0", "1e3", "1_000"); refuses booleans.
    """

    low: int = 1
    high: int | None = None

    def accept(self, value) -> int:
        value = _scalar(value)
        if isinstance(value, str):
            number = _text_integer(value)
        elif _is_flag(value):
            number = None
        elif isinstance(value, (Integral, np.integer)):
            number = int(value)
        elif isinstance(value, (Real, np.floating)):
            real = float(value)
            number = int(real) if math.isfinite(real) and real.is_integer() else None
        else:
            number = None
        if number is None:
            raise Refused
        if number < self.low or (self.high is not None and number > self.high):
            raise Refused(number)
        return number

    def describe(self) -> str:
        if self.high is not None:
            return f"an integer from {self.low} to {self.high}"
        if self.low == 0:
            return "a non-negative integer"
        return "a positive integer" if self.low == 1 else f"an integer >= {self.low}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of the strings ``choices``; with ``ignore_case`` (the default) case and
    surrounding spaces are ignored."""

    choices: tuple[str, ...]
    ignore_case: bool = True
    got = "; got"

    def accept(self, value) -> str:
        text = value if isinstance(value, str) else None
        if text is not None and self.ignore_case:
            text = text.strip().lower()
        if text not in self.choices:
            raise Refused
        return text

    def describe(self) -> str:
        return "one of " + ", ".join(self.choices)


POSITIVE = Interval(0, None, closed="neither")  # a decay, a step size, a scale


def check(value, constraint: Constraint, param: str, *, what: str = "", hint: str = "",
          flag: str | None = None):
    """``value`` converted by ``constraint``, or the :class:`ProblemError` refusing it.

    Parameters
    ----------
    value
        As the user gave it (number, numpy scalar, text).
    constraint : Constraint
        What ``param`` may be.
    param : str
        The parameter's name, as in the Python API.
    what : str, optional
        The subject of the message when it is not the parameter itself
        ("every class size").
    hint : str, optional
        Said in parentheses after what is allowed ("largest over smallest class size").
    flag : str, optional
        As in :func:`invalid`.

    Raises
    ------
    ProblemError
        ``"param (--flag): [what ]must be <constraint>[ (hint)], got <value>"``.
    """
    try:
        return constraint.accept(value)
    except Refused as refused:
        shown = refused.args[0] if refused.args and abs(refused.args[0]) < 10**30 else value
        subject = f"{what} " if what else ""
        note = f" ({hint})" if hint else ""
        raise invalid(param, f"{subject}must be {constraint.describe()}{note}"
                      f"{constraint.got} {show(shown)}", flag) from None


def whole_number(item, param: str, what: str, low: int = 1, high: int | None = None) -> int:
    """An integer in [low, high] given as a number or as text ("3", "3.0", "1e3").

    Raises
    ------
    ProblemError
        Naming ``param`` and the allowed range.
    """
    return check(item, WholeNumber(low, high), param, what=what)


def _plain_number_text(text: str) -> bool:
    """ASCII only, and no underscore (float() reads "1_0e-4" as 1e-3 and accepts other
    scripts' digits: a number on the command line is written 0-9, '.', 'e', sign)."""
    return text.isascii() and "_" not in text


def _text_integer(text: str) -> int | None:
    """The integer a string spells ("12", " 3.0", "1e3", "1_000"), or None; digits 0-9
    only, and an underscore only between the digits of a plain integer."""
    if not text.isascii() or ("_" in text and any(c in text for c in ".eE")):
        return None
    try:
        if not any(c in text for c in ".eE"):
            return int(text)
        value = float(text)
    except (ValueError, OverflowError):
        return None
    if not (math.isfinite(value) and value.is_integer()):
        return None
    if abs(value) >= 2.0**52:  # float64 rounding could hide a fraction: read it exactly
        exact = Fraction(text.strip())
        return int(exact) if exact.denominator == 1 else None
    return int(value)
