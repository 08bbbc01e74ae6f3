"""``verify``: descent on the full problem, every run compared with the theory."""

from __future__ import annotations

import numpy as np

from ..core.objective import DEFAULT_WIDTH, FullObjective, default_widths
from ..inputs.problem import LOSSES, Problem
from ..inputs.validation import Options, check
from .crossentropy import CEVerifyReport, _verify_ce
from .common import Tolerances
from .mse import VerifyReport, _verify_mse
from .regularized import _verify_regularized


def verify(
    problem: Problem,
    widths=None,
    *,
    method: str = "lbfgs",
    restarts: int = 1,
    seed: int = 0,
    record_every: int | None = None,
    tolerances: Tolerances = Tolerances(),
    solution=None,
    progress: bool | None = False,
    **options,
) -> VerifyReport | CEVerifyReport:
    """Run descent on the full problem and compare every run with the theory.

    Parameters
    ----------
    problem : Problem
        An MSE or a cross-entropy problem (``problem.loss``); for cross-entropy
        the theory is :func:`ncsolve.solvers.crossentropy.solve` and the report a
        :class:`CEVerifyReport` (see :func:`assess_ce`).
    widths : sequence of int or int, optional
        Layer widths d_1..d_M, or one width for all layers (default: problem.widths,
        else ``DEFAULT_WIDTH`` = 64 for every layer, as ``ncsolve verify``; the
        theory caps the rank when a width is below K).
    method : {"lbfgs", "gd", "momentum"}
        Descent method (see :func:`ncsolve.core.descent.descend`).
    restarts : int
        Number of runs, seeds ``seed, seed+1, ...``.
    seed : int
        First seed.
    record_every : int, optional
        Record NC1 and the distances to the global minimizer every this many steps;
        each run's ``trajectory`` then holds ``Snapshot`` objects with dict data.
    tolerances : Tolerances
        Matching thresholds.
    solution : Solution or CESolution, optional
        The theory's answer (computed with ``ncsolve.solvers.mse.solve``, or
        ``ncsolve.solvers.crossentropy.solve`` for cross-entropy, when omitted).
    progress : bool or None
        Progress on stderr (None: only when stderr is a terminal).
    **options
        Passed to the descent method (lr, momentum, steps, init_scale, maxiter, ...).

    Returns
    -------
    VerifyReport or CEVerifyReport
    """
    check(problem.loss, Options(LOSSES), "loss")
    if widths is None or isinstance(widths, (int, np.integer)):
        widths = default_widths(problem, DEFAULT_WIDTH if widths is None else widths)
    objective = FullObjective(problem, widths)
    if "steps" in options and method == "lbfgs":
        options["maxiter"] = options.pop("steps")
    settings = {"restarts": restarts, "seed": seed, "record_every": record_every,
                "progress": progress}
    branch = _verify_ce if problem.loss == "ce" else _verify_mse
    if problem.bias == "regularized":
        branch = _verify_regularized
    return branch(objective, method, settings, options, tolerances, solution)
