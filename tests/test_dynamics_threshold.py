"""Thresholds and ends of the flow with unequal decays, against an independent integration.

The reference here integrates the RAW per-direction ODE (singular values s_j themselves,
not their logs; scipy's Radau, relative tolerance 1e-11) from 1 -+ 1e-4 times each
threshold, and reads the end off the state: z far below the saddle's z or near z_plus.
The saddle's z is solved here with mpmath, not with ncsolve's root. The decay ratios
run from 0.3 to 5e-5 (the issue's lambda_h = 1e-8 against lambda_w = 5e-4), through
both searches: the separatrix (two distinct decays) and the bisection (more).
"""

from __future__ import annotations

import subprocess
import sys
import time

import mpmath
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from ncsolve import ProblemError, dynamics
from ncsolve.core import scalar
from ncsolve.solvers.dynamics import flow
from ncsolve.solvers.dynamics.solver import directions_of

# (n, depth, lambda_w, lambda_h): lambda_h / lambda_w = 0.3, 0.01, 1e-4, 2e-5, and three
# distinct decays (bisection)
SLOW = pytest.mark.slow
CASES = [
    ([8, 4, 2], 2, 0.05, 0.015),
    pytest.param(([8, 4, 2], 3, 0.03, 3e-4), marks=SLOW),
    pytest.param(([20, 5], 2, 0.01, 1e-6), marks=SLOW),
    ([12570, 55096], 2, 5e-4, 1e-8),
    pytest.param(([8, 4, 2], 3, [0.01, 0.05, 0.02], 0.03), marks=SLOW),
]


def _z_low(sigma, N, decays):
    """The saddle's z: the smaller root of (sigma - z) z^(1 - 2/L) = N lbar, in mpmath."""
    mpmath.mp.dps = 40
    L = len(decays)
    lbar = mpmath.exp(mpmath.fsum(mpmath.log(d) for d in decays) / L)
    peak = sigma * (1 - mpmath.mpf(2) / L) / (2 - mpmath.mpf(2) / L)

    def k(u):  # in log z, increasing on the left of the peak
        z = mpmath.exp(u)
        return (1 - mpmath.mpf(2) / L) * u + mpmath.log(sigma - z) - mpmath.log(N * lbar)

    low = mpmath.log(N * lbar / sigma) * L / (L - 2) - 10
    return mpmath.exp(mpmath.findroot(k, (low, mpmath.log(peak)), solver="anderson"))


def _raw_end(sigma, N, decays, s0, z_low, z_plus):
    """Where the raw ODE ds_j/dt = -(z - sigma) z / (N s_j) - lambda_j s_j goes."""
    decays = np.asarray(decays, dtype=float)

    def rhs(t, s):
        z = np.prod(s)
        return -(z - sigma) * z / (N * s) - decays * s

    def jac(t, s):
        z = np.prod(s)
        J = -np.outer(1.0 / s, (2.0 * z - sigma) * z / s) / N
        return J + np.diag((z - sigma) * z / (N * s**2) - decays)

    def collapsed(t, s):
        return np.prod(s) - 1e-3 * z_low

    def learned(t, s):
        return np.prod(s) - 0.9 * z_plus

    collapsed.terminal = learned.terminal = True
    solution = solve_ivp(rhs, (0.0, 1e12), s0, method="Radau", rtol=1e-11, atol=1e-300,
                         jac=jac, events=[collapsed, learned])
    assert solution.status == 1, solution.message  # one of the two ends was reached
    return "zero" if solution.t_events[0].size else "plus"


@pytest.mark.parametrize("case", CASES, ids=["0.3", "0.01", "1e-4", "2e-5", "three"])
def test_threshold_separates_the_ends_of_the_raw_flow(case):
    n, depth, lw, lh = case
    result = dynamics(n, depth=depth, lambda_w=lw, lambda_h=lh)
    assert not result.flow.threshold_exact
    two = len({lh, *np.atleast_1d(lw)}) == 2
    assert result.flow.threshold_method == ("separatrix of the flow" if two
                                            else "bisection of the flow")
    decays = [lh, *np.broadcast_to(lw, (depth,))]
    for i in range(len(n)):
        threshold, sigma = result.flow.init_threshold[i], result.sigma[i]
        z_low = float(_z_low(sigma, result.problem.N, decays))
        assert threshold ** (depth + 1) > z_low  # below the saddle's z every start collapses
        for factor, end in ((1 - 1e-4, "zero"), (1 + 1e-4, "plus")):
            s0 = np.full(depth + 1, factor * threshold)
            assert _raw_end(sigma, result.problem.N, decays, s0, z_low,
                            result.z_local[i]) == end, (i, factor)


def test_decided_end_is_the_end_of_the_raw_flow_for_unbalanced_starts():
    """The energy decision (F below the saddle's value) against the raw flow."""
    result = dynamics([20, 5], depth=2, lambda_w=0.01, lambda_h=1e-4)
    direction = directions_of(result)[0]
    z_low = float(_z_low(direction.sigma, direction.N, direction.decays))
    rng = np.random.default_rng(3)
    ends = set()
    threshold = result.flow.init_threshold[0]
    for _ in range(6):
        s0 = threshold * np.exp(rng.uniform(-0.4, 0.4, size=3))
        run = flow.run(direction, s0, times_needed=False)
        assert run.end == _raw_end(direction.sigma, direction.N, direction.decays, s0, z_low,
                                   direction.z_plus)
        ends.add(run.end)
    assert ends == {"zero", "plus"}  # both ends were met


def test_excess_is_the_objective_above_the_saddle():
    """excess < 0 exactly when F(s) - F(0) < F(saddle) - F(0), here in mpmath."""
    direction = flow.Direction(3.0, 20, np.array([1e-3, 0.05, 0.05]), np.nan)
    direction = flow.Direction(3.0, 20, direction.decays,
                               float(dynamics([14, 6], depth=2, lambda_w=0.05,
                                              lambda_h=1e-3).z_local[0]))
    mpmath.mp.dps = 40
    z_low = _z_low(3.0, 20, direction.decays)
    L, lbar = 3, mpmath.exp(mpmath.fsum(mpmath.log(d) for d in direction.decays) / 3)
    saddle = (z_low - 3) ** 2 / 40 + L * lbar * z_low ** (mpmath.mpf(2) / L) / 2
    rng = np.random.default_rng(0)
    signs = set()
    for _ in range(200):
        y = rng.uniform(-4.0, 2.0, size=3)
        s = [mpmath.exp(mpmath.mpf(v)) for v in y]
        z = s[0] * s[1] * s[2]
        F = (z - 3) ** 2 / 40 + mpmath.fsum(d * v ** 2 for d, v in zip(direction.decays, s)) / 2
        expected = F < saddle
        assert (direction.excess(y) < 0) == expected
        signs.add(expected)
    assert signs == {True, False}


def test_log_low_root_agrees_with_low_root_and_reaches_below_float64():
    for sigma, N, lbar, L in [(10.0, 180, 5e-3, 4), (234.7, 76458, 1.357e-5, 3)]:
        expected = scalar.low_root(np.array([sigma]), N, lbar, 2 / L)[0]
        assert scalar.log_low_root(sigma, N, np.log(lbar), 2 / L) == pytest.approx(
            np.log(expected), rel=1e-13)
    # lbar of (1e-320 * 5e-4^2)^(1/3): z_low about e^-763, below every float64
    decays = [1e-320, 5e-4, 5e-4]
    log_lbar = float(np.mean(np.log(decays)))
    got = scalar.log_low_root(2.0, 8, log_lbar, 2 / 3)
    assert got == pytest.approx(float(mpmath.log(_z_low(2.0, 8, decays))), rel=1e-13)


HANG = ["dynamics", "--n", "12570,4396,4396,55096", "--depth", "2", "--lambda-h", "1e-320",
        "--init-scale", "1e-300", "--json"]


STIFF = ["dynamics", "--n", "5,3", "--depth", "2", "--lambda-w", "1e-3", "--lambda-h", "1e300",
         "--init-scale", "0.5"]


@pytest.mark.parametrize("argv", [HANG, STIFF], ids=["fuzz hang", "stiff flow"])
def test_the_hangs_are_quick_refusals(argv):
    """Both ran for ever on 5556752 (stopped after 60 s and 20 s): the threshold
    bisection never decided; LSODA never settled the flow of decays 1e-3 and 1e300."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ncsolve", *argv], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--lambda-h" in done.stderr
    assert time.monotonic() - started < 30  # wall time on a shared machine; CPU below


def test_decays_too_far_apart_for_a_flow_are_refused_without_a_warning():
    """The long fuzz's case: the ratio 5e-4 / 1e-320 overflowed float64 in the check."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ProblemError, match="over 1e300 apart"):
            dynamics([1], lambda_w=1e-320, init_scale=1.0)


def test_threshold_refusal_is_decided_before_any_work():
    started = time.process_time()
    with pytest.raises(ProblemError, match="lambda_h") as caught:
        dynamics([5, 3], depth=2, lambda_h=1e-20, lambda_w=5e-4)
    assert "decays within a factor" in str(caught.value)
    assert time.process_time() - started < 1.0
    # equal decays stay a closed form whatever their size
    assert dynamics([5, 3], depth=2, lambda_h=1e-300, lambda_w=1e-300).flow.threshold_exact


@pytest.mark.parametrize("n,lambda_w,lambda_h", [([5, 3], 5e-4, 1e-8), ([1], 1.0, 5e-4)])
def test_a_tiny_start_at_depth_one_reaches_its_halfway_time(n, lambda_w, lambda_h):
    """From 1e-300 LSODA's steps grew until one overflowed into nan (a traceback on
    5556752; the second case is the long fuzz's). The halfway time against the raw ODE."""
    result = dynamics(n, depth=1, lambda_w=lambda_w, lambda_h=lambda_h, init_scale=1e-300)
    decays = np.array([lambda_h, lambda_w])
    for i in np.flatnonzero(result.z_local > 0):
        sigma, z_plus, N = result.sigma[i], result.z_local[i], result.problem.N

        def rhs(t, s):
            z = s[0] * s[1]
            return -(z - sigma) * s[::-1] / N - decays * s

        def half(t, s):
            return s[0] * s[1] - 0.5 * z_plus  # z0 = 1e-600 is 0 here

        half.terminal = True
        solution = solve_ivp(rhs, (0.0, 1e9), [1e-300, 1e-300], method="DOP853", rtol=1e-11,
                             atol=1e-310, events=[half])
        assert result.flow.end[i] == "global"
        assert result.flow.time_to_half[i] == pytest.approx(solution.t_events[0][0], rel=1e-6)


def test_an_energy_event_scipy_cannot_bracket_is_decided_in_chunks():
    """A traceback on 5556752 (RuntimeError, flow not decided) and here before the
    chunks (scipy's event search: "f(a) and f(b) must have different signs")."""
    import warnings

    n, lw, lh = [39589, 765912], 2.899534640600493e-12, 8.455166579555537e-09
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = dynamics(n, depth=3, lambda_w=lw, lambda_h=lh)
    decays = [lh, lw, lw, lw]
    for i in range(2):
        z_low = float(_z_low(result.sigma[i], result.problem.N, decays))
        assert result.flow.init_threshold[i] ** 4 > z_low


@pytest.mark.slow
@pytest.mark.parametrize("n,lambda_w,lambda_h", [
    ([330686, 652789], 0.04436663621901992, 2.9235222005886473e-06),  # a random probe's
    ([1], 2.0, 5e-4),  # the long fuzz's: 4.3 s to refuse under a bound of 4 s per threshold
])
def test_a_bisection_that_does_not_settle_is_refused_within_its_bound(n, lambda_w, lambda_h):
    """Two decays the separatrix misses and the bisection cannot settle quickly (minutes
    before the bound): 2 s of CPU for all thresholds of one answer."""
    started = time.process_time()
    with pytest.raises(ProblemError, match="not found within 2 s"):
        dynamics(n, depth=2, lambda_w=lambda_w, lambda_h=lambda_h)
    assert time.process_time() - started < 3.0


@pytest.mark.parametrize("chunks", [False, True])
def test_the_evaluation_bound_holds_for_a_whole_run(monkeypatch, chunks):
    """MAX_CALLS bounds a run across all its integrations and is refused in one line,
    also when the event search fails and the run goes on in chunks (the refusal was a
    ValueError that the chunked fallback caught, and each chunk had its own count)."""
    result = dynamics([20, 5], depth=2, lambda_w=0.01, lambda_h=1e-4)
    plain = directions_of(result)[0]
    direction = _Counting(plain.sigma, plain.N, plain.decays, plain.z_plus)
    s0 = result.flow.init_threshold[0] * np.exp(np.array([0.3, -0.2, 0.1]))
    monkeypatch.setattr(flow, "MAX_CALLS", 40)
    if chunks:  # the path taken when scipy's root search of an event fails
        monkeypatch.setattr(flow, "_decide", lambda d, y, h, halves, calls:
                            flow._decide_in_chunks(d, y, h, halves, calls))
    _Counting.calls = 0
    with pytest.raises(ProblemError, match=r"did not settle within 40 evaluations"):
        flow.run(direction, s0, times_needed=False)
    assert _Counting.calls <= 41 + 2  # the refused evaluation, and the chunks' first probe


class _Counting(flow.Direction):
    """A direction that counts the evaluations of its flow."""

    calls = 0

    def rhs(self, t, y):
        type(self).calls += 1
        return super().rhs(t, y)
