"""Depth-1 cross-entropy from a nearby answer by Newton steps, and what makes sweeps and
measure's fit cheap (issue 23).

The Hessian and gradient of the factor form are checked against central differences of
the value and gradient computed here; warm answers against a cold solve and against
L-BFGS on the full (unreduced) objective; the bounded one-dimensional search against
scipy's; the per-class sums of a small batch against scipy's sparse product.
"""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve.core.brent import minimize_bounded
from ncsolve.core.descent import minimize_lbfgs
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem
from ncsolve.solvers import solve
from ncsolve.solvers.crossentropy import certificate
from ncsolve.solvers.crossentropy.newton import _Form, newton_polish
from ncsolve.solvers.crossentropy.reduced import ReducedCE
from ncsolve.solvers.crossentropy.solver import WARM_LABEL, newton_runs

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

N = [9, 4, 6, 2, 3]
MINORITY = [40, 20, 6, 1, 1]  # rank 4 at decays 1e-2, 2 at 3e-2, the origin at 1e-1


@pytest.mark.parametrize("bias", ["none", "free"])
def test_hessian_and_gradient_are_the_derivatives_of_the_factor_form(bias):
    red = ReducedCE(Problem.build(N, 1, 2e-3, 1e-3, bias, "ce"))
    form = _Form(red, 4)
    theta = 0.4 * np.random.default_rng(3).standard_normal(form.size)
    value, grad = form.value_grad(theta)
    H = form.hessian(theta)
    h = 1e-5
    fd_grad, fd_hess = np.zeros_like(grad), np.zeros_like(H)
    for j in range(form.size):
        e = np.zeros(form.size)
        e[j] = h
        up, down = form.value_grad(theta + e), form.value_grad(theta - e)
        fd_grad[j] = (up[0] - down[0]) / (2 * h)
        fd_hess[:, j] = (up[1] - down[1]) / (2 * h)
    assert np.abs(fd_grad - grad).max() <= 1e-7 * np.abs(grad).max()
    assert np.abs(fd_hess - H).max() <= 1e-6 * np.abs(H).max()
    np.testing.assert_allclose(H, H.T, atol=1e-14 * np.abs(H).max())
    # the value is the reduced objective at balanced factors of its product
    X, b = form.logits(theta)
    assert value >= red.value(X, b) - 1e-12


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("n, before, after", [
    (N, (1e-3, 1e-3), (1e-3, 2.5e-3)), (N, (1e-3, 2e-3), (1e-3, 1e-3)),
    (N, (1e-3, 5e-4), (1e-3, 2e-2)),
    (MINORITY, (1e-2, 1e-2), (3e-2, 3e-2))])  # the two smallest classes collapse
def test_newton_from_a_nearby_answer_is_proved_and_not_above_the_cold_answer(
        bias, n, before, after):
    near = solve(Problem.build(n, 1, *before, bias, "ce"))
    problem = Problem.build(n, 1, *after, bias, "ce")
    cold = solve(problem)
    runs = newton_runs(ReducedCE(problem), near)
    assert runs is not None and runs[0].start == WARM_LABEL and runs[0].iterations <= 20
    warm = solve(problem, start=near)
    assert [r.start for r in warm.runs] == [WARM_LABEL]
    assert warm.certainty == cold.certainty == "proved"
    assert warm.loss <= cold.loss * (1 + 1e-13)
    assert warm.rank == cold.rank
    f = FullObjective(problem)
    full = min(minimize_lbfgs(f, seed=s, init_scale=(0.3, 1.0)[s % 2], gtol=1e-10,
                              maxiter=6000, polish=2).loss for s in range(2))
    assert warm.loss <= full * (1 + 1e-9)


def test_newton_reaches_the_minimum_to_rounding():
    problem = Problem.build(N, 1, 1e-3, 2e-3, "none", "ce")
    red = ReducedCE(problem)
    cold = solve(problem)
    start = cold.logits + 0.05 * np.random.default_rng(0).standard_normal(cold.logits.shape)
    X, _, steps = newton_polish(red, start - start.mean(axis=0), None, red.K)
    X = X - X.mean(axis=0)
    value = red.value(X)
    gap = value - certificate.dual_bound(red, X)
    assert 0 < steps < 30
    assert gap <= min(1e-9 * value, cold.duality_gap)  # tighter than the cold answer's proof
    assert value <= cold.loss * (1 + 1e-14)


def test_a_start_of_too_low_a_rank_is_not_proved_so_the_search_runs():
    # the nearby answer collapsed the minority classes; here they are alive
    near = solve(Problem.build(MINORITY, 1, 3e-2, 3e-2, "none", "ce"))
    problem = Problem.build(MINORITY, 1, 1e-2, 1e-2, "none", "ce")
    cold = solve(problem)
    assert near.rank < cold.rank
    assert newton_runs(ReducedCE(problem), near) is None
    warm = solve(problem, start=near)
    assert warm.certainty == "proved" and warm.loss <= cold.loss * (1 + 1e-13)


def test_the_bounded_search_takes_the_steps_of_scipys():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(1)
    for _ in range(60):
        c = rng.standard_normal(4)

        def f(x, c=c):
            return float(np.sin(3 * c[0] * x) + c[1] * x * x + c[2] * abs(x - c[3]))

        lo, hi = sorted(rng.uniform(-3, 3, 2))
        tol = 10 ** rng.uniform(-8, -2)
        theirs = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": tol})
        assert minimize_bounded(f, lo, hi, tol) == (theirs.x, theirs.fun)


def test_small_batches_are_summed_per_class_like_the_sparse_product():
    from scipy.sparse import csr_matrix

    from ncsolve.measure.stream import _Indicator

    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 7)) * 10.0 ** rng.uniform(-3, 3, (300, 1))
    labels = rng.integers(0, 5, 300)
    sparse = csr_matrix((np.ones(300), (labels, np.arange(300))), shape=(5, 300))
    mine = _Indicator(labels, 5)
    assert np.array_equal(mine @ X, sparse @ X)
    assert np.array_equal(mine @ X[:, 0], sparse @ X[:, 0])
