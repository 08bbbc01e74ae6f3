"""verify's figure: a Figure from Python without pyplot, files by extension, zeros marked."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from ncsolve import Problem, ProblemError  # noqa: E402
from ncsolve.verify import plot_report, verify, verify_figure  # noqa: E402


@pytest.fixture(scope="module")
def report():
    problem = Problem.build([4, 2], depth=2)
    return verify(problem, 4, method="momentum", steps=200, record_every=20, init_scale=0.5)


def test_figure_panels_are_labelled_and_named_in_words(report):
    figure = verify_figure(report)
    axes = figure.get_axes()
    assert len(axes) == 4
    for ax in axes:
        assert ax.get_xlabel() == "iteration" and ax.get_ylabel()
        assert ax.get_yscale() == "log" and ax.get_legend() is not None
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels[0] == "layer 0 ($H$)" and labels[1] == "layer 1 ($W_{1} H$)"
    assert "heavy-ball momentum on the full model" in figure._suptitle.get_text()
    figure.canvas.draw()  # every mathtext label renders


def test_png_at_200_dpi_and_nothing_half_written(report, tmp_path):
    from PIL import Image

    plot_report(report, str(tmp_path / "f.png"))
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert round(Image.open(tmp_path / "f.png").info["dpi"][0]) >= 200
    with pytest.raises(ProblemError, match=r"^plot \(--plot\)"):
        plot_report(report, str(tmp_path / "f.txt"))
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


@pytest.mark.slow
def test_pdf_and_svg_by_extension(report, tmp_path):
    for name, magic in (("f.pdf", b"%PDF"), ("f.svg", b"<?xml")):
        plot_report(report, str(tmp_path / name))
        assert (tmp_path / name).read_bytes()[:len(magic)] == magic


def test_a_curve_that_reaches_zero_is_marked():
    from matplotlib.figure import Figure

    from ncsolve.verify.plot import _curve

    ax = Figure().subplots()
    ax.set_yscale("log")
    _curve(ax, np.arange(4.0), np.array([1.0, 1e-3, 0.0, 0.0]), "layer 0 ($H$)")
    assert [line.get_label() for line in ax.get_lines()] == ["layer 0 ($H$)",
                                                             "layer 0 reaches 0"]
    assert ax.get_lines()[1].get_xdata()[0] == 2.0


def test_the_figure_leaves_the_backend_alone():
    code = ("import matplotlib, sys\n"
            "from ncsolve import Problem\n"
            "from ncsolve.verify import verify, verify_figure\n"
            "before = dict.__getitem__(matplotlib.rcParams, 'backend')  # unresolved\n"
            "r = verify(Problem.build([3, 2]), 3, method='gd', steps=20, record_every=5)\n"
            "verify_figure(r)\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n"
            "assert dict.__getitem__(matplotlib.rcParams, 'backend') == before\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
