"""``sweep`` and ``phase`` with nonnegative features (H >= 0).

phase: the per-class collapse thresholds of bias-free cross-entropy at depth 1 are
checked against the formula n_k <= K N^2 lbar^2 / (K-1) written here, and by bounded
descent on the full problem (every sample its own feature column) just below and
just above them. sweep: every row equals predict at that point.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from nonnegative_full import bounded_runs, class_mean_norms
from ncsolve import predict
from ncsolve.inputs.problem import Problem, ProblemError
from ncsolve.sweep import phase_map, profile, sweep

STEP = profile("step", classes=3, minority=1, largest=4)  # ratio 2: sizes 4, 4, 2 (N = 10)
SCALED = profile("scaled", n=[6, 3, 2])  # ratio 3: sizes 6, 3, 2 (N = 11)


def test_ce_thresholds_are_the_formula_and_predicts():
    pm = phase_map(SCALED, [1.0, 3.0, 5.0], depths=1, loss="ce", features="nonnegative",
                   integer=True)
    assert pm.certainty == "proved" and pm.loss == "ce"
    for p, sizes in enumerate(pm.sizes):
        K, N = sizes.size, sizes.sum()
        for curve in pm.curves:
            n_k = sizes[curve.classes[0]]
            lbar = curve.critical_decay[0, p]
            # at lbar the collapse condition n_k <= K N^2 lbar^2 / (K-1) holds with equality
            assert K * N**2 * lbar**2 / (K - 1) == pytest.approx(n_k, rel=1e-14)
            assert curve.existence_decay[0, p] == lbar  # no window
        answer = predict(sizes.astype(int), loss="ce", lambda_w=0.1, lambda_h=0.1,
                         features="nonnegative")
        by_class = {c: curve.critical_decay[0, p] for curve in pm.curves for c in curve.classes}
        assert np.allclose([by_class[k] for k in range(K)], answer.critical_decay, rtol=1e-15)


def test_ce_regions_follow_the_thresholds():
    pm = phase_map(SCALED, [3.0], depths=1, loss="ce", features="nonnegative", integer=True)
    regions = [(i.region, i.collapsed) for i in pm.intervals()]
    assert [r for r, _ in regions] == ["all classes kept", "minority collapsed",
                                       "minority collapsed", "all collapsed"]
    assert regions[1][1] == ("class 2",) and regions[2][1] == ("class 1", "class 2")
    edges = [i.high for i in pm.intervals()][:-1]
    assert edges == pytest.approx([0.104973, 0.128565, 0.181818], abs=5e-7)  # docs table


def _descent_collapsed(sizes, lam, width=4, seeds=range(10)):
    params = dict(n=list(sizes), depth=1, lambda_w=lam, lambda_h=lam, loss="ce",
                  features="nonnegative")
    answer = predict(**params)
    ends = bounded_runs(Problem.build(**params), (width,), seeds=seeds)  # saddles: restarts
    loss, best = min(ends, key=lambda e: e[0])
    norms = class_mean_norms(best, sizes)
    assert abs(answer.loss - loss) <= 1e-9 * loss
    return norms < 1e-6, norms  # a kept class's mean is 0.1 or longer here


CROSSINGS = [  # (profile, ratio, curve index): the curve crossed
    (STEP, 2.0, 1),  # minority (n = 2 of 4, 4, 2): sqrt(2 * 2/3) / 10
    pytest.param(STEP, 2.0, 0, marks=pytest.mark.slow),  # majority: global collapse
    pytest.param(SCALED, 3.0, 1, marks=pytest.mark.slow),  # the middle class (n = 3)
]


@pytest.mark.parametrize("family,ratio,index", CROSSINGS)
@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_threshold_by_bounded_descent(family, ratio, index, factor):
    pm = phase_map(family, [ratio], depths=1, loss="ce", features="nonnegative",
                   integer=True)
    sizes = pm.sizes[0].astype(int)
    lam = pm.curves[index].critical_decay[0, 0] * factor
    state = pm.states(np.array([lam]))[:, 0]  # per curve: 0 kept, 2 collapsed
    collapsed, norms = _descent_collapsed(sizes, lam)
    for curve, s in zip(pm.curves, state):
        for k in curve.classes:
            assert bool(collapsed[k]) == bool(s == 2), (curve.name, factor, norms)
    crossed = pm.curves[index].classes
    assert all(collapsed[k] for k in crossed) is (factor > 1)


def test_bias_free_mse_curves_are_the_unconstrained_ones():
    plain = phase_map(STEP, "1:50:7", depths=[1, 2, 3])
    relu = phase_map(STEP, "1:50:7", depths=[1, 2, 3], features="nonnegative")
    assert relu.certainty == "exact" and relu.features == "nonnegative"
    for a, b in zip(plain.curves, relu.curves):
        assert np.array_equal(a.critical_decay, b.critical_decay)
        assert np.array_equal(a.existence_decay, b.existence_decay, equal_nan=True)
    assert relu.to_dict()["features"] == "nonnegative" and "features" not in plain.to_dict()


@pytest.mark.parametrize("kwargs,param", [
    (dict(bias="free", features="nonnegative"), "bias"),
    (dict(loss="ce", bias="free", features="nonnegative", depths=1), "bias"),
    (dict(loss="ce", features="nonnegative", depths=[1, 2]), "depth"),
    (dict(loss="ce"), "loss"),
    (dict(features="relu"), "features"),
])
def test_phase_refuses_what_is_only_searched(kwargs, param):
    kwargs.setdefault("depths", 3)
    with pytest.raises(ProblemError) as error:
        phase_map(STEP, [2.0], **kwargs)
    assert str(error.value).startswith(f"{param} (")


def _rows_by_point(table):
    out: dict = {}
    for row in table.rows():
        out.setdefault(row["point"], []).append(row)
    return out


@pytest.mark.parametrize("depth", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_sweep_rows_equal_predict(depth):
    table = sweep(n=[6, 3, 2], depth=depth, loss="mse,ce", bias="none,free",
                  decay="0.005,0.15", features="nonnegative", executor="serial")
    assert table.grid.size == 8 and "seed" not in table.columns
    for index, rows in _rows_by_point(table).items():
        point = table.grid.point(index)
        answer = predict([6, 3, 2], depth=depth, lambda_w=point["decay"],
                         lambda_h=point["decay"], bias=point["bias"], loss=point["loss"],
                         features="nonnegative")
        assert [r["features"] for r in rows] == ["nonnegative"] * 3
        assert {r["certainty"] for r in rows} == {answer.certainty}
        assert rows[0]["loss"] == answer.loss
        for name in ("feature_norm", "classifier_norm", "output", "collapsed"):
            assert [r[name] for r in rows] == list(np.asarray(getattr(answer, name))), name


def test_sweep_ce_rows_cross_the_phase_thresholds():
    pm = phase_map(SCALED, [3.0], depths=1, loss="ce", features="nonnegative", integer=True)
    decays = np.geomspace(0.05, 0.3, 9)
    table = sweep(n=[6, 3, 2], loss="ce", decay=",".join(repr(float(d)) for d in decays),
                  features="nonnegative", executor="serial")
    collapsed = table.column("collapsed").reshape(decays.size, 3)
    expected = pm.states(decays[:, None])[:, :, 0].T == 2  # (decays, classes)
    assert np.array_equal(collapsed, expected)


def test_sweep_bad_input():
    with pytest.raises(ProblemError) as error:
        sweep(n=[6, 3, 2], loss="ce", decay=0.1, features="nonnegative", seed=1)
    assert str(error.value).startswith("seed (")
    with pytest.raises(ProblemError) as error:
        sweep(n=[6, 3, 2], decay=0.1, features="positive")
    assert str(error.value).startswith("features (")


@pytest.mark.parametrize("argv,param", [
    (["sweep", "--n", "6,3,2", "--decay", "0.1", "--features", "relu"], "features"),
    (["sweep", "--n", "6,3,2", "--loss", "ce", "--features", "nonnegative", "--restarts",
      "3"], "restarts"),
    (["phase", "--profile", "step", "--loss", "ce", "--features", "nonnegative", "--depth",
      "2"], "depth"),
    (["phase", "--profile", "step", "--features", "nonnegative", "--bias", "free"], "bias"),
    (["predict", "--n", "6,3,2", "--features", "nonnegative", "--label-smoothing", "0.1"],
     "features"),
])
def test_cli_refusals_are_one_line_exit_2(argv, param, tmp_path):
    out = tmp_path / "t.csv"
    extra = ["--output", str(out)] if argv[0] == "sweep" else []
    run = subprocess.run([sys.executable, "-m", "ncsolve", *argv, *extra],
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{param} (--{param.replace('_', '-')})" in lines[0]
    assert not out.exists()


def test_cli_phase_ce_nonnegative_json():
    import json

    run = subprocess.run([sys.executable, "-m", "ncsolve", "phase", "--profile", "scaled",
                          "--n", "6,3,2", "--ratio", "3", "--integer-sizes", "--loss", "ce",
                          "--features", "nonnegative", "--json"],
                         capture_output=True, text=True, check=True)
    data = json.loads(run.stdout)
    assert (data["loss"], data["features"], data["certainty"]) == ("ce", "nonnegative",
                                                                   "proved")
    assert data["depth"] == [1]
    assert phase_map(SCALED, [3.0], loss="ce", features="nonnegative").depths == (1,)
    assert phase_map(SCALED, [3.0]).depths == (3,)
    crit = [c["critical_decay"]["1"][0] for c in data["curves"]]
    assert crit == pytest.approx([math.sqrt(n * 2 / 3) / 11 for n in (6, 3, 2)], rel=1e-15)
