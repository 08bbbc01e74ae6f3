"""Figures of a measurement: measured against theory (matplotlib, imported lazily).

Functions return a :class:`matplotlib.figure.Figure` built without pyplot, so the
caller's backend is never switched; :func:`save_measurement` writes one to disk.
"""

from __future__ import annotations

import io
import os

import numpy as np

from ..inputs import outfile
from ..inputs.validation import invalid

__all__ = ["TINY", "plot_measurement", "plot_tracker", "save_measurement"]

TINY = 1e-300  # floor for drawing exact zeros on log axes


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise invalid("plot", "drawing needs matplotlib (pip install "
                      "'ncsolve[plot]')") from None
    return Figure(figsize=(width, height), constrained_layout=True)


def _positive(values) -> np.ndarray:
    values = np.array([np.nan if v is None else v for v in values], dtype=float)
    return np.where(values > 0, values, np.nan)


def _per_class(ax, m, field: str, label: str) -> None:
    c = m.classes
    k = np.arange(m.K)
    ax.plot(k, _positive(c[field]), "o", label="trained", markersize=6)
    theory = c.get(f"theory_{field}")
    if theory is not None:
        ax.plot(k, _positive(theory), "x", label="global minimizer", markersize=8,
                markeredgewidth=1.5)
        collapsed = np.flatnonzero(c["theory_collapsed"])
        for i in collapsed:
            ax.axvline(i, color="0.8", linewidth=0.8, zorder=0)
    ax.set_yscale("log")
    ax.set_xlabel("class $k$ (label order)")
    ax.set_ylabel(label)
    if m.K <= 20:
        ax.set_xticks(k, [f"{i}\n$n$={int(n)}" for i, n in zip(k, m.n)], fontsize=7)
    ax.legend(fontsize=8)


METRICS = [("nc1", None, "NC1"), ("cdnv", None, "CDNV"),
           ("equinorm", "theory_equinorm", "equinorm\nmeans"),
           ("classifier_equinorm", "theory_classifier_equinorm", "equinorm\nclassifier"),
           ("gram_distance", None, "Gram\ndistance"),
           ("centred_gram_distance", None, "centred\nGram dist."),
           ("self_duality", "theory_self_duality", "self-\nduality")]


def _per_layer(ax, m) -> None:
    """Grouped bars: one group per metric, one bar per layer; the theory's value where
    it is not zero (equinorm, self-duality of imbalanced frames) as a black tick."""
    layers = len(m.layers)
    width = 0.8 / layers
    x = np.arange(len(METRICS))
    for j, lay in enumerate(m.layers):
        values = _positive([getattr(lay, name) for name, _, _ in METRICS])
        offset = x - 0.4 + width * (j + 0.5)
        ax.bar(offset, values, width=width * 0.9, label=f"layer {j}")
        targets = _positive([None if t is None else getattr(lay, t) for _, t, _ in METRICS])
        ax.plot(offset, targets, "_", color="black", markersize=14, markeredgewidth=2,
                label="global minimizer" if j == 0 else None)
    ax.set_yscale("log")
    ax.set_xticks(x, [label for _, _, label in METRICS], fontsize=7)
    ax.set_ylabel("metric value (log scale)")
    ax.legend(fontsize=7)


def _singular(ax, m) -> None:
    for lay in m.layers:
        line, = ax.plot(np.arange(m.K), _positive(lay.singular_values), "o",
                        label=f"layer {lay.layer} trained", markersize=5)
        if lay.theory_singular_values is not None:
            ax.plot(np.arange(m.K), _positive(lay.theory_singular_values), "x",
                    color=line.get_color(), markersize=8, label=f"layer {lay.layer} theory")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(m.K) if m.K <= 20 else ax.get_xticks())
    ax.set_xlabel("direction $i$ (largest first; zeros not drawn)")
    ax.set_ylabel("singular value of the layer features")
    ax.legend(fontsize=7, ncol=2)


def plot_measurement(measurement):
    """Four panels: class-mean lengths, classifier-row lengths (per class, trained vs
    global minimizer), NC metrics per layer, singular values per layer.

    Returns
    -------
    matplotlib.figure.Figure
    """
    m = measurement
    fig = _figure(11, 8)
    axes = fig.subplots(2, 2).ravel()
    _per_class(axes[0], m, "feature_norm", r"class-mean length $\|\bar h_k\|$")
    axes[0].set_title("class-mean lengths")
    if "classifier_norm" in m.classes:
        _per_class(axes[1], m, "classifier_norm", r"classifier row length $\|w_k\|$")
    axes[1].set_title(r"rows of $W_M\cdots W_1$")
    _per_layer(axes[2], m)
    axes[2].set_title("neural-collapse metrics by layer (bars: trained)")
    _singular(axes[3], m)
    axes[3].set_title("singular values by layer")
    gap = "" if m.gap is None else f", relative objective gap {m.gap:.2g}"
    fig.suptitle(f"Trained network against the global minimizer: {m.status}{gap}")
    return fig


def save_measurement(measurement, path: str, dpi: int = 200) -> None:
    """Draw :func:`plot_measurement` into ``path`` (format from the extension), whole or
    not at all; a folder, device or FIFO is refused."""
    fmt = os.path.splitext(str(path))[1].lower().lstrip(".") or "png"
    outfile.check_target(path, "plot", force=True)
    buffer = io.BytesIO()
    plot_measurement(measurement).savefig(buffer, format=fmt, dpi=dpi)
    outfile.write_atomic(path, buffer.getvalue())


def plot_tracker(tracker):
    """Metrics against epochs: NC1, the Gram distance to the theory, self-duality (one
    curve per layer) and the relative objective gap with the output distance.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not tracker.records:
        raise invalid("tracker", "nothing recorded yet; call record() first", flag="")
    epochs = np.asarray(tracker.epochs)
    fig = _figure(11, 7.5)
    axes = fig.subplots(2, 2).ravel()
    panels = [("nc1", r"NC1 $=\mathrm{tr}(\Sigma_W\Sigma_B^{+})/K$", "within-class variability"),
              ("gram_distance", "normalized distance", "class-mean Gram: distance to theory"),
              ("self_duality", r"$\|W^\top/\|W\| - \bar H/\|\bar H\|\|_F$",
               "self-duality (NC3)")]
    for ax, (name, ylabel, title) in zip(axes, panels):
        values = tracker.series(name)
        for j in range(values.shape[1]):
            line, = ax.plot(epochs, _positive(values[:, j]), "-o", markersize=3,
                            label=f"layer {j}")
            if name == "self_duality":
                target = _positive(tracker.series("theory_self_duality")[:, j])
                if np.any(np.isfinite(target)):
                    ax.plot(epochs, target, ":", color=line.get_color(),
                            label=f"layer {j}, global minimizer")
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    last = axes[3]
    last.plot(epochs, _positive(np.abs(tracker.series("gap"))), "-o", markersize=3,
              label="|relative objective gap|")
    last.plot(epochs, _positive(tracker.series("output_distance")), "-s", markersize=3,
              label=r"output matrix $W\bar H$: distance to theory")
    station = tracker.series("stationarity")
    if np.any(np.isfinite(station)):
        last.plot(epochs, _positive(station), "--", label="relative gradient norm")
    last.set_yscale("log")
    last.set_ylabel("value")
    last.set_title("distance to the global minimizer")
    for ax in axes:
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle("Neural collapse during training, against the global minimizer")
    return fig
