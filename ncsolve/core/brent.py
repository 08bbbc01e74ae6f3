"""Brent's bounded minimization of a function of one variable, without scipy.

Golden-section steps safeguarded by parabolic interpolation through the three best
points so far (R. P. Brent, *Algorithms for Minimization without Derivatives*, 1973,
chapter 5; the bounded variant of Forsythe, Malcolm and Moler's ``fmin``).  It follows
the classic algorithm step for step, with the stopping rule of an absolute tolerance
``xatol`` plus sqrt(eps) relative, so it takes the same steps as scipy's
``minimize_scalar(method="bounded")``; importing scipy.optimize costs more CPU than a
short command spends on everything else.
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = ["minimize_bounded"]

GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))  # the golden-section fraction
ROOT_EPS = math.sqrt(2.2e-16)  # relative part of the tolerance


def minimize_bounded(f: Callable[[float], float], lo: float, hi: float, xatol: float = 1e-5,
                     maxiter: int = 500) -> tuple[float, float]:
    """A local minimizer of ``f`` on [lo, hi] and its value.

    Parameters
    ----------
    f : callable
        The function (evaluated at most ``maxiter`` times, never at the bounds).
    lo, hi : float
        The interval, lo < hi.
    xatol : float
        Absolute tolerance on x (a relative sqrt(eps) part is added).
    maxiter : int
        Largest number of evaluations.

    Returns
    -------
    x, value : float
    """
    a, b = float(lo), float(hi)
    x = a + GOLDEN * (b - a)
    fx = f(x)
    best = [x, fx]  # lowest point
    second = [x, fx]  # second lowest
    third = [x, fx]  # third lowest (or the previous second)
    step = last_step = 0.0
    count = 1
    while count < maxiter:
        xb, fb = best
        middle = 0.5 * (a + b)
        tol = ROOT_EPS * abs(xb) + xatol / 3.0
        if abs(xb - middle) <= 2.0 * tol - 0.5 * (b - a):
            break
        step, last_step = _next_step(a, b, best, second, third, step, last_step, tol)
        u = xb + math.copysign(max(abs(step), tol), step if step != 0 else 1.0)
        fu = f(u)
        count += 1
        _update(u, fu, best, second, third, (a, b))
        a, b = _bracket(a, b, u, fu, xb, fb)
    return best[0], best[1]


def _next_step(a, b, best, second, third, step, last_step, tol):
    """The next step from the best point (parabolic when safe, else golden), and the
    step before it, which the next parabola must beat."""
    xb, fb = best
    middle = 0.5 * (a + b)
    if abs(last_step) > tol:
        (xs, fs), (xt, ft) = second, third
        r = (xb - xs) * (fb - ft)
        q = (xb - xt) * (fb - fs)
        p = (xb - xt) * q - (xb - xs) * r
        q = 2.0 * (q - r)
        if q > 0.0:
            p = -p
        q = abs(q)
        older, last_step = last_step, step
        if abs(p) < abs(0.5 * q * older) and q * (a - xb) < p < q * (b - xb):
            step = p / q
            u = xb + step
            if u - a < 2.0 * tol or b - u < 2.0 * tol:  # too close to a bound
                step = tol if middle >= xb else -tol
            return step, last_step
    last_step = (a - xb) if xb >= middle else (b - xb)
    return GOLDEN * last_step, last_step


def _update(u, fu, best, second, third, bounds) -> None:
    """Keep the three lowest points in order after evaluating f(u)."""
    if fu <= best[1]:
        third[:] = second
        second[:] = best
        best[:] = [u, fu]
    elif fu <= second[1] or second[0] == best[0]:
        third[:] = second
        second[:] = [u, fu]
    elif fu <= third[1] or third[0] == best[0] or third[0] == second[0]:
        third[:] = [u, fu]


def _bracket(a, b, u, fu, xb, fb):
    """The interval after evaluating u (from the best point xb before it)."""
    if fu <= fb:
        return (xb, b) if u >= xb else (a, xb)
    return (u, b) if u < xb else (a, u)
