"""The readable report of a Measurement (the text of ``ncsolve measure``)."""

from __future__ import annotations

import numpy as np

from ..results.table import fmt, shown_rows
from ..results.table import table as _report_table

__all__ = ["measurement_text"]


def _g(value, digits: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return fmt(float(value), digits)  # "-" where undefined, as JSON null


def _table(header: list[str], row, count: int) -> list[str]:
    """The report's table layout, formatting only the rows shown (``row(i)`` gives row i)."""
    shown = [None if i is None else row(i) for i in shown_rows(count)]
    return _report_table(header, shown, count)


def _header(m) -> list[str]:
    p = m.problem
    widths = "-" if p["widths"] is None else ",".join(str(d) for d in p["widths"])
    lines = [f"measure: K = {m.K} classes, N = {int(m.n.sum())} samples, depth {p['depth']}, "
             f"widths {widths}, bias {p['bias']}, loss {p['loss']}"]
    if p["lambda_w"] is not None:
        decays = sorted(set(p["lambda_w"]))
        count = len(p["lambda_w"])
        lw = (_g(decays[0]) + (f" (all {count} layers)" if count > 1 else "") if len(decays) == 1
              else ",".join(_g(v) for v in p["lambda_w"]))
        lh = _g(p["lambda_h"]) + (" (fitted)" if m.lambda_h_fit else "")
        extra = "" if p["lambda_b"] is None else f"; lambda_b = {_g(p['lambda_b'])}"
        lines.append(f"decays: lambda_W = {lw}; lambda_H = {lh}{extra}")
    if m.convention is not None:
        lines.append(str(m.convention))
    if m.theory_loss is not None:
        lines.append(f"theory: loss {_g(m.theory_loss, 12)}  geometry: {m.geometry}  "
                     f"certainty: {m.certainty}")
        station = ("" if m.stationarity is None
                   else f"   relative gradient {_g(m.stationarity, 3)}")
        lines.append(f"trained: loss {_g(m.loss, 12)}   relative gap {_g(m.gap, 3)}{station}"
                     f"   output distance {_g(m.output_distance, 3)}")
    lines.append(f"status: {m.status}: {m.summary}")
    return lines


def _class_rows(m):
    c = m.classes
    theory = "theory_feature_norm" in c
    header = ["class", "n", "||hbar_k||"] + (["theory"] if theory else [])
    if "classifier_norm" in c:
        header += ["||w_k||"] + (["theory"] if theory else []) + ["output"] + (
            ["theory"] if theory else [])
    header += ["collapsed"] + (["theory"] if theory else [])

    def row_of(k: int) -> list[str]:
        row = [str(k), str(int(m.n[k])), _g(c["feature_norm"][k])]
        if theory:
            row.append(_g(c["theory_feature_norm"][k]))
        if "classifier_norm" in c:
            row.append(_g(c["classifier_norm"][k]))
            if theory:
                row.append(_g(c["theory_classifier_norm"][k]))
            row.append(_g(c["output"][k]))
            if theory:
                row.append(_g(c["theory_output"][k]))
        row.append(_g(bool(c["collapsed"][k])))
        if theory:
            row.append(_g(bool(c["theory_collapsed"][k])))
        return row

    return header, row_of, m.K


def _layer_rows(m):
    header = ["layer", "width", "NC1", "CDNV", "equinorm", "theory", "w equinorm", "theory",
              "Gram dist", "centred", "self-duality", "theory", "NC4"]

    def row_of(j: int) -> list[str]:
        lay = m.layers[j]
        return [str(lay.layer), str(lay.width), _g(lay.nc1, 3), _g(lay.cdnv, 3),
                _g(lay.equinorm, 3), _g(lay.theory_equinorm, 3),
                _g(lay.classifier_equinorm, 3), _g(lay.theory_classifier_equinorm, 3),
                _g(lay.gram_distance, 3), _g(lay.gram_distance_centred, 3),
                _g(lay.self_duality, 3),
                _g(lay.theory_self_duality, 3), _g(lay.nc4, 4)]

    return header, row_of, len(m.layers)


def _literature_rows(m):
    """The literature's other forms (class means around their global mean)."""
    header = ["layer", "NC1 svd", "NC1 quot", "equinorm c", "self-dual c", "GNC2", "UNC3",
              "NC5"]

    def row_of(j: int) -> list[str]:
        lay = m.layers[j]
        return [str(lay.layer), _g(lay.nc1_svd, 3), _g(lay.nc1_quotient, 3),
                _g(lay.equinorm_centred, 3), _g(lay.self_duality_centred, 3),
                _g(lay.gnc2, 4), _g(lay.unc3, 3), _g(lay.nc5, 3)]

    return header, row_of, len(m.layers)


def _singular_lines(m) -> list[str]:
    lines = []
    show = min(m.K, 6)
    for lay in m.layers:
        pairs = [("features", lay.singular_values, lay.theory_singular_values),
                 (f"W{lay.layer + 1}", lay.weight_singular_values,
                  lay.theory_weight_singular_values)]
        for name, measured, theory in pairs:
            if measured is None:
                continue
            more = " ..." if m.K > show else ""
            text = " ".join(_g(v, 5) for v in measured[:show]) + more
            if theory is not None:
                text += "   theory " + " ".join(_g(v, 5) for v in theory[:show]) + more
            lines.append(f"  layer {lay.layer} {name}: {text}")
    return lines


def measurement_text(m) -> str:
    lines = _header(m)
    lines.append("")
    lines += _table(*_class_rows(m))
    lines.append("")
    lines += _table(*_layer_rows(m))
    if m.accuracy is not None:
        lines.append(f"NC4 and accuracy on the {m.nc4_on} samples: accuracy {_g(m.accuracy, 4)}")
    lines.append(f"collapsed: class-mean length <= {_g(m.collapse_threshold)} x the largest")
    lines.append("")
    lines.append("literature forms (around the global mean; docs/measure.md):")
    lines += _table(*_literature_rows(m))
    lines.append("")
    lines.append("singular values (largest first):")
    lines += _singular_lines(m)
    if m.notes:
        lines.append("")
        lines.append("notes:")
        lines += [f"  - {note}" for note in m.notes]
    return "\n".join(lines)
