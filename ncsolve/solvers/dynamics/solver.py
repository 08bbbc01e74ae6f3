"""``solve_dynamics(problem, init_scale, ...)``: where gradient flow from a spectral start goes.

Per direction of the target: the basin threshold of a balanced start (closed form with
equal decays, the saddle's stable manifold with two decays, bisection of the integrated
flow otherwise; :mod:`.threshold`), and with a start given its
end (``zero``, ``global`` or ``local``), the end value, the time to halfway, steps at a
learning rate and, on request, the path. The global minimizer itself is the MSE
closed form (:mod:`ncsolve.solvers.mse`), which the answer extends.
"""

from __future__ import annotations

import time

import numpy as np

from ...core import scalar
from ...inputs.initialization import start_settings
from ...inputs.problem import Problem
from ...inputs.validation import invalid
from ..mse import solve as solve_mse
from . import flow, threshold as separatrix
from .result import DynamicsSolution, FlowTable

MAX_QUADRATURES = 20_000  # balanced start, equal decays: about 1 ms each
MAX_INTEGRATIONS = 1_000  # per-factor system: about 30 ms each
SEPARATRIX_SECONDS = 0.25  # a threshold with two distinct decays (docs/dynamics.md)
BISECTION_SECONDS = 1.0  # with three or more: about 35 integrations
EXTREME_SECONDS = 10.0  # decays further apart than STIFF_DECAY_RATIO: a stiff bisection
STIFF_DECAY_RATIO = 1e10  # largest / smallest decay beyond which the flow is very stiff
MAX_THRESHOLD_SECONDS = 3.0  # the estimate above which thresholds are refused
THRESHOLD_RTOL = 1e-9  # relative width of the bisection bracket of a threshold
PATH_POINTS = 200  # samples of a trajectory on request
GLOBAL, LOCAL = "global", "local"
CLOSED_FORM = "closed form"
SEPARATRIX_WORDS = "separatrix of the flow"  # the saddle's stable manifold, traced back
BISECTION_WORDS = "bisection of the flow"


def check_supported(loss, bias, ce: bool = False) -> None:
    """Refuse the models whose flow does not split into directions (before the rest of
    the input is read, so that the refusal names the real reason). ``ce``: the caller
    solves balanced cross-entropy (:mod:`.ce_solver`)."""
    loss = loss.strip().lower() if isinstance(loss, str) else loss
    bias = bias.strip().lower() if isinstance(bias, str) else bias
    if loss == "ce" and not ce:
        raise invalid("loss", "the per-direction flow here is the squared loss's; balanced "
                      "cross-entropy from a simplex-ETF start is `ncsolve dynamics --loss ce` "
                      "(use --loss mse here)")
    if bias == "regularized":
        raise invalid("bias", "a regularized bias couples the directions (its decay pulls b "
                      "away from n/N), so the flow does not split; use --bias none or free")


def decays_of(problem: Problem) -> np.ndarray:
    """lambda_H, lambda_1, ..., lambda_M: one per factor of the flow."""
    return np.array((problem.lambda_h, *problem.lambda_w), dtype=float)


def directions_of(solution) -> list[flow.Direction]:
    """One :class:`flow.Direction` per direction of the answer (capped ones have no z_plus)."""
    p = solution.problem
    decays = decays_of(p)
    capped = solution.code == scalar.CODE[scalar.CAPPED]
    return [flow.Direction(float(sigma), p.N, decays,
                           np.nan if cap else float(z_plus))
            for sigma, z_plus, cap in zip(solution.sigma, solution.z_local, capped)]


def equal_decays(problem: Problem) -> bool:
    return len({problem.lambda_h, *problem.lambda_w}) == 1


def thresholds(solution) -> tuple[np.ndarray, bool, str]:
    """Per direction, the balanced scale below which the flow ends at zero.

    0 where every positive start learns the direction (depth 1), inf where none does
    (no nonzero stationary point, sigma = 0, beyond the rank cap). Returns the
    thresholds, whether they are closed forms (equal decays) and how they were found.
    """
    p = solution.problem
    capped = solution.code == scalar.CODE[scalar.CAPPED]
    never = ~np.isfinite(solution.z_local) | capped | (solution.sigma <= 0)
    out = np.where(never, np.inf, 0.0)
    if p.L == 2:
        return out, True, CLOSED_FORM
    if equal_decays(p):
        out[~never] = _closed_form(solution.sigma[~never], p)
        return out, True, CLOSED_FORM
    _check_thresholds(p, len({float(v) for v in solution.sigma[~never]}))
    if not never.all():
        from scipy.integrate import solve_ivp  # noqa: F401  (imported outside the budget)
    methods, started = set(), time.process_time()
    for i, direction in enumerate(directions_of(solution)):
        if not never[i]:
            left = flow.MAX_BISECTION_SECONDS - (time.process_time() - started)
            out[i], method = _unequal(direction, left)
            methods.add(method)
    how = {separatrix.SEPARATRIX: SEPARATRIX_WORDS, separatrix.BISECTION: BISECTION_WORDS}
    return out, False, " and ".join(how[m] for m in sorted(methods, reverse=True)) or CLOSED_FORM


def _closed_form(sigma: np.ndarray, problem: Problem) -> np.ndarray:
    """``z_low^(1/L)`` with equal decays; in logs where z_low is below the normal floats
    (tiny decays), where :func:`scalar.low_root` underflows to 0."""
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        low = scalar.low_root(sigma, problem.N, problem.lbar, problem.q)
    out = low ** (1.0 / problem.L)
    tiny = ~(low >= np.finfo(float).tiny)
    log_lbar = float(np.log(problem.lambda_h))
    for i in np.flatnonzero(tiny):
        out[i] = np.exp(scalar.log_low_root(float(sigma[i]), problem.N, log_lbar,
                                            problem.q) / problem.L)
    return out


def _check_thresholds(problem: Problem, distinct: int) -> None:
    """Refuse, before any work, thresholds whose estimated time is above the limit."""
    decays = (problem.lambda_h, *problem.lambda_w)
    extreme = (min(decays) < separatrix.SUBNORMAL_DECAY
               or max(decays) > STIFF_DECAY_RATIO * min(decays))
    two = len(set(decays)) == 2 and not extreme
    each = SEPARATRIX_SECONDS if two else EXTREME_SECONDS if extreme else BISECTION_SECONDS
    seconds = distinct * each
    if seconds > MAX_THRESHOLD_SECONDS:
        how = "a separatrix" if two else "a bisection"
        raise invalid(("lambda_w", "lambda_h"), f"with unequal decays each of the {distinct} "
                      f"distinct target singular values needs {how} of the flow (about "
                      f"{seconds:.0f} s in all, at most {MAX_THRESHOLD_SECONDS:.0f}); give equal "
                      "decays (a closed form), one lambda_w for every layer and decays within a "
                      f"factor {STIFF_DECAY_RATIO:g} of each other (fastest), or round the class "
                      "sizes (equal sizes share one)")


_FOUND: dict = {}  # thresholds already found: equal class sizes and repeated calls share them


def _unequal(direction: flow.Direction, budget: float) -> tuple[float, str]:
    """The balanced threshold of one direction with unequal decays and how it was found,
    within ``budget`` CPU seconds (remembered once found)."""
    key = (direction.sigma, direction.N, tuple(direction.decays.tolist()), direction.z_plus)
    if key not in _FOUND:
        if len(_FOUND) >= 1024:
            _FOUND.clear()
        _FOUND[key] = separatrix.balanced_threshold(direction, THRESHOLD_RTOL, budget)
    return _FOUND[key]


def _end_word(end: str, state: str) -> str:
    if end == flow.ZERO:
        return flow.ZERO
    return LOCAL if state == scalar.WINDOW else GLOBAL


def _at_global(end: str, state: str) -> bool:
    if state in (scalar.ACTIVE,):
        return end == GLOBAL
    if state == scalar.TIE:
        return True
    return end == flow.ZERO


def balanced_time(direction: flow.Direction, s0: float, end_z: float) -> float:
    """Time to halfway of a balanced start with equal decays: a quadrature in log s.

    ``dt = d(log s) / (-(s^L - sigma) s^(L-2) / N - lambda)``.
    """
    from scipy.integrate import quad

    L, lam = direction.L, float(direction.decays[0])
    log_z0 = L * np.log(s0)  # z0 itself may be below the smallest float64
    if end_z > 0:
        log_middle = np.log(0.5) + np.logaddexp(log_z0, np.log(end_z))
    else:
        log_middle = log_z0 + np.log(0.5)
    if log_middle == log_z0:
        return np.nan

    def inverse_speed(x):
        with np.errstate(over="ignore"):
            s = np.exp(x)
            return 1.0 / (-(s**L - direction.sigma) * s ** (L - 2) / direction.N - lam)

    value, _ = quad(inverse_speed, np.log(s0), log_middle / L, limit=400,
                    epsabs=0.0, epsrel=1e-11)
    return float(value)


def _ends(solution, directions, scales, threshold, exact: bool, times_needed: bool = True):
    """end, end_z, time_to_half per direction from the start ``scales`` (directions of
    equal sigma, as equal class sizes give, are solved once)."""
    p = solution.problem
    balanced = bool(np.all(scales == scales[0])) and exact and p.L > 2
    _check_work(directions, balanced, times_needed)
    K = len(directions)
    end = np.empty(K, dtype=object)
    end_z, half = np.zeros(K), np.full(K, np.nan)
    states = solution.direction_state
    solved: dict[tuple, tuple] = {}
    for i, direction in enumerate(directions):
        key = (direction.sigma, direction.z_plus, float(threshold[i]))
        if key not in solved:
            solved[key] = _end_of(direction, scales, threshold[i], balanced, times_needed)
        kind, end_z[i], half[i] = solved[key]
        end[i] = _end_word(kind, states[i])
    return end.astype(str), end_z, half


def _end_of(direction, scales, threshold: float, balanced: bool, times_needed: bool):
    if balanced and np.isfinite(threshold) and np.isfinite(direction.z_plus):
        plus = scales[0] > threshold
        end_z = direction.z_plus if plus else 0.0
        half = balanced_time(direction, scales[0], end_z) if times_needed else np.nan
        return (flow.PLUS if plus else flow.ZERO), end_z, half
    result = flow.run(direction, scales, times_needed)
    return result.end, result.end_z, result.time_to_half


def _check_work(directions, balanced: bool, times_needed: bool) -> None:
    """Refuse a flow that would integrate thousands of distinct directions."""
    if balanced and not times_needed:
        return
    distinct = len({d.sigma for d in directions})
    limit = MAX_QUADRATURES if balanced else MAX_INTEGRATIONS
    if distinct > limit:
        what = "quadratures" if balanced else "integrations of the flow"
        raise invalid("n", f"{distinct} distinct target singular values need as many {what} "
                      f"(at most {limit}); round the class sizes (equal sizes share one), or give "
                      "equal decays and one scale for every factor (closed forms)")


def solve_dynamics(problem: Problem, init_scale=None, *, lr=None, steps=None,
                   trajectory: bool = False, ends_only: bool = False) -> DynamicsSolution:
    """The global minimizer of an MSE problem with the gradient flow from a spectral start.

    Parameters
    ----------
    problem : Problem
        Squared loss, bias none or free (the flow of a free bias starts at b = n/N).
    init_scale : float or sequence of float, optional
        Starting singular value of every factor, or one per factor (H first).
    lr, steps : optional
        Learning rate (time per step) and a step count to report the state after.
    trajectory : bool
        Sample each direction's path (needs ``init_scale``).
    ends_only : bool
        Only the end of each direction (what ``predict --init-scale`` adds).

    Raises
    ------
    ProblemError
        For cross-entropy, a regularized bias, or bad scales, learning rate or steps.
    """
    check_supported(problem.loss, problem.bias)
    if problem.target is not None or problem.features != "unconstrained":
        raise invalid("init_scale", "the flow is solved for one-hot targets and "
                      "unconstrained features; leave the target and --features out")
    scales, lr, steps = start_settings(init_scale, problem.depth, lr, steps, trajectory)
    base = solve_mse(problem)
    directions = directions_of(base)
    if ends_only and not equal_decays(problem):  # the ends come from integration alone
        threshold, exact, how = np.full(problem.K, np.nan), False, BISECTION_WORDS
    else:
        threshold, exact, how = thresholds(base)
    table = FlowTable(init_scale=scales, lr=lr, steps=steps, init_threshold=threshold,
                      threshold_exact=exact, ends_only=ends_only, threshold_method=how)
    if scales is not None:
        end, end_z, half = _ends(base, directions, scales, threshold, exact,
                                 times_needed=not ends_only)
        table = table.with_ends(end, end_z, half)
        if trajectory or steps is not None:
            table = table.with_path(*_paths(directions, scales, half, lr, steps, trajectory))
    return DynamicsSolution(problem=base.problem, spectrum=base.spectrum, z=base.z,
                            z_local=base.z_local, code=base.code, residual=base.residual,
                            notes=base.notes, flow=table)


def _paths(directions, scales, half, lr, steps, trajectory: bool):
    """The sampled paths (on request) and the value after ``steps`` (when given)."""
    finite = half[np.isfinite(half)]
    horizon = 2.0 * float(finite.max()) if finite.size else 1.0
    if steps is not None:
        horizon = max(horizon, lr * steps) if trajectory else lr * steps
    times = np.linspace(0.0, horizon, PATH_POINTS) if trajectory else np.array([0.0])
    if steps is not None:
        times = np.unique(np.append(times, lr * steps))
    paths = np.stack([flow.path(d, scales, times) for d in directions])  # (K, T, L)
    after = None
    if steps is not None:
        after = np.prod(paths[:, int(np.searchsorted(times, lr * steps)), :], axis=1)
    if not trajectory:
        return None, None, after
    return times, paths, after
