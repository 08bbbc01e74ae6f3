"""The one-direction problem: global optimality, the phase boundary, sharpness."""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from ncsolve.core import scalar

depths = st.integers(min_value=1, max_value=8)
sizes = st.integers(min_value=1, max_value=10**6)
decays = st.floats(min_value=-7, max_value=0).map(lambda e: 10.0**e)


def brute_force_min(sigma: float, N: int, c: float, q: float) -> float:
    """Dense grid on [0, sigma] (the minimizer cannot exceed sigma), then a bounded
    local refinement around the best grid point, and the endpoint 0."""
    grid = np.linspace(0.0, sigma, 40001)
    values = scalar.objective(grid, sigma, N, c, q)
    k = int(np.argmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    refined = minimize_scalar(lambda z: float(scalar.objective(z, sigma, N, c, q)),
                              bounds=(lo, hi), method="bounded", options={"xatol": 1e-13})
    return min(float(values[k]), float(refined.fun), float(scalar.objective(0.0, sigma, N, c, q)))


@settings(max_examples=300, deadline=None)
@given(sizes, st.integers(min_value=1, max_value=10**6), decays, depths)
def test_minimizer_is_global(size, extra, lbar, depth):
    sigma, N = np.sqrt(float(size)), size + extra
    L = depth + 1
    q, c = 2.0 / L, 0.5 * L * lbar
    result = scalar.minimize(np.array([sigma]), N, c, q)
    found = float(scalar.objective(result.z[0], sigma, N, c, q))
    best = brute_force_min(sigma, N, c, q)
    assert found <= best * (1 + 1e-12) + 1e-300
    assert np.isclose(result.residual[0], sigma - result.z[0], rtol=1e-12, atol=1e-12 * sigma)


@settings(max_examples=200, deadline=None)
@given(sizes, st.integers(min_value=1, max_value=10**5), depths)
def test_stationary_point_solves_the_stationarity_equation(size, extra, depth):
    sigma, N = np.sqrt(float(size)), size + extra
    q = 2.0 / (depth + 1)
    Nc = 0.5 * (scalar.phase_boundary(sigma, q) + scalar.existence_boundary(sigma, q) * (q < 1))
    if q == 1.0:
        Nc = 0.5 * sigma
    result = scalar.minimize(np.array([sigma]), N, Nc / N, q)
    z = result.z_local[0]
    assert np.isfinite(z)
    # z^(1-q) (sigma - z) = N c q, the stationarity condition, to rounding
    assert np.isclose(z ** (1 - q) * (sigma - z), Nc * q, rtol=1e-12)
    assert z > (1 - q) / (2 - q) * sigma  # the larger root: a local minimum


@settings(max_examples=200, deadline=None)
@given(sizes, st.integers(min_value=1, max_value=10**5), st.integers(min_value=2, max_value=8))
def test_threshold_is_sharp(size, extra, depth):
    """Just below the phase boundary the direction is kept, just above it collapses,
    and at the boundary the minimizer is reported as a tie (two global minimizers)."""
    sigma, N = np.sqrt(float(size)), size + extra
    q = 2.0 / (depth + 1)
    boundary = float(scalar.phase_boundary(sigma, q))
    below = scalar.minimize(np.array([sigma]), N, boundary * (1 - 1e-9) / N, q)
    above = scalar.minimize(np.array([sigma]), N, boundary * (1 + 1e-9) / N, q)
    at = scalar.minimize(np.array([sigma]), N, boundary / N, q)
    assert below.state[0] == "active" and below.z[0] > 0
    assert above.state[0] == "window" and above.z[0] == 0 and np.isfinite(above.z_local[0])
    assert at.state[0] == "tie"
    # at the boundary both candidates have the same objective
    c = boundary / N
    g0 = scalar.objective(0.0, sigma, N, c, q)
    gz = scalar.objective(at.z_local[0], sigma, N, c, q)
    assert np.isclose(g0, gz, rtol=1e-9)
    # the nonzero minimizer at the boundary is z_c = 2(1-q) sigma / (2-q)
    assert np.isclose(at.z_local[0], 2 * (1 - q) * sigma / (2 - q), rtol=1e-6)


def test_depth_one_is_a_soft_threshold():
    sigma = np.array([3.0, 2.0, 1.0, 0.0])
    result = scalar.minimize(sigma, 10, 0.15, 1.0)
    assert np.allclose(result.z, [1.5, 0.5, 0.0, 0.0])
    assert list(result.state) == ["active", "active", "collapsed", "empty"]


def test_window_between_existence_and_global_thresholds():
    sigma, q, N = 5.0, 0.5, 100
    low, high = scalar.phase_boundary(sigma, q), scalar.existence_boundary(sigma, q)
    assert low < high
    inside = scalar.minimize(np.array([sigma]), N, 0.5 * (low + high) / N, q)
    beyond = scalar.minimize(np.array([sigma]), N, 1.01 * high / N, q)
    assert inside.state[0] == "window"
    assert beyond.state[0] == "collapsed" and np.isnan(beyond.z_local[0])
    g = scalar.objective(inside.z_local[0], sigma, N, 0.5 * (low + high) / N, q)
    assert g > sigma**2 / (2 * N)  # the stationary point is worse than 0


def test_critical_decay_is_where_the_phase_flips():
    sigma = np.sqrt(np.array([500.0, 100.0, 50.0]))
    N, L = 650, 4
    lbar = scalar.critical_decay(sigma, N, L)
    for factor, expected in ((1 - 1e-9, "active"), (1 + 1e-9, "window")):
        result = scalar.minimize(sigma, N, 0.5 * L * lbar * factor, 2 / L)
        assert set(result.state) == {expected}


def previous_minimize(sigma, N, c, q):
    """The root finder this module had before it stopped at the residual's rounding
    level: Newton from v = beta for up to 200 steps, stopping on ``|dv| <= 4 eps v``.
    Kept as the reference of the randomized comparison below (states, z, z_local)."""
    Nc = N * c
    z_local = np.full(sigma.shape, np.nan)
    exists = (sigma > 0) & (Nc <= scalar.existence_boundary(sigma, q))
    beta = Nc * q / sigma[exists] ** (2.0 - q)
    v, target = beta.copy(), np.log(beta)
    for _ in range(200):
        h = (1.0 - q) * np.log1p(-v) + np.log(v) - target
        scaled = 1.0 - (1.0 - q) * v / (1.0 - v)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = -h * v / scaled
        v_new = np.minimum(v + np.where(scaled > 0, step, 0.0), 1.0 - (1.0 - q) / (2.0 - q))
        converged = np.abs(v_new - v) <= 4 * np.finfo(float).eps * v
        v = v_new
        if np.all(converged):
            break
    z_local[exists] = sigma[exists] * (1.0 - v)
    ratio = np.full(sigma.shape, np.inf)
    ratio[sigma > 0] = Nc / scalar.phase_boundary(sigma[sigma > 0], q)
    tie = exists & (np.abs(ratio - 1.0) <= scalar.TIE_TOLERANCE)
    active = exists & (ratio < 1.0) & ~tie
    state = np.where(sigma > 0, "collapsed", "empty").astype(object)
    state[exists], state[active], state[tie] = "window", "active", "tie"
    return np.where(active, z_local, 0.0), z_local, state.astype(str)


def test_matches_the_previous_root_finder():
    """Random problems (sizes 1..1e6, depths 2..50, decays 1e-7..1e-1): the same states,
    z to 1e-15 relative, and z_local to 1e-15 wherever it is well conditioned (N c at
    most 0.9 of the existence boundary; closer, see the next test)."""
    rng = np.random.default_rng(20261201)
    for _ in range(60):
        depth = int(rng.integers(2, 51))
        q, L = 2.0 / (depth + 1), depth + 1
        sigma = np.sqrt(np.round(10 ** rng.uniform(0, 6, int(rng.integers(1, 400)))))
        N = int(np.round(np.sum(sigma**2)))
        c = 0.5 * L * 10 ** rng.uniform(-7, -1)
        z, z_local, state = previous_minimize(sigma, N, c, q)
        new = scalar.minimize(sigma, N, c, q)
        assert new.state.tolist() == state.tolist()
        assert new.iterations <= 8
        active = z > 0
        assert np.all(np.abs(new.z[active] - z[active]) <= 1e-15 * z[active])
        assert np.array_equal(new.z[~active], z[~active])
        assert np.array_equal(np.isnan(new.z_local), np.isnan(z_local))
        calm = np.isfinite(z_local) & (N * c <= 0.9 * scalar.existence_boundary(sigma, q))
        assert np.all(np.abs(new.z_local[calm] - z_local[calm]) <= 1e-15 * z_local[calm])


@pytest.mark.parametrize("depth", [2, 3, 6, 20, 50])
def test_exact_near_the_existence_boundary(depth):
    """Where beta approaches its largest value the root is a double root: Newton from
    afar converges only linearly and z+ is ill-conditioned (dz/dbeta ~ (beta* -
    beta)^(-1/2)). The root finder still needs few passes, and its answer is the
    exact root of a beta within a few ulps: the residual of ``(1-v)^(1-q) v = beta``,
    evaluated in 50 digits at the returned v, is at the rounding level."""
    q = 2.0 / (depth + 1)
    peak = ((1 - q) / (2 - q)) ** (1 - q) / (2 - q)
    beta = peak * (1.0 - np.array([0.5, 1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14,
                                   4e-16, 2e-16, 1.1e-16, 0.0]))
    v, iterations = scalar.gap_root(beta, q)
    assert iterations <= 8
    mp.mp.dps = 50
    qq = mp.mpf(2) / (depth + 1)
    for b, root in zip(beta, v):
        assert 0 < root <= 1 / (2 - q)
        residual = (1 - qq) * mp.log(1 - mp.mpf(root)) + mp.log(mp.mpf(root)) - mp.log(b)
        assert abs(residual) <= 8 * np.finfo(float).eps * (1 + abs(np.log(b)))


def test_root_finder_starts_from_both_ends():
    """Small beta (v close to beta) and beta near the peak both converge in a few
    passes, and an underflowed beta = 0 gives v = 0 (z = sigma) without warnings."""
    q = 2.0 / 7.0
    peak = ((1 - q) / (2 - q)) ** (1 - q) / (2 - q)
    beta = np.concatenate([[0.0, 1e-300, 1e-12], peak * np.geomspace(1e-9, 1.0, 200)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, iterations = scalar.gap_root(beta, q)
    assert v[0] == 0.0 and v[1] == 1e-300
    assert iterations <= 8
    lhs = (1 - v[1:]) ** (1 - q) * v[1:]
    assert np.allclose(lhs, beta[1:], rtol=1e-13)
