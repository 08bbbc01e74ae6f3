"""Descent on the full problem against the closed-form global minimizer.

The closed form (ncsolve.solvers.mse) and direct minimization are independent:
the runs below know nothing of the theory, so agreement checks both.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncsolve.core.descent import (
    blas_threads,
    descend,
    gradient_descent,
    minimize_lbfgs,
)
from ncsolve.core.metrics import relative_distance, run_geometry
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem, ProblemError
from ncsolve.solvers.mse import solve

SIZES = {"balanced": [4, 4, 4], "imbalanced": [9, 4, 2]}


def _best_lbfgs(problem, widths, restarts=6):
    runs = descend(problem, widths, method="lbfgs", restarts=restarts, init_scale=1.0)
    return runs, min(runs, key=lambda r: r.loss)


def _gram_errors(problem, result, solution):
    geometry = run_geometry(result.objective, result.x, with_nc1=False)
    errors = [relative_distance(geometry.outputs, solution.gram_outputs())]
    for j in range(problem.depth):
        errors.append(relative_distance(geometry.feature_grams[j], solution.gram_features(j)))
        errors.append(relative_distance(geometry.classifier_grams[j], solution.gram_classifier(j)))
    return max(errors)


# depths 4 and 5 fill in the grid: exhaustive, run with pytest -m slow
@pytest.mark.parametrize("depth", [1, 2, 3, pytest.param(4, marks=pytest.mark.slow),
                                   pytest.param(5, marks=pytest.mark.slow), 6])
@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("kind", ["balanced", "imbalanced"])
def test_lbfgs_reaches_the_predicted_global_minimizer(kind, bias, depth):
    decays = [0.01 * (1 + 0.5 * j) for j in range(depth)]  # unequal per-layer decays
    problem = Problem.build(SIZES[kind], depth=depth, lambda_w=decays, lambda_h=0.012, bias=bias)
    solution = solve(problem)
    runs, best = _best_lbfgs(problem, (2 * problem.K,) * depth)
    # the theory's value is a lower bound for every run and is attained by the best one
    assert all(r.loss >= solution.loss * (1 - 1e-12) for r in runs)
    assert best.loss == pytest.approx(solution.loss, rel=1e-9)
    assert _gram_errors(problem, best, solution) < 1e-6


@pytest.mark.parametrize("bias", ["none", "free"])
def test_lbfgs_with_a_collapsed_class(bias):
    # strong decay: bias-free, the smallest class collapses; free bias, the second
    # direction joins the null direction of the centred target
    problem = Problem.build([12, 4, 1], depth=3, lambda_w=0.03, lambda_h=0.03, bias=bias)
    solution = solve(problem)
    assert np.count_nonzero(solution.z) == (2 if bias == "none" else 1)
    _, best = _best_lbfgs(problem, (6, 6, 6))
    assert best.loss == pytest.approx(solution.loss, rel=1e-9)
    assert _gram_errors(problem, best, solution) < 1e-6


def test_lbfgs_with_a_narrow_layer():
    # width 2 < K = 4 caps the rank: the two largest directions survive
    problem = Problem.build([8, 5, 3, 2], depth=2, lambda_w=0.005, lambda_h=0.005)
    solution = solve(Problem.build([8, 5, 3, 2], depth=2, lambda_w=0.005, lambda_h=0.005,
                                   widths=[6, 2]))
    _, best = _best_lbfgs(problem, (6, 2), restarts=8)
    assert np.count_nonzero(solution.z) == 2
    assert best.loss == pytest.approx(solution.loss, rel=1e-9)
    assert _gram_errors(problem, best, solution) < 1e-6


def test_momentum_with_the_paper_settings_converges_towards_the_theory():
    problem = Problem.build([20, 10, 5, 5], depth=3, lambda_w=1e-3, lambda_h=1e-3)
    solution = solve(problem)
    result = gradient_descent(problem, (16, 16, 16), lr=0.1, momentum=0.9, steps=10000,
                              init_scale=0.1, seed=0, record_every=2000, progress=False)
    gaps = [(s.loss - solution.loss) / solution.loss for s in result.trajectory]
    assert result.method == "momentum" and result.steps == 10000
    assert all(g > -1e-12 for g in gaps)
    assert gaps[-1] < 1e-6 and gaps[-1] < 1e-4 * gaps[0]
    assert _gram_errors(problem, result, solution) < 1e-4


def test_plain_gradient_descent_decreases_the_objective():
    problem = Problem.build([3, 2, 2], depth=2, lambda_w=0.01, lambda_h=0.01, bias="free")
    result = gradient_descent(problem, (3, 3), lr=0.05, steps=300, init_scale=0.5,
                              record_every=1, progress=False)
    losses = np.array([s.loss for s in result.trajectory])
    assert result.method == "gd" and len(losses) == 301
    assert np.all(np.diff(losses) <= 1e-15)


def test_trajectory_recording_and_recorder():
    problem = Problem.build([3, 2], depth=2)
    seen = []
    result = gradient_descent(problem, (2, 2), steps=25, record_every=10,
                              recorder=lambda x: seen.append(x.copy()) or len(seen))
    assert [s.step for s in result.trajectory] == [0, 10, 20, 25]
    assert [s.data for s in result.trajectory] == [1, 2, 3, 4]
    assert np.array_equal(seen[-1], result.x)
    lb = minimize_lbfgs(problem, (2, 2), record_every=5, init_scale=1.0)
    assert lb.trajectory[0].step == 0 and lb.trajectory[-1].step == lb.steps
    assert lb.trajectory[-1].loss == pytest.approx(lb.loss, rel=1e-12)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("record_every", [None, 1])
def test_divergence_is_reported_not_raised(record_every):
    # overflow is expected here and handled: no RuntimeWarning may escape
    problem = Problem.build([3, 2], depth=2)
    result = gradient_descent(problem, (2, 2), lr=1e3, steps=200, init_scale=1.0,
                              record_every=record_every)
    assert not result.finite
    assert "diverged" in result.message


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_gradient_norms_near_the_float_limit_do_not_overflow():
    # decay 1e300 on weights of size 0.1: every gradient entry is about 1e299
    problem = Problem.build([3, 2], depth=1, lambda_w=1e300)
    result = minimize_lbfgs(problem, (2,), maxiter=5)
    assert np.isfinite(result.grad_norm) and result.grad_norm > 1e298


def test_early_stop_on_gradient_norm():
    problem = Problem.build([3, 2], depth=1, lambda_w=0.05, lambda_h=0.05)
    result = gradient_descent(problem, (2,), lr=0.5, momentum=0.5, steps=100000, gtol=1e-8)
    assert result.steps < 100000 and result.grad_norm <= 1e-8


def test_start_point_and_seeds():
    problem = Problem.build([4, 3, 2], depth=2, lambda_w=0.01, lambda_h=0.01)
    f = FullObjective(problem, (3, 3))
    x0 = f.random_point(np.random.default_rng(11), 0.7)
    a = minimize_lbfgs(f, x0=x0)
    b = minimize_lbfgs(f, x0=x0)
    assert a.seed is None and a.loss == b.loss
    runs = descend(f, method="momentum", restarts=3, seed=5, steps=10)
    assert [r.seed for r in runs] == [5, 6, 7]
    assert len({float(r.loss) for r in runs}) == 3


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"method": "adam"}, "--method"),
        ({"restarts": 0}, "--restarts"),
        ({"method": "gd", "lr": -1.0}, "--lr"),
        ({"method": "momentum", "momentum": 1.0}, "--momentum"),
        ({"method": "gd", "steps": -3}, "--steps"),
        ({"init_scale": 0.0}, "--init-scale"),
    ],
)
def test_bad_options_name_the_flag(kwargs, flag):
    problem = Problem.build([3, 2], depth=1)
    with pytest.raises(ProblemError, match=flag):
        descend(problem, (2,), **kwargs)


def test_blas_thread_limit_is_restored():
    import scipy.optimize  # noqa: F401  - load scipy's own BLAS first
    from threadpoolctl import threadpool_info

    def counts():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = counts()
    with blas_threads(1):
        inside = counts()
    assert counts() == before
    assert inside and all(count == 1 for count in inside)


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    problem = Problem.build([3, 2], depth=1)
    gradient_descent(problem, (2,), steps=50, progress=None)  # stderr is not a terminal here
    assert capsys.readouterr().err == ""
    gradient_descent(problem, (2,), steps=50, progress=True)
    assert "gd seed 0" in capsys.readouterr().err


@settings(max_examples=15, deadline=None)
@given(
    n=st.lists(st.integers(1, 8), min_size=2, max_size=4),
    depth=st.integers(1, 3),
    log_decay=st.floats(-3.0, -1.0),
    bias=st.sampled_from(["none", "free"]),
    seed=st.integers(0, 1000),
)
def test_no_run_goes_below_the_closed_form(n, depth, log_decay, bias, seed):
    # the closed form is the global minimum, so it bounds every run from below
    problem = Problem.build(n, depth=depth, lambda_w=10**log_decay, lambda_h=10**log_decay,
                            bias=bias)
    solution = solve(problem)
    result = minimize_lbfgs(problem, (len(n) + 1,) * depth, seed=seed, init_scale=1.0)
    assert result.loss >= solution.loss - 1e-12 * max(abs(solution.loss), 1.0)
