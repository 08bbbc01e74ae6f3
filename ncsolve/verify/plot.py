"""The figure of a recorded run: NC1 and distances to the theory against iterations.

:func:`verify_figure` returns a :class:`matplotlib.figure.Figure` built without
pyplot, so it never switches the global backend (notebooks keep theirs);
:func:`plot_report` writes it to a file. matplotlib is imported only here
(``pip install 'ncsolve[plot]'``).
"""

from __future__ import annotations

import io
import os

import numpy as np

from ..core.metrics import loss_scale, objective_gap
from ..core.objective import FullObjective
from ..inputs import outfile
from ..inputs.validation import invalid

FORMATS = ("png", "pdf", "svg")  # chosen by the file's extension
DPI = 200
METHOD_NAMES = {"lbfgs": "L-BFGS", "gd": "gradient descent", "momentum": "heavy-ball momentum"}
STATUS_WORDS = {"global": "reached the global minimizer",
                "local": "stopped at another critical point",
                "not-converged": "did not converge to a critical point"}
PANELS = [
    ("nc1", "NC1 of the features", r"NC1 $= \mathrm{tr}(\Sigma_W \Sigma_B^{+})/K$"),
    ("features", "class-mean Gram: distance to theory", "normalized Frobenius distance"),
    ("classifier", "classifier Gram: distance to theory", "normalized Frobenius distance"),
]


def figure_format(path: str) -> str:
    """The format of a figure file from its extension (png, pdf or svg).

    Raises
    ------
    ProblemError
        For any other extension.
    """
    extension = os.path.splitext(str(path))[1].lower().lstrip(".")
    if extension not in FORMATS:
        raise invalid("plot", f"the extension gives the format: .png, .pdf or "
                      f".svg; got {os.path.basename(str(path))!r}")
    return extension


def plot_report(report, path: str, run: int | None = None) -> None:
    """Write :func:`verify_figure` to ``path`` (PNG at 200 dpi, PDF or SVG by extension).

    The file appears complete or not at all: the figure is written next to it
    first and then moved into place.

    Parameters
    ----------
    report : VerifyReport or CEVerifyReport
        Recorded with ``record_every``.
    path : str
        Output file; ``.png``, ``.pdf`` or ``.svg``.
    run : int, optional
        Index of the run to draw (default: the best run).
    """
    fmt = figure_format(path)
    outfile.check_target(path, "plot", force=True)
    figure = verify_figure(report, run)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=DPI)
    outfile.write_atomic(path, buffer.getvalue())


def verify_figure(report, run: int | None = None):
    """NC1 and the distances to the global minimizer (or ncsolve's CE answer) against
    iterations: a :class:`matplotlib.figure.Figure` of four labelled panels.

    One curve per layer (layer 0 is H, layer j the features W_j ... W_1 H, or for the
    classifier panel the product W_M ... W_{j+1}), logarithmic y axes; a value that
    reaches exactly 0, which a log axis cannot show, is marked at the bottom of its
    panel. The last panel shows the output matrix and the relative objective gap.

    Parameters
    ----------
    report : VerifyReport or CEVerifyReport
        Recorded with ``record_every``.
    run : int, optional
        Index of the run to draw (default: the best run).
    """
    from matplotlib.figure import Figure

    chosen = report.runs[report.best if run is None else run]
    snaps = [s for s in chosen.trajectory if isinstance(s.data, dict)]
    if not snaps:
        raise ValueError("the run has no recorded trajectory; pass record_every to verify()")
    steps = np.array([s.step for s in snaps], dtype=float)
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    axes = figure.subplots(2, 2).ravel()
    for ax, (key, title, ylabel) in zip(axes, PANELS):
        values = np.array([s.data[key] for s in snaps], dtype=float)
        for j in range(values.shape[1]):
            _curve(ax, steps, values[:, j], _layer_label(key, j, report.problem.depth))
        _style(ax, title, ylabel)
    outputs = np.array([s.data["outputs"] for s in snaps], dtype=float)
    _curve(axes[3], steps, outputs, "output matrix (normalized Frobenius distance)")
    _curve(axes[3], steps, _gap_series(report, snaps), "relative objective gap",
           linestyle="--")
    _style(axes[3], "output matrix and objective: gap to theory", "distance or relative gap")
    figure.suptitle(_title(report, chosen))
    return figure


def _layer_label(key: str, j: int, depth: int) -> str:
    if key == "classifier":
        if j == depth - 1:
            return rf"layer {j} ($W_{{{depth}}}$)"
        return rf"layer {j} ($W_{{{depth}}} \cdots W_{{{j + 1}}}$)"
    if j == 0:
        return "layer 0 ($H$)"
    product = " ".join(f"W_{{{i}}}" for i in range(j, 0, -1)) if j <= 2 else \
        rf"W_{{{j}}} \cdots W_1"
    return rf"layer {j} (${product} H$)"


def _curve(ax, steps: np.ndarray, values: np.ndarray, label: str, **style) -> None:
    """One series on a log axis; where it reaches exactly 0 (invisible on a log axis)
    a triangle at the panel's bottom marks the first such step."""
    finite = np.isfinite(values)
    shown = np.where(finite & (values > 0), values, np.nan)
    (line,) = ax.plot(steps, shown, label=label, **style)
    zero = np.flatnonzero(finite & (values == 0))
    if zero.size:
        ax.plot([steps[zero[0]]], [0.0], marker="v", markersize=8, color=line.get_color(),
                linestyle="none", clip_on=False, transform=ax.get_xaxis_transform(),
                label=f"{label.split(' (')[0]} reaches 0")


def _style(ax, title: str, ylabel: str) -> None:
    ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)


def _gap_series(report, snaps) -> np.ndarray:
    """Relative objective gap to the theory at every snapshot."""
    theory_loss = float(report.solution.loss)
    scale = loss_scale(FullObjective(report.problem, report.widths))
    return np.array([objective_gap(s.loss, theory_loss, scale) for s in snaps], dtype=float)


def _title(report, chosen) -> str:
    p = report.problem
    loss = "cross-entropy" if p.loss == "ce" else "squared loss"
    bias = {"none": "no bias", "free": "a free bias"}.get(p.bias, f"{p.bias} bias")
    sizes = ",".join(str(int(v)) for v in p.n[:12]) + (", ..." if p.K > 12 else "")
    target = "ncsolve's answer" if p.loss == "ce" else "the theory"
    return (f"{METHOD_NAMES.get(chosen.method, chosen.method)} on the full model "
            f"({loss}, depth {p.depth}, {bias}, widths "
            f"{','.join(str(d) for d in report.widths)}, class sizes {sizes})\n"
            f"seed {chosen.seed}: {STATUS_WORDS.get(chosen.status, chosen.status)}; "
            f"distances to {target} are normalized Frobenius distances")
