"""Issue 24, the rest: measure at extreme magnitudes and labels, the CE search at huge
decays, and messages.  Each was a traceback, a warning or a wrong report on 15d405a;
now one line naming the parameter and the fix (exit 2), or a right answer.  Warnings
are errors here (a RuntimeWarning on stderr was part of each failure)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ncsolve import ProblemError
from ncsolve.cli import main
from ncsolve.measure import measure

RNG = np.random.default_rng(24)
LABELS = np.repeat(np.arange(3), 7)[:20]
FEATURES = RNG.normal(size=(20, 5))
W = RNG.normal(size=(3, 5))


def _refused(capsys, argv, *words):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def _model(tmp_path, features=FEATURES, labels=LABELS, weight=W):
    path = tmp_path / "model.npz"
    np.savez(path, features=features, labels=labels, W1=weight)
    return path


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_labels_far_past_the_class_limit_are_refused_before_any_allocation():
    # measure(np.ones((2, 2)), np.array([0, 10**8])): raw MemoryError (before the empty-class check)
    with pytest.raises(ProblemError, match=r"labels: .*at most 10,000,000, found 100,000,000"):
        measure(np.ones((2, 2)), np.array([0, 10**8]))


@pytest.mark.parametrize("labels, shown", [
    (np.array([0.0, 1e300]), "found 1e+300"),
    (np.array([0, 2**63], dtype=np.uint64), "found 9,223,372,036,854,775,808"),
    (np.array([0, 2**64 - 1], dtype=np.uint64), "found 18,446,744,073,709,551,615"),
])
def test_huge_labels_are_named_as_they_are_in_the_file(tmp_path, capsys, labels, shown):
    # ncsolve measure model.npz with labels [0, 1e300] or uint64 [0, 2**63]:
    # RuntimeWarning and "found -9223372036854775808", a value not in the file
    path = tmp_path / "model.npz"
    np.savez(path, features=FEATURES[:2], labels=labels, W1=W)
    _refused(capsys, ["measure", str(path)], "labels", shown)


def test_features_times_1e155_are_one_line(tmp_path, capsys):
    # ncsolve measure model.npz --lambda-w 1e-3 with features * 1e155: LinAlgError traceback
    _refused(capsys, ["measure", str(_model(tmp_path, features=FEATURES * 1e155)),
                      "--lambda-w", "1e-3"], "features", "rescale")


def test_weights_times_1e300_are_one_line_not_a_critical_point(tmp_path, capsys):
    # measure ... with W1 * 1e300: exit 0, 10 warnings, "critical point (relative gradient 0) ... gap inf"
    _refused(capsys, ["measure", str(_model(tmp_path, weight=W * 1e300)), "--lambda-w",
                      "1e-3", "--lambda-h", "1e-3"], "W1", "rescale")


def test_a_decay_of_1e200_is_one_line(tmp_path, capsys):
    # ncsolve measure model.npz --lambda-w 1e200: OverflowError traceback
    _refused(capsys, ["measure", str(_model(tmp_path)), "--lambda-w", "1e200"],
             "--lambda-w", "1e+100")


def test_json_with_a_weight_of_1e154_is_one_line(tmp_path, capsys):
    # ncsolve measure model.npz --lambda-w 1e-3 --json with one weight 1e154:
    # "Out of range float values are not JSON compliant" traceback
    weight = W.copy()
    weight[0, 0] = 1e154
    _refused(capsys, ["measure", str(_model(tmp_path, weight=weight)), "--lambda-w", "1e-3",
                      "--json"], "rescale")


def test_large_but_safe_magnitudes_are_still_measured(tmp_path, capsys):
    # the guard's bound (1e100) is far from trained networks: 1e40 features still measure
    assert main(["measure", str(_model(tmp_path, features=FEATURES * 1e40,
                                       weight=W * 1e-40)), "--lambda-w", "1e-3",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"]
