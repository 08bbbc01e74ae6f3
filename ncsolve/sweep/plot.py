"""Figures of phase maps and sweeps (matplotlib, imported only when drawing).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot,
so no global backend is switched and the caller can restyle it; :func:`save`
writes it (PNG at 200 dpi, or PDF/SVG, by extension).
"""

from __future__ import annotations

import io
import os

import numpy as np

from ..inputs.problem import DEFAULT_DECAY
from ..inputs import outfile
from ..inputs.validation import Options, check, invalid, whole_number
from .phase import REGIONS

FORMATS = ("png", "pdf", "svg")
DPI = 200
REGION_COLORS = {  # colour-blind-safe light tones, one per region of REGIONS
    "all classes kept": "#cfe8cf",
    "minority collapsed": "#fde3b8",
    "window": "#f2a7a0",
    "all collapsed": "#d4d4d4",
}
LINE_COLORS = ("#1b6ca8", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085",
               "#7f8c8d", "#b7950b", "#34495e", "#e84393")
DECAY_LABEL = r"decay $\bar\lambda$ (geometric mean of all decays)"
RATIO_LABEL = r"imbalance ratio $\rho = n_{\max} / n_{\min}$"


def check_path(path: str, param: str = "plot", force: bool = False) -> str:
    """The output format from the extension, and a path that may be written (checked
    before any long work: see :func:`ncsolve.inputs.outfile.check_target`)."""
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise invalid(param, f"the file must end in "
                      f"{', '.join('.' + f for f in FORMATS)}; got {path!r}")
    outfile.check_target(path, param, force=force)
    return ext


def save(fig, path: str) -> None:
    """Write ``fig`` to ``path`` (format by extension; PNG at 200 dpi), whole or not at
    all; a folder, device or FIFO is refused."""
    ext = check_path(path, force=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=ext, dpi=DPI, bbox_inches="tight")
    outfile.write_atomic(path, buffer.getvalue())


def _figure(ncols: int = 1, nrows: int = 1, size=(7.0, 5.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


# ---- phase maps ------------------------------------------------------------------------


def plot_phase(pm, decay_range=None):
    """Phase map of a :class:`~ncsolve.sweep.phase.PhaseMap`.

    Several ratios and one depth: the (ratio, decay) plane. One ratio and several
    depths: the (depth, decay) plane. Several of both: one panel per depth.
    Regions are shaded and named; solid lines are critical decays (collapse at
    the global minimum), dashed lines existence decays (the nonzero stationary
    point disappears); between them lies the window.

    Returns
    -------
    matplotlib.figure.Figure
    """
    low, high = decay_range or _decay_range(pm)
    decays = np.geomspace(low, high, 700)
    if pm.ratios.size == 1 and len(pm.depths) > 1:
        fig, axes = _figure(size=(8.0, 6.4))
        _legend(fig, pm, [_depth_panel(axes[0], pm, decays)], dashed=True)
        fig.suptitle(f"Phase diagram along depth at ratio {pm.ratios[0]:g}: "
                     f"{_subject(pm)}")
        return fig
    D = len(pm.depths)
    ncols = 1 if D == 1 else 2
    fig, axes = _figure(ncols, (D + ncols - 1) // ncols, size=(6.4, 5.2) if D > 1 else (8.0, 6.4))
    codes = []
    for d, ax in enumerate(axes):
        if d >= D:
            ax.set_visible(False)
            continue
        codes.append(_ratio_panel(ax, pm, d, decays, title=D > 1))
    _legend(fig, pm, codes, dashed=max(pm.depths) > 1)
    depth = f"depth {pm.depths[0]}" if D == 1 else "by depth"
    fig.suptitle(f"Minority-collapse phase map, {depth}: {_subject(pm)}")
    return fig


def _subject(pm) -> str:
    p = pm.profile
    bias = "bias-free" if pm.bias == "none" else "free bias"
    if p.kind == "step":
        what = (f"{p.classes - p.minority} majority + {p.minority} minority classes, "
                f"$n_{{\\max}}$ = {p.largest:g}")
    elif p.kind == "exp":
        what = f"{p.classes} long-tailed classes, $n_{{\\max}}$ = {p.largest:g}"
    else:
        what = f"sizes {','.join(map(str, p.base))} rescaled"
    features = ", features $\\geq 0$" if pm.features == "nonnegative" else ""
    return f"{what}, {bias}, {pm.loss.upper()}{features}"


def _decay_range(pm) -> tuple[float, float]:
    crit = np.concatenate([c.critical_decay.ravel() for c in pm.curves])
    exist = np.concatenate([c.existence_decay.ravel() for c in pm.curves])
    values = np.concatenate([crit, exist])
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.min()) / 4.0, float(values.max()) * 4.0


def _shade(ax, x_edges, decays, codes) -> None:
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([REGION_COLORS[r] for r in REGIONS])
    y_edges = np.sqrt(decays[1:] * decays[:-1])
    y_edges = np.concatenate([[decays[0]], y_edges, [decays[-1]]])
    ax.pcolormesh(x_edges, y_edges, codes, cmap=cmap, vmin=-0.5, vmax=len(REGIONS) - 0.5,
                  shading="flat", rasterized=True)


def _label_regions(ax, x, decays, codes, log_x: bool) -> None:
    """Name each region at the centre of its largest stretch of pixels."""
    X = np.log(x) if log_x else np.asarray(x, dtype=float)
    Y = np.log(decays)
    for code, name in enumerate(REGIONS):
        mask = codes == code
        if mask.sum() < 0.01 * mask.size:
            continue
        width = mask.shape[1]
        inner = slice(width // 8, width - width // 8) if width >= 8 else slice(0, width)
        per_col = mask[:, inner].sum(axis=0)
        if per_col.max() == 0:
            per_col = mask.sum(axis=0)
            inner = slice(0, width)
        col = inner.start + int(np.argmax(per_col))
        row = int(np.median(np.flatnonzero(mask[:, col])))
        xv, yv = X[col], Y[row]
        ax.text(np.exp(xv) if log_x else xv, np.exp(yv), name, ha="center", va="center",
                fontsize=9, fontweight="bold", color="#333333",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.6})


def _ratio_panel(ax, pm, d, decays, title: bool) -> np.ndarray:
    x = pm.ratios
    codes = pm.region_codes(decays[:, None], d)  # (decays, ratios)
    edges = _edges(x, log=True)
    _shade(ax, edges, decays, codes)
    for i, c in enumerate(pm.curves):
        color = _color(i, len(pm.curves))
        ax.plot(x, c.critical_decay[d], color=color, lw=1.8)
        if pm.depths[d] > 1:
            ax.plot(x, c.existence_decay[d], color=color, lw=1.3, ls="--")
    _default_line(ax, decays)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(decays[0], decays[-1])
    ax.set_xlabel(RATIO_LABEL)
    ax.set_ylabel(DECAY_LABEL)
    if title:
        ax.set_title(f"depth {pm.depths[d]}")
    _label_regions(ax, x, decays, codes, log_x=True)
    return codes


def _depth_panel(ax, pm, decays) -> np.ndarray:
    depths = np.array(pm.depths, dtype=float)
    codes = np.stack([pm.region_codes(decays[:, None], d)[:, 0]
                      for d in range(depths.size)], axis=1)
    edges = _edges(depths, log=False)
    _shade(ax, edges, decays, codes)
    for i, c in enumerate(pm.curves):
        color = _color(i, len(pm.curves))
        ax.plot(depths, c.critical_decay[:, 0], color=color, lw=1.8, marker="o", ms=4)
        ax.plot(depths, c.existence_decay[:, 0], color=color, lw=1.3, ls="--", marker="s",
                ms=3)
    _default_line(ax, decays)
    ax.set_yscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(decays[0], decays[-1])
    ax.set_xticks(depths)
    ax.set_xlabel("depth M (number of linear layers)")
    ax.set_ylabel(DECAY_LABEL)
    _label_regions(ax, depths, decays, codes, log_x=False)
    return codes


def _color(i: int, count: int):
    if count <= len(LINE_COLORS):
        return LINE_COLORS[i]
    from matplotlib import colormaps

    return colormaps["viridis"](i / max(count - 1, 1))


def _legend(fig, pm, codes, dashed: bool) -> None:
    """One figure legend outside the axes: a colour per curve, the two line styles,
    and the regions present."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=_color(i, len(pm.curves)), lw=2, label=c.name)
               for i, c in enumerate(pm.curves)]
    handles.append(Line2D([], [], color="black", lw=1.8,
                          label="solid: collapses at the global minimum"))
    if dashed:
        handles.append(Line2D([], [], color="black", lw=1.3, ls="--",
                              label="dashed: nonzero stationary point ends"))
    present = set(np.unique(np.concatenate([c.ravel() for c in codes])).tolist())
    handles += [Patch(color=REGION_COLORS[r], label=r) for k, r in enumerate(REGIONS)
                if k in present]
    fig.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False,
               ncol=min(4, max(2, (len(handles) + 3) // 4)))


def _default_line(ax, decays) -> None:
    if decays[0] < DEFAULT_DECAY < decays[-1]:
        ax.axhline(DEFAULT_DECAY, color="black", lw=0.8, ls=":")
        # in the left margin, where no curve is drawn
        ax.annotate(f"default\ndecay\n{DEFAULT_DECAY:g}", (0.0, DEFAULT_DECAY),
                    xycoords=("axes fraction", "data"), xytext=(-4, 0),
                    textcoords="offset points", ha="right", va="center", fontsize=6,
                    color="0.3")


def _edges(x: np.ndarray, log: bool) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.size == 1:
        return np.array([x[0] / 1.5, x[0] * 1.5]) if log else np.array([x[0] - 0.5, x[0] + 0.5])
    t = np.log(x) if log else x
    mid = 0.5 * (t[1:] + t[:-1])
    t_edges = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return np.exp(t_edges) if log else t_edges


# ---- sweeps ------------------------------------------------------------------------------

LOG_AXES = {"ratio", "decay", "lambda_w", "lambda_h", "lambda_b"}
AXIS_LABELS = {
    "ratio": RATIO_LABEL,
    "decay": r"decay $\lambda_H = \lambda_W$ (all layers)",
    "lambda_w": r"weight decay $\lambda_W$",
    "lambda_h": r"feature decay $\lambda_H$",
    "lambda_b": r"bias decay $\lambda_b$",
    "depth": "depth M (number of linear layers)",
    "classes": "number of classes K",
    "minority": "number of minority classes",
    "largest": r"largest class size $n_{\max}$",
    "seed": "seed", "restarts": "random starts",
}
VALUE_LABELS = {
    "feature_norm": r"class-mean length $\|\bar h_k\|$",
    "classifier_norm": r"classifier row length $\|w_k\|$",
    "output": "output on the own label",
    "loss": "loss (objective at the minimizer)",
    "classifier_max_cosine": "largest cosine between classifier rows",
    "critical_decay": r"critical decay $\bar\lambda_k$",
    "collapsed_classes": "number of collapsed classes",
    "rank": "rank of the product",
}
PLOT_VALUES = tuple(VALUE_LABELS)


def check_sweep_plot(grid, value=None, cls=None) -> None:
    """Refuse a sweep figure that cannot be drawn, before the sweep runs."""
    swept = [a for a in grid.swept if a not in ("bias", "loss")]
    if len(grid.swept) != len(swept) or not 1 <= len(swept) <= 2:
        raise invalid("plot", f"draws one or two swept numeric parameters; this "
                      f"grid sweeps {len(grid.swept)} ({', '.join(grid.swept) or 'none'})")
    if value is not None:
        check(value, Options(PLOT_VALUES, ignore_case=False), "plot_value")
    if value == "classifier_max_cosine" and "ce" not in grid.values("loss"):
        raise invalid("plot_value", "classifier_max_cosine is computed for --loss ce")
    if cls is not None:
        whole_number(cls, "plot_class", "", low=0)


def plot_sweep(table, value: str | None = None, cls=None):
    """Lines (one swept parameter: one line per class) or a heat map (two swept
    parameters: the number of collapsed classes, or one class's ``value``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_sweep_plot(table.grid, value, cls)
    swept = list(table.grid.swept)
    if len(swept) == 1:
        return _sweep_lines(table, swept[0], value or "feature_norm")
    return _sweep_map(table, swept, value or "collapsed_classes", cls)


def _param_column(name: str) -> str:
    return "lambda_h" if name == "decay" else name


def _per_point(table, value: str, cls):
    data = table.data
    points = data["point"].astype(np.int64)
    index, first = np.unique(points, return_index=True)
    if value == "collapsed_classes":
        counts = np.bincount(points, weights=data["collapsed"].astype(bool), minlength=index.max()
                             + 1)
        return index, counts[index]
    if value in ("loss", "rank"):
        return index, data[value][first].astype(float)
    k = 0 if cls is None else int(cls)
    take = data["class"].astype(np.int64) == k
    if not take.any():
        raise invalid("plot_class", f"no class {k} in this sweep")
    return points[take], data[value][take].astype(float)


def _sweep_lines(table, axis: str, value: str):
    cosine = value == "classifier_max_cosine"
    fig, axes = _figure(ncols=2 if cosine else 1, size=(6.4, 4.8) if cosine else (7.5, 5.0))
    ax = axes[0]
    data = table.data
    x_all = data[_param_column(axis)].astype(float)
    classes = np.unique(data["class"].astype(np.int64))
    values = data[value].astype(float) if value not in ("collapsed_classes",) else None
    if values is None or value in ("loss", "rank"):
        index, y = _per_point(table, value, None)
        x = np.array([float(table.grid.point(int(i))[axis]) for i in index])
        ax.plot(x, y, marker="o", ms=3, color=LINE_COLORS[0])
    else:
        for k in classes:
            take = data["class"].astype(np.int64) == k
            ax.plot(x_all[take], values[take], marker="o", ms=3, lw=1.4,
                    color=_color(int(k), classes.size), label=f"class {k} (n = "
                    f"{_sizes(data, take)})")
        ax.legend(fontsize=8, ncol=2 if classes.size > 6 else 1)
    if axis in LOG_AXES:
        ax.set_xscale("log")
    _integer_ticks(ax.set_xticks, axis, table.grid.values(axis))
    finite = values[np.isfinite(values)] if values is not None else np.array([])
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS.get(axis, axis))
    ax.set_ylabel(VALUE_LABELS.get(value, value))
    ax.grid(alpha=0.3)
    if cosine:
        _cosine_gap_panel(axes[1], data, classes, x_all, axis)
    fig.suptitle(f"{VALUE_LABELS.get(value, value).split('$')[0].strip().capitalize()} "
                 f"against {axis.replace('_', ' ')}\n{_sweep_subject(table)}", fontsize=11)
    return fig


def _cosine_gap_panel(gap_ax, data, classes, x_all, axis) -> None:
    """A second panel: 1 - cosine on a log axis (parallel rows reach rounding level)."""
    values = data["classifier_max_cosine"].astype(float)
    for k in classes:
        take = data["class"].astype(np.int64) == k
        gap = np.maximum(1.0 - values[take], 1e-17)
        gap_ax.plot(x_all[take], gap, marker="o", ms=3, lw=1.4,
                    color=_color(int(k), classes.size))
    gap_ax.axhline(1e-6, color="black", lw=0.8, ls=":")
    gap_ax.annotate("1e-6", (0.02, 1e-6), xycoords=("axes fraction", "data"), va="bottom",
                    fontsize=7)
    gap_ax.set_yscale("log")
    if axis in LOG_AXES:
        gap_ax.set_xscale("log")
    gap_ax.set_xlabel(AXIS_LABELS.get(axis, axis))
    gap_ax.set_ylabel(r"$1 - $ largest cosine (floored at $10^{-17}$)")
    gap_ax.grid(alpha=0.3)


def _sizes(data, take) -> str:
    sizes = np.unique(data["n"][take].astype(np.int64))
    return str(sizes[0]) if sizes.size == 1 else f"{sizes.min()}..{sizes.max()}"


def _sweep_map(table, swept, value: str, cls):
    fig, axes = _figure(size=(7.5, 5.6))
    ax = axes[0]
    grid = table.grid
    index, y = _per_point(table, value, cls)
    shape = tuple(len(grid.values(a)) for a in swept)
    image = np.full(shape, np.nan)
    positions = np.unravel_index(index, grid.shape)
    names = [n for n, _ in grid.axes]
    image[positions[names.index(swept[0])], positions[names.index(swept[1])]] = y
    xs, ys = (np.asarray(grid.values(a), dtype=float) for a in (swept[1], swept[0]))
    log_color = value not in ("collapsed_classes", "rank") and np.nanmin(image) > 0 and \
        np.nanmax(image) / np.nanmin(image) > 100
    from matplotlib.colors import LogNorm

    mesh = ax.pcolormesh(_edges(xs, swept[1] in LOG_AXES), _edges(ys, swept[0] in LOG_AXES),
                         image, shading="flat", cmap="viridis",
                         norm=LogNorm() if log_color else None, rasterized=True)
    bar = fig.colorbar(mesh, ax=ax)
    label = VALUE_LABELS.get(value, value)
    if value not in ("collapsed_classes", "loss", "rank"):
        label += f" of class {0 if cls is None else int(cls)}"
    bar.set_label(label)
    for name, setter in ((swept[1], ax.set_xscale), (swept[0], ax.set_yscale)):
        if name in LOG_AXES:
            setter("log")
    _integer_ticks(ax.set_xticks, swept[1], xs)
    _integer_ticks(ax.set_yticks, swept[0], ys)
    ax.set_xlabel(AXIS_LABELS.get(swept[1], swept[1]))
    ax.set_ylabel(AXIS_LABELS.get(swept[0], swept[0]))
    fig.suptitle(f"{label.split('$')[0].strip().capitalize()}\n{_sweep_subject(table)}",
                 fontsize=11)
    return fig


INTEGER_AXES = ("depth", "classes", "seed", "restarts")


def _integer_ticks(setter, axis: str, values) -> None:
    """A whole-number axis (depth, K, seed) is ticked at its values only: depth 1 is a
    point (or a cell centred on it), not a range 0..2."""
    if axis in INTEGER_AXES:
        values = sorted({int(v) for v in values})
        setter(values, [str(v) for v in values])


def _sweep_subject(table) -> str:
    grid = table.grid
    fixed = []
    if grid.profile is not None:
        fixed.append(f"{grid.profile} profile")
    elif grid.n is not None:
        fixed.append("n = " + ",".join(map(str, grid.n)))
    for name, values in grid.axes:
        if len(values) == 1 and name in ("depth", "bias", "loss", "decay", "lambda_w",
                                         "lambda_h", "classes", "ratio"):
            v = values[0]
            fixed.append(f"{name.replace('_', ' ')} {v:g}" if isinstance(v, float)
                         else f"{name} {v}")
    return ", ".join(fixed)
