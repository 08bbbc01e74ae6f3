"""Rendering a RegularizedSolution: the JSON dictionary and the readable table."""

from __future__ import annotations

from ...results.table import (
    _column,
    _direction_rows,
    _g,
    _records,
    _rows,
    _table,
    header_lines,
    summary_line,
)


def solution_dict(sol, grams: bool) -> dict:
    """The JSON of ``ncsolve predict --bias regularized --json`` (docs/cli.md)."""
    p = sol.problem
    K = p.K
    out = {
        "problem": p.to_dict(),
        "loss": float(sol.loss),
        "unique": bool(sol.unique),
        "geometry": sol.geometry,
        "certainty": sol.certainty,
        "rank": sol.rank,
        "rank_cap": p.rank_cap,
        "notes": list(sol.notes),
        "bias_value": _column(sol.bias_value),
        "toward_bias_free": sol.toward_bias_free,
        "duality_gap": sol.duality_gap,
        "classes": _records({
            "class": list(range(K)),
            "n": p.n.tolist(),
            "feature_norm": _column(sol.feature_norm),
            "classifier_norm": _column(sol.classifier_norm),
            "output": _column(sol.output),
            "bias_value": _column(sol.bias_value),
            "collapsed": sol.collapsed.tolist(),
            "critical_decay": _column(sol.critical_decay),
            "state": sol.state.tolist(),
            "feature_norms_by_layer": _column(sol.layer_feature_norms.T),
        }),
        "directions": _records({
            "direction": list(range(K)),
            "sigma": _column(sol.sigma),
            "z": _column(sol.z),
            "z_local": _column(sol.point.z_local),
            "state": sol.direction_state.tolist(),
            "critical_decay": _column(sol._direction_decay),
            "singular_values": _column(sol.singular_values),
        }),
        "runs": [{"start": run.start, "loss": float(run.point.loss),
                  "bias_value": _column(run.point.b), "iterations": run.iterations}
                 for run in sol.runs],
    }
    out["gram"] = ({
        "features": sol.gram_features().tolist(),
        "classifier": sol.gram_classifier().tolist(),
        "outputs": sol.gram_outputs().tolist(),
    } if grams else None)
    return out


def solution_text(sol) -> str:
    """The readable report of ``ncsolve predict --bias regularized``."""
    p = sol.problem
    position = "-" if sol.toward_bias_free is None else f"{sol.toward_bias_free:.6g}"
    model, decays = header_lines(p, "MSE")
    lines = [
        model.replace("bias regularized", f"bias regularized (lambda_b = {_g(p.lambda_b)})"),
        decays,
        summary_line(sol),
        f"position between the free-bias (0) and bias-free (1) geometry: {position}",
        "",
        *_table(*_class_rows(sol), p.K),
        "",
        *_table(*_direction_rows(sol, sol._direction_decay), p.K),
    ]
    if sol.notes:
        lines += ["", "notes:", *(f"  - {note}" for note in sol.notes)]
    return "\n".join(lines)


def _class_rows(sol):
    p = sol.problem
    header = ["class", "n", "feature_norm", "classifier_norm", "output", "bias_value",
              "collapsed"]
    rows = []
    for k in _rows(p.K):
        rows.append(None if k is None else [
            str(k), str(p.n[k]), _g(sol.feature_norm[k]), _g(sol.classifier_norm[k]),
            _g(sol.output[k]), _g(sol.bias_value[k]), "yes" if sol.collapsed[k] else "no"])
    return header, rows
