"""The figure of ``ncsolve dynamics --plot``: each direction's value against time.

Predicted curves (the flow of docs/dynamics.md) as lines, gradient descent on the
full model from the same spectral start as markers, on a logarithmic axis; the
saddle value ``z_low`` (the threshold, dotted) and the end ``z_plus`` (dashed) of
every direction are marked.
"""

from __future__ import annotations

import io

import numpy as np

from ..core import scalar
from ..inputs import outfile
from ..solvers.dynamics import flow
from ..solvers.dynamics.solver import directions_of
from .dynamics import DEFAULT_STEPS, descend_aligned
from .plot import DPI, figure_format

MARKERS = 40  # descent points drawn per direction


def _horizon(result) -> float:
    half = result.flow.time_to_half
    finite = half[np.isfinite(half)]
    return 3.0 * float(finite.max()) if finite.size else 1.0


def dynamics_figure(result, lr: float | None = None, progress=None):
    """A matplotlib figure of the flow of ``result`` (a DynamicsSolution with a start)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizon = _horizon(result)
    lr = horizon / DEFAULT_STEPS if lr is None else float(lr)
    steps = int(np.ceil(horizon / lr))
    every = max(1, steps // 400)
    times, observed = descend_aligned(result, result.flow.init_scale, lr, steps, every,
                                      progress=progress)
    grid = np.linspace(0.0, horizon, 400)
    p = result.problem
    low = scalar.low_root(result.sigma, p.N, p.lbar, p.q)
    fig, ax = plt.subplots(figsize=(8.0, 4.2), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shown = np.linspace(0, times.size - 1, min(MARKERS, times.size)).astype(int)
    for i, direction in enumerate(directions_of(result)):
        color = colors[i % len(colors)]
        z = np.prod(flow.path(direction, result.flow.init_scale, grid), axis=1)
        ax.plot(grid, z, color=color, lw=1.6,
                label=f"direction {i} ($\\sigma$={result.sigma[i]:.3g}, threshold "
                f"{result.flow.init_threshold[i]:.3g}): {result.flow.end[i]}")
        ax.plot(times[shown], np.abs(observed[shown, i]), "o", ms=3.5, mfc="none", color=color)
        if np.isfinite(low[i]):
            ax.axhline(low[i], color=color, ls=":", lw=1)
        if np.isfinite(result.z_local[i]):
            ax.axhline(result.z_local[i], color=color, ls="--", lw=0.8, alpha=0.6)
    ax.set_yscale("log")
    z0 = float(np.prod(result.flow.init_scale))
    floor = 1e-3 * min(z0, float(np.nanmin(low, initial=z0)))
    ax.set_ylim(floor, 2.0 * max(float(np.max(result.sigma)), z0))
    ax.set_xlim(0.0, horizon)
    ax.set_xlabel(f"time t (gradient descent: t / {lr:.3g} steps)")
    ax.set_ylabel("singular value $z_i$ of $W_M\\cdots W_1 H$")
    scale = ", ".join(f"{s:.3g}" for s in np.unique(result.flow.init_scale))
    ax.set_title(f"flow from a spectral start (scale {scale}): lines predicted, "
                 f"circles descent;\ndotted: threshold $z_{{low}}$, dashed: $z_+$", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot_dynamics(result, path: str, lr: float | None = None, progress=None) -> None:
    """Write :func:`dynamics_figure` to ``path`` (complete or not at all; a folder,
    device or FIFO is refused)."""
    kind = figure_format(path)
    outfile.check_target(path, "plot", force=True)
    fig = dynamics_figure(result, lr, progress)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=kind, dpi=DPI)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    outfile.write_atomic(path, buffer.getvalue())
