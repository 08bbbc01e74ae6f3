"""The figure of a recorded run: NC1 and distances to the theory against iterations.

matplotlib is imported only when a figure is drawn (``pip install 'ncsolve[plot]'``).
"""

from __future__ import annotations

import numpy as np

from ..metrics import loss_scale, objective_gap
from ..objective import FullObjective


def plot_report(report, path: str, run: int | None = None) -> None:
    """Figure of NC1 and the distances to the global minimizer against iterations.

    Four panels, one curve per layer, logarithmic y axis (as in the paper's
    synthetic experiments): NC1 of the features, normalized distance of the
    class-mean Gram, of the classifier Gram, and of the output matrix together
    with the relative objective gap.  Needs matplotlib and a run recorded with
    ``record_every``.

    Parameters
    ----------
    report : VerifyReport or CEVerifyReport
    path : str
        Output file; the format follows the extension (png, pdf, svg, ...).
    run : int, optional
        Index of the run to draw (default: the best run).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = report.runs[report.best if run is None else run]
    snaps = [s for s in chosen.trajectory if isinstance(s.data, dict)]
    if not snaps:
        raise ValueError("the run has no recorded trajectory; pass record_every to verify()")
    steps = np.array([s.step for s in snaps])
    gap = _gap_series(report, snaps)
    fig, grid = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    axes = grid.ravel()
    _draw_layers(axes, steps, snaps)
    axes[3].plot(steps, _series(snaps, "outputs"), label="output matrix")
    axes[3].plot(steps, gap, label="relative objective gap", linestyle="--")
    axes[3].set_title("output matrix and objective: gap to theory")
    _style(axes)
    fig.suptitle(_title(report, chosen))
    fig.savefig(path, dpi=120)
    plt.close(fig)


PANELS = [("nc1", "NC1 = tr(Σ_W Σ_B⁺)/K"), ("features", "class-mean Gram: distance to theory"),
          ("classifier", "classifier Gram: distance to theory")]


def _positive(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    # exact zeros cannot be drawn on a log axis, nor inf/nan of a diverging run
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _series(snaps, key) -> np.ndarray:
    return _positive([s.data[key] for s in snaps])


def _gap_series(report, snaps) -> np.ndarray:
    """Relative objective gap to the theory at every snapshot."""
    theory_loss = float(report.solution.loss)
    scale = loss_scale(FullObjective(report.problem, report.widths))
    return _positive([objective_gap(s.loss, theory_loss, scale) for s in snaps])


def _draw_layers(axes, steps, snaps) -> None:
    """NC1 and the Gram distances, one curve per layer."""
    for ax, (key, title) in zip(axes, PANELS):
        values = _series(snaps, key)
        for j in range(values.shape[1]):
            ax.plot(steps, values[:, j], label=f"layer {j}")
        ax.set_title(title)


def _style(axes) -> None:
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)


def _title(report, chosen) -> str:
    p = report.problem
    return (
        f"n = {','.join(str(int(v)) for v in p.n)}, depth {p.depth}, bias {p.bias}, "
        f"widths {','.join(str(d) for d in report.widths)}\n{chosen.method} "
        f"(seed {chosen.seed}) → {chosen.status}; distances are normalized Frobenius"
    )
