"""The cheaper cross-entropy routes (issue 23): depth 1 without the random search when the
dual certificate proves the local answer, warm starts from a nearby problem, stacks evaluated
in bounded chunks, and the refusal of a search too large for memory.

The arbiter is L-BFGS on the full objective from 8 random starts (tests/test_ce_search.py
runs the same comparison at depths 2-4), and for the chunked evaluation a direct
cross-entropy of every scaled pattern computed here."""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve.core.descent import minimize_lbfgs
from ncsolve.core.objective import FullObjective, softmax_cross_entropy
from ncsolve.inputs.problem import Problem, ProblemError
from ncsolve.measure import measure
from ncsolve.solvers import solve
from ncsolve.solvers.crossentropy import budget
from ncsolve.solvers.crossentropy.candidates import _scaled_ce, _normalize, simplex_pattern
from ncsolve.solvers.crossentropy.reduced import ReducedCE
from ncsolve.solvers.crossentropy.solver import WARM_LABEL

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

DEPTH_ONE = [([7, 3, 5, 2], "none", None), ([7, 3, 5, 2], "free", None),
             ([4, 4, 4], "none", None), ([6, 1, 3], "free", (2,))]


def full_best(problem: Problem, starts: int = 8) -> float:
    f = FullObjective(problem)
    return min(minimize_lbfgs(f, seed=s, init_scale=(0.3, 1.0)[s % 2], gtol=1e-10,
                              maxiter=6000, polish=2).loss for s in range(starts))


@pytest.mark.parametrize("n, bias, widths", DEPTH_ONE)
def test_depth_one_is_never_above_eight_full_restarts(n, bias, widths):
    problem = Problem.build(n, 1, 2e-3, 1e-3, bias, "ce", widths)
    answer = solve(problem)
    full = full_best(problem)
    assert answer.loss <= full + 1e-9 * full, (answer.loss, full)
    if widths is None:  # convex: the certificate proves it, and no random start was run
        assert answer.certainty == "proved"
        assert not any(r.start.startswith("random") for r in answer.runs)


def test_a_binding_rank_cap_still_runs_the_search():
    problem = Problem.build([6, 1, 3, 5], 1, 2e-3, 1e-3, "none", "ce", (2,))
    answer = solve(problem)
    assert answer.certainty == "best found"  # the rank cap makes it non-convex
    assert any(r.start.startswith("random") for r in answer.runs)


@pytest.mark.parametrize("bias", ["none", "free"])
def test_a_warm_start_gives_the_cold_answer(bias):
    near = solve(Problem.build([9, 4, 6, 2, 3], 1, 1e-3, 2e-3, bias, "ce"))
    problem = Problem.build([9, 4, 6, 2, 3], 1, 1e-3, 2.5e-3, bias, "ce")
    cold, warm = solve(problem), solve(problem, start=near)
    assert warm.certainty == "proved"
    assert [r.start for r in warm.runs] == [WARM_LABEL]
    assert abs(warm.loss - cold.loss) <= 1e-12 * cold.loss
    np.testing.assert_allclose(warm.feature_norm, cold.feature_norm, rtol=1e-6)
    np.testing.assert_allclose(warm.classifier_norm, cold.classifier_norm, rtol=1e-6)


def test_a_warm_start_at_depth_two_is_one_more_start():
    near = solve(Problem.build([5, 3, 4], 2, 1e-3, 1e-3, "none", "ce"), restarts=4)
    problem = Problem.build([5, 3, 4], 2, 1.2e-3, 1e-3, "none", "ce")
    cold, warm = solve(problem, restarts=4), solve(problem, restarts=4, start=near)
    assert warm.loss <= cold.loss * (1 + 1e-12)
    assert sum(r.start == WARM_LABEL for r in warm.runs) == 2  # one per batch


def test_a_warm_start_must_have_the_same_classes():
    near = solve(Problem.build([5, 3], 1, 1e-3, 1e-3, "none", "ce"))
    with pytest.raises(ProblemError, match="start"):
        solve(Problem.build([5, 3, 2], 1, 1e-3, 1e-3, "none", "ce"), start=near)
    with pytest.raises(ProblemError, match="^start: only used by the cross-entropy"):
        solve(Problem.build([5, 3], 1, 1e-3, 1e-3, "none", "mse"), start=near)
    mse = solve(Problem.build([5, 3], 1, 1e-3, 1e-3, "none", "mse"))
    with pytest.raises(ProblemError, match="^start: a cross-entropy answer with 2 classes"):
        solve(Problem.build([5, 3], 1, 1e-3, 1e-3, "none", "ce"), start=mse)


def test_chunked_scale_grid_is_the_direct_cross_entropy(monkeypatch):
    """Rows of the scale grid evaluated in chunks of 3: each value is CE(a G) computed here."""
    red = ReducedCE(Problem.build([5, 2, 4, 3], 2, 1e-3, 1e-3, "none", "ce"))
    G = np.stack([_normalize(simplex_pattern(4)), _normalize(np.diag([1.0, -1, 1, -1]))])
    a = np.geomspace(0.1, 30.0, 7)[None].repeat(2, axis=0)
    monkeypatch.setattr(budget, "CHUNK_BYTES", 3 * budget.MATRIX_COPIES * 8 * 16)
    assert budget.rows_per_chunk(4) == 3
    values, _ = _scaled_ce(red, G, a, False)
    w = np.array(red.problem.n, float) / sum(red.problem.n)
    for c in range(2):
        for p in range(7):
            direct = softmax_cross_entropy(a[c, p] * G[c], np.arange(4))[0] @ w
            assert values[c, p] == pytest.approx(direct, rel=1e-14)


def test_a_search_too_large_for_memory_is_refused_before_allocation():
    with pytest.raises(ProblemError, match=r"^n \(--n\): .*GiB.*limit 2 GiB"):
        solve(Problem.build([5] * 3000, 3, 1e-3, 1e-3, "none", "ce"))


def test_measure_fits_the_feature_decay_of_a_cross_entropy_minimizer():
    """The warm-started lambda_H fit recovers the decay of an exact depth-1 CE minimizer."""
    n, lambda_w, lambda_h = [12, 9, 6, 4, 3, 2], 1e-3, 2e-3
    answer = solve(Problem.build(n, 1, lambda_w, lambda_h, "none", "ce"))
    H, weights, _ = answer.full_parameters(widths=(8,))
    report = measure(H.T, np.repeat(np.arange(len(n)), n), list(weights), lambda_w=lambda_w,
                     loss="ce").to_dict()
    assert report["lambda_h_fit"]["value"] == pytest.approx(lambda_h, rel=3e-3)
    assert report["lambda_h_fit"]["residual"] < 1e-3


def test_effort_budgets_spend_less_or_more_and_find_the_full_minimum():
    problem = Problem.build([6, 3, 5, 2], 2, 1e-3, 1e-3, "free", "ce")
    answers = {e: solve(problem, effort=e) for e in ("quick", "default", "thorough")}
    runs = [len(answers[e].runs) for e in ("quick", "default", "thorough")]
    assert runs[0] < runs[1] < runs[2]
    assert answers["default"].loss == solve(problem).loss  # the default is today's search
    full = full_best(problem)
    for effort, answer in answers.items():
        assert answer.loss <= full + 1e-7 * full, (effort, answer.loss, full)


def test_effort_is_checked_and_for_cross_entropy_only():
    with pytest.raises(ProblemError, match=r"^effort \(--effort\): must be one of quick"):
        solve(Problem.build([5, 3], 2, 1e-3, 1e-3, "none", "ce"), effort="fast")
    with pytest.raises(ProblemError, match=r"^effort \(--effort\): only used by"):
        solve(Problem.build([5, 3], 2, 1e-3, 1e-3, "none", "mse"), effort="quick")
