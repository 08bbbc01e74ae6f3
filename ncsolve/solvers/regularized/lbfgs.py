"""A small L-BFGS for the outer problem over the bias (K variables).

Written here so that ``ncsolve predict`` does not import scipy.optimize. The
objective is smooth except at phase boundaries, where it has concave kinks
(a minimum of two branches); an Armijo backtracking line search steps over them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

Function = Callable[[np.ndarray], tuple[float, np.ndarray]]


def minimize(fun: Function, x0: np.ndarray, memory: int = 10, max_iter: int = 500,
             rtol: float = 1e-15) -> tuple[np.ndarray, float, int]:
    """Local minimum of ``fun`` (value and gradient) from ``x0``.

    Stops when a full step no longer lowers the value by more than ``rtol``
    relative for three iterations in a row, when the gradient is zero, or
    after ``max_iter`` iterations.

    Returns
    -------
    x : ndarray
    value : float
    iterations : int
    """
    x = np.array(x0, dtype=float)
    value, grad = fun(x)
    pairs: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=memory)
    stalled = 0
    for iteration in range(1, max_iter + 1):
        if not np.any(grad):
            return x, value, iteration - 1
        direction = -_two_loop(grad, pairs)
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            pairs.clear()
            direction, slope = -grad, -float(grad @ grad)
        step, new_x, new_value, new_grad = _backtrack(fun, x, value, direction, slope, bool(pairs))
        if step == 0.0:
            return x, value, iteration
        s, y = new_x - x, new_grad - grad
        curvature = float(s @ y)
        if curvature > 1e-300:
            pairs.append((s, y, 1.0 / curvature))
        gain = value - new_value
        stalled = stalled + 1 if gain <= rtol * max(abs(value), 1e-300) else 0
        x, value, grad = new_x, new_value, new_grad
        if stalled >= 3:
            return x, value, iteration
    return x, value, max_iter


def _two_loop(grad: np.ndarray, pairs) -> np.ndarray:
    """Inverse-Hessian approximation applied to ``grad``."""
    q = grad.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if pairs:
        s, y, rho = pairs[-1]
        q *= 1.0 / (rho * float(y @ y))
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        q += (alpha - rho * float(y @ q)) * s
    return q


def _backtrack(fun: Function, x, value, direction, slope, scaled: bool):
    """Armijo backtracking from step 1 (or a unit-length first step without memory)."""
    step = 1.0 if scaled else 1.0 / max(float(np.linalg.norm(direction)), 1e-300)
    for _ in range(60):
        trial = x + step * direction
        trial_value, trial_grad = fun(trial)
        if trial_value <= value + 1e-4 * step * slope:
            return step, trial, trial_value, trial_grad
        step *= 0.5
    return 0.0, x, value, None
