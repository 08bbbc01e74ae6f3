"""One vocabulary: the same names and meanings in every result, JSON and text (docs/cli.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import Problem, predict
from ncsolve.cli import main
from ncsolve.results.base import CLASS_FIELDS, CORE_FIELDS, Result

CORE_JSON = {"problem", "loss", "certainty", "unique", "geometry", "notes", "rank", "bias_value",
             "classes"}
CLASS_JSON = {"class", "n", "feature_norm", "classifier_norm", "output", "collapsed"}
KINDS = [
    ({}, [], "Solution"),
    ({"precision": 20}, ["--precision", "20"], "PreciseSolution"),
    ({"loss": "ce", "restarts": 2}, ["--loss", "ce", "--restarts", "2"], "CESolution"),
    ({"bias": "regularized", "lambda_b": 0.1}, ["--bias", "regularized", "--lambda-b", "0.1"],
     "RegularizedSolution"),
    ({"loss": "ce", "restarts": 2, "bias": "regularized", "lambda_b": 0.1},
     ["--loss", "ce", "--restarts", "2", "--bias", "regularized", "--lambda-b", "0.1"],
     "RegularizedCESolution"),
    ({"loss": "ce", "restarts": 2, "features": "nonnegative"},
     ["--loss", "ce", "--restarts", "2", "--features", "nonnegative"], "NonnegativeSolution"),
]


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kwargs,flags,kind", KINDS)
def test_every_result_follows_the_protocol(capsys, kwargs, flags, kind):
    result = predict(n=[30, 20, 10], depth=2, **kwargs)
    assert type(result).__name__ == kind and isinstance(result, Result)
    for name in CORE_FIELDS + CLASS_FIELDS:
        assert hasattr(result, name), name
    assert not hasattr(result, "objective")  # one name for the objective value: loss
    assert len(result.output) == 3 and result.certainty in ("exact", "proved", "best found")
    data = result.to_dict()
    assert CORE_JSON <= set(data)
    assert [c["class"] for c in data["classes"]] == [0, 1, 2]
    assert all(CLASS_JSON <= set(c) for c in data["classes"])
    # to_dict() is exactly the JSON and str() exactly the text of the command line
    code, out, err = _cli(capsys, "predict", "--n", "30,20,10", "--depth", "2", *flags, "--json")
    assert code == 0 and err == "" and json.loads(out) == json.loads(json.dumps(data))
    code, out, err = _cli(capsys, "predict", "--n", "30,20,10", "--depth", "2", *flags)
    assert code == 0 and out == str(result) + "\n"
    # one header and one summary line for every loss
    lines = out.splitlines()
    assert lines[0].split(",")[1:3] == [" depth 2", " K = 3 classes"]
    assert lines[1].startswith("lambda_w = ") and lines[2].startswith("loss ")
    assert f"certainty: {result.certainty}" in lines[2]


def _scaled(n, depth, bias, factor, widths=None):
    """The same problem with every decay multiplied by ``factor`` (lbar scales by it)."""
    return predict(n=n, depth=depth, lambda_w=5e-4 * factor, lambda_h=5e-4 * factor, bias=bias,
                   widths=widths)


@pytest.mark.parametrize("bias", ["none", "free"])
def test_per_class_critical_decay_is_where_that_class_collapses(bias):
    n = [7, 300, 40, 40, 2000, 7]  # unsorted, with repeated sizes
    sol = predict(n=n, depth=3, bias=bias)
    assert sol.critical_decay.shape == (6,) and sol.direction_critical_decay.shape == (6,)
    for k in range(6):
        ratio = sol.critical_decay[k] / sol.problem.lbar
        below = _scaled(n, 3, bias, ratio * (1 - 1e-6))
        above = _scaled(n, 3, bias, ratio * (1 + 1e-6))
        assert not below.collapsed[k] and above.collapsed[k], k
        assert below.state[k] == "active" and above.state[k] in ("window", "collapsed")


def test_a_direction_the_rank_cap_always_removes_has_decay_zero():
    # issue 10: direction 5 (class 0) has four larger directions above a cap of 4
    args = dict(n=[1, 2473, 43, 9, 487, 3844], depth=6, widths=[5, 6, 5, 4, 4, 4],
                lambda_w=[8.2e-3, 3.8e-6, 2.2e-6, 5.9e-5, 1.9e-5, 6.3e-6], lambda_h=3.3e-3)
    sol = predict(**args)
    assert sol.critical_decay[0] == 0 and sol.state[0] == "capped"
    assert sol.critical_decay[3] == 0 and sol.state[3] == "capped"
    assert list(sol.direction_state[4:]) == ["capped", "capped"]
    for factor in np.geomspace(1e-6, 1e3, 10):  # no decay keeps them
        scaled = predict(**{**args, "lambda_h": 3.3e-3 * factor,
                            "lambda_w": [v * factor for v in args["lambda_w"]]})
        assert scaled.collapsed[0] and scaled.collapsed[3]
        assert scaled.state[0] == scaled.state[3] == "capped"


def test_the_rank_cap_names_directions_alike_with_a_regularized_bias():
    # balanced, widths 2 < K = 3: the all-ones direction has the smallest sigma, two
    # larger ones ahead of it, so no decay keeps it (capped, decay 0, as for predict's
    # MSE); the closed form of balanced classes still holds while the cap cuts nothing
    args = dict(n=[4, 4, 4], depth=2, widths=[2, 2], bias="regularized", lambda_b=0.3)
    certainties = set()
    for decay in np.geomspace(1e-3, 0.3, 8):
        sol = predict(**args, lambda_w=decay, lambda_h=decay)
        data = sol.to_dict()
        assert sol.z[2] == 0 and sol.direction_state[2] == "capped"
        assert data["directions"][2]["state"] == "capped"
        cut = "rank capped" in " ".join(sol.notes)
        assert sol.z[0] > 0 or not cut  # the cap cuts only when the others are nonzero
        if not cut:
            assert sol.certainty == "proved" and data["directions"][2]["critical_decay"] == 0
        certainties.add(sol.certainty)
    assert certainties == {"proved", "best found"}


def test_verify_names_classes_and_directions_apart(capsys):
    # a balanced simplex ETF: direction 3 (sigma = 0) is zero, no class collapses
    code, out, err = _cli(capsys, "verify", "--n", "10,10,10,10", "--depth", "1", "--bias",
                          "free", "--width", "4", "--init-scale", "1", "--json", "--quiet")
    data = json.loads(out)
    assert code == 0 and data["collapsed"] == [] and data["zero_directions"] == [3]
    assert isinstance(data["runs"], list) and "restarts" not in data


def test_verify_has_one_default_width_and_prints_its_report():
    from ncsolve.core.objective import DEFAULT_WIDTH
    from ncsolve.verify import verify

    report = verify(Problem.build([3, 2], depth=1), method="gd", steps=1)
    assert report.widths == (DEFAULT_WIDTH,) == (64,)
    assert str(report).startswith("problem: n = 3,2, depth 1, widths 64")
