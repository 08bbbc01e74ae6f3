"""Balanced cross-entropy from a simplex-ETF start against gradient descent on the FULL model.

The start is built here from numpy alone: the class-space directions are an orthonormal
basis of the complement of the all-ones vector (numpy's eigh of the centring matrix),
the sample-space ones ``Y^T a / sqrt(n)``, and every factor matrix is filled with them.
Descent is plain full-batch gradient descent on the full cross-entropy objective; the
end points are compared with ncsolve's cross-entropy answer (a separate solver).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import ProblemError, dynamics
from ncsolve.cli import main
from ncsolve.core.descent import gradient_descent
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem
from ncsolve.solvers.dynamics import flow

WIDTH = 4
# (K, n, depth, decay, bias): depth 2; depth 3 with a free bias (the ETF end is not the
# answer there: a lower-rank structure beats it); depth 1 (every start learns)
CASES = {"depth2": (3, 4, 2, 0.03, "none"), "free": (4, 3, 3, 0.02, "free"),
         "depth1": (3, 4, 1, 0.05, "none")}


def _aligned(K, n, depth, decay, bias, scales):
    """The full objective, the ETF-aligned start and the directions to read it in."""
    problem = Problem.build([n] * K, depth, decay, decay, bias, "ce", [WIDTH] * depth)
    objective = FullObjective(problem, [WIDTH] * depth)
    Y = np.zeros((K, n * K))
    Y[np.repeat(np.arange(K), n), np.arange(n * K)] = 1.0
    mu, Q = np.linalg.eigh(np.eye(K) - 1.0 / K)
    A = Q[:, mu > 0.5]
    V = Y.T @ A / np.sqrt(n)
    E = np.eye(WIDTH)[:, : K - 1]
    H = scales[0] * E @ V.T
    weights = [s * E @ E.T for s in scales[1:-1]] + [scales[-1] * A @ E.T]
    x0 = objective.pack(H, weights, None if bias == "none" else np.zeros(K))
    return objective, x0, A, V


def _reader(objective, A, V):
    """Mean diagonal of ``A^T W_M ... W_1 H V`` and its largest off-diagonal entry."""
    def read(x):
        p = objective.split(x)
        M = A.T @ p.product() @ p.H @ V
        return np.array([np.mean(np.diag(M)), np.abs(M - np.diag(np.diag(M))).max()])
    return read


def _flow(K, n, depth, decay, bias, init_scale=None, **kw):
    return dynamics([n] * K, depth=depth, lambda_w=decay, lambda_h=decay, bias=bias,
                    loss="ce", init_scale=init_scale, **kw)


def test_trajectory_error_is_first_order_in_lr():
    """z(t) of descent from the ETF start follows the flow; halving lr halves the error."""
    K, n, depth, decay, bias = CASES["depth2"]
    scales = [0.5] * 3
    result = _flow(K, n, depth, decay, bias, 0.5)
    horizon = 2.0 * result.time_to_half
    errors = []
    for lr in (0.2, 0.1, 0.05):
        objective, x0, A, V = _aligned(K, n, depth, decay, bias, scales)
        steps = int(round(horizon / lr))
        run = gradient_descent(objective, lr=lr, steps=steps, x0=x0, gtol=0.0,
                               record_every=max(1, steps // 100),
                               recorder=_reader(objective, A, V))
        times = np.array([snap.step for snap in run.trajectory]) * lr
        observed = np.array([snap.data for snap in run.trajectory])
        assert observed[:, 1].max() < 1e-12  # the alignment is kept
        predicted = np.prod(flow.path(result.direction, np.array(scales), times), axis=1)
        errors.append(np.max(np.abs(observed[:, 0] - predicted)) / predicted.max())
    errors = np.array(errors)
    assert errors[0] < 0.03
    np.testing.assert_allclose(errors[:-1] / errors[1:], 2.0, rtol=0.05)


@pytest.mark.parametrize("case", ["depth2", "free"])
@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_ends_on_both_sides_of_the_threshold(case, factor):
    """Descent from 0.9x (1.1x) the threshold collapses (reaches the ETF point)."""
    K, n, depth, decay, bias = CASES[case]
    threshold = _flow(K, n, depth, decay, bias).init_threshold
    scale = factor * threshold
    result = _flow(K, n, depth, decay, bias, scale)
    objective, x0, A, V = _aligned(K, n, depth, decay, bias, [scale] * (depth + 1))
    run = gradient_descent(objective, lr=0.2, steps=20000, x0=x0, gtol=1e-10)
    z, off = _reader(objective, A, V)(run.x)
    assert off < 1e-10
    if factor < 1:
        assert result.end == "zero" and z < 1e-8
        assert objective(run.x)[0] == pytest.approx(np.log(K), rel=1e-10)
    else:
        assert result.end == "plus"
        assert z == pytest.approx(result.direction.z_plus, rel=1e-7)
        assert objective(run.x)[0] == pytest.approx(result.end_loss, rel=1e-10)


@pytest.mark.parametrize("case", list(CASES))
def test_end_against_the_cross_entropy_answer(case):
    """The ETF end is the answer at depth 1 (proved) and depth 2 here; at depth 3 with
    these decays a lower-rank point found by the search beats it: reported as local."""
    K, n, depth, decay, bias = CASES[case]
    result = _flow(K, n, depth, decay, bias, 1.0)
    objective, x0, _, _ = _aligned(K, n, depth, decay, bias, [1.0] * (depth + 1))
    run = gradient_descent(objective, lr=0.2, steps=20000, x0=x0, gtol=1e-10)
    reached = objective(run.x)[0]
    answer = float(result.answer.loss)
    assert reached == pytest.approx(result.end_loss, rel=1e-10)
    if case == "free":
        assert reached > answer + 1e-3 and result.end_word == "local"
    else:
        assert reached == pytest.approx(answer, rel=1e-9) and result.end_word == "global"
    if case == "depth1":
        assert result.init_threshold == 0.0 and result.answer.certainty == "proved"


def test_closed_form_threshold_is_the_saddle():
    """z_low^(1/L) with z_low solving z^(1-2/L) = lambda sqrt(n) (e^(z/sqrt(n)) + K - 1)."""
    K, n, depth, decay, _ = CASES["depth2"]
    result = _flow(K, n, depth, decay, "none")
    L, z = depth + 1, result.z_low
    lhs = z ** (1 - 2 / L)
    assert lhs == pytest.approx(decay * np.sqrt(n) * (np.exp(z / np.sqrt(n)) + K - 1),
                                rel=1e-10)
    assert result.init_threshold == pytest.approx(z ** (1 / L), rel=1e-12)
    assert result.threshold_exact


def test_unequal_decays_bisect_the_flow():
    result = dynamics([4] * 3, depth=2, lambda_w=[0.02, 0.05], lambda_h=0.03, loss="ce")
    assert not result.threshold_exact
    direction = result.direction
    L = direction.L
    below = flow.run(direction, np.full(L, 0.99 * result.init_threshold), False).end
    above = flow.run(direction, np.full(L, 1.01 * result.init_threshold), False).end
    assert (below, above) == ("zero", "plus")


def test_imbalanced_classes_are_refused():
    with pytest.raises(ProblemError, match="balanced classes only"):
        dynamics([4, 4, 2], depth=2, lambda_w=0.01, lambda_h=0.01, loss="ce")


def test_cli(capsys):
    args = ["dynamics", "--n", "4,4,4", "--depth", "2", "--lambda-w", "0.03", "--lambda-h",
            "0.03", "--loss", "ce", "--init-scale", "1", "--lr", "0.1", "--steps", "500"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["directions"]) == 2 and out["directions"][0]["end"] == "global"
    assert out["dynamics"]["learning_order"] == [0, 1, 2]
    assert "proved" in out["dynamics"] and "not_proved" in out["dynamics"]
    assert main(["dynamics", "--n", "4,4,2", "--depth", "2", "--loss", "ce"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "n (--n)" in err[0]
