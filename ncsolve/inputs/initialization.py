"""How training starts, in the terms of the spectral initialization (docs/dynamics.md).

``init_scale`` s: every factor (H and each W_j) starts with singular value s in every
direction of the target (a balanced spectral start); a list gives one value per factor,
H first, then W_1, ..., W_M. ``lr`` and ``steps`` turn the flow's time into steps.
"""

from __future__ import annotations

import numpy as np

from .problem import parse_each
from .validation import POSITIVE, WholeNumber, check, invalid

__all__ = ["init_scales", "step_settings"]

MAX_STEPS = 10**12
MAX_LOG10_PRODUCT = 100.0  # the start's product s_0 ... s_M: at most 1e100
MAX_LOG10_RATE = 250.0  # z / s_j^2 at the start: d(log s_j)/dt stays within float64


def init_scales(value, depth: int) -> np.ndarray | None:
    """The starting singular value of each of the ``depth + 1`` factors, or None.

    Raises
    ------
    ProblemError
        For a non-positive or non-finite scale, or a list whose length is not 1 or depth + 1.
    """
    if value is None:
        return None
    scales = parse_each(value, "init_scale", lambda item: check(
        item, POSITIVE, "init_scale", what="every scale",
        hint="a singular value of the spectral start"))
    factors = depth + 1
    if len(scales) == 1:
        scales = scales * factors
    elif len(scales) != factors:
        raise invalid("init_scale", f"give one value or exactly depth + 1 = {factors} values "
                      f"(H first, then W_1, ..., W_{depth}), got {len(scales)}")
    scales = np.array(scales, dtype=float)
    product = float(np.sum(np.log10(scales)))
    if product > MAX_LOG10_PRODUCT:
        raise invalid("init_scale", f"the start's product s_0 ... s_{depth} is 1e{product:.0f}; "
                      f"at most 1e{MAX_LOG10_PRODUCT:.0f} is integrated (the flow's rate grows "
                      "as its square); give smaller scales")
    rate = product - 2.0 * float(np.min(np.log10(scales)))  # the largest z / s_j^2 at the start
    if rate > MAX_LOG10_RATE:
        raise invalid("init_scale", f"the scales span too many decades: the smallest factor "
                      f"would start moving at a rate of 1e{rate:.0f} (at most "
                      f"1e{MAX_LOG10_RATE:.0f}); give scales closer together")
    return scales


def step_settings(lr, steps) -> tuple[float | None, int | None]:
    """A validated learning rate and step count (steps need a learning rate)."""
    lr = None if lr is None else check(lr, POSITIVE, "lr")
    steps = None if steps is None else check(steps, WholeNumber(0, MAX_STEPS), "steps")
    if steps is not None and lr is None:
        raise invalid("steps", "turns time into steps with a learning rate; give --lr too")
    return lr, steps


def start_settings(init_scale, depth: int, lr, steps, trajectory: bool):
    """Validated ``(scales, lr, steps)`` of a flow: a path or a step count needs a start."""
    scales = init_scales(init_scale, depth)
    lr, steps = step_settings(lr, steps)
    if trajectory and scales is None:
        raise invalid("trajectory", "a path needs a start; give init_scale")
    if steps is not None and scales is None:
        raise invalid("steps", "the state after a number of steps needs a start; "
                      "give --init-scale")
    return scales, lr, steps
