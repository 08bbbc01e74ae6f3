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


def value_axis(ax, *series, axis: str = "y") -> None:
    """Logarithmic where the positive values span more than a decade, linear otherwise
    (a log axis over 1.25..1.43 has no labelled tick near the data)."""
    values = np.concatenate([np.ravel(_positive(np.ravel(v))) for v in series] or [[]])
    values = values[np.isfinite(values)]
    log = values.size > 0 and values.max() > 10.0 * values.min()
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log" if log else "linear")
    if not log and values.size and axis == "y":
        ax.set_ylim(0.0, 1.08 * values.max() if values.max() > 0 else 1.0)


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
    value_axis(ax, c[field], *([] if theory is None else [theory]))
    ax.set_xlabel("class $k$ (label order)")
    ax.set_ylabel(label)
    if m.K <= 20:
        ax.set_xticks(k, [f"{i}\n$n$={int(n)}" for i, n in zip(k, m.n)], fontsize=7)
    ax.legend(fontsize=8)


METRICS = [("nc1", None, "NC1"), ("cdnv", None, "CDNV"),
           ("equinorm", "theory_equinorm", "equinorm\nmeans"),
           ("classifier_equinorm", "theory_classifier_equinorm", "equinorm\nclassifier"),
           ("equinorm_centred", None, "equinorm\ncentred"),
           ("gram_distance", None, "Gram\ndistance"),
           ("gram_distance_centred", None, "Gram dist.\ncentred"),
           ("self_duality", "theory_self_duality", "self-\nduality"),
           ("self_duality_centred", None, "self-duality\ncentred"),
           ("unc3", None, "UNC3"), ("nc5", None, "NC5\n(OOD)")]


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
    ax.set_xticks(x, [label.replace("-\n", "-").replace("\n", " ") for _, _, label in METRICS],
                  fontsize=7,
                  rotation=40, ha="right", rotation_mode="anchor")
    ax.set_ylabel("metric value (log scale)")
    ax.legend(fontsize=7)


def _singular(ax, m) -> None:
    for lay in m.layers:
        line, = ax.plot(np.arange(m.K), _positive(lay.singular_values), "o",
                        label=f"layer {lay.layer} trained", markersize=5)
        if lay.theory_singular_values is not None:
            ax.plot(np.arange(m.K), _positive(lay.theory_singular_values), "x",
                    color=line.get_color(), markersize=8, label=f"layer {lay.layer} theory")
    value_axis(ax, *[v for lay in m.layers for v in (lay.singular_values,
                                                     lay.theory_singular_values)
                     if v is not None])
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


TRACKER_PANELS = (
    ("nc1", r"NC1 $=\mathrm{tr}(\Sigma_W\Sigma_B^{+})/K$", "within-class variability (NC1)"),
    ("cdnv", "CDNV", "class-distance normalized variance"),
    ("gram_distance", "normalized distance", "class-mean Gram: distance to theory"),
    ("self_duality", r"$\|W^\top/\|W\| - \bar H/\|\bar H\|\|_F$", "self-duality (NC3)"),
    ("nc4", "agreement", "nearest class mean = prediction (NC4)"),
)


def plot_tracker(tracker):
    """Metrics against epochs, one curve per layer: NC1, CDNV, the Gram distance to the
    theory, self-duality (with the theory's value dotted) and NC4; and the relative
    objective gap, the output distance and the relative gradient, with the lambda_H each
    record was measured against.  Log axes where the values span more than a decade;
    epochs on a symmetric-log axis when they span more than two.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not tracker.records:
        raise invalid("tracker", "nothing recorded yet; call record() first", flag="")
    epochs = np.asarray(tracker.epochs, dtype=float)
    fig = _figure(14, 7.5)
    axes = fig.subplots(2, 3).ravel()
    for ax, (name, ylabel, title) in zip(axes, TRACKER_PANELS):
        values = tracker.series(name)
        drawn = [values]
        for j in range(values.shape[1]):
            line, = ax.plot(epochs, _positive(values[:, j]), "-o", markersize=3,
                            label=f"layer {j}")
            if name == "self_duality":
                target = _positive(tracker.series("theory_self_duality")[:, j])
                if np.any(np.isfinite(target)):
                    drawn.append(target)
                    ax.plot(epochs, target, ":", color=line.get_color(),
                            label=f"layer {j}, global minimizer")
        value_axis(ax, *drawn)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    _distance_panel(axes[5], tracker, epochs)
    positive = epochs[epochs > 0]
    first = float(positive.min()) if positive.size else 1.0
    for ax in axes:
        ax.set_xlabel("epoch")
        if positive.size and positive.max() > 100.0 * first:
            ax.set_xscale("symlog", linthresh=first)  # epoch 0 stays on the axis
        ax.set_xlim(0.0, max(float(epochs.max()), 1.0) * 1.05)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle("Neural collapse during training, against the global minimizer"
                 + _lambda_h_title(tracker))
    return fig


def _distance_panel(ax, tracker, epochs) -> None:
    gap = _positive(np.abs(tracker.series("gap")))
    distance = _positive(tracker.series("output_distance"))
    station = _positive(tracker.series("stationarity"))
    ax.plot(epochs, gap, "-o", markersize=3, label="|relative objective gap|")
    ax.plot(epochs, distance, "-s", markersize=3, label=r"output $W\bar H$: distance")
    if np.any(np.isfinite(station)):
        ax.plot(epochs, station, "--", label="relative gradient")
    value_axis(ax, gap, distance, station)
    ax.set_ylabel("value")
    ax.set_title("distance to the global minimizer", fontsize=10)
    lambda_h = tracker.series("lambda_h")
    if any(r.get("lambda_h_fitted") for r in tracker.records) and np.any(np.isfinite(lambda_h)):
        twin = ax.twinx()
        twin.plot(epochs, lambda_h, ":", color="0.3", label=r"fitted $\lambda_H$")
        value_axis(twin, lambda_h)
        twin.set_ylabel(r"fitted $\lambda_H$ (dotted)")


def _lambda_h_title(tracker) -> str:
    values = tracker.series("lambda_h")
    finite = values[np.isfinite(values)]
    if not finite.size:
        return ""
    if any(r.get("lambda_h_fitted") for r in tracker.records):
        return (f"\n$\\lambda_H$ fitted at every record: {finite.min():.3g} .. "
                f"{finite.max():.3g}")
    return f"\n$\\lambda_H$ = {finite[0]:.4g} (given)"
