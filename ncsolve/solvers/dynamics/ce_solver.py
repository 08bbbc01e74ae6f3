"""``solve_ce_dynamics``: balanced cross-entropy from a simplex-ETF-aligned start.

The flow of :mod:`.crossentropy` (exact from the aligned start) compared with ncsolve's
cross-entropy answer (:func:`ncsolve.solvers.crossentropy.solve`: proved at depth 1, the
best found by a search at depth >= 2), which says whether the end is the global minimizer.
"""

from __future__ import annotations

import numpy as np

from ...inputs.initialization import start_settings
from ...inputs.problem import Problem
from ..crossentropy import solve as solve_ce
from . import flow
from .ce_result import CEDynamics
from .crossentropy import check_balanced, direction_of, end_loss, roots, threshold_of

PATH_POINTS = 200
AT_GLOBAL_RTOL = 1e-9  # the end's objective against the answer's


def solve_ce_dynamics(problem: Problem, init_scale=None, *, lr=None, steps=None,
                      trajectory: bool = False) -> CEDynamics:
    """Gradient flow of balanced cross-entropy from a spectral (ETF-aligned) start.

    Parameters
    ----------
    problem : Problem
        Cross-entropy with equal class sizes, bias none or free (b starts at 0 and stays).
    init_scale : float or sequence of float, optional
        Singular value of every factor in each of the K - 1 ETF directions (H first).
    lr, steps, trajectory
        As in :func:`ncsolve.solvers.dynamics.solve_dynamics`.

    Raises
    ------
    ProblemError
        Unequal class sizes (not derived), a target, bounded features, bad scales.
    """
    check_balanced(problem)
    scales, lr, steps = start_settings(init_scale, problem.depth, lr, steps, trajectory)
    direction = direction_of(problem)
    equal = len({problem.lambda_h, *problem.lambda_w}) == 1
    threshold, exact = threshold_of(direction, equal)
    z_low = roots(direction.sigma, direction.K, direction.L, direction.lbar)[0]
    answer = solve_ce(problem)
    fields = {}
    if scales is not None:
        run = flow.run(direction, scales)
        loss = end_loss(direction, run.end)
        fields = {"end": run.end, "end_z": run.end_z, "time_to_half": run.time_to_half,
                  "end_loss": loss,
                  "at_global": bool(loss <= float(answer.loss) * (1 + AT_GLOBAL_RTOL))}
        if trajectory or steps is not None:
            fields.update(_paths(direction, scales, run.time_to_half, lr, steps, trajectory))
    return CEDynamics(problem=problem, direction=direction, z_low=z_low,
                      init_threshold=threshold, threshold_exact=exact, init_scale=scales,
                      lr=lr, steps=steps, answer=answer,
                      plus_loss=end_loss(direction, flow.PLUS)
                      if np.isfinite(direction.z_plus) else np.nan, **fields)


def _paths(direction, scales, half: float, lr, steps, trajectory: bool) -> dict:
    horizon = 2.0 * half if np.isfinite(half) else 1.0
    if steps is not None:
        horizon = max(horizon, lr * steps) if trajectory else lr * steps
    times = np.linspace(0.0, horizon, PATH_POINTS) if trajectory else np.array([0.0])
    if steps is not None:
        times = np.unique(np.append(times, lr * steps))
    paths = flow.path(direction, scales, times)  # (T, L)
    out = {}
    if steps is not None:
        out["z_after_steps"] = float(np.prod(paths[int(np.searchsorted(times, lr * steps))]))
    if trajectory:
        out["times"], out["paths"] = times, paths
    return out
