"""``sweep`` and ``phase`` with label smoothing: sweep rows equal point-by-point predict;
the phase map's curves are predict's spectrum and critical decays at every ratio; eps = 0
is the one-hot table and map; bad eps is refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import predict
from ncsolve.cli import main
from ncsolve.sweep import phase_map, profile, sweep

PER_CLASS = ("feature_norm", "classifier_norm", "output", "critical_decay")


def test_sweep_rows_equal_predict_point_by_point():
    table = sweep(n="5,3,2", depth="1,3", label_smoothing="0,0.1,0.3", decay="1e-3,2e-2",
                  bias="none,free,regularized", lambda_b=0.05, executor="serial")
    assert len(table) == 2 * 3 * 2 * 3 * 3
    for row in table.rows():
        answer = predict(n=[5, 3, 2], depth=row["depth"], lambda_w=row["lambda_w"],
                         lambda_h=row["lambda_h"], bias=row["bias"],
                         lambda_b=row.get("lambda_b"), label_smoothing=row["label_smoothing"])
        k = row["class"]
        for name in PER_CLASS:
            assert row[name] == pytest.approx(getattr(answer, name)[k], rel=1e-12, abs=0,
                                              nan_ok=True)
        assert row["loss"] == pytest.approx(answer.loss, rel=1e-12)
        assert (row["state"], row["collapsed"], row["rank"], row["certainty"]) == (
            answer.state[k], bool(answer.collapsed[k]), answer.rank, answer.certainty)


def test_sweep_without_smoothing_is_unchanged():
    plain = sweep(n="5,3,2", depth=2, decay="1e-3:1e-1:5")
    zero = sweep(n="5,3,2", depth=2, decay="1e-3:1e-1:5", label_smoothing=0)
    for name in plain.columns:
        assert np.array_equal(plain.column(name), zero.column(name))
    assert "label_smoothing" not in plain.columns and "label_smoothing" in zero.columns


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_phase_curves_are_predicts_spectrum(bias, eps):
    family = profile("step", classes=5, minority=2)
    pm = phase_map(family, [1, 3.5, 40], [1, 3], bias, integer=True, label_smoothing=eps)
    for p in range(pm.ratios.size):
        sigma = np.concatenate([np.repeat(c.sigma[p], c.multiplicity) for c in pm.curves])
        order = np.argsort(-sigma, kind="stable")
        for i, depth in enumerate(pm.depths):
            answer = predict(n=pm.sizes[p].astype(int), depth=depth, bias=bias,
                             label_smoothing=eps)
            live = answer.sigma > 0
            assert np.allclose(sigma[order], answer.sigma[live], rtol=1e-12, atol=0)
            critical = np.concatenate([np.repeat(c.critical_decay[i, p], c.multiplicity)
                                       for c in pm.curves])[order]
            assert np.allclose(critical, answer.direction_critical_decay[live], rtol=1e-11)


def test_phase_without_smoothing_is_unchanged():
    family = profile("exp", classes=4)
    plain = phase_map(family, "1:100:7", [1, 2], "none")
    assert phase_map(family, "1:100:7", [1, 2], "none", label_smoothing=0).to_dict() == \
        plain.to_dict()


@pytest.mark.parametrize("argv", [
    ["sweep", "--n", "5,3,2", "--label-smoothing", "0.1,1"],
    ["sweep", "--n", "5,3,2", "--label-smoothing", "0.1", "--loss", "ce"],
    ["phase", "--profile", "step", "--classes", "4", "--label-smoothing", "1.0"],
])
def test_bad_smoothing_is_refused(capsys, argv):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "error: label_smoothing " in err


def test_cli_phase_and_sweep_with_smoothing(capsys):
    assert main(["phase", "--profile", "step", "--classes", "4", "--ratio", "1,10",
                 "--depth", "2", "--label-smoothing", "0.2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["label_smoothing"] == 0.2
    assert main(["sweep", "--n", "4,2", "--label-smoothing", "0.2", "--decay", "1e-3",
                 "--executor", "serial", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    answer = predict(n=[4, 2], label_smoothing=0.2, lambda_w=1e-3, lambda_h=1e-3)
    assert [r["feature_norm"] for r in rows] == pytest.approx(answer.feature_norm, rel=1e-12)
