"""Figures of a measurement: measured against theory (matplotlib, imported lazily).

Functions return a :class:`matplotlib.figure.Figure` built without pyplot, so the
caller's backend is never switched; :func:`save_measurement` writes one to disk.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TINY", "plot_measurement", "save_measurement"]

TINY = 1e-300  # floor for drawing exact zeros on log axes


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        from ..problem import ProblemError

        raise ProblemError("plot (--plot): drawing needs matplotlib (pip install "
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


def _per_layer(ax, m) -> None:
    layers = np.array([lay.layer for lay in m.layers])
    series = [("nc1", r"NC1 $=\mathrm{tr}(\Sigma_W\Sigma_B^{+})/K$", "-o"),
              ("cdnv", "CDNV", "-s"), ("gram_distance", "class-mean Gram: distance to theory",
                                       "-^"),
              ("self_duality", "self-duality (NC3)", "-d")]
    for name, label, style in series:
        values = _positive([getattr(lay, name) for lay in m.layers])
        if np.any(np.isfinite(values)):
            ax.plot(layers, values, style, label=label)
    theory = _positive([lay.theory_self_duality for lay in m.layers])
    if np.any(np.isfinite(theory)):
        ax.plot(layers, theory, ":d", color="0.4", label="self-duality at the global minimizer")
    ax.set_yscale("log")
    ax.set_xticks(layers)
    ax.set_xlabel("layer $j$ (features $W_j\\cdots W_1 H$)")
    ax.set_ylabel("metric value")
    ax.legend(fontsize=7)


def _singular(ax, m) -> None:
    for lay in m.layers:
        line, = ax.plot(np.arange(m.K), _positive(lay.singular_values), "o",
                        label=f"layer {lay.layer} trained", markersize=5)
        if lay.theory_singular_values is not None:
            ax.plot(np.arange(m.K), _positive(lay.theory_singular_values), "x",
                    color=line.get_color(), markersize=8, label=f"layer {lay.layer} theory")
    ax.set_yscale("log")
    ax.set_xlabel("direction $i$ (largest first)")
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
    axes[2].set_title("neural-collapse metrics by layer")
    _singular(axes[3], m)
    axes[3].set_title("singular values by layer")
    gap = "" if m.gap is None else f", relative objective gap {m.gap:.2g}"
    fig.suptitle(f"Trained network against the global minimizer: {m.status}{gap}")
    return fig


def save_measurement(measurement, path: str, dpi: int = 200) -> None:
    """Draw :func:`plot_measurement` into ``path`` (format from the extension)."""
    plot_measurement(measurement).savefig(path, dpi=dpi)
