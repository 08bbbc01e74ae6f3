"""``ncsolve equation`` and ``predict --precision`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import pytest
import sympy as sp

from ncsolve import predict
from ncsolve.cli import main

WINDOW = ["--depth", "3", "--n", "500,100,50", "--lambda-w", "0.0095", "--lambda-h", "0.0095"]


def run(capsys, *argv):
    code = main(["equation", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


# ---- the JSON contract ----------------------------------------------------------------


def test_json_contract_with_numbers(capsys):
    data = _json(capsys, *WINDOW)
    symbol = sp.Symbol(data["symbol"], positive=True)
    equation = sp.sympify(data["stationarity"], locals={data["symbol"]: symbol})
    assert equation.free_symbols == {symbol}
    for kind in ("existence", "global"):
        sp.sympify(data["thresholds"][kind])
    classes = data["classes"]
    assert [c["n"] for c in classes] == [500, 100, 50]
    for c in classes:
        assert set(c) >= {"n", "roots", "z", "feature_norm", "collapsed"}
        assert all(isinstance(r, str) for r in c["roots"])
        # every root solves the whole-problem equation and the class's own equation
        own = sp.sympify(c["stationarity"], locals={"z": symbol})
        for r in c["roots"]:
            value = sp.Float(r, 25)
            for eq in (own,):
                assert abs(sp.N(eq.lhs.subs(symbol, value) - eq.rhs, 30)) < 1e-15
            assert abs(sp.N((equation.lhs - equation.rhs).subs(symbol, value), 30)) < 1e-12
    # the documented phase-window example: a nonzero root exists, yet class 3 collapses
    assert [c["collapsed"] for c in classes] == [False, False, True]
    assert classes[2]["z"] == "0" and len(classes[2]["roots"]) == 2
    assert classes[2]["state"] == "window"
    assert classes[0]["z"] == classes[0]["roots"][-1]


def test_json_values_agree_with_predict(capsys):
    data = _json(capsys, *WINDOW, "--precision", "40")
    code = main(["predict", "--n", "500,100,50", "--depth", "3", "--lambda-w", "0.0095",
                 "--lambda-h", "0.0095", "--json"])
    predicted = json.loads(capsys.readouterr()[0])
    assert code == 0
    for ours, theirs in zip(data["classes"], predicted["classes"]):
        assert float(ours["feature_norm"]) == pytest.approx(theirs["feature_norm"], rel=1e-13)
    z_float = sorted(d["z"] for d in predicted["directions"])
    z_ours = sorted(float(c["z"]) for c in data["classes"])
    assert z_ours == pytest.approx(z_float, rel=1e-13)
    assert len(data["classes"][0]["z"].replace(".", "").lstrip("0")) <= 40


def test_symbolic_json_without_numbers(capsys):
    data = _json(capsys, "--depth", "3")
    stationarity = sp.sympify(data["stationarity"])
    names = {s.name for s in stationarity.free_symbols}
    assert names == {"z", "sigma", "N_total", "lambda_H", "lambda_W"}
    assert "classes" not in data
    assert data["paper"]["equivalent_to_z_form"] and data["paper"]["derived_from_objective"]
    for kind in ("existence", "global", "existence_decay", "global_decay"):
        sp.sympify(data["thresholds"][kind])
    for root in data["exact_roots"]:
        sp.sympify(root)
    polynomial = sp.sympify(data["polynomial"])
    assert sp.degree(polynomial, sp.Symbol("t")) == 6


def test_depth_one_is_the_soft_threshold(capsys):
    data = _json(capsys, "--depth", "1", "--n", "4,1", "--lambda-w", "0.25", "--lambda-h", "0.25")
    # z = sigma - N lbar with lbar = 0.25, N = 5: class 1 -> 2 - 1.25, class 2 -> 1 - 1.25 < 0
    assert data["classes"][0]["z"] == "0.75"
    assert data["classes"][1]["collapsed"] and data["classes"][1]["roots"] == []


def test_free_bias_reports_directions(capsys):
    data = _json(capsys, "--depth", "2", "--n", "5,3,3", "--bias", "free", "--precision", "30")
    # eigenvalues of D - n n^T / N from mpmath's symmetric eigensolver
    with mpmath.workdps(40):
        sigmas = [mpmath.mpf(d["sigma"]) for d in data["directions"]]
        G = mpmath.matrix([[5, 0, 0], [0, 3, 0], [0, 0, 3]]) - mpmath.matrix([[5], [3], [3]]) \
            * mpmath.matrix([[5, 3, 3]]) / 11
        eig = sorted(mpmath.eigsy(G)[0], reverse=True)
        for s, e in zip(sigmas, eig):
            assert abs(s**2 - max(e, 0)) < mpmath.mpf(10) ** -25
    assert [c["n"] for c in data["classes"]] == [5, 3, 3]


# ---- text and LaTeX -------------------------------------------------------------------


def test_text_output_names_everything(capsys):
    code, out, _ = run(capsys, *WINDOW)
    assert code == 0
    for phrase in ("g(z) =", "stationarity", "polynomial form", "thresholds",
                   "paper's parametrization", "class 2: n = 50", "collapsed: z = 0 is global"):
        assert phrase in out


def test_latex_output(capsys):
    code, out, _ = run(capsys, "--depth", "3", "--latex")
    assert code == 0
    assert out.count(r"\begin{align*}") == 1 and r"\end{align*}" in out
    assert r"\sigma" in out and r"\lambda_{W}" in out and "frac{b}{n_{k}}" in out
    code, out, _ = run(capsys, *WINDOW, "--latex")
    assert code == 0 and r"\begin{tabular}" in out


# ---- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--depth", "0"], "depth (--depth)"),
        (["--depth", "x"], "depth (--depth)"),
        (["--depth", "2", "--n", "3,-1"], "n (--n)"),
        (["--depth", "2", "--n", "3,,1"], "n (--n)"),
        (["--depth", "2", "--lambda-w", "-1"], "lambda_w (--lambda-w)"),
        (["--depth", "2", "--lambda-w", "1,2,3"], "lambda_w (--lambda-w)"),
        (["--depth", "2", "--lambda-h", "nan"], "lambda_h (--lambda-h)"),
        (["--depth", "2", "--precision", "14"], "precision (--precision)"),
        (["--depth", "2", "--precision", "1001"], "precision (--precision)"),
        (["--depth", "2", "--precision", "many"], "precision (--precision)"),
        (["--depth", "2", "--bias", "maybe"], "bias (--bias)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--n", "3"], ["--depth", "2", "--latex", "--json"]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as stop:
        main(["equation", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr()[1]
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("digits", ["14", "1001"])
def test_predict_precision_out_of_range(capsys, digits):
    code = main(["predict", "--n", "3,2", "--precision", digits])
    err = capsys.readouterr()[1]
    assert code == 2 and err.count("\n") == 1 and "precision (--precision)" in err


def test_predict_precision_text_and_json(capsys):
    assert main(["predict", "--n", "500,100,50", "--depth", "3", "--lambda-w", "0.0095",
                 "--lambda-h", "0.0095", "--precision", "20"]) == 0
    out = capsys.readouterr()[0]
    assert "20 significant digits" in out and "geometry" in out and "collapsed" in out
    assert main(["predict", "--n", "3,2", "--depth", "2", "--precision", "60", "--json"]) == 0
    data = json.loads(capsys.readouterr()[0])
    assert data["precision"] == 60 and isinstance(data["loss"], str)


# ---- import cost ----------------------------------------------------------------------


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


def test_building_the_parser_does_not_import_sympy():
    done = _python("import ncsolve, ncsolve.cli; ncsolve.cli.build_parser(); import sys; "
                   "assert 'sympy' not in sys.modules, 'sympy imported'")
    assert done.returncode == 0, done.stderr


def test_predict_without_precision_does_not_import_sympy():
    done = _python(
        "import sys, io, contextlib, ncsolve.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = ncsolve.cli.main(['predict', '--n', '3,2', '--json'])\n"
        "assert code == 0, code\n"
        "assert 'sympy' not in sys.modules, 'sympy imported'\n"
    )
    assert done.returncode == 0, done.stderr


def test_console_script_end_to_end():
    """``python -m ncsolve equation`` as a process (the window content itself is
    checked in-process above); depth 1 keeps the child cheap."""
    argv = ["--depth", "1", "--n", "50,3", "--lambda-w", "0.05", "--lambda-h", "0.05"]
    done = subprocess.run([sys.executable, "-m", "ncsolve", "equation", *argv, "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    expected = predict(n=[50, 3], depth=1, lambda_w=0.05, lambda_h=0.05).collapsed.tolist()
    assert [c["collapsed"] for c in json.loads(done.stdout)["classes"]] == expected == [False, True]


# ---- tiny decays: g from the gap sigma - z, not from a cancelling subtraction ---------------

TINY = ["--depth", "3", "--n", "10,5", "--lambda-w", "1e-300", "--lambda-h", "1e-300"]


def test_g_at_decay_1e_300_is_consistent_with_the_float_loss(capsys):
    import ncsolve

    data = _json(capsys, *TINY)
    loss = ncsolve.predict([10, 5], 3, 1e-300, 1e-300).loss
    g = [mpmath.mpf(row["loss_at_roots"][-1]) for row in data["classes"]]
    assert all(row["state"] == "active" for row in data["classes"])
    assert not any("exact_roots" in row for row in data["classes"])  # 300-digit radicals skipped
    assert abs(float(sum(g)) - loss) <= 1e-13 * loss
    assert all(1e-301 < v < 1e-299 for v in g)
    x = [mpmath.mpf(row["paper_x"][-1]) for row in data["classes"]]
    assert all(mpmath.isfinite(v) and v > 1e99 for v in x)  # x^3 = z / (sigma - z) ~ 1e300


def test_text_at_decay_1e_300_prints_g_of_order_the_decay(capsys):
    import re

    code, out, _ = run(capsys, *TINY)
    assert code == 0
    g = [mpmath.mpf(v) for v in re.findall(r"global minimizer z = \S+ \(g = (\S+) <", out)]
    assert len(g) == 2 and all(1e-301 < v < 1e-299 for v in g)
    assert "inf" not in out
