"""Rendering a Solution: the JSON dictionary and the human-readable table."""

from __future__ import annotations

import math

import numpy as np

TABLE_ROWS = 12  # rows shown at each end of a long table


def _column(values) -> list:
    """A float array as a JSON-ready list (nan and inf become None)."""
    values = np.asarray(values, dtype=float)
    if np.all(np.isfinite(values)):
        return values.tolist()
    return np.where(np.isfinite(values), values, None).tolist()


def solution_dict(sol, grams: bool) -> dict:
    """The JSON contract of ``ncsolve predict --json`` (see docs/cli.md)."""
    p = sol.problem
    K = p.K
    class_columns = {
        "class": list(range(K)),
        "n": p.n.tolist(),
        "feature_norm": _column(sol.feature_norm),
        "classifier_norm": _column(sol.classifier_norm),
        "output": _column(sol.output),
        "collapsed": sol.collapsed.tolist(),
        "critical_decay": _column(sol.critical_decay),
        "state": sol.state.tolist(),
        "feature_norms_by_layer": _column(sol.layer_feature_norms.T),
    }
    direction_columns = {
        "direction": list(range(K)),
        "sigma": _column(sol.sigma),
        "z": _column(sol.z),
        "z_local": _column(sol.z_local),
        "state": sol.direction_state.tolist(),
        "critical_decay": _column(sol.direction_critical_decay),
        "singular_values": _column(sol.singular_values),
    }
    out = {
        "problem": p.to_dict(),
        "loss": float(sol.loss),
        "certainty": sol.certainty,
        "unique": bool(sol.unique),
        "geometry": sol.geometry,
        "rank": sol.rank,
        "rank_cap": p.rank_cap,
        "notes": list(sol.notes),
        "bias_value": None if sol.bias_value is None else _column(sol.bias_value),
        "classes": _records(class_columns),
        "directions": _records(direction_columns),
    }
    out["gram"] = _grams(sol, out["notes"]) if grams else None
    return out


def _grams(sol, notes: list) -> dict | None:
    """The K x K Grams, or None (with a note) when their entries are beyond float64:
    squared lengths can overflow where the lengths themselves do not."""
    with np.errstate(over="ignore", invalid="ignore"):
        matrices = {"features": sol.gram_features(), "classifier": sol.gram_classifier(),
                    "outputs": sol.gram_outputs()}
    if all(np.all(np.isfinite(m)) for m in matrices.values()):
        return {name: m.tolist() for name, m in matrices.items()}
    notes.append("gram is null: entries of the Gram matrices (squared lengths) are beyond "
                 "float64 with these decays; the lengths above are exact")
    return None


def _records(columns: dict) -> list[dict]:
    keys = list(columns)
    return [dict(zip(keys, row)) for row in zip(*columns.values())]


def _rows(count: int) -> list[int | None]:
    """Row indices to show, with None marking an elision."""
    if count <= 2 * TABLE_ROWS + 1:
        return list(range(count))
    return [*range(TABLE_ROWS), None, *range(count - TABLE_ROWS, count)]


def _table(header: list[str], rows: list[list[str] | None], total: int) -> list[str]:
    shown = [r for r in rows if r is not None]
    widths = [max(len(h), *(len(r[j]) for r in shown)) for j, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    for row in rows:
        if row is None:
            lines.append(f"  ... {total - len(shown)} more rows (use --json for all)")
        else:
            lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return lines


def _g(value: float, digits: int = 6) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}g}"


def _decays(p) -> str:
    if len(set(p.lambda_w)) == 1:
        layers = f"all {p.depth} layers" if p.depth > 1 else "one layer"
        weights = f"lambda_w = {_g(p.lambda_w[0])} ({layers})"
    else:
        weights = "lambda_w = " + ", ".join(_g(x) for x in p.lambda_w) + " (layer 1 first)"
    return f"{weights}; lambda_h = {_g(p.lambda_h)}; geometric mean {_g(p.lbar)}"


def header_lines(p, loss_name: str) -> list[str]:
    """The first two lines of every report: the model and its decays (MSE and CE alike)."""
    widths = f", widths {','.join(map(str, p.widths))}" if p.widths else ""
    return [f"{loss_name}, depth {p.depth}, K = {p.K} classes, N = {p.N} samples, "
            f"bias {p.bias}{widths}", _decays(p)]


def summary_line(sol, loss: str | None = None) -> str:
    """loss, rank, geometry, uniqueness and certainty on one line (MSE and CE alike)."""
    unique = {True: "yes", False: "NO", None: "unknown"}[sol.unique]
    loss = f"{sol.loss:.12g}" if loss is None else loss
    return (f"loss {loss}   rank {sol.rank} (cap {sol.problem.rank_cap})   "
            f"geometry: {sol.geometry}   unique: {unique}   certainty: {sol.certainty}")


def _class_rows(sol) -> tuple[list[str], list]:
    p = sol.problem
    header = ["class", "n", "feature_norm", "classifier_norm", "output", "critical_decay",
              "state", "collapsed"]
    rows = []
    for k in _rows(p.K):
        if k is None:
            rows.append(None)
            continue
        rows.append([str(k), str(p.n[k]), _g(sol.feature_norm[k]), _g(sol.classifier_norm[k]),
                     _g(sol.output[k]), _g(sol.critical_decay[k]), str(sol.state[k]),
                     "yes" if sol.collapsed[k] else "no"])
    return header, rows


def _direction_rows(sol, decay=None) -> tuple[list[str], list]:
    """The direction table; ``decay`` replaces ``sol.direction_critical_decay``."""
    p = sol.problem
    decay = sol.direction_critical_decay if decay is None else decay
    header = ["direction", "sigma", "z", "z_local", "state", "critical_decay", "s(H)"]
    header += [f"s(W{j})" for j in range(1, p.depth + 1)] if p.depth <= 6 else ["s(W1) ..."]
    rows = []
    for i in _rows(p.K):
        if i is None:
            rows.append(None)
            continue
        values = sol.singular_values[i] if p.depth <= 6 else sol.singular_values[i, :2]
        rows.append([str(i), _g(sol.sigma[i]), _g(sol.z[i]), _g(sol.z_local[i]),
                     str(sol.direction_state[i]), _g(decay[i]),
                     *(_g(v) for v in values)])
    return header, rows


def solution_text(sol) -> str:
    """The readable report of ``ncsolve predict``."""
    p = sol.problem
    lines = [
        *header_lines(p, "MSE"),
        summary_line(sol),
        "",
        *_table(*_class_rows(sol), p.K),
        "",
        *_table(*_direction_rows(sol), p.K),
    ]
    if sol.bias_value is not None:
        lines += ["", "learned bias b = n / N (the class frequencies)"]
    if sol.notes:
        lines += ["", "notes:", *(f"  - {note}" for note in sol.notes)]
    return "\n".join(lines)
