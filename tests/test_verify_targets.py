"""``verify`` with a target other than one-hot labels: the generalized full objective
against the independent one of tests/targets_reference.py, descent on the full problem
from random starts against the closed form (loss to 1e-9 relative, Grams to 1e-6), the
command line on real files, and the one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import Problem, ProblemError
from ncsolve.cli import main
from ncsolve.core.objective import FullObjective
from ncsolve.solvers import solve
from ncsolve.verify import Tolerances, verify
from targets_reference import class_target, objective as reference_objective

STRICT = Tolerances(loss_rtol=1e-9, gram_tol=1e-6)
MIX = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.2]])


def _smoothing(K, eps):
    return (1 - eps) * np.eye(K) + eps / K


def _regression(rows, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, 3)) @ MIX.T + np.array([1.0, -2.0, 0.5])


@pytest.mark.parametrize("kind, bias", [("smoothing", "none"), ("soft", "free"),
                                        ("samples", "regularized"), ("onehot", "free")])
def test_full_objective_is_the_reference_objective(kind, bias):
    """Value and gradient of the generalized objective at a random point equal those of
    the independent numpy objective with the dense target matrix."""
    n, widths, samples = [4, 3, 2], (3, 4), None
    settings = dict(depth=2, lambda_w=[0.01, 0.03], lambda_h=0.02, bias=bias,
                    lambda_b=0.05 if bias == "regularized" else None)
    if kind == "samples":
        samples = _regression(9)
        problem, Y = Problem.build(None, targets=samples, **settings), samples.T
    elif kind == "soft":
        S = np.random.default_rng(2).dirichlet(np.ones(2), size=3).T  # K' = 2 outputs
        problem, Y = Problem.build(n, soft_labels=S, **settings), class_target(S, n)
    else:
        eps = 0.2 if kind == "smoothing" else 0.0
        problem = Problem.build(n, label_smoothing=eps, **settings)
        Y = class_target(_smoothing(3, eps), n)
    f = FullObjective(problem, widths, samples=samples)
    x = np.random.default_rng(0).normal(size=f.size)
    value, grad = f(x)
    shapes = [(widths[0], Y.shape[1]), (widths[1], widths[0]), (Y.shape[0], widths[1])]
    ref_value, ref_grad = reference_objective(x, Y, 0.02, [0.01, 0.03], shapes, bias, 0.05)
    assert abs(value - ref_value) <= 1e-13 * abs(ref_value)
    assert np.linalg.norm(grad - ref_grad) <= 1e-12 * np.linalg.norm(ref_grad)


def test_one_hot_objective_is_unchanged():
    """No target, or smoothing 0, is the one-hot matrix itself (the same problem)."""
    plain = Problem.build([4, 3, 2], depth=2)
    assert Problem.build([4, 3, 2], depth=2, label_smoothing=0).target is None
    Y = FullObjective(plain).Y
    assert Y.shape == (3, 9) and np.array_equal(Y, class_target(np.eye(3), [4, 3, 2]))


CASES = [  # (n, kwargs, depth, widths)
    ([5, 3, 2], {"label_smoothing": 0.1, "bias": "none"}, 1, 4),
    ([4, 4, 4], {"label_smoothing": 0.3, "bias": "free"}, 2, 4),
    ([5, 3, 2], {"label_smoothing": 0.05, "bias": "free"}, 3, 4),
    ([6, 3, 2, 1], {"label_smoothing": 0.3, "bias": "none"}, 2, [2, 3]),  # rank cap 2
    ([5, 3, 2], {"label_smoothing": 0.1, "bias": "regularized", "lambda_b": 0.05}, 2, 4),
]


@pytest.mark.parametrize("n, kwargs, depth, widths", CASES)
def test_verify_label_smoothing_reaches_the_closed_form(n, kwargs, depth, widths):
    problem = Problem.build(n, depth, [0.005 * (j + 1) for j in range(depth)], 0.01, **kwargs)
    report = verify(problem, widths, restarts=3, init_scale=1.0, tolerances=STRICT)
    best = report.best_run
    assert report.status == "global" and report.exit_code == 0, str(report)
    assert abs(best.gap) <= 1e-9
    assert max(best.errors.values()) <= 1e-6
    assert report.to_dict()["comparison"].startswith("direct")


def test_verify_soft_labels_with_other_output_count():
    S = np.random.default_rng(4).dirichlet(np.ones(4), size=3).T  # 4 outputs, 3 classes
    problem = Problem.build([6, 3, 2], 2, [0.002, 0.004], 0.005, "free", soft_labels=S)
    report = verify(problem, 5, restarts=2, init_scale=1.0, tolerances=STRICT)
    assert report.status == "global" and abs(report.best_run.gap) <= 1e-9, str(report)
    assert report.runs[0].layer_errors["classifier"][0] <= 1e-6


@pytest.mark.parametrize("kind, bias, depth", [("multi-label", "none", 2),
                                               ("regression", "free", 1),
                                               ("regression", "none", 3)])
def test_verify_per_sample_targets(kind, bias, depth):
    if kind == "multi-label":
        Y = (np.random.default_rng(5).random((14, 3)) < 0.4).astype(float)
    else:
        Y = _regression(15, seed=depth)
    problem = Problem.build(None, depth, [0.01] * depth, 0.03, bias, targets=Y)
    report = verify(problem, 4, restarts=2, init_scale=1.0, tolerances=STRICT, targets=Y)
    best = report.best_run
    assert report.status == "global", str(report)
    assert abs(best.gap) <= 1e-9 and max(best.errors.values()) <= 1e-6
    assert best.rank == report.solution.rank
    assert np.allclose(best.singular_values[:best.rank], report.solution.z[:best.rank],
                       rtol=1e-6)


def test_verify_rejects_a_wrong_answer():
    """The comparison can fail: the answer for smoothing 0.3 is not the minimum at 0.1
    (the runs end elsewhere, so verify exits 1)."""
    problem = Problem.build([5, 3, 2], 2, 0.01, 0.01, label_smoothing=0.1)
    wrong = solve(Problem.build([5, 3, 2], 2, 0.01, 0.01, widths=[4, 4], label_smoothing=0.3))
    report = verify(problem, 4, restarts=1, init_scale=1.0, solution=wrong)
    assert report.exit_code == 1 and report.status != "global"
    assert abs(report.best_run.gap) > 1e-3


def test_per_sample_objective_holds_n_by_t_targets_only():
    Y = _regression(40)
    problem = Problem.build(None, 2, targets=Y)
    f = FullObjective(problem, (3, 3), samples=Y)
    assert f.Y.shape == (3, 40) and f.K == 3
    with pytest.raises(ProblemError, match="^targets "):
        FullObjective(problem, (3, 3))
    with pytest.raises(ProblemError, match="^targets "):
        FullObjective(problem, (3, 3), samples=Y[:-1])
    with pytest.raises(ProblemError, match="^targets "):
        FullObjective(problem, (3, 3), samples=Y + 1.0)
    with pytest.raises(ProblemError, match="^targets "):
        FullObjective(Problem.build([3, 2]), (2,), samples=Y)


def test_cli_verify_with_targets(tmp_path, capsys):
    Y = _regression(15)
    path = tmp_path / "targets.npz"
    np.savez(path, targets=Y, soft_labels=np.random.default_rng(0).dirichlet(np.ones(3), 3).T)
    common = ["--width", "4", "--init-scale", "1", "--restarts", "2", "--json",
              "--loss-rtol", "1e-9", "--gram-tol", "1e-6", "--quiet"]
    for argv in (["--targets", str(path), "--depth", "2", "--bias", "free"],
                 ["--n", "5,3,2", "--soft-labels", str(path), "--depth", "2"],
                 ["--n", "5,3,2", "--label-smoothing", "0.1", "--depth", "3"]):
        assert main(["verify", *argv, *common]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["status"] == "global" and abs(data["gap"]) <= 1e-9
        assert "target" in data["problem"]


@pytest.mark.parametrize("argv, param", [
    (["--n", "5,3,2", "--label-smoothing", "1"], "label_smoothing"),
    (["--n", "5,3,2", "--label-smoothing", "-0.2"], "label_smoothing"),
    (["--n", "5,3", "--soft-labels", "SOFT"], "soft_labels"),
    (["--targets", "BAD"], "targets"),
    (["--n", "5,3,2", "--targets", "GOOD"], "n"),
    (["--n", "5,3,2", "--label-smoothing", "0.1", "--record-every", "5", "--json"],
     "record_every"),
    (["--depth", "2"], "n"),
])
def test_cli_verify_refuses_bad_targets(tmp_path, capsys, argv, param):
    good, bad, soft = tmp_path / "good.npz", tmp_path / "bad.npz", tmp_path / "soft.npz"
    np.savez(good, targets=_regression(6))
    np.savez(bad, targets=np.array([[1.0, np.nan], [0.0, 1.0]]))
    np.savez(soft, soft_labels=np.ones((3, 3)))  # 3 columns, 2 classes
    files = {"GOOD": str(good), "BAD": str(bad), "SOFT": str(soft)}
    assert main(["verify", *[files.get(a, a) for a in argv]]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"error: {param} " in err


@pytest.mark.slow
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("n", [[4, 4, 4], [5, 3, 2]])
@pytest.mark.parametrize("bias", ["none", "free", "regularized"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("width", [4, 2])
def test_verify_label_smoothing_grid(eps, n, bias, depth, width):
    """The must-show grid through verify: every case reaches the closed form."""
    problem = Problem.build(n, depth, [0.005 * (j + 1) for j in range(depth)], 0.01, bias,
                            lambda_b=0.05 if bias == "regularized" else None,
                            label_smoothing=eps)
    report = verify(problem, width, restarts=6 if depth >= 3 else 3, init_scale=1.0,
                    tolerances=STRICT)
    assert report.status == "global" and abs(report.best_run.gap) <= 1e-9, str(report)
