"""CE with a regularized bias: an independent convex solve, the limits, the full model."""

from __future__ import annotations

import numpy as np
import pytest

from fullproblem import best_of
from ncsolve import predict
from ncsolve.inputs.problem import Problem

DECAY = 0.01


def _params(n, depth, lambda_b, decay=DECAY, **kw):
    return dict(n=n, depth=depth, lambda_w=decay, lambda_h=decay, loss="ce",
                bias="regularized", lambda_b=lambda_b, **kw)


def _cvxpy_reduced(n, decay, lambda_b):
    """The depth-1 reduced program (Hong & Ling) solved by a conic solver."""
    cp = pytest.importorskip("cvxpy")
    n = np.asarray(n, dtype=float)
    K, w = n.size, n / n.sum()
    X, b = cp.Variable((K, K)), cp.Variable(K)
    ce = sum(w[k] * (cp.log_sum_exp(X[:, k] + b) - X[k, k] - b[k]) for k in range(K))
    penalty = decay * cp.normNuc(X @ np.diag(np.sqrt(n)))  # c = lbar at depth 1
    problem = cp.Problem(cp.Minimize(ce + penalty + lambda_b / 2 * cp.sum_squares(b)))
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12,
                  max_iter=500)
    return problem.value, b.value


@pytest.mark.parametrize("n,lambda_b", [([5, 3, 1], 0.1), ([4, 4, 2, 1], 3.0),
                                        ([3, 3, 3], 1e-3)])
def test_depth_one_agrees_with_an_independent_convex_solve(n, lambda_b):
    solution = predict(**_params(n, 1, lambda_b, restarts=2))
    value, bias = _cvxpy_reduced(n, DECAY, lambda_b)
    assert solution.certainty == "proved"
    assert abs(solution.loss - value) <= 1e-6 * value
    assert np.max(np.abs(solution.bias_value - (bias - bias.mean()))) <= 1e-4


def test_depth_one_limits_are_the_free_and_bias_free_answers():
    n = [5, 3, 1]
    base = dict(n=n, depth=1, lambda_w=DECAY, lambda_h=DECAY, loss="ce", restarts=2)
    for lambda_b, bias in ((1e-9, "free"), (1e9, "none")):
        limit = predict(**base, bias=bias)
        solution = predict(**base, bias="regularized", lambda_b=lambda_b)
        assert abs(solution.loss - limit.loss) <= 1e-6 * limit.loss
        expected = np.zeros(3) if limit.bias_value is None else limit.bias_value
        assert np.max(np.abs(solution.bias_value - expected)) <= 1e-3


@pytest.mark.parametrize("n,depth,lambda_b", [([5, 3, 1], 1, 0.3), ([4, 2, 1], 2, 0.1),
                                              ([3, 3, 3], 3, 1.0)])
def test_never_above_the_full_model(n, depth, lambda_b):
    solution = predict(**_params(n, depth, lambda_b, restarts=2))
    problem = Problem.build(n, depth, DECAY, DECAY, "regularized", "ce", lambda_b=lambda_b)
    best = best_of(problem, seeds=range(3))[1]
    assert solution.loss <= best.loss * (1 + 1e-7)
    if depth == 1:
        assert abs(solution.loss - best.loss) <= 1e-6 * best.loss


@pytest.mark.slow
def test_random_problems_never_above_the_full_model():
    """20 random small problems, depths 1-3, lambda_b from 1e-3 to 1e2."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = rng.integers(1, 12, size=int(rng.integers(2, 5))).tolist()
        depth, decay = int(rng.integers(1, 4)), float(10 ** rng.uniform(-3, -1))
        lambda_b = float(10 ** rng.uniform(-3, 2))
        solution = predict(**_params(n, depth, lambda_b, decay=decay, restarts=4))
        problem = Problem.build(n, depth, decay, decay, "regularized", "ce", lambda_b=lambda_b)
        assert solution.loss <= best_of(problem, seeds=range(5))[1].loss * (1 + 1e-7)
        if depth == 1:
            assert solution.certainty == "proved"


def test_the_origin_threshold_is_sharp_at_depth_one_and_proved_at_depth_two():
    n, lambda_b = [5, 3, 1], 0.5
    threshold = predict(**_params(n, 1, lambda_b, restarts=0)).origin_decay_proved
    below = predict(**_params(n, 1, lambda_b, decay=0.98 * threshold, restarts=0))
    above = predict(**_params(n, 1, lambda_b, decay=1.02 * threshold, restarts=0))
    assert below.rank > 0 and above.rank == 0 and above.certainty == "proved"
    deep = predict(**_params(n, 2, lambda_b, decay=2.0, restarts=0))
    assert deep.rank == 0 and deep.certainty == "proved" and "origin" in deep.notes[0]
    problem = Problem.build(n, 2, 2.0, 2.0, "regularized", "ce", lambda_b=lambda_b)
    assert best_of(problem, seeds=range(2))[1].loss >= deep.loss * (1 - 1e-9)


def test_best_bias_stops_at_rounding_level_from_a_converged_warm_start():
    """A point met in a descent (n = 17, 7) whose Newton decrement sits just above the
    stopping level: the bias is the minimizer of F(X, .) found independently (Brent on
    the mean-zero line b = (beta, -beta)) without hundreds of halved Newton steps."""
    from scipy.optimize import minimize_scalar

    from ncsolve.solvers.regularized.reduced_crossentropy import RegularizedCE

    problem = Problem.build([17, 7], 1, 0.005967923001626354, 0.0022689175259285816,
                            "regularized", "ce", lambda_b=0.016342881595701655)
    rce = RegularizedCE(problem)
    X = np.array([[1.9498956130352436, -2.368598096038359],
                  [-1.9492762745036107, 2.367826840720808]])
    b0 = np.array([0.25843220590269583, -0.25843220590269583])
    calls = []
    data = rce.data
    rce.data = lambda X, b: calls.append(1) or data(X, b)
    b = rce.best_bias(X, b0)
    line = minimize_scalar(lambda beta: data(X, np.array([beta, -beta])),
                           bracket=(0.2, 0.3), tol=1e-12)
    assert len(calls) <= 10
    assert abs(b[0] - line.x) <= 1e-7 and abs(b[0] + b[1]) <= 1e-15
    assert data(X, b) <= line.fun * (1 + 1e-15)
