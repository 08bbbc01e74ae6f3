"""The one-direction problem: global optimality, the phase boundary, sharpness."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from ncsolve import scalar

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
