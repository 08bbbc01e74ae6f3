"""The stacked L-BFGS of ncsolve.core.lbfgs on problems whose minima are known in closed form."""

import numpy as np
import pytest

from ncsolve.core.lbfgs import minimize, minimize_stack, row_by_row


def _spd(rng, n, condition):
    """A random symmetric positive definite matrix with the given condition number."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.geomspace(1.0, condition, n)) @ Q.T


def _quadratic(A, b, scale=1.0):
    """scale * (x A x / 2 - b x) on a stack; its minimum is A^-1 b (negative value)."""

    def fun(x):
        Ax = x @ A
        return scale * (0.5 * np.einsum("ij,ij->i", x, Ax) - x @ b), scale * (Ax - b)

    return fun


def _centred(A, centre, scale=1.0):
    """scale * (x - c) A (x - c) / 2 on a stack; minimum 0 at c."""

    def fun(x):
        r = (x - centre) @ A
        return scale * 0.5 * np.einsum("ij,ij->i", x - centre, r), scale * r

    return fun


def _rosenbrock(x):
    """The n-dimensional Rosenbrock function on a stack; minimum 0 at (1, ..., 1)."""
    a, b = x[:, :-1], x[:, 1:]
    value = np.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2, axis=1)
    grad = np.zeros_like(x)
    grad[:, :-1] = -400.0 * a * (b - a**2) - 2.0 * (1.0 - a)
    grad[:, 1:] += 200.0 * (b - a**2)
    return value, grad


@pytest.mark.parametrize("seed, n, condition", [(0, 5, 10.0), (1, 12, 1e3), (2, 30, 1e5)])
def test_stacked_quadratics_reach_their_centre(seed, n, condition):
    """(x - c) A (x - c) / 2 with random SPD A: the gradient test is met, x = c to 1e-10."""
    rng = np.random.default_rng(seed)
    A, centre = _spd(rng, n, condition), rng.standard_normal(n)
    x0 = 10.0 * rng.standard_normal((6, n))
    end = minimize_stack(_centred(A, centre), x0, 5000, 1e-10, ftol=0.0)
    assert np.all(end.converged) and end.stop == ("gradient",) * 6
    assert np.abs(end.x - centre).max() < 1e-10


@pytest.mark.parametrize("seed, n, condition", [(3, 6, 10.0), (4, 12, 1e3)])
def test_stacked_quadratics_reach_the_minimum_value(seed, n, condition):
    """x A x / 2 - b x: the minimum -b A^-1 b / 2 (from a linear solve) to 1e-13 relative;
    the value's rounding stops the search before the gradient test (not converged)."""
    rng = np.random.default_rng(seed)
    A, b = _spd(rng, n, condition), rng.standard_normal(n)
    exact = np.linalg.solve(A, b)
    end = minimize_stack(_quadratic(A, b), 10.0 * rng.standard_normal((6, n)), 5000, 1e-14)
    assert np.allclose(end.value, -0.5 * b @ exact, rtol=1e-13, atol=0)
    assert np.abs(end.x - exact).max() < 1e-6
    assert not end.converged.any() and set(end.stop) <= {"line search", "decrease"}


def test_rosenbrock_from_several_starts_reaches_the_ones():
    """In three dimensions Rosenbrock's only minimum is (1, 1, 1)."""
    rng = np.random.default_rng(3)
    x0 = np.vstack([[-1.2, 1.0, -1.2], rng.uniform(-2.0, 2.0, (7, 3))])
    end = minimize_stack(_rosenbrock, x0, 5000, 1e-10, ftol=0.0)
    assert np.all(end.converged) and end.stop == ("gradient",) * 8
    assert np.abs(end.x - 1.0).max() < 1e-9
    assert np.all(end.value < 1e-20)


def test_each_row_is_the_run_from_that_start_alone():
    """Up to rounding (a stack of one multiplies its pair matrices with BLAS, a larger
    stack with numpy's own loop): the same steps, end points and reasons."""
    rng = np.random.default_rng(4)
    x0 = rng.uniform(-2.0, 2.0, (6, 3))
    stacked = minimize_stack(_rosenbrock, x0, 3000, 1e-10, ftol=0.0)
    for i, start in enumerate(x0):
        alone = minimize(lambda x: (float(_rosenbrock(x[None])[0][0]), _rosenbrock(x[None])[1][0]),
                         start, 3000, 1e-10, ftol=0.0)
        assert np.allclose(alone.x[0], stacked.x[i], rtol=0, atol=1e-10)
        assert abs(alone.value[0] - stacked.value[i]) <= 1e-20
        assert abs(int(alone.iterations[0]) - int(stacked.iterations[i])) <= 2
        assert alone.stop[0] == stacked.stop[i] == "gradient"


def test_result_reports_the_objective_and_gradient_at_the_end_point():
    """Values and gradient norms recomputed from the end points, converged iff the test holds."""
    rng = np.random.default_rng(5)
    x0 = rng.uniform(-2.0, 2.0, (4, 3))
    for maxiter in (3, 30, 3000):
        end = minimize_stack(_rosenbrock, x0, maxiter, 1e-9)
        value, grad = _rosenbrock(end.x)
        assert np.array_equal(end.value, value)
        assert np.allclose(end.gradient, np.abs(grad).max(axis=1), rtol=1e-12, atol=0)
        unit = np.minimum(1.0, _rosenbrock(x0)[0])
        assert np.array_equal(end.converged, np.abs(grad).max(axis=1) <= 1e-9 * unit)
        assert np.all(end.iterations <= maxiter)
    short = minimize_stack(_rosenbrock, x0, 3, 1e-9)
    assert not short.converged.any() and short.stop == ("iterations",) * 4
    assert np.all(short.iterations == 3)


def test_a_start_at_the_minimum_does_not_move_and_is_converged():
    end = minimize_stack(_rosenbrock, np.ones((2, 3)), 100, 1e-12)
    assert np.array_equal(end.x, np.ones((2, 3))) and np.all(end.iterations == 0)
    assert np.all(end.converged) and end.stop == ("gradient", "gradient")


def test_a_kink_is_not_reported_as_converged():
    """|x_1 - 1/3| + 2 |x_2 + 0.7| with a subgradient of norm >= 1 everywhere: no start may
    claim convergence, though all get close to the minimum."""
    centre, weight = np.array([1 / 3, -0.7]), np.array([1.0, 2.0])

    def fun(x):
        return np.abs(x - centre) @ weight, np.where(x >= centre, weight, -weight)

    end = minimize_stack(fun, np.array([[3.0, -2.0], [0.5, 4.0], [-1.0, 0.0]]), 500, 1e-8)
    assert not end.converged.any() and np.all(end.gradient >= 1.0)
    assert set(end.stop) <= {"line search", "decrease", "iterations"}
    assert np.all(end.value < 1e-6)


def test_a_non_finite_start_is_not_run():
    def fun(x):
        value = np.sum(x**2, axis=1)
        value[x[:, 0] > 1e3] = np.inf
        return value, 2.0 * x

    x0 = np.array([[1e4, 1.0], [1.0, 2.0]])
    end = minimize_stack(fun, x0, 100, 1e-10)
    assert np.array_equal(end.x[0], x0[0]) and end.stop[0] == "not finite"
    assert not end.converged[0] and end.converged[1] and np.abs(end.x[1]).max() < 1e-9


def test_tolerances_are_relative_to_the_starting_value():
    """The same quadratic scaled by 1e-290 (starting values below 1, so both are divided by
    them) ends at the same point, with the gradient test met."""
    rng = np.random.default_rng(6)
    A, centre = _spd(rng, 8, 1e2), rng.standard_normal(8)
    x0 = centre + 0.02 * rng.standard_normal((3, 8))
    assert np.all(_centred(A, centre)(x0)[0] < 1.0)
    plain, tiny = (minimize_stack(_centred(A, centre, scale), x0, 1000, 1e-10, ftol=0.0)
                   for scale in (1.0, 1e-290))
    assert np.all(plain.converged) and np.all(tiny.converged)
    assert np.abs(tiny.x - centre).max() < 1e-10 and np.abs(tiny.x - plain.x).max() < 1e-12
    assert np.all(tiny.gradient < 1e-300)


def test_patience_waits_for_several_stalled_steps():
    """With a huge ftol one step stalls a start; with patience 3 it takes at least three."""
    rng = np.random.default_rng(7)
    x0 = rng.uniform(-2.0, 2.0, (3, 4))
    one = minimize_stack(_rosenbrock, x0, 1000, 0.0, ftol=1e9)
    three = minimize_stack(_rosenbrock, x0, 1000, 0.0, ftol=1e9, patience=3)
    assert np.all(one.iterations == 1) and one.stop == ("decrease",) * 3
    assert np.all(three.iterations == 3) and three.stop == ("decrease",) * 3


def test_row_by_row_stacks_a_single_point_objective():
    calls = []

    def one(x):
        calls.append(x.copy())
        return float(np.sum((x - 2.0) ** 2)), 2.0 * (x - 2.0)

    values, grads = row_by_row(one)(np.array([[0.0, 1.0], [2.0, 2.0]]))
    assert np.array_equal(values, [5.0, 0.0]) and np.array_equal(grads, [[-4.0, -2.0], [0, 0]])
    assert len(calls) == 2


def test_indexed_rows_are_different_problems():
    """One function per start (each its own quadratic): every row reaches its own centre,
    every function sees only its own start's points, and a row equals the run alone."""
    rng = np.random.default_rng(8)
    problems = [(_spd(rng, 5, 10.0 ** k), rng.standard_normal(5)) for k in range(4)]
    seen = [[] for _ in problems]

    def single(i):
        A, centre = problems[i]

        def fun(x):
            seen[i].append(x.copy())
            value, grad = _centred(A, centre)(x[None])
            return float(value[0]), grad[0]

        return fun

    x0 = rng.standard_normal((4, 5))
    end = minimize_stack(row_by_row([single(i) for i in range(4)]), x0, 2000, 1e-10,
                         ftol=0.0, indexed=True)
    assert np.all(end.converged)
    for i, (A, centre) in enumerate(problems):
        assert np.abs(end.x[i] - centre).max() < 1e-9
        assert np.array_equal(seen[i][0], x0[i]) and len(seen[i]) >= end.iterations[i]
        alone = minimize(single(i), x0[i], 2000, 1e-10, ftol=0.0)
        assert np.allclose(alone.x[0], end.x[i], rtol=0, atol=1e-12)
        assert alone.stop[0] == end.stop[i]


def test_a_unit_first_step_with_halving_is_taken_as_asked():
    """first_step sets the length of the first trial, interpolate=False halves it: on
    f(x) = |x|^2 / 2 from (3, 4) the trials are the points at distance 1, 1/2, ... from
    the start along -x, and the run still reaches the minimum."""
    seen = []

    def fun(x):
        seen.append(np.array(x[0]))
        return 0.5 * np.sum(x**2, axis=1), x.copy()

    x0 = np.array([[3.0, 4.0]])
    end = minimize_stack(fun, x0, 200, 1e-12, first_step=1.0, interpolate=False)
    assert np.isclose(np.linalg.norm(seen[1] - x0[0]), 1.0, rtol=1e-14)
    assert np.allclose(end.x, 0.0, atol=1e-10) and end.converged.all()
