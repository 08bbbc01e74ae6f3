"""A root of a monotone function on an open bracket, by safeguarded Newton steps.

Both root finders of the high-precision route use it: the stationary points of
one direction (:mod:`.roots`) and the secular roots of the centered target
spectrum (:mod:`.spectrum`).
"""

from __future__ import annotations

import mpmath

__all__ = ["bracketed_newton"]


def bracketed_newton(f, df, lo, hi, increasing: bool, start=None, max_iter: int = 20000):
    """Root of a monotone ``f`` on the open interval (lo, hi) by safeguarded Newton steps.

    The endpoints are never evaluated (poles are allowed there). A Newton step
    that leaves the bracket is replaced by bisection; the iteration stops when a
    step falls below 256 ulps of the working precision (``mpmath.mp``), which the
    guard digits of the callers absorb.
    """
    eps = 256 * mpmath.mp.eps
    x = (lo + hi) / 2 if start is None else start
    for _ in range(max_iter):
        fx = f(x)
        if fx == 0:
            return x
        if (fx > 0) == increasing:
            hi = x
        else:
            lo = x
        slope = df(x)
        if slope != 0:
            step = fx / slope
            if abs(step) <= eps * abs(x):
                return x - step
            if lo < x - step < hi:
                x = x - step
                continue
        x = (lo + hi) / 2
        if hi - lo <= eps * abs(x):
            return x
    raise ArithmeticError("root bracketing did not converge")  # pragma: no cover
