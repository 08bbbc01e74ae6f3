"""The regularized bias (MSE) against direct minimization of the full objective."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fullproblem import best_of, class_means, relative_error
from ncsolve import predict
from ncsolve.inputs.problem import Problem
from ncsolve.solvers.regularized import certificate, outer
from ncsolve.solvers.regularized.target import solve_fixed_bias

DECAY = 0.01
CASES = [  # (n, depth, lambda_b): balanced and imbalanced, depths 1-4, lambda_b 1e-6 .. 1e2
    ([3, 3, 3], 1, 1e-6), ([5, 3, 1], 1, 1e-2), ([4, 2, 2, 1], 1, 1e2),
    ([4, 4, 4], 2, 1e-2), ([5, 3, 1], 2, 1e2), ([6, 2, 1], 2, 1e-6),
    ([3, 3, 3, 3], 3, 1e2), ([5, 3, 2], 3, 1e-2), ([4, 2, 1], 3, 1.0),
    ([2, 2, 2], 4, 1e-6), ([5, 2, 1], 4, 1e-2), ([3, 3], 4, 1e2),
]


def regularized(n, depth, lambda_b, decay=DECAY, **kw):
    return dict(n=n, depth=depth, lambda_w=decay, lambda_h=decay, bias="regularized",
                lambda_b=lambda_b, **kw)


def full_best(params, seeds=range(4)):
    problem = Problem.build(params["n"], params["depth"], params["lambda_w"],
                            params["lambda_h"], "regularized", lambda_b=params["lambda_b"])
    return best_of(problem, seeds=seeds)[1]


@pytest.mark.parametrize("n,depth,lambda_b", CASES)
def test_never_above_the_full_problem_and_equal_at_depth_one(n, depth, lambda_b):
    params = regularized(n, depth, lambda_b)
    solution = predict(**params)
    best = full_best(params)
    assert solution.loss <= best.loss * (1 + 1e-12)
    if depth == 1:
        assert solution.certainty == "proved"
        assert abs(solution.loss - best.loss) <= 1e-9 * best.loss
    if len(set(n)) == 1:
        assert solution.certainty == "proved"


def test_depth_one_read_off_matches_the_trained_model():
    params = regularized([5, 3, 1], 1, 0.05)
    solution = predict(**params)
    best = full_best(params)
    means = class_means(best.params.H, np.array(params["n"]))
    W = best.params.product()
    assert relative_error(best.params.b, solution.bias_value) < 1e-6
    assert relative_error(means.T @ means, solution.gram_features()) < 1e-6
    assert relative_error(W @ W.T, solution.gram_classifier()) < 1e-6
    assert relative_error(W @ means, solution.gram_outputs()) < 1e-6
    assert np.allclose(np.linalg.norm(means, axis=0), solution.feature_norm, rtol=1e-6)


@pytest.mark.parametrize("n", [[4, 4, 4], [5, 3, 1]])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_limits_reproduce_the_free_and_bias_free_answers(n, depth):
    base = dict(n=n, depth=depth, lambda_w=DECAY, lambda_h=DECAY)
    for lambda_b, bias in ((1e-10, "free"), (1e10, "none")):
        limit = predict(**base, bias=bias)
        solution = predict(**base, bias="regularized", lambda_b=lambda_b)
        assert abs(solution.loss - limit.loss) <= 1e-8 * limit.loss
        expected = limit.bias_value if bias == "free" else np.zeros(len(n))
        assert np.max(np.abs(solution.bias_value - expected)) <= 1e-8
        assert relative_error(solution.gram_features(), limit.gram_features()) <= 1e-8
        assert relative_error(solution.gram_outputs(), limit.gram_outputs()) <= 1e-8


def test_the_depth_one_certificate_is_a_lower_bound_and_tight():
    problem = Problem.build([6, 3, 2, 1], 1, DECAY, DECAY, "regularized", lambda_b=0.3)
    solution = predict(**regularized([6, 3, 2, 1], 1, 0.3))
    assert abs(solution.duality_gap) <= 1e-14 * solution.loss  # zero up to rounding
    rng = np.random.default_rng(0)
    for _ in range(20):  # any bias gives a dual point; its bound never exceeds the minimum
        point = solve_fixed_bias(problem, solution.bias_value + 0.3 * rng.standard_normal(4))
        assert certificate.dual_bound(problem, point) <= solution.loss * (1 + 1e-14)
        assert point.loss >= solution.loss * (1 - 1e-14)


def test_a_nearly_free_bias_is_searched_to_a_rounding_level_duality_gap():
    """lambda_b = 2.6e-5 makes the outer problem flat; its searches end where F stops
    changing, at losses equal to rounding but different gradients. The reported one is
    proved: its duality gap is far below the proof tolerance (1e-10), at 1e-13 of the
    loss (the flat F pins b down only to about 1e-8)."""
    n, decay = [389, 160, 538, 497, 11], 0.001124420414778375
    problem = Problem.build(n, 1, decay, decay, "regularized", lambda_b=2.647140991186143e-05)
    runs = outer.search(problem, (1.0, 0.0))
    point = runs[0].point
    assert abs(point.loss - certificate.dual_bound(problem, point)) <= 1e-12 * point.loss
    assert point.loss <= min(run.point.loss for run in runs) * (1 + 1e-14)


@pytest.mark.parametrize("depth,decay", [(1, 0.01), (2, 0.01), (3, 0.02), (4, 0.004)])
def test_balanced_bias_is_the_global_minimum_of_the_outer_problem(depth, decay):
    """The exact balanced bias against a brute-force outer problem: a dense grid on the
    symmetric line b = beta 1, and random asymmetric biases that never do better."""
    K, size, lambda_b = 3, 4, 0.2
    problem = Problem.build([size] * K, depth, decay, decay, "regularized", lambda_b=lambda_b)
    solution = predict(**regularized([size] * K, depth, lambda_b, decay=decay))
    exact = solution.loss
    betas = np.linspace(0.0, 1.0 / K, 401)
    line = [solve_fixed_bias(problem, np.full(K, beta)).loss for beta in betas]
    assert exact <= min(line) * (1 + 1e-14)
    assert abs(betas[int(np.argmin(line))] - solution.bias_value[0]) <= 2 / (K * 400)
    rng = np.random.default_rng(depth)
    for _ in range(30):
        b = solution.bias_value + 0.2 * rng.standard_normal(K)
        assert solve_fixed_bias(problem, b).loss >= exact * (1 - 1e-14)
    searched = outer.search(problem)[0].point.loss
    assert exact <= searched * (1 + 1e-13)


def test_balanced_transition_from_simplex_etf_to_orthogonal_frame():
    """Below lambda_b* = N c / (boundary - N c) the bias absorbs the whole all-ones direction
    (exactly a simplex ETF); above it the class means tilt towards an orthogonal frame."""
    K, size, depth, decay = 4, 25, 2, 0.005
    problem = Problem.build([size] * K, depth, decay, decay)
    from ncsolve.core.scalar import phase_boundary

    Nc = problem.N * problem.c
    threshold = Nc / (phase_boundary(np.array([np.sqrt(size)]), problem.q)[0] - Nc)
    cosines, positions = [], []
    for lambda_b in (threshold * 0.999, threshold * 1.001, 1.0, 10.0, 1e3, 1e6):
        solution = predict(**regularized([size] * K, depth, lambda_b, decay=decay))
        gram = solution.gram_features()
        norms = np.sqrt(np.diag(gram))
        cosines.append((gram / np.outer(norms, norms))[0, 1])
        positions.append(solution.toward_bias_free)
        if lambda_b < threshold:
            assert solution.geometry == "simplex ETF"
        else:
            assert solution.geometry.startswith("equiangular frame")
    assert abs(cosines[0] + 1 / (K - 1)) < 1e-12 and abs(positions[0]) < 1e-12
    assert np.all(np.diff(cosines) > 0) and np.all(np.diff(positions[1:]) > 0)
    assert -1e-6 < cosines[-1] < 0 and 1 - 1e-6 < positions[-1] <= 1


def test_result_protocol_and_cli_text(capsys):
    from ncsolve.cli import main

    args = ["predict", "--n", "5,3,1", "--depth", "2", "--bias", "regularized",
            "--lambda-b", "0.1"]
    solution = predict(n="5,3,1", depth=2, bias="regularized", lambda_b=0.1)
    assert main(args) == 0
    assert capsys.readouterr().out == str(solution) + "\n"
    assert main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(solution.to_dict()))
    assert data["certainty"] == "best found" and data["problem"]["lambda_b"] == 0.1
    assert np.allclose(data["bias_value"], solution.bias_value)
    assert [c["class"] if "class" in c else c["index"] for c in data["classes"]] == [0, 1, 2]
    assert len(data["runs"]) == len(outer.START_FRACTIONS)


BAD = [
    (["--lambda-b", "0.1"], dict(lambda_b=0.1), "lambda_b (--lambda-b)"),
    (["--bias", "free", "--lambda-b", "0.1"], dict(bias="free", lambda_b=0.1), "lambda_b"),
    (["--bias", "regularized"], dict(bias="regularized"), "lambda_b"),
    (["--bias", "regularized", "--lambda-b", "0"], dict(bias="regularized", lambda_b=0),
     "lambda_b"),
    (["--bias", "regularized", "--lambda-b", "-1"], dict(bias="regularized", lambda_b=-1),
     "lambda_b"),
    (["--bias", "regularized", "--lambda-b", "nan"], dict(bias="regularized", lambda_b="nan"),
     "lambda_b"),
    (["--bias", "regularized", "--lambda-b", "inf"],
     dict(bias="regularized", lambda_b=float("inf")), "lambda_b"),
    (["--bias", "regularized", "--lambda-b", "x"], dict(bias="regularized", lambda_b="x"),
     "lambda_b"),
]


@pytest.mark.parametrize("flags,kwargs,name", BAD)
def test_bad_lambda_b_is_one_line_and_exit_two(flags, kwargs, name, capsys):
    from ncsolve import ProblemError
    from ncsolve.cli import main

    assert main(["predict", "--n", "3,2", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and name in captured.err
    with pytest.raises(ProblemError, match="lambda_b"):
        predict(n=[3, 2], **kwargs)


@pytest.mark.slow
def test_random_problems_never_above_the_full_problem():
    """30 random small problems, depths 2-4, lambda_b from 1e-3 to 1e2 (the search case)."""
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = rng.integers(1, 12, size=int(rng.integers(2, 5))).tolist()
        depth, decay = int(rng.integers(2, 5)), float(10 ** rng.uniform(-3, -0.5))
        params = regularized(n, depth, float(10 ** rng.uniform(-3, 2)), decay=decay)
        solution = predict(**params)
        assert solution.loss <= full_best(params, seeds=range(6)).loss * (1 + 1e-12)


@pytest.mark.parametrize("loss,depth", [("mse", 2), ("ce", 1)])
def test_verify_compares_runs_with_the_regularized_answer(loss, depth, capsys):
    from ncsolve.cli import main
    from ncsolve.verify import verify

    problem = Problem.build([5, 3, 1], depth, DECAY, DECAY, "regularized", loss, [6] * depth,
                            lambda_b=0.2)
    report = verify(problem, restarts=2, init_scale=1.0)
    assert report.best_run.status == "global" and not report.beats_theory
    assert report.exit_code == 0 and report.to_dict()["problem"]["lambda_b"] == 0.2
    flags = ["verify", "--n", "5,3,1", "--depth", str(depth), "--loss", loss, "--quiet",
             "--bias", "regularized", "--lambda-b", "0.2", "--restarts", "1"]
    assert main(flags) == 0
    assert "bias regularized (lambda_b 0.2)" in capsys.readouterr().out
    assert main(flags[:-6] + ["--lambda-b", "0.2"]) == 2  # --lambda-b without the bias mode
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1


@pytest.mark.parametrize("n,depth,widths", [([5, 3, 1], 2, [2, 2]), ([4, 4, 4], 2, [1, 1])])
def test_narrow_layers_cap_the_rank(n, depth, widths):
    params = regularized(n, depth, 0.3, widths=widths)
    solution = predict(**params)
    problem = Problem.build(n, depth, DECAY, DECAY, "regularized", widths=widths, lambda_b=0.3)
    best = best_of(problem, widths=widths, seeds=range(4))[1]
    assert solution.rank <= min(widths) and solution.loss <= best.loss * (1 + 1e-12)
    assert solution.certainty == "best found"
    assert solution.unique == (len(set(n)) > 1)  # balanced: the cap cuts equal directions


def test_precision_is_refused_with_a_regularized_bias():
    from ncsolve import ProblemError

    with pytest.raises(ProblemError, match="precision"):
        predict(n=[3, 2], bias="regularized", lambda_b=0.1, precision=30)


def test_the_outer_search_from_zero_bias_reaches_the_lower_basin():
    """[11, 1, 3, 2], depth 2: from b = 0 a gradient-length first step stops in the basin
    at loss 0.0127496 (rank 4); a unit first step with halving reaches 0.0124909 (rank 3),
    which the full problem's descent confirms (tests/fullproblem.py)."""
    params = regularized([11, 1, 3, 2], 2, 0.019454299383781556, decay=0.00152396565985415)
    solution = predict(**params)
    assert solution.loss <= full_best(params, seeds=range(6)).loss * (1 + 1e-12)
    assert solution.loss < 0.01250 and solution.rank == 3
