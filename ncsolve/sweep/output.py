"""Tables on disk: CSV and JSON lines written whole, appended point by point, resumable.

A sweep's rows are written one grid point at a time, all rows of a point in a
single ``os.write`` to a file opened for appending, so a killed run leaves whole
points behind (at worst a torn last line, which the next run drops). A rerun
with the same file reads the finished points back, checks that they belong to
the same grid, and computes only the rest. When every point is done the file is
rewritten in point order (atomically), so the final table does not depend on the
order in which workers finished; a fresh file whose points were appended in
order already is that table and is left as it is.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np

from ..inputs import outfile
from ..inputs.validation import Options, check, invalid
from ..results.table import json_ready
from .formatting import csv_bytes
from .rows import check_row, first_line

FORMATS = ("csv", "jsonl", "parquet")


def check_output(path: str, param: str = "output", force: bool = False, ours=None) -> str:
    """Refuse an output path that cannot or must not be written, before any work (see
    :func:`ncsolve.inputs.outfile.check_target`); return the real path."""
    return outfile.check_target(path, param, force=force, ours=ours)


def write_atomic(path: str, text: str | bytes) -> None:
    """Write the whole file or nothing, with the umask's mode (or the replaced file's)."""
    outfile.write_atomic(path, text)


def cell(value) -> str:
    """One CSV cell: floats with all digits (repr), booleans true/false, None empty."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(value) else repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def csv_text(rows: list[dict], columns: list[str] | None = None, header: bool = True) -> str:
    """CSV of ``rows`` (dicts) with ``columns`` (default: the keys of the first row)."""
    columns = list(rows[0]) if columns is None and rows else (columns or [])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def block_text(block: dict, columns: list[str], fmt: str, header: bool = False) -> str:
    """CSV or JSON lines of a block (a dict of equal-length arrays)."""
    if fmt != "jsonl":
        return block_bytes(block, columns, header).decode("utf-8")
    size = len(block["point"]) if "point" in block else 0
    missing = np.full(size, None, dtype=object)
    arrays = [np.asarray(block.get(c, missing)) for c in columns]
    if fmt == "jsonl":
        rows = zip(*(a.tolist() for a in arrays))
        return "".join(json.dumps({c: json_ready(v) for c, v in zip(columns, row)},
                                  allow_nan=False) + "\n" for row in rows)


def block_bytes(block: dict, columns: list[str], header: bool = False) -> bytes:
    """CSV of a block, UTF-8 encoded (every float as ``repr`` writes it; see
    :mod:`ncsolve.sweep.formatting`)."""
    head = (",".join(columns) + "\n").encode("utf-8") if header else b""
    return head + csv_bytes([np.asarray(block[c]) if c in block else None for c in columns],
                            cell)


def jsonl_text(rows: list[dict], columns: list[str]) -> str:
    return "".join(json.dumps({c: json_ready(r.get(c)) for c in columns}, allow_nan=False)
                   + "\n" for r in rows)


def format_from(path: str | None, fmt: str | None) -> str:
    """The table format: given, or from the extension (csv by default)."""
    if fmt is None:
        ext = os.path.splitext(path or "")[1].lower().lstrip(".")
        fmt = {"jsonl": "jsonl", "json": "jsonl", "parquet": "parquet"}.get(ext, "csv")
    fmt = check(str(fmt), Options(FORMATS), "format")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise invalid("format", "parquet needs pyarrow "
                          "(pip install 'ncsolve[pandas]'); use csv or jsonl") from None
        if path is None:
            raise invalid("format", "parquet is binary; give --output PATH")
    return fmt


class AppendTable:
    """An append-only table file (CSV or JSON lines) of sweep rows, point by point.

    Parameters
    ----------
    path : str
    fmt : {"csv", "jsonl"}
    columns : list of str
        Column order; a ``point`` column identifies the grid point of each row.
    """

    def __init__(self, path: str, fmt: str, columns: list[str]):
        self.path, self.fmt, self.columns = path, fmt, list(columns)
        self._fd: int | None = None
        self.raw: list[str] = []  # the line of each row returned by read()
        self.numbers: list[int] = []  # ... and its line number
        self.torn = False  # the file ends in a torn line
        self._points: list[np.ndarray] = []  # rows kept for the final table: keys ...
        self._classes: list[np.ndarray] = []
        self._lines: list[bytes | list[str]] = []  # ... and their lines, or a block's text
        self._whole = False

    # ---- reading back ----------------------------------------------------------------

    def resumable(self, path: str | None = None) -> bool:
        """Whether an existing file is a resumable output of this sweep: its first line
        is this sweep's CSV header or a JSON-lines row of its columns (or a torn start
        of one)."""
        line, whole = first_line(path or self.path)
        if line is None:
            return False
        if self.fmt == "csv":
            header = ",".join(self.columns)
            return line == header if whole else header.startswith(line)
        if not whole:
            return line.startswith('{"point": ')
        try:
            row = json.loads(line)
        except ValueError:
            return False
        return isinstance(row, dict) and list(row) == self.columns

    def read(self) -> list[dict]:
        """Whole rows already in the file (a torn last line is left out), as strings
        for CSV and JSON values for JSON lines; each row's line number in ``self.lines``.

        Raises
        ------
        ProblemError
            For a line that is not text, not a row of this sweep's columns, or a cell
            that does not parse, naming the line.
        """
        self.torn, self.numbers = False, []
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return []
        with open(self.path, "rb") as handle:
            data = handle.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.refuse(data.count(b"\n", 0, error.start) + 1, "is not text") from None
        if not text.endswith("\n"):
            self.torn = True
            text = text[: text.rfind("\n") + 1]
        raw = text.split("\n")[:-1]
        if self.fmt == "jsonl":
            return self._read_jsonl(raw)
        if not raw:
            return []
        if raw[0] != ",".join(self.columns):
            raise invalid("output", f"{self.path!r} has other columns than "
                          "this sweep; choose another file, or " + outfile.FORCE)
        rows = []
        for number, line in enumerate(raw[1:], start=2):
            cells = next(csv.reader([line]), [])
            if len(cells) != len(self.columns):
                raise self.refuse(number, f"has {len(cells)} cells, not {len(self.columns)}")
            rows.append(self._checked(dict(zip(self.columns, cells)), number))
        self.raw = raw[1:]
        self.numbers = list(range(2, len(raw) + 1))
        return rows

    def refuse(self, number: int, what: str):
        """The ProblemError for line ``number`` of the file."""
        return invalid("output", f"line {number} of {self.path!r} {what}; it is not a "
                       "resumable output of this sweep: repair or delete that line, "
                       "choose another file, or " + outfile.FORCE)

    def _checked(self, row: dict, number: int) -> dict:
        problem = check_row(row)
        if problem:
            raise self.refuse(number, problem)
        return row

    def _read_jsonl(self, raw: list[str]) -> list[dict]:
        rows = []
        for number, line in enumerate(raw, start=1):
            try:
                row = json.loads(line)
            except ValueError:
                raise self.refuse(number, "is not JSON") from None
            if not isinstance(row, dict) or list(row) != self.columns:
                raise self.refuse(number, "is not a row of this sweep's columns")
            rows.append(self._checked(row, number))
        self.raw = raw
        self.numbers = list(range(1, len(raw) + 1))
        return rows

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the file by ``rows`` (atomically)."""
        write_atomic(self.path, self.text(rows, header=True))

    def rewrite_block(self, block: dict) -> None:
        """Replace the file by the rows of ``block`` (atomically)."""
        write_atomic(self.path, block_text(block, self.columns, self.fmt, header=True))

    # ---- writing -----------------------------------------------------------------------

    def text(self, rows: list[dict], header: bool = False) -> str:
        if self.fmt == "jsonl":
            return jsonl_text(rows, self.columns)
        return csv_text(rows, self.columns, header=header)

    def open(self, truncate: bool = False) -> None:
        """Open for appending (``truncate``: empty the file first, for --force)."""
        fresh = truncate or not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
        flags |= os.O_TRUNC if truncate else 0
        self._fd = os.open(outfile.real_path(self.path), flags, 0o666)  # the umask applies
        self._whole = fresh and not self._lines  # the file holds exactly what append() wrote
        if fresh and self.fmt == "csv":
            self._write(self.text([], header=True))

    def keep(self, points, classes, lines: list[str]) -> None:
        """Rows (already in the file) that belong to the final table."""
        self._points.append(np.asarray(points, dtype=np.int64))
        self._classes.append(np.asarray(classes, dtype=np.int64))
        self._lines.append(list(lines))

    def append(self, block: dict) -> None:
        """Append the rows of finished points (whole points) in one write."""
        text = (block_bytes(block, self.columns) if self.fmt == "csv"
                else block_text(block, self.columns, self.fmt).encode("utf-8"))
        self._write(text)
        self._points.append(np.asarray(block["point"], dtype=np.int64))
        self._classes.append(np.asarray(block["class"], dtype=np.int64))
        self._lines.append(text)  # split into lines only if finish() must reorder

    def finish(self) -> None:
        """Rewrite the file with every kept row in (point, class) order, atomically."""
        points = np.concatenate(self._points) if self._points else np.zeros(0, np.int64)
        classes = np.concatenate(self._classes) if self._classes else np.zeros(0, np.int64)
        header = [",".join(self.columns)] if self.fmt == "csv" else []
        if np.all((np.diff(points) > 0) | ((np.diff(points) == 0) & (np.diff(classes) > 0))):
            if self._whole:  # appended in order to a fresh file: it is the final table
                return
            pieces = [p if isinstance(p, bytes) else "".join(line + "\n" for line in p).encode(
                "utf-8") for p in self._lines]  # already in order: no split, no sort
            write_atomic(self.path, "".join(line + "\n" for line in header).encode("utf-8")
                         + b"".join(pieces))
            return
        kept = [line for p in self._lines
                for line in (p.decode("utf-8").splitlines() if isinstance(p, bytes) else p)]
        lines = header + [kept[i] for i in np.lexsort((classes, points))]
        write_atomic(self.path, "\n".join(lines) + "\n" if lines else "")

    def _write(self, text: str | bytes) -> None:
        data = memoryview(text.encode("utf-8") if isinstance(text, str) else text)
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
