"""``verify --spectral-start``: the flow's prediction against real descent runs.

The aligned run is plain gradient descent on the full model (every factor matrix) from
the spectral start that verify's N(0, s^2) start reads as; its ends are independent of
the flow's, so the tests below fail if the prediction or the reading is wrong. With
width K every factor reads as the same singular value s sqrt(K) (a balanced start), so
the thresholds of ``dynamics`` apply exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import ProblemError, dynamics
from ncsolve.cli import main
from ncsolve.inputs.problem import Problem
from ncsolve.verify import verify

N_CLASSES, DEPTH, DECAY = [8, 4, 2], 2, 0.05
ARGS = ["--n", "8,4,2", "--depth", "2", "--lambda-w", "0.05", "--lambda-h", "0.05"]


def _problem():
    return Problem.build(N_CLASSES, DEPTH, DECAY, DECAY, "none", "mse", [3, 3])


def _thresholds():
    return dynamics(N_CLASSES, depth=DEPTH, lambda_w=DECAY, lambda_h=DECAY).flow.init_threshold


@pytest.mark.parametrize("factor", [0.9, 1.1])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_aligned_run_ends_where_the_flow_predicts(which, factor):
    """At 0.9x and 1.1x of each threshold the aligned descent ends as predicted."""
    threshold = _thresholds()[which]
    std = factor * threshold / np.sqrt(3)  # width K = 3: every factor reads as std sqrt(3)
    report = verify(_problem(), [3, 3], method="gd", lr=0.2, steps=3000, init_scale=std,
                    spectral_start=True)
    check = report.spectral
    np.testing.assert_allclose(check.scales, factor * threshold, rtol=1e-12)
    learned = check.z_last >= 0.5 * check.predicted.z_local
    assert learned[which] == (factor > 1)
    assert check.ends_agree, (check.observed_end, check.predicted.flow.end)
    z_plus = check.predicted.z_local
    for i in np.flatnonzero(learned):
        assert abs(check.z_last[i] - z_plus[i]) < 1e-7 * z_plus[i]
    assert np.all(check.z_last[~learned] < 1e-8)


def test_times_follow_the_flow_to_first_order():
    """Observed halfway times differ from the flow's by O(lr): halving lr halves the gap."""
    std = 1.1 * _thresholds()[1] / np.sqrt(3)
    gaps = []
    for lr in (0.2, 0.1):
        check = verify(_problem(), [3, 3], method="gd", lr=lr, steps=int(600 / lr),
                       init_scale=std, spectral_start=True).spectral
        gaps.append(np.abs(check.observed_time - check.predicted.flow.time_to_half))
    gaps = np.array(gaps)
    assert np.all(gaps[0] < 0.05 * check.predicted.flow.time_to_half)
    ratio = gaps[0] / gaps[1]
    assert np.all((ratio > 1.5) & (ratio < 2.7)), ratio


def test_random_runs_are_read_by_their_own_directions():
    """The learned set of each random run agrees with verify's own zero directions."""
    std = 2.0 * _thresholds()[-1] / np.sqrt(4)
    report = verify(_problem(), [4, 4], method="gd", lr=0.1, steps=3000, init_scale=std,
                    restarts=4, spectral_start=True)
    check = report.spectral
    assert check.random_observed.shape == (4, 3)
    for run, learned in zip(report.runs, check.random_observed):
        assert set(np.flatnonzero(~learned)) == set(run.zero_directions)
    rate = np.mean(np.all(check.random_observed == check.predicted_learned, axis=1))
    assert check.random_rate == rate
    assert check.predicted_learned.tolist() == [True, True, True]


def test_cli_json_and_text(capsys):
    base = [*ARGS, "--width", "3", "--method", "gd", "--init-scale", "0.25", "--steps",
            "2000", "--quiet"]
    assert main(["verify", *base, "--spectral-start", "--json"]) in (0, 1)
    out = json.loads(capsys.readouterr().out)["spectral_start"]
    assert out["scales"] == pytest.approx([0.25 * np.sqrt(3)] * 3)
    assert [d["predicted_end"] for d in out["directions"]] == \
        [d["end"] for d in out["directions"]]
    assert set(out["random"]) == {"predicted_learned", "observed_learned", "rate"}
    main(["verify", *base, "--spectral-start"])
    text = capsys.readouterr().out
    assert "spectral start" in text and "random starts learning exactly" in text
    main(["verify", *base])
    assert "spectral start" not in capsys.readouterr().out


@pytest.mark.parametrize("extra, needle", [
    (["--method", "lbfgs"], "--method gd"),
    (["--method", "gd", "--loss", "ce"], "squared loss"),
    (["--method", "gd", "--width", "2"], "width"),
])
def test_refusals_come_before_training(capsys, extra, needle):
    assert main(["verify", *ARGS, "--spectral-start", "--steps", "10", *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "spectral_start" in lines[0] and needle in lines[0]


def test_python_refusal():
    with pytest.raises(ProblemError, match="method gd"):
        verify(_problem(), [3, 3], method="lbfgs", spectral_start=True)
