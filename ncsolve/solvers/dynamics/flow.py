"""Gradient flow of one direction from a spectral start: ``depth + 1`` ODEs, one per factor.

With every factor aligned with the target's singular vectors, direction i of factor j
(H is factor 0) has singular value ``s_j`` and the product ``z = prod_j s_j`` evolves as

    d s_j / dt = -(1/N) (z - sigma) z / s_j - lambda_j s_j            (docs/dynamics.md)

the gradient flow of ``F(s) = (z - sigma)^2 / (2N) + sum_j lambda_j s_j^2 / 2``. The
positive orthant is invariant, and F's only critical points there are the origin, the
balanced point at the smaller root ``z_low`` (a saddle) and the balanced point at the
larger root ``z_plus`` (a minimum). Integrated in ``y_j = log s_j`` so that starts many
decades below the answer keep their relative precision. An end is decided, with a proof,
as soon as F falls below its value at the saddle (:meth:`Direction.excess`): F never
rises, ``F(s) >= g(z(s))`` (AM-GM) and g peaks at ``z_low``, so z can no longer cross
``z_low`` and the side of ``z_low`` the state is on is the end (docs/dynamics.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ...core import scalar
from ...inputs.validation import ProblemError, invalid

ZERO, PLUS = "zero", "plus"
RTOL, ATOL = 1e-10, 1e-12  # of the integrator, in log s (so relative in s)
NEAR_PLUS = 1e-7  # max |log s_j - log s_j+| at which a run has reached z_plus
HORIZON = 1e5  # time cap, in units of 1 / (the smallest decay)
MAX_BISECTION_SECONDS = 2.0  # CPU of all thresholds' searches of one answer: a hard bound
MAX_DOUBLINGS = 200  # of the bisection's upper end before it gives up
BRACKET_POINTS, BRACKET_DECADES = 2000, 40.0  # the energy's grid of balanced starts (log s)
MAX_FLOW_DECAY_RATIO = 1e100  # largest / smallest decay of an integrated flow
MAX_CALLS = 20_000  # evaluations of one run, all its integrations (about 0.5 s unloaded)
RETRIES = 4  # integrations repeated with smaller steps after an overflow
MAX_LOG = 700.0  # exponents of the rates are capped here (float64 ends near 709)
MAX_TIME = 1e300  # and in absolute terms (the smallest decay may be 1e-320)


@dataclass(frozen=True)
class Direction:
    """One direction's flow: target singular value, samples and per-factor decays.

    Attributes
    ----------
    sigma : float
    N : int
    decays : ndarray, shape (L,)
        lambda_H, lambda_1, ..., lambda_M.
    z_plus : float
        The larger root (the nonzero local minimum), nan where none exists.
    """

    sigma: float
    N: int
    decays: np.ndarray
    z_plus: float

    @property
    def L(self) -> int:
        return int(self.decays.size)

    @property
    def lbar(self) -> float:
        return float(np.exp(np.mean(np.log(self.decays))))

    def plus_point(self) -> np.ndarray:
        """log s_j at z_plus: ``lambda_j s_j^2 = lbar z_plus^(2/L)`` (balanced as the minimizer)."""
        kappa = self.lbar * self.z_plus ** (2.0 / self.L)
        return 0.5 * (np.log(kappa) - np.log(self.decays))

    def zero_radius(self) -> float:
        """A radius r: once every s_j < r, the flow ends at the origin.

        At the largest factor s, ``ds/dt <= s (sigma/N s^(L-2) - lambda_min)`` (the other
        term is negative), so the cube ``max_j s_j < (N lambda_min / sigma)^(1/(L-2))`` is
        invariant and shrinks to 0 (depth >= 2; depth 1 and sigma = 0 are decided apart).
        """
        if self.sigma <= 0:
            return np.inf
        if self.L <= 2:
            return 0.0
        return 0.5 * (self.N * float(self.decays.min()) / self.sigma) ** (1.0 / (self.L - 2))

    @cached_property
    def log_z_low(self) -> float:
        """log of the saddle's z (computed in logs: it may be below the smallest float64)."""
        if not np.isfinite(self.z_plus) or self.L <= 2:
            return np.nan
        log_lbar = float(np.mean(np.log(self.decays)))
        return scalar.log_low_root(self.sigma, self.N, log_lbar, 2.0 / self.L)

    @cached_property
    def log_saddle_excess(self) -> float:
        """log of ``E = F(saddle) - F(0) = z_low ((L-2) sigma - (L-1) z_low) / (2N) > 0``
        (``lbar z_low^q = (sigma - z_low) z_low / N`` at the saddle)."""
        log_z = self.log_z_low
        return float(log_z + np.log((self.L - 2) * self.sigma - (self.L - 1) * np.exp(log_z))
                     - np.log(2.0 * self.N))

    def excess(self, y) -> float:
        """Negative exactly when ``F(s) - F(0) < E`` (the end is decided), from ``y = log s``.

        ``F(s) - F(0) = sum_j lambda_j s_j^2 / 2 + z (z - 2 sigma) / (2N)``, compared with E
        in logs (every term may under- or overflow float64). ``y`` may be (L,) or (L, m).
        """
        y = np.asarray(y, dtype=float)
        log_e = self.log_saddle_excess
        log_half_decays = np.log(self.decays) - np.log(2.0)  # 0.5 * 5e-324 would be 0
        decay = _logsumexp(log_half_decays.reshape(-1, *[1] * (y.ndim - 1)) + 2.0 * y) - log_e
        log_z, log_2s = np.sum(y, axis=0), np.log(2.0 * self.sigma)
        with np.errstate(divide="ignore"):
            gap = np.where(log_z < log_2s,  # log |z - 2 sigma|
                           log_2s + np.log1p(-np.exp(np.minimum(log_z - log_2s, 0.0))),
                           log_z + np.log1p(-np.exp(np.minimum(log_2s - log_z, 0.0))))
        fit = log_z + gap - np.log(2.0 * self.N) - log_e
        out = np.where(log_z < log_2s, decay - np.logaddexp(fit, 0.0),
                       np.logaddexp(decay, fit))
        return out if out.ndim else float(out)

    @property
    def saddle_log_z(self) -> float:
        """log z at the saddle (nan where there is none)."""
        return self.log_z_low

    @property
    def energy_decides(self) -> bool:
        """Whether :meth:`decided` applies (the squared loss with a saddle)."""
        return bool(np.isfinite(self.log_z_low))

    def decided(self, y) -> str | None:
        """The proved end from state ``y`` (None while F is above the saddle's value)."""
        if not self.energy_decides or self.excess(y) >= 0:
            return None
        return PLUS if float(np.sum(y)) > self.log_z_low else ZERO

    def rhs(self, t, y):
        """d(log s_j)/dt, finite for every finite y (capped at about 1e304: an integrator
        step that overshoots is then rejected, not accepted as nan)."""
        log_z = float(np.sum(y))
        if log_z < MAX_LOG:
            gap = np.exp(log_z) - self.sigma
            if gap == 0.0:
                return -self.decays.astype(float)
            sign, log_gap = -np.sign(gap), np.log(abs(gap))
        else:
            sign, log_gap = -1.0, log_z
        return sign * np.exp(np.minimum(log_gap + log_z - 2.0 * y - np.log(self.N), MAX_LOG)) \
            - self.decays

    def objective(self, s: np.ndarray) -> float:
        """F(s), which the flow decreases."""
        z = float(np.prod(s))
        return (z - self.sigma) ** 2 / (2.0 * self.N) + 0.5 * float(np.sum(self.decays * s**2))


def _logsumexp(a):
    top = np.max(a, axis=0)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return top + np.log(np.sum(np.exp(a - top), axis=0))


@dataclass(frozen=True)
class Run:
    """Where the flow from one start goes.

    Attributes
    ----------
    end : {"zero", "plus"}
    end_z : float
    time_to_half : float
        First time z is halfway from its start to its end (nan if the run never got there).
    decided_at : float
        Time at which the end was decided.
    """

    end: str
    end_z: float
    time_to_half: float
    decided_at: float


def _event(function, terminal: bool, direction: int):
    function.terminal, function.direction = terminal, direction
    return function


DECIDED = "decided"  # the energy event: the end is the side of z_low the state is on


def _ends(direction: Direction) -> dict:
    """Terminal events: F below the saddle's value (which decides either end), or, where
    that is not available, entering the origin's invariant cube or arriving at z_plus."""
    if direction.energy_decides:
        return {DECIDED: _event(lambda t, y: direction.excess(y), True, -1)}
    events = {}
    radius = direction.zero_radius()
    if 0 < radius < np.inf:
        log_radius = np.log(radius)
        events[ZERO] = _event(lambda t, y: float(np.max(y)) - log_radius, True, -1)
    if np.isfinite(direction.z_plus):
        target = direction.plus_point()
        events[PLUS] = _event(lambda t, y: float(np.max(np.abs(y - target))) - NEAR_PLUS,
                              True, -1)
    return events


def _halves(direction: Direction, log_z0: float, terminal: bool) -> dict:
    """The crossings of z halfway from z0 to each possible end (in logs: z0 may be
    below the smallest float64)."""
    log_half = log_z0 + np.log(0.5)
    events = {ZERO: _event(lambda t, y: float(np.sum(y)) - log_half, terminal, -1)}
    if np.isfinite(direction.z_plus):
        log_plus = np.log(direction.z_plus)
        log_middle = np.log(0.5) + np.logaddexp(log_z0, log_plus)
        events[PLUS] = _event(lambda t, y: float(np.sum(y)) - log_middle, terminal,
                              1 if log_plus > log_z0 else -1)
    return events


def known_end(direction: Direction, log_s0: np.ndarray) -> str | None:
    """The end when it is known without integrating (depth 1, sigma = 0, no z_plus, a
    start already below the saddle's objective, inside the origin's cube or at z_plus);
    None otherwise."""
    if direction.sigma <= 0 or not np.isfinite(direction.z_plus):
        return ZERO
    if direction.L == 2:
        return PLUS  # the origin is a saddle whenever z_plus exists: every start learns
    decided = direction.decided(log_s0)
    if decided is not None:
        return decided
    if float(np.max(log_s0)) < np.log(direction.zero_radius()):
        return ZERO
    if float(np.max(np.abs(log_s0 - direction.plus_point()))) < NEAR_PLUS:
        return PLUS
    return None


def horizon(direction: Direction) -> float:
    """The time cap of an integration (finite even for decays near the smallest float)."""
    return min(HORIZON / float(direction.decays.min()), MAX_TIME)


def _integrate(direction: Direction, span, y0, events, calls: list[int]):
    """LSODA in log s. A start far below the answer grows at a constant rate in log s,
    LSODA's steps grow with it, and one of them can overshoot into overflow, which
    LSODA accepts as nan: then the integration is repeated with steps capped at a
    fiftieth of the last finite time, up to ``RETRIES`` times.  ``calls`` counts the
    evaluations of one run across all its integrations (at most MAX_CALLS)."""
    from scipy.integrate import solve_ivp

    def rhs(t, y):
        calls[0] += 1
        if calls[0] > MAX_CALLS:
            raise _unsettled(direction, f"did not settle within {MAX_CALLS} evaluations (too "
                             "stiff: time scales too far apart)")
        return direction.rhs(t, y)

    max_step = np.inf
    for _ in range(RETRIES + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            solution = solve_ivp(rhs, span, y0, method="LSODA", rtol=RTOL,
                                 atol=ATOL, events=events, max_step=max_step)
        finite = np.all(np.isfinite(solution.y), axis=0)
        if finite.all():
            return solution
        last = float(solution.t[np.flatnonzero(finite)[-1]]) - span[0]
        max_step = min(max_step, last / 50.0) if last > 0 else max_step / 50.0
    raise _unsettled(direction, f"overflowed near t = {span[0] + last:.3g}")


def _unsettled(direction: Direction, what: str) -> ProblemError:
    """The refusal of a flow the integrator could not follow to its end."""
    return invalid(("lambda_w", "lambda_h"), f"the flow of sigma = {direction.sigma:.6g} with "
                   f"decays {', '.join(f'{d:.3g}' for d in direction.decays)} {what}; give "
                   "decays within a few decades of each other and of sigma / N")


def _decide(direction: Direction, log_s0: np.ndarray, horizon_: float, halves: dict,
            calls: list[int]):
    """Integrate until the end is decided; the end, the solution and its events."""
    ends = _ends(direction)
    events = [*ends.values(), *halves.values()]
    try:
        solution = _integrate(direction, (0.0, horizon_), log_s0, events, calls)
    except ProblemError:
        raise
    except ValueError:  # scipy's event search: the two ends of a step gave one sign
        return _decide_in_chunks(direction, log_s0, horizon_, halves, calls)
    found = {id(e): (times, ys) for e, times, ys in
             zip(events, solution.t_events, solution.y_events)}
    for name, event in ends.items():
        times, ys = found[id(event)]
        if times.size:
            end = name if name != DECIDED else (
                PLUS if float(np.sum(ys[0])) > direction.log_z_low else ZERO)
            return end, solution, found
    raise _unsettled(direction, f"was not decided by t = {solution.t[-1]:.3g} "
                     f"({solution.message})")


def _decide_in_chunks(direction: Direction, log_s0: np.ndarray, horizon_: float,
                      halves: dict, calls: list[int]):
    """As :func:`_decide`, the end checked between chunks of doubling length instead of
    by an event (when scipy's search for the event's root fails on a rounding-level sign
    change); ``decided_at`` is then the end of the first decided chunk."""
    from types import SimpleNamespace

    t, y = 0.0, np.asarray(log_s0, dtype=float)
    step = 1.0 / max(float(np.max(np.abs(direction.rhs(0.0, y)))), float(direction.decays.max()))
    found = {id(e): ([], []) for e in halves.values()}
    while t < horizon_:
        solution = _integrate(direction, (t, min(t + step, horizon_)), y,
                              list(halves.values()), calls)
        for event, times, ys in zip(halves.values(), solution.t_events, solution.y_events):
            found[id(event)][0].extend(times)
            found[id(event)][1].extend(ys)
        t, y, step = float(solution.t[-1]), solution.y[:, -1], 2.0 * step
        end = known_end(direction, y)
        if end is not None:
            found = {k: (np.array(v[0]), np.array(v[1])) for k, v in found.items()}
            return end, SimpleNamespace(t=np.array([t]), y=y[:, None]), found
    raise _unsettled(direction, f"was not decided by t = {t:.3g}")


def _check_stiffness(direction: Direction) -> None:
    """Refuse, before integrating, decays so far apart that LSODA cannot settle the flow."""
    log_ratio = float(np.log(direction.decays.max()) - np.log(direction.decays.min()))
    if log_ratio > np.log(MAX_FLOW_DECAY_RATIO):
        ratio = f"{np.exp(log_ratio):.3g}" if log_ratio < 690.0 else "over 1e300"
        raise invalid(("lambda_w", "lambda_h"), f"the decays are a factor {ratio} apart (at "
                      f"most {MAX_FLOW_DECAY_RATIO:g} where the flow is integrated: its time "
                      "scales are then too far apart to settle); give decays closer together, or "
                      "leave the start out for the thresholds alone")


def run(direction: Direction, s0, times_needed: bool = True) -> Run:
    """Integrate until the end is decided, noting the halfway time on the way.

    Parameters
    ----------
    direction : Direction
    s0 : array_like, shape (L,)
        Positive starting singular values of H, W_1, ..., W_M.
    times_needed : bool
        False: only the end is wanted (no integration when it is known at once).
    """
    log_s0 = np.log(np.asarray(s0, dtype=float))
    log_z0 = float(np.sum(log_s0))
    end = known_end(direction, log_s0)
    if end is not None and not times_needed:
        return Run(end, _end_z(direction, end), np.nan, 0.0)
    _check_stiffness(direction)
    cap = horizon(direction)
    calls = [0]  # evaluations of this run, all integrations together
    if end is not None:
        halves = _halves(direction, log_z0, terminal=True)
        solution = _integrate(direction, (0.0, cap), log_s0, [halves[end]], calls)
        found = {id(halves[end]): (solution.t_events[0], None)}
    else:
        halves = _halves(direction, log_z0, terminal=False)
        end, solution, found = _decide(direction, log_s0, cap, halves, calls)
    crossings = found.get(id(halves[end]), (np.array([]), None))[0]
    decided_at = float(solution.t[-1])
    if crossings.size or not times_needed:
        half = float(crossings[0]) if crossings.size else np.nan
        return Run(end, _end_z(direction, end), half, decided_at)
    # decided before z got halfway (a start whose z first grows, then collapses): go on
    half = _halves(direction, log_z0, terminal=True)[end]
    rest = _integrate(direction, (decided_at, decided_at + cap), solution.y[:, -1], [half], calls)
    crossings = rest.t_events[0]
    time_to_half = float(crossings[0]) if crossings.size else np.nan
    return Run(end, _end_z(direction, end), time_to_half, decided_at)


def _end_z(direction: Direction, end: str) -> float:
    return float(direction.z_plus) if end == PLUS else 0.0


def path(direction: Direction, s0, times: np.ndarray) -> np.ndarray:
    """Singular values of every factor at ``times`` (increasing, from 0): shape (T, L)."""
    from scipy.integrate import solve_ivp

    times = np.asarray(times, dtype=float)
    log_s0 = np.log(np.asarray(s0, dtype=float))
    if times[-1] <= 0:
        return np.exp(np.tile(log_s0, (times.size, 1)))
    solution = solve_ivp(direction.rhs, (0.0, float(times[-1])), log_s0, method="LSODA",
                         rtol=RTOL, atol=ATOL, t_eval=times)
    return np.exp(solution.y.T)


def balanced_threshold(direction: Direction, rtol: float = 1e-9,
                       budget: float | None = None) -> float:
    """The smallest balanced start (every factor at s) whose flow ends at z_plus, by
    bisection in log s to relative width ``rtol`` (for unequal decays, where no closed
    form is known)."""
    import time

    started = time.process_time()
    budget = MAX_BISECTION_SECONDS if budget is None else budget

    def ends_plus(scale: float) -> bool:
        if time.process_time() - started > budget:
            raise over_budget(direction)
        return run(direction, np.full(L, scale), times_needed=False).end == PLUS

    L = direction.L
    low = 0.5 * direction.zero_radius()
    high = 2.0 * max(direction.z_plus ** (1.0 / L), low)
    low, proved_high = _energy_bracket(direction, low)
    high = proved_high if proved_high is not None else high
    for _ in range(MAX_DOUBLINGS):
        if proved_high is not None or ends_plus(high):
            break
        high *= 2.0
    else:
        raise _unsettled(direction, f"is not learned from any balanced start below {high:.3g} "
                         "(perhaps from none)")
    while high - low > rtol * high:
        middle = np.sqrt(low * high)
        if ends_plus(middle):
            high = middle
        else:
            low = middle
    return float(np.sqrt(low * high))


def over_budget(direction: Direction):
    """The refusal of a threshold search that has used its CPU budget."""
    return invalid(("lambda_w", "lambda_h"), f"the thresholds were not found within "
                   f"{MAX_BISECTION_SECONDS:g} s of CPU (at sigma = {direction.sigma:.6g}: a "
                   "bisection of a stiff flow); give decays closer together or equal (a "
                   "closed form)")


def _energy_bracket(direction: Direction, low: float) -> tuple[float, float | None]:
    """Balanced starts whose end the energy decides at once: the largest one that ends
    at 0 (a lower bound of the threshold, at least ``low``) and the smallest one that
    ends at z_plus (an upper bound; None if no start on the grid is decided so)."""
    if not direction.energy_decides:
        return low, None
    L, log_z_low = direction.L, direction.log_z_low
    grid = np.linspace(log_z_low / L - BRACKET_DECADES, np.log(direction.z_plus) / L + 1.0,
                       BRACKET_POINTS)
    decided = direction.excess(np.tile(grid, (L, 1))) < 0
    below = grid[decided & (L * grid < log_z_low)]
    above = grid[decided & (L * grid > log_z_low)]
    if below.size:
        low = max(low, float(np.exp(below.max())))
    return low, (float(np.exp(above.min())) if above.size else None)
