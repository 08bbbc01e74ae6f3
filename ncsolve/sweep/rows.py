"""Checks of rows read back from a sweep's output file before a resume trusts them."""

from __future__ import annotations

import math
import re

from .points import BOOL_COLUMNS, INT_COLUMNS, STR_COLUMNS

# never empty: the row's key, and the words every solver writes (a float may be empty:
# a non-finite value; a bool may be: a uniqueness the search does not decide)
REQUIRED = ("point", "class", "n", "state", "certainty", "bias", "loss_function", "profile",
            "loss", "feature_norm", "classifier_norm", "output", "collapsed", "rank")
_INTEGER = re.compile(r"-?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\Z|[-+]?(inf|nan)\Z")
FIRST_LINE = 1 << 16  # bytes read to recognize a file by its first line


def first_line(path: str) -> tuple[str | None, bool]:
    """The first line of a regular file (without its newline) and whether it is whole;
    None when it is not UTF-8 text."""
    with open(path, "rb") as handle:
        head = handle.read(FIRST_LINE)
    end = head.find(b"\n")
    try:
        return (head if end < 0 else head[:end]).decode("utf-8"), end >= 0
    except UnicodeDecodeError:
        return None, False


def check_row(row: dict) -> str | None:
    """What is wrong with a row (text cells from CSV, values from JSON lines), or None."""
    for name, value in row.items():
        problem = _check_cell(name, value)
        if problem:
            return f"has {name} = {value!r}: {problem}"
    return None


def _check_cell(name: str, value) -> str | None:
    empty = value is None or value == ""
    if empty:
        return "must not be empty" if name in REQUIRED else None
    if name in INT_COLUMNS:
        ok = (_INTEGER.match(value) is not None if isinstance(value, str)
              else isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            return "not a whole number"
        return "must not be negative" if int(value) < 0 and name in ("point", "class", "n") \
            else None
    if name in BOOL_COLUMNS:
        ok = value in ("true", "false") if isinstance(value, str) else isinstance(value, bool)
        return None if ok else "not true or false"
    if name in STR_COLUMNS or name == "lambda_w" and isinstance(value, str) and "/" in value:
        return None if isinstance(value, str) else "not text"
    if isinstance(value, str):
        return None if _FLOAT.match(value) else "not a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    return None if math.isfinite(value) else "not a finite number"
