"""Grid values from the command line or Python: comma lists and ``START:STOP:COUNT``.

Ranges are log-spaced for decays and ratios and linear otherwise; integer
parameters take integer values. Every check runs before anything is allocated.
"""

from __future__ import annotations

import math

import numpy as np

from .validation import Options, ProblemError, check, invalid

MAX_POINTS = 10**7  # larger grids need an explicit yes (--yes)
MAX_COUNT = 10**7


def _number(text: str, param: str, integer: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise invalid(param, f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise invalid(param, f"expected a finite number, got {text!r}")
    if integer and not value.is_integer():
        raise invalid(param, f"expected an integer, got {text!r}")
    return value


def range_count(spec: str, param: str) -> int:
    """Number of values a spec gives, checked, without building them."""
    text = str(spec).strip()
    if not text:
        raise invalid(param, "empty value; give a number, a comma list or START:STOP:COUNT")
    if ":" not in text:
        parts = [p.strip() for p in text.split(",")]
        if any(not p for p in parts):
            raise invalid(param, f"empty entry in the list {text!r}")
        return len(parts)
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3 or not all(parts):
        raise invalid(param, f"a range is START:STOP:COUNT (three numbers), got {text!r}")
    try:
        count = float(parts[2])
    except ValueError:
        raise invalid(param, f"the COUNT of {text!r} must be a positive integer") from None
    if not (math.isfinite(count) and count.is_integer()) or count < 1:
        raise invalid(param, f"the COUNT of {text!r} must be a positive integer, got {parts[2]}")
    if count > MAX_COUNT:
        raise invalid(param, f"the COUNT of {text!r} must be at most {MAX_COUNT}")
    return int(count)


def parse_values(spec, param: str, scale: str = "linear", integer: bool = False,
                 low: float | None = None, positive: bool = False) -> np.ndarray:
    """The values of one grid axis.

    Parameters
    ----------
    spec : str, number or sequence
        ``"a,b,c"``, ``"START:STOP:COUNT"``, a number or a sequence of numbers.
    param : str
        Parameter name (for messages).
    scale : {"linear", "log"}
        Spacing of a range.
    integer : bool
        Values must be whole numbers (a linear range is rounded; repeats are errors).
    low : float, optional
        Smallest allowed value.
    positive : bool
        Values must be strictly positive (decays).

    Raises
    ------
    ProblemError
        For empty, inverted or degenerate ranges, a count of 0, non-numbers.
    """
    if not isinstance(spec, str):
        try:
            values = np.atleast_1d(np.asarray(spec, dtype=float))
            if values.ndim != 1:
                raise ValueError
        except (TypeError, ValueError):
            raise invalid(param, "expected a number, a sequence of numbers, a comma list or "
                          f"START:STOP:COUNT, got {spec!r}") from None
        spec = ",".join(repr(float(v)) for v in values)
    count = range_count(spec, param)
    text = spec.strip()
    if ":" not in text:
        values = np.array([_number(p.strip(), param, integer) for p in text.split(",")])
    else:
        start, stop = (_number(p.strip(), param, integer) for p in text.split(":")[:2])
        if start > stop:
            raise invalid(param, f"inverted range {text!r}: START must not exceed STOP "
                          f"(write {_swap(text)})")
        if start == stop and count > 1:
            raise invalid(param, f"empty range {text!r}: START equals STOP; give a single "
                          "value or a wider range")
        if scale == "log":
            if start <= 0:
                raise invalid(param, f"a log-spaced range needs START > 0, got {text!r}")
            values = np.geomspace(start, stop, count)
            values[0], values[-1] = start, stop
        else:
            values = np.linspace(start, stop, count)
        if integer:
            values = np.round(values)
            if np.unique(values).size < values.size:
                raise invalid(param, f"{text!r} asks for {count} integers between "
                              f"{start:g} and {stop:g}; there are only "
                              f"{int(stop - start) + 1}")
    if low is not None and np.any(values < low):
        bad = values[values < low][0]
        raise invalid(param, f"values must be at least {low:g}, got {bad:g}")
    if positive and np.any(values <= 0):
        bad = values[values <= 0][0]
        raise invalid(param, f"values must be positive, got {bad:g}")
    return values


def _swap(text: str) -> str:
    a, b, c = text.split(":")
    return f"{b}:{a}:{c}"


def parse_choices(spec, param: str, allowed) -> list[str]:
    """A comma list of choices (``"none,free"``)."""
    items = spec if not isinstance(spec, str) else spec.split(",")
    out = []
    for item in items:
        out.append(check(str(item), Options(tuple(allowed)), param))
    if not out:
        raise invalid(param, "give at least one value")
    return out


def check_size(counts, yes: bool = False) -> int:
    """The product of the axis lengths, refused above :data:`MAX_POINTS` without ``yes``."""
    total = math.prod(int(c) for c in counts)
    if total > MAX_POINTS and not yes:
        raise ProblemError(f"grid: {total:,} points is more than {MAX_POINTS:,}; "
                           "pass --yes (Python: yes=True) to run it anyway")
    return total
