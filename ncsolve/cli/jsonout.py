"""``--json`` written piece by piece: the same text as ``json.dumps(data, allow_nan=False)``
without holding it whole (at K = 10^6 classes the text alone is some 400 MB)."""

from __future__ import annotations

import json

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
    elif isinstance(value, (list, tuple)) and len(value) > CHUNK:
        write("[")
        for start in range(0, len(value), CHUNK):
            part = value[start: start + CHUNK]
            if all(not isinstance(v, (dict, list, tuple)) for v in part):
                text = json.dumps(list(part), allow_nan=False)[1:-1]
                write(("" if start == 0 else ", ") + text)
                continue
            for j, item in enumerate(part):
                write("" if start + j == 0 else ", ")
                _write(item, write)
        write("]")
    else:
        write(json.dumps(value, allow_nan=False))
