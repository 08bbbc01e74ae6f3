"""predict against direct L-BFGS minimization of the full, un-reduced objective.

The closed form must (a) never lie above the best full-problem run (it is a
global minimum), (b) be reached by the best of several random starts to 1e-9
relative in the objective, and (c) agree with that run's class-mean, classifier
and output matrices to 1e-6.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from ncsolve import Problem, predict
from ncsolve.core import scalar
from ncsolve.core.objective import FullObjective

from fullproblem import best_of, class_means, relative_error, run_grams, theory_grams

LOSS_RTOL = 1e-9
GRAM_RTOL = 1e-6

CASES = [
    # (n, depth, lambda_w, lambda_h, bias, widths)
    ((4, 4, 4), 1, 5e-3, 5e-3, "none", None),
    ((4, 4, 4), 3, 5e-3, 5e-3, "none", None),
    ((6, 3, 2), 1, 1e-2, 1e-2, "none", None),
    ((6, 3, 2), 2, 1e-2, 1e-2, "none", None),
    ((6, 3, 2), 4, 4e-3, 4e-3, "none", None),
    ((6, 3, 2), 5, 2e-3, 2e-3, "none", None),
    ((3, 3, 3, 3), 1, 1e-2, 1e-2, "free", None),
    ((3, 3, 3, 3), 3, 5e-3, 5e-3, "free", None),
    ((5, 3, 2, 2), 1, 1e-2, 1e-2, "free", None),
    ((5, 3, 2, 2), 2, 1e-2, 1e-2, "free", None),
    ((7, 4, 2), 4, 3e-3, 3e-3, "free", None),
    ((6, 3, 2), 3, (1e-3, 5e-3, 2e-2), 3e-3, "none", None),
    ((5, 3, 2, 2), 3, (2e-2, 1e-3, 4e-3), 1e-2, "free", None),
    ((6, 4, 3, 2), 2, 5e-3, 5e-3, "none", (2, 3)),
    ((6, 4, 3, 2), 3, 5e-3, 5e-3, "free", (3, 2, 4)),
    ((5, 5, 5), 2, 5e-3, 5e-3, "none", (1, 2)),
]


def _id(case):
    n, depth, lw, lh, bias, widths = case
    return f"n{'-'.join(map(str, n))}_M{depth}_{bias}" + (f"_w{widths}" if widths else "")


@functools.lru_cache(maxsize=None)
def full_reference(case):
    """The closed form and five L-BFGS runs on the full problem of one case, shared by
    every test that checks that case (the runs are the expensive part)."""
    n, depth, lambda_w, lambda_h, bias, widths = case
    solution = predict(n=n, depth=depth, lambda_w=lambda_w, lambda_h=lambda_h,
                       bias=bias, widths=widths)
    runs, best = best_of(solution.problem, widths, seeds=range(5))
    return solution, runs, best


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_closed_form_matches_full_minimization(case):
    n, depth, lambda_w, lambda_h, bias, widths = case
    solution, runs, best = full_reference(case)
    for run in runs:  # a global minimum: no run may go below it
        assert run.loss >= solution.loss * (1 - LOSS_RTOL)
    assert best.loss == pytest.approx(solution.loss, rel=LOSS_RTOL)
    measured, target = run_grams(best), theory_grams(solution)
    if not solution.unique:
        # the minimizer is a family: only its spectrum is determined
        assert widths is not None and "non-unique" in " ".join(solution.notes)
        for name in target:
            got, want = (np.linalg.svd(m, compute_uv=False) for m in (measured[name], target[name]))
            assert relative_error(got, want) < GRAM_RTOL, name
        return
    for name in target:
        assert relative_error(measured[name], target[name]) < GRAM_RTOL, name
    feature_norms = np.sqrt(np.diag(measured["features"]))
    scale = solution.feature_norm.max()
    assert np.allclose(feature_norms, solution.feature_norm, rtol=1e-6, atol=1e-6 * scale)
    if bias == "free":
        assert np.allclose(best.params.b, solution.bias_value, atol=1e-6)


def test_singular_values_of_every_layer_match_the_run():
    solution, _, best = full_reference(((6, 3, 2), 3, (1e-3, 5e-3, 2e-2), 3e-3, "none", None))
    params = best.params
    layers = [params.H, *params.weights]
    for j, matrix in enumerate(layers):
        measured = np.sort(np.linalg.svd(matrix, compute_uv=False))[::-1][: solution.problem.K]
        assert np.allclose(measured, solution.singular_values[:, j], rtol=1e-6, atol=1e-8), j
    for j in range(solution.problem.depth + 1):

        means = class_means(params.layer_features(j), solution.problem.n)
        assert np.allclose(np.linalg.norm(means, axis=0), solution.layer_feature_norms[j],
                           rtol=1e-6, atol=1e-9), j


def _window_problem():
    """A bias-free problem whose smallest class lies strictly inside the window of
    THEORY.md section 3: a nonzero stationary point exists, yet 0 is global."""
    n, depth = np.array([20, 4, 2]), 3
    L, q, N = depth + 1, 2 / (depth + 1), int(n.sum())
    sigma = np.sqrt(2.0)
    low = scalar.phase_boundary(sigma, q) / N  # c at the phase boundary
    high = scalar.existence_boundary(sigma, q) / N  # c where the stationary point vanishes
    lbar = (0.5 * (low + high)) * 2 / L
    return Problem.build(n, depth, lbar, lbar)


def test_phase_window_collapsed_beats_kept_on_the_full_problem():
    problem = _window_problem()
    solution = predict(n=problem.n, depth=3, lambda_w=problem.lambda_w, lambda_h=problem.lambda_h)
    assert list(solution.state) == ["active", "active", "window"]
    assert list(solution.collapsed) == [False, False, True]
    kept = solution.with_z(np.where(np.isnan(solution.z_local), 0.0, solution.z_local))
    assert kept.loss > solution.loss  # the largest-root answer is strictly worse

    objective = FullObjective(problem)
    start_kept = _start_at(objective, kept)
    start_collapsed = _start_at(objective, solution)
    runs, best = best_of(problem, seeds=range(4), x0s=[start_kept, start_collapsed])
    from_kept, from_collapsed = runs[-2], runs[-1]
    # the full problem has a local minimum with the class kept, above the global one
    kept_means = np.linalg.norm(run_grams(from_kept)["features"][2, 2])
    assert kept_means > 1e-3
    assert from_kept.loss == pytest.approx(kept.loss, rel=1e-9)
    assert from_collapsed.loss == pytest.approx(solution.loss, rel=1e-9)
    assert from_collapsed.loss < from_kept.loss
    assert best.loss == pytest.approx(solution.loss, rel=LOSS_RTOL)
    assert run_grams(best)["features"][2, 2] < 1e-12


def _start_at(objective: FullObjective, solution) -> np.ndarray:
    """A point built from the closed form (bias-free, identity directions), slightly
    perturbed so that the optimizer must find its own way to the critical point."""
    p = solution.problem
    K, N = p.K, p.N
    sv = solution.singular_values
    order = np.argsort(-p.n, kind="stable")
    H = np.zeros((objective.widths[0], N))
    labels = np.repeat(np.arange(K), p.n)
    for i, k in enumerate(order):
        H[i, labels == k] = sv[i, 0] / np.sqrt(p.n[k])
    weights = []
    for j, d in enumerate(objective.widths):
        rows = objective.widths[j + 1] if j + 1 < p.depth else K
        W = np.zeros((rows, d))
        for i, k in enumerate(order):
            W[k if j + 1 == p.depth else i, i] = sv[i, j + 1]
        weights.append(W)
    x = objective.pack(H, weights)
    return x + 1e-4 * np.random.default_rng(0).standard_normal(x.size)


def test_tie_at_the_phase_boundary_is_reported_and_real():
    """At the critical decay of the smallest class, keeping it and collapsing it are
    both global: predict says 'non-unique', and the full problem reaches both."""
    probe = predict(n=(20, 4, 2), depth=3)
    decay = float(probe.critical_decay[2])  # geometric-mean decay of the phase boundary
    solution = predict(n=(20, 4, 2), depth=3, lambda_w=decay, lambda_h=decay)
    assert not solution.unique and solution.state[2] == "tie"
    assert any("phase boundary" in note for note in solution.notes)
    kept = solution.with_z(np.where(np.isnan(solution.z_local), 0.0, solution.z_local))
    assert kept.loss == pytest.approx(solution.loss, rel=1e-12)

    objective = FullObjective(solution.problem)
    runs, _ = best_of(solution.problem, seeds=(), x0s=[_start_at(objective, kept),
                                                         _start_at(objective, solution)])
    assert runs[0].loss == pytest.approx(solution.loss, rel=1e-9)
    assert runs[1].loss == pytest.approx(solution.loss, rel=1e-9)
    assert run_grams(runs[0])["features"][2, 2] > 1e-3 > run_grams(runs[1])["features"][2, 2]


def test_a_tie_without_a_free_rank_slot_is_not_a_tie():
    """With width 1 the one slot goes to the largest class, so the smallest class's
    phase-boundary tie cannot be realized: the minimizer is unique again."""
    decay = float(predict(n=(20, 4, 2), depth=3).critical_decay[2])
    capped = predict(n=(20, 4, 2), depth=3, lambda_w=decay, lambda_h=decay, widths=(1, 1, 1))
    assert capped.unique and list(capped.state) == ["active", "capped", "capped"]
    runs, best = best_of(capped.problem, (1, 1, 1), seeds=range(4))
    assert best.loss == pytest.approx(capped.loss, rel=LOSS_RTOL)
    measured, target = run_grams(best), theory_grams(capped)
    for name in target:
        assert relative_error(measured[name], target[name]) < GRAM_RTOL, name
