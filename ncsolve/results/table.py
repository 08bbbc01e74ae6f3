"""The table toolkit: JSON columns and the readable tables of every text output.

Every report (predict in each of its forms, measure, verify) lays its tables
out with :func:`table` and formats its numbers with :func:`fmt`, so they look
alike. Long tables show their first and last ``TABLE_ROWS`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["TABLE_ROWS", "column", "column_widths", "direction_rows", "fmt", "header_lines",
           "left_table", "Records", "records", "shown_rows", "summary_line", "table"]

TABLE_ROWS = 12  # rows shown at each end of a long table


def column(values) -> list:
    """A float array as a JSON-ready list (nan and inf become None)."""
    values = np.asarray(values, dtype=float)
    if np.all(np.isfinite(values)):
        return values.tolist()
    return np.where(np.isfinite(values), values, None).tolist()


def json_ready(value):
    """A JSON-safe copy: numpy arrays and scalars as Python values, non-finite floats as
    None, dicts and sequences copied through."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist"):
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(columns: dict, keys=None) -> list[dict]:
    """One dict per row from equal-length columns (lists, ranges or arrays, float arrays
    as by :func:`column`); ``keys`` (default: all) in that order."""
    return Records(columns, keys)[:]


class Records(Sequence):
    """The rows of :func:`records`, each dict built when it is read.

    At K = 10^6 classes the dicts would take about a gigabyte; ``--json`` reads them a
    slice at a time (``ncsolve.cli.jsonout``).
    """

    def __init__(self, columns: dict, keys=None):
        self.keys = list(columns) if keys is None else list(keys)
        self.columns = [columns[key] for key in self.keys]

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            parts = [_json_part(c[index]) for c in self.columns]
            return [dict(zip(self.keys, row)) for row in zip(*parts)]
        return self[index: index + 1 or None][0] if index >= 0 else self[len(self) + index]


def _json_part(part) -> list:
    """A slice of a column as JSON values: float arrays through :func:`column`."""
    if isinstance(part, np.ndarray):
        return column(part) if part.dtype.kind == "f" else part.tolist()
    return list(part)


def shown_rows(count: int) -> list[int | None]:
    """Row indices to show, with None marking an elision."""
    if count <= 2 * TABLE_ROWS + 1:
        return list(range(count))
    return [*range(TABLE_ROWS), None, *range(count - TABLE_ROWS, count)]


def column_widths(header: list[str], rows: list[list[str] | None]) -> list[int]:
    """The width of each column: its longest cell or header."""
    shown = [r for r in rows if r is not None]
    return [max([len(h), *(len(r[j]) for r in shown)]) for j, h in enumerate(header)]


def table(header: list[str], rows: list[list[str] | None], total: int) -> list[str]:
    """Right-aligned columns; a None row stands for the ``total - shown`` rows left out."""
    shown = [r for r in rows if r is not None]
    widths = column_widths(header, rows)
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    for row in rows:
        if row is None:
            lines.append(f"  ... {total - len(shown)} more rows (use --json for all)")
        else:
            lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return lines


def left_table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns, every row shown, trailing blanks dropped (long decimals)."""
    widths = column_widths(header, rows)
    lines = [header, *rows]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]


def fmt(value: float, digits: int = 6) -> str:
    """``value`` to ``digits`` significant digits, "-" where it is not finite."""
    return "-" if not math.isfinite(value) else f"{value:.{digits}g}"


def _decays(p) -> str:
    if len(set(p.lambda_w)) == 1:
        layers = f"all {p.depth} layers" if p.depth > 1 else "one layer"
        weights = f"lambda_w = {fmt(p.lambda_w[0])} ({layers})"
    else:
        weights = "lambda_w = " + ", ".join(fmt(x) for x in p.lambda_w) + " (layer 1 first)"
    return f"{weights}; lambda_h = {fmt(p.lambda_h)}; geometric mean {fmt(p.lbar)}"


def header_lines(p, loss_name: str) -> list[str]:
    """The first two lines of every answer's report: the model and its decays."""
    widths = f", widths {','.join(map(str, p.widths))}" if p.widths else ""
    bias = p.bias if p.lambda_b is None else f"{p.bias} (lambda_b = {fmt(p.lambda_b)})"
    return [f"{loss_name}, depth {p.depth}, K = {p.K} classes, N = {p.N} samples, "
            f"bias {bias}{widths}", _decays(p)]


def summary_line(sol, loss: str | None = None, certainty: str | None = None) -> str:
    """loss, rank, geometry, uniqueness and certainty on one line (every answer)."""
    unique = {True: "yes", False: "NO", None: "unknown"}[sol.unique]
    loss = f"{sol.loss:.12g}" if loss is None else loss
    certainty = sol.certainty if certainty is None else certainty
    return (f"loss {loss}   rank {sol.rank} (cap {sol.problem.rank_cap})   "
            f"geometry: {sol.geometry}   unique: {unique}   certainty: {certainty}")


def direction_rows(sol) -> tuple[list[str], list]:
    """The per-direction table of a closed-form answer: header and shown rows."""
    p = sol.problem
    header = ["direction", "sigma", "z", "z_local", "state", "critical_decay", "s(H)"]
    header += [f"s(W{j})" for j in range(1, p.depth + 1)] if p.depth <= 6 else ["s(W1) ..."]
    rows = []
    for i in shown_rows(p.K):
        if i is None:
            rows.append(None)
            continue
        values = sol.singular_values[i] if p.depth <= 6 else sol.singular_values[i, :2]
        rows.append([str(i), fmt(sol.sigma[i]), fmt(sol.z[i]), fmt(sol.z_local[i]),
                     str(sol.direction_state[i]), fmt(sol.direction_critical_decay[i]),
                     *(fmt(v) for v in values)])
    return header, rows
