"""The balanced threshold with unequal decays: the saddle's stable manifold, traced backward.

A balanced start (every factor at s) keeps factors of equal decay equal, so with two
distinct decays the flow is a plane system in ``(log s_a, log s_b)`` (one coordinate per
decay). Its saddle (``z = z_low``, ``lambda_j s_j^2 = lbar z_low^(2/L)``) has one stable
and one unstable direction, and its stable manifold is the curve that separates the
basins of 0 and ``z_plus``. Integrated backward in time from the saddle along the stable
eigenvector, that curve attracts nearby backward trajectories (the unstable direction
contracts), so one integration finds where it meets the balanced line ``s_a = s_b``:
the threshold. Two forward runs at ``(1 -+ CHECK) x`` the result confirm the ends on
each side; any failure (three or more distinct decays, no crossing, a contradicting
check) falls back to bisection of the flow (:func:`flow.balanced_threshold`).
"""

from __future__ import annotations

import numpy as np

from . import flow

OFFSET = 1e-7  # distance from the saddle along the stable eigenvector, in log s
CHECK = 1e-7  # relative distance of the two confirming starts from the threshold
RTOL, ATOL = 1e-12, 1e-13  # of the backward integration, in log s
BACKWARD_TIME = 200.0  # cap of a backward branch, in units of 1 / (the stable rate)
MAX_EVALUATIONS = 4000  # of a backward branch (about 0.1 s)
HUGE = 700.0  # |log s| beyond which a backward branch is abandoned (float64 range)
SUBNORMAL_DECAY = 1e-250  # below it the plane system's rates are subnormal: bisection
SEPARATRIX, BISECTION = "separatrix", "bisection"


def balanced_threshold(direction: flow.Direction, rtol: float = 1e-9,
                       budget: float | None = None) -> tuple[float, str]:
    """The smallest balanced start whose flow ends at ``z_plus``, and how it was found
    (``"separatrix"``: traced backward and confirmed by two forward runs at relative
    ``CHECK`` either side; ``"bisection"``: bisection of the flow to relative ``rtol``).
    ``budget``: CPU seconds left (ProblemError once spent; flow.MAX_BISECTION_SECONDS)."""
    import time

    started = time.process_time()
    budget = flow.MAX_BISECTION_SECONDS if budget is None else budget
    if budget <= 0:
        raise flow.over_budget(direction)
    found = separatrix_threshold(direction)
    if found is not None and _confirmed(direction, found):
        return found, SEPARATRIX
    left = budget - (time.process_time() - started)
    return flow.balanced_threshold(direction, rtol, left), BISECTION


def _confirmed(direction: flow.Direction, s: float) -> bool:
    L = direction.L
    below = flow.run(direction, np.full(L, s * (1.0 - CHECK)), times_needed=False).end
    above = flow.run(direction, np.full(L, s * (1.0 + CHECK)), times_needed=False).end
    return below == flow.ZERO and above == flow.PLUS


def separatrix_threshold(direction: flow.Direction) -> float | None:
    """Where the saddle's stable manifold meets the balanced line (two distinct decays);
    None where that does not apply or no branch crosses."""
    values, inverse = np.unique(direction.decays, return_inverse=True)
    log_z_low = direction.saddle_log_z
    if (values.size != 2 or not np.isfinite(log_z_low) or direction.L < 3
            or values[0] < SUBNORMAL_DECAY):
        return None
    first = np.array([int(np.argmax(inverse == g)) for g in range(values.size)])

    def reduced(t, Y):
        return direction.rhs(t, Y[inverse])[first]

    q = 2.0 / direction.L
    saddle = 0.5 * (float(np.mean(np.log(direction.decays))) + q * log_z_low - np.log(values))
    found = _stable_direction(reduced, saddle)
    if found is None:
        return None
    stable, rate = found
    span = min(BACKWARD_TIME / rate, flow.horizon(direction))
    toward = -np.sign(saddle[0] - saddle[1]) * np.sign(stable[0] - stable[1]) or 1.0
    for sign in (toward, -toward):  # first the branch that heads for the balanced line
        crossing = _backward(reduced, saddle + sign * OFFSET * stable, span)
        if crossing is not None:
            return float(np.exp(crossing))
    return None


def _stable_direction(reduced, saddle: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The unit eigenvector of the saddle's negative eigenvalue and that eigenvalue's size
    (central differences)."""
    step = 1e-6
    J = np.empty((2, 2))
    for k in range(2):
        e = np.zeros(2)
        e[k] = step
        J[:, k] = (reduced(0.0, saddle + e) - reduced(0.0, saddle - e)) / (2.0 * step)
    eigenvalues, vectors = np.linalg.eig(J)
    if np.iscomplexobj(eigenvalues) or np.sum(eigenvalues < 0) != 1 or np.sum(eigenvalues > 0) != 1:
        return None
    v = vectors[:, int(np.argmin(eigenvalues))]
    return v / np.linalg.norm(v), float(-np.min(eigenvalues))


class _Spent(Exception):
    """A backward branch used its evaluations (stiff: left to the bisection)."""


def _backward(reduced, Y0: np.ndarray, span: float) -> float | None:
    """log s where the backward branch from ``Y0`` first meets the balanced line (None:
    no crossing within ``span`` or ``MAX_EVALUATIONS``)."""
    from scipy.integrate import solve_ivp

    count = [0]

    def backward(t, Y):
        count[0] += 1
        if count[0] > MAX_EVALUATIONS:
            raise _Spent
        return -reduced(t, Y)

    def balanced(t, Y):
        return float(Y[0] - Y[1])

    def escaped(t, Y):
        return HUGE - float(np.max(np.abs(Y)))

    balanced.terminal = escaped.terminal = True
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            solution = solve_ivp(backward, (0.0, span), Y0, method="LSODA", rtol=RTOL,
                                 atol=ATOL, events=[balanced, escaped])
    except _Spent:
        return None
    if solution.t_events[0].size and np.all(np.isfinite(solution.y_events[0][0])):
        return float(solution.y_events[0][0][0])
    return None
