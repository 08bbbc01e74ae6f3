"""Nonnegative features (H >= 0) against bounded minimization of the full problem.

Must show (issue 21): on 36 cases (balanced and imbalanced; MSE bias none, free,
regularized; CE bias none, free; depths 1-3) the answer is never above the best
bounded full-problem run by more than 1e-7 relative, and equal to it within 1e-9
where a closed form is proved. The default run checks a few; ``-m slow`` all.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from nonnegative_full import bounded_runs, class_mean_norms
from ncsolve import predict
from ncsolve.inputs.problem import Problem, ProblemError
from ncsolve.solvers.nonnegative.reduced import ClassMeanObjective
from ncsolve.solvers.nonnegative.search import search_widths

PROVED_RTOL = 1e-9
SEARCHED_RTOL = 1e-7

# (n, depth, loss, bias, decay): proved cases first
PROVED = [
    ([3, 3, 3], 1, "mse", "none", 5e-3), ([5, 3, 2], 1, "mse", "none", 5e-3),
    ([4, 4], 2, "mse", "none", 1e-2), ([5, 3, 1], 2, "mse", "none", 5e-3),
    ([3, 3, 3], 3, "mse", "none", 5e-3), ([6, 3, 2, 1], 3, "mse", "none", 2e-3),
    ([3, 3, 3], 1, "ce", "none", 5e-3), ([6, 3, 2], 1, "ce", "none", 5e-3),
    ([8, 4, 2, 1], 1, "ce", "none", 2e-2), ([5, 5], 1, "ce", "none", 5e-2),
    ([4, 4, 4, 4], 1, "ce", "none", 1e-2), ([7, 2, 1], 1, "ce", "none", 3e-2),
]
SEARCHED = [
    ([3, 3, 3], 1, "mse", "free", 5e-3), ([6, 3, 2], 1, "mse", "free", 5e-3),
    ([4, 4], 2, "mse", "free", 5e-3), ([5, 3, 1], 2, "mse", "free", 5e-3),
    ([3, 3, 3], 3, "mse", "free", 2e-3), ([4, 2, 1], 3, "mse", "free", 2e-3),
    ([3, 3, 3], 1, "mse", "regularized", 5e-3), ([6, 3, 2], 1, "mse", "regularized", 5e-3),
    ([4, 4, 4], 2, "mse", "regularized", 5e-3), ([5, 3, 1], 3, "mse", "regularized", 2e-3),
    ([3, 3, 3], 1, "ce", "free", 5e-3), ([6, 3, 2], 1, "ce", "free", 5e-3),
    ([4, 4], 2, "ce", "free", 5e-3), ([5, 3, 1], 2, "ce", "free", 5e-3),
    ([3, 3, 3], 3, "ce", "free", 5e-3), ([3, 3, 3], 2, "ce", "none", 5e-3),
    ([6, 3, 2], 2, "ce", "none", 5e-3), ([4, 4, 4], 3, "ce", "none", 5e-3),
    ([5, 2, 1], 3, "ce", "none", 5e-3), ([4, 2, 2, 1], 2, "ce", "none", 1e-2),
    ([3, 3, 3], 1, "ce", "none", 5e-3, (2,)), ([4, 4, 4, 4], 2, "mse", "free", 5e-3),
    ([5, 5, 2], 1, "ce", "regularized", 5e-3), ([4, 3], 2, "mse", "regularized", 1e-2),
]
DEFAULT = {0, 7, 13, 27}  # indices into PROVED + SEARCHED checked in the default run


def build(n, depth, loss, bias, decay, widths=None):
    lambda_b = decay if bias == "regularized" else None
    return dict(n=n, depth=depth, loss=loss, bias=bias, lambda_w=decay, lambda_h=decay,
                lambda_b=lambda_b, widths=widths, features="nonnegative")


def _param(case, i):
    marks = [] if i in DEFAULT else [pytest.mark.slow]
    return pytest.param(case, id=f"{case[2]}-{case[3]}-d{case[1]}-{case[0]}", marks=marks)


@pytest.mark.parametrize("case", [_param(c, i) for i, c in enumerate(PROVED + SEARCHED)])
def test_against_bounded_full_problem(case):
    n, depth, loss, bias, decay, *rest = case
    params = build(n, depth, loss, bias, decay, *rest)
    answer = predict(**params)
    problem = Problem.build(**{k: v for k, v in params.items()})
    widths = tuple(rest[0]) if rest else (2 * len(n) + 1,) + (len(n) + 1,) * (depth - 1)
    ends = bounded_runs(problem, widths, points=_points(answer))
    random_best = min(loss for loss, _ in ends[:-1]) if _points(answer) else None
    best = min(loss for loss, _ in ends)
    assert answer.loss <= best * (1 + SEARCHED_RTOL), (answer.loss, best)
    if answer.certainty in ("exact", "proved"):
        assert abs(answer.loss - best) <= PROVED_RTOL * best, (answer.loss, best)
        if random_best is not None:  # random nonnegative starts reach it too
            assert abs(answer.loss - random_best) <= PROVED_RTOL * best
    else:
        assert answer.certainty == "best found"


def _points(answer):
    point = getattr(answer, "point", None)
    return () if point is None else (point,)


def test_coverage_of_the_case_list():
    cases = PROVED + SEARCHED
    assert len(cases) >= 30
    kinds = {(c[2], c[3]) for c in cases}
    assert kinds >= {("mse", "none"), ("mse", "free"), ("mse", "regularized"), ("ce", "none"),
                     ("ce", "free")}
    assert {c[1] for c in cases} == {1, 2, 3}
    assert any(len(set(c[0])) == 1 for c in cases) and any(len(set(c[0])) > 1 for c in cases)


def test_bias_free_mse_is_the_unconstrained_answer():
    free = predict([5, 3, 1], depth=2, lambda_w=5e-3, lambda_h=5e-3)
    relu = predict([5, 3, 1], depth=2, lambda_w=5e-3, lambda_h=5e-3, features="nonnegative")
    assert relu.loss == free.loss and relu.certainty == "exact"
    assert any("does not bind" in note for note in relu.notes)
    assert relu.to_dict()["problem"]["features"] == "nonnegative"
    assert "features" not in free.to_dict()["problem"]  # the old JSON, unchanged
    gram = free.gram_features()
    assert np.allclose(gram, np.diag(np.diag(gram)), atol=1e-14)  # orthogonal: fits on axes


def _ce_closed_form_by_hand(n, lam):
    """The depth-1 closed form written out independently: per class, minimize the
    scalar (n_k/N) log(1 + (K-1) e^(-p)) + beta_k p on a fine grid plus bisection."""
    n = np.asarray(n, float)
    K, N = n.size, n.sum()
    total = 0.0
    for nk in n:
        beta = math.sqrt(lam * lam * nk * (K - 1) / K)
        def slope(p):
            return -(nk / N) * (K - 1) * math.exp(-p) / (1 + (K - 1) * math.exp(-p)) + beta
        lo, hi = 0.0, 60.0
        if slope(lo) >= 0:
            p = 0.0
        else:
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
            p = 0.5 * (lo + hi)
        total += (nk / N) * math.log1p((K - 1) * math.exp(-p)) + beta * p
    return total


def test_ce_closed_form_equals_the_scalar_problems():
    for n, lam in (([6, 3, 2], 5e-3), ([8, 4, 2, 1], 2e-2), ([50, 10, 5], 1e-3)):
        answer = predict(n, loss="ce", lambda_w=lam, lambda_h=lam, features="nonnegative")
        assert answer.certainty == "proved"
        assert abs(answer.loss - _ce_closed_form_by_hand(n, lam)) <= 1e-13 * answer.loss
        gram = answer.gram_features()
        assert np.allclose(gram, np.diag(np.diag(gram)), atol=1e-15)


THRESHOLD_N = [6, 3, 2]  # K = 3, N = 11: class 2 collapses at lbar = sqrt(2 * 2/3) / 11


@pytest.mark.parametrize("factor,collapsed", [(0.95, False), (1.05, True)])
def test_minority_threshold_by_descent(factor, collapsed):
    K, N = 3, 11
    critical = math.sqrt(THRESHOLD_N[-1] * (K - 1) / K) / N  # 0.104973
    answer = predict(THRESHOLD_N, loss="ce", lambda_w=critical, lambda_h=critical,
                     features="nonnegative")
    assert answer.critical_decay[-1] == pytest.approx(critical, rel=1e-15)
    lam = critical * factor
    params = build(THRESHOLD_N, 1, "ce", "none", lam)
    answer = predict(**params)
    ends = bounded_runs(Problem.build(**params), (4,), seeds=range(10))  # saddles: restarts
    loss, best = min(ends, key=lambda e: e[0])
    norms = class_mean_norms(best, THRESHOLD_N)
    assert bool(answer.collapsed[-1]) is collapsed
    assert not answer.collapsed[0] and not answer.collapsed[1]
    assert abs(answer.loss - loss) <= PROVED_RTOL * loss
    smallest = norms[-1] / norms.max()
    assert (smallest < 1e-6) if collapsed else (smallest > 1e-2)


def test_global_collapse_threshold():
    K, N = 3, 11
    critical = math.sqrt(6 * (K - 1) / K) / N  # the largest class: every mean is zero above
    above = predict(THRESHOLD_N, loss="ce", lambda_w=critical * 1.01, lambda_h=critical * 1.01,
                    features="nonnegative")
    assert above.collapsed.all() and above.loss == pytest.approx(math.log(3), rel=1e-15)
    below = predict(THRESHOLD_N, loss="ce", lambda_w=critical * 0.99, lambda_h=critical * 0.99,
                    features="nonnegative")
    assert not below.collapsed[0] and below.collapsed[1:].all()


def test_class_mean_gradient_matches_finite_differences():
    problem = Problem.build([4, 2, 1], 2, 1e-2, 1e-2, "regularized", "ce", lambda_b=0.1,
                            features="nonnegative")
    f = ClassMeanObjective(problem, search_widths(problem))
    x = np.abs(np.random.default_rng(3).standard_normal(f.size))
    value, grad = f(x)
    step = 1e-6
    for i in np.random.default_rng(4).choice(f.size, 12, replace=False):
        e = np.zeros(f.size)
        e[i] = step
        fd = (f(x + e)[0] - f(x - e)[0]) / (2 * step)
        assert abs(fd - grad[i]) <= 1e-7 * max(1.0, abs(grad[i]))


def test_bad_input():
    with pytest.raises(ProblemError, match="features"):
        predict([3, 2], features="relu")
    with pytest.raises(ProblemError, match="precision"):
        predict([3, 2], loss="ce", features="nonnegative", precision=20)
    with pytest.raises(ProblemError, match="restarts"):
        predict([3, 2], loss="ce", features="nonnegative", restarts=3)


def test_cli_json_and_error():
    cmd = [sys.executable, "-m", "ncsolve", "predict", "--n", "6,3,2", "--loss", "ce",
           "--features", "nonnegative", "--lambda-w", "5e-3", "--lambda-h", "5e-3", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    data = json.loads(done.stdout)
    assert data["features"] == "nonnegative" and data["certainty"] == "proved"
    assert data["loss"] == pytest.approx(_ce_closed_form_by_hand([6, 3, 2], 5e-3), rel=1e-13)
    bad = subprocess.run(cmd[:6] + ["--features", "relu"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "--features" in bad.stderr


@pytest.mark.parametrize("n,depth,loss", [([4, 4, 4], 1, "mse"), ([3, 3, 3, 3], 3, "mse"),
                                          ([5, 5], 2, "mse"), ([4, 4, 4], 1, "ce")])
def test_balanced_free_bias_is_the_unconstrained_answer_at_a_larger_feature_decay(n, depth,
                                                                                  loss):
    """The lower bound sum ||hbar_k||^2 >= K/(K-1) sum ||hbar_k - mean||^2 (nonnegative
    means), attained by orthogonal means: the answer is the unconstrained one at
    lambda_H K/(K-1), and its means are orthogonal with equal lengths."""
    K, lam = len(n), 5e-3
    relu = predict(n, depth=depth, lambda_w=lam, lambda_h=lam, bias="free", loss=loss,
                   features="nonnegative")
    bound = predict(n, depth=depth, lambda_w=lam, lambda_h=lam * K / (K - 1), bias="free",
                    loss=loss)
    assert relu.certainty == "proved"
    assert abs(relu.loss - bound.loss) <= 1e-13 * bound.loss
    gram = relu.gram_features()
    assert np.allclose(gram, gram[0, 0] * np.eye(K), atol=1e-14 * gram[0, 0])
    assert np.all(relu.point.means >= 0)


def test_verify_runs_bounded_descent_from_random_starts_and_the_answer():
    from ncsolve.verify import verify

    problem = Problem.build([6, 3, 2], 1, 5e-3, 5e-3, loss="ce", features="nonnegative")
    report = verify(problem, widths=(4,), restarts=2, init_scale=1.0)
    seeds = [run.seed for run in report.runs]
    assert seeds == [0, 1, None]  # None: the run started from the answer
    best = report.runs[report.best]
    assert best.status == "global" and not any(run.beats_theory for run in report.runs)
    assert abs(best.loss - report.solution.loss) <= 1e-12 * best.loss
    for run in report.runs:  # no bounded run goes below the proved minimum
        assert run.loss >= report.solution.loss * (1 - 1e-12)


def test_verify_cli_refuses_unbounded_methods():
    cmd = [sys.executable, "-m", "ncsolve", "verify", "--n", "3,2", "--features", "nonnegative",
           "--method", "gd"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == "" and "--method" in done.stderr


def test_precision_passes_through_where_the_constraint_does_not_bind():
    exact = predict([5, 3, 1], depth=2, precision=20)
    relu = predict([5, 3, 1], depth=2, precision=20, features="nonnegative")
    assert relu.loss == exact.loss and relu.to_dict()["problem"]["features"] == "nonnegative"
