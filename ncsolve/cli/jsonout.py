"""``--json`` written piece by piece: the same text as ``json.dumps(data, allow_nan=False)``
without holding it whole (at K = 10^6 classes the text alone is some 400 MB)."""

from __future__ import annotations

import json
from collections.abc import Sequence

CHUNK = 4096  # list items encoded per write


def write_json(data, write) -> None:
    """Write ``data`` (JSON-ready: dicts, lists, numbers, strings, None) with ``write``,
    followed by a newline."""
    _write(data, write)
    write("\n")


def _write(value, write) -> None:
    if isinstance(value, dict) and value:
        write("{")
        for i, (key, item) in enumerate(value.items()):
            write(("" if i == 0 else ", ") + json.dumps(str(key)) + ": ")
            _write(item, write)
        write("}")
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) > CHUNK:
        write("[")
        for start in range(0, len(value), CHUNK):
            part = value[start: start + CHUNK]
            write("" if start == 0 else ", ")
            if not any(_large(v) for v in part):  # one encoding of the whole slice
                write(json.dumps(list(part), allow_nan=False)[1:-1])
                continue
            for j, item in enumerate(part):
                write("" if j == 0 else ", ")
                _write(item, write)
        write("]")
    elif isinstance(value, Sequence) and not isinstance(value, (str, list, tuple)):
        write(json.dumps(list(value), allow_nan=False))
    else:
        write(json.dumps(value, allow_nan=False))


def _large(value) -> bool:
    """A container of more than CHUNK items (one level deep: rows hold short lists)."""
    return isinstance(value, (dict, list, tuple)) and len(value) > CHUNK
