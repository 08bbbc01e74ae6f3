"""Figures of phase maps and sweeps (matplotlib, imported only when drawing).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot,
so no global backend is switched and the caller can restyle it; :func:`save`
writes it (PNG at 200 dpi, or PDF/SVG, by extension).
"""

from __future__ import annotations

import os

import numpy as np

from ..problem import ProblemError, DEFAULT_DECAY
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


def check_path(path: str, param: str = "plot") -> str:
    """The output format from the extension (checked before any long work)."""
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ProblemError(f"{param} (--{param}): the file must end in "
                           f"{', '.join('.' + f for f in FORMATS)}; got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ProblemError(f"{param} (--{param}): folder {folder!r} does not exist")
    return ext


def save(fig, path: str) -> None:
    """Write ``fig`` to ``path`` (format by extension; PNG at 200 dpi)."""
    check_path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")


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
    return f"{what}, {bias}, MSE"


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
        ax.annotate(f"default decay {DEFAULT_DECAY:g}", (1.0, DEFAULT_DECAY),
                    xycoords=("axes fraction", "data"), ha="right", va="top", fontsize=7)


def _edges(x: np.ndarray, log: bool) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.size == 1:
        return np.array([x[0] / 1.5, x[0] * 1.5]) if log else np.array([x[0] - 0.5, x[0] + 0.5])
    t = np.log(x) if log else x
    mid = 0.5 * (t[1:] + t[:-1])
    t_edges = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return np.exp(t_edges) if log else t_edges
