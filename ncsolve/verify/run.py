"""``verify``: descent on the full problem, every run compared with the theory.

The theory is ncsolve's answer for the problem with the model's widths: the MSE
closed form, or a searched or proved answer (cross-entropy; a regularized bias of
either loss, exact for its bias and proved or searched over it).  MSE runs are
compared with the theory's critical points (:func:`~ncsolve.verify.assess`); runs
against a searched or proved answer are judged as for cross-entropy
(:func:`~ncsolve.verify.assess_ce`): by the loss against the answer's, the gradient
norm and the Grams of every layer after the best relabeling of classes of equal
size.  What that comparison reads of an answer (its outputs, core fields and
``search_record()``) every answer has, so the answer is compared as it is.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from ..core.descent import descend
from ..core.metrics import run_geometry
from ..core.objective import DEFAULT_WIDTH, FullObjective, default_widths
from ..inputs.problem import LOSSES, Problem
from ..inputs.validation import Options, check, invalid
from ..solvers import solve
from .alignment import CETarget, align, class_permutations, comparison_text
from .common import Tolerances, problem_with_widths
from .critical_points import TheoryTarget
from .crossentropy import CEVerifyReport, assess_ce
from .mse import VerifyReport, assess


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
    spectral_start: bool = False,
    targets=None,
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
    solution : Result, optional
        The theory's answer (computed when omitted with :func:`ncsolve.solvers.solve`
        for the problem with the model's widths).
    progress : bool or None
        Progress on stderr (None: only when stderr is a terminal).
    spectral_start : bool
        Also run plain gradient descent from the spectral start that the random starts
        read as (:mod:`ncsolve.verify.spectral`) and compare both with the gradient flow
        (squared loss, ``method="gd"``; the report's ``spectral``).
    targets : array of shape (N, t), optional
        The per-sample targets of a problem built with ``targets=`` (it holds only their
        moments; the full problem needs every row). A problem with label smoothing or
        soft labels needs nothing more. Such problems are judged against the closed
        form by :func:`ncsolve.verify.targets.assess_target` (docs/verify.md).
    **options
        Passed to the descent method (lr, momentum, steps, init_scale, maxiter, ...).

    Returns
    -------
    VerifyReport or CEVerifyReport
    """
    check(problem.loss, Options(LOSSES), "loss")
    if widths is None or isinstance(widths, (int, np.integer)):
        widths = default_widths(problem, DEFAULT_WIDTH if widths is None else widths)
    objective = FullObjective(problem, widths, samples=targets)
    if "steps" in options and method == "lbfgs":
        options["maxiter"] = options.pop("steps")
    settings = {"restarts": restarts, "seed": seed, "record_every": record_every,
                "progress": progress}
    spectral = None
    if spectral_start:
        spectral = _spectral(objective, method, options, progress)
    if solution is None:
        solution = _theory(objective)
    if problem.target is not None:
        return _verify_targets(objective, solution, tolerances, method, settings, options)
    if problem.features == "nonnegative":
        return _verify_nonnegative(objective, solution, tolerances, method, settings, options)
    searched = problem.loss == "ce" or problem.bias == "regularized"
    branch = _verify_searched if searched else _verify_mse
    report = branch(objective, solution, tolerances, method, settings, options)
    if spectral is not None:
        report = replace(report, spectral=spectral.with_random(report.runs))
    return report


def _spectral(objective: FullObjective, method: str, options: dict, progress):
    """The flow's prediction and descent from the spectral start (before the random runs,
    so that a refusal comes before any training)."""
    from .spectral import check_spectral, spectral_check

    check_spectral(objective.problem, objective.widths, method)
    return spectral_check(objective, options.get("init_scale", 0.1), options.get("lr", 0.1),
                          options.get("steps", 30000), progress=progress)


def _theory(objective: FullObjective):
    """ncsolve's answer for the problem with the model's widths (they cap the rank)."""
    return solve(problem_with_widths(objective.problem, objective.widths))


def _verify_mse(objective: FullObjective, solution, tolerances: Tolerances, method: str,
                settings: dict, options: dict) -> VerifyReport:
    """Every run compared with the MSE theory's critical points (:func:`assess`)."""
    recorder = _mse_recorder(objective, solution) if settings["record_every"] else None
    return VerifyReport(**_descend_and_assess(objective, assess, solution, tolerances,
                                              recorder, method, settings, options))


def _verify_searched(objective: FullObjective, solution, tolerances: Tolerances, method: str,
                     settings: dict, options: dict) -> CEVerifyReport:
    """Every run compared with a searched or proved answer (:func:`assess_ce`)."""
    target = CETarget.from_solution(solution)
    perms = class_permutations(objective.problem.n)
    recorder = _searched_recorder(objective, target, perms) if settings["record_every"] \
        else None
    fields = _descend_and_assess(objective, assess_ce, solution, tolerances, recorder, method,
                                 settings, options, target=target, perms=perms)
    runs = fields["runs"]
    method_used = next((r.comparison for r in runs if r.comparison != "diverged"),
                       runs[0].comparison if runs else "none")
    return CEVerifyReport(**fields, comparison=comparison_text(method_used, perms))


def _verify_targets(objective: FullObjective, solution, tolerances: Tolerances, method: str,
                    settings: dict, options: dict) -> CEVerifyReport:
    """Every run compared with the closed form of a non-one-hot target, directly."""
    from .targets import COMPARISON, assess_target, theory_matrices

    if settings["record_every"]:
        raise invalid("record_every", "trajectories are recorded for one-hot labels only; "
                      "leave it (and --plot) out with a target other than one-hot")
    fields = _descend_and_assess(objective, assess_target, solution, tolerances, None, method,
                                 settings, options, theory=theory_matrices(solution))
    return CEVerifyReport(**fields, comparison=COMPARISON)


def _verify_nonnegative(objective: FullObjective, solution, tolerances: Tolerances,
                        method: str, settings: dict, options: dict) -> CEVerifyReport:
    """Bounded runs (H >= 0) from random nonnegative starts and from the answer itself,
    each judged as a searched answer is (:func:`assess_ce`)."""
    from .nonnegative import answer_target, bounded_descent, theory_start

    start = theory_start(objective, solution)
    target = answer_target(solution)
    perms = class_permutations(objective.problem.n)
    fields = _descend_and_assess(objective, assess_ce, solution, tolerances, None, method,
                                 settings, options, target=target, perms=perms,
                                 runner=partial(bounded_descent, start=start))
    runs = fields["runs"]
    method_used = next((r.comparison for r in runs if r.comparison != "diverged"),
                       runs[0].comparison if runs else "none")
    return CEVerifyReport(**fields, comparison=comparison_text(method_used, perms))


def _descend_and_assess(objective: FullObjective, assess_run, solution, tolerances: Tolerances,
                        recorder, method: str, settings: dict, options: dict, runner=descend,
                        **extra) -> dict:
    """Run descent from every seed and assess each run: the fields of the report.

    ``assess_run`` is :func:`assess` or :func:`assess_ce`, called with ``extra``;
    ``settings`` holds restarts, seed, record_every and progress of :func:`verify`.
    Returns problem, widths, method, options, solution, tolerances, runs and best
    (the index of the run with the lowest objective).
    """
    results = runner(objective, method=method, recorder=recorder, **settings, **options)
    runs = []
    for result in results:
        run = assess_run(
            solution, objective, result.x, tolerances, grad_norm=result.grad_norm,
            seed=result.seed, method=result.method, steps=result.steps,
            elapsed=result.elapsed, message=result.message, **extra,
        )
        runs.append(replace(run, trajectory=list(result.trajectory)))
    losses = [r.loss if np.isfinite(r.loss) else np.inf for r in runs]
    return {"problem": objective.problem, "widths": objective.widths, "method": method,
            "options": dict(options), "solution": solution, "tolerances": tolerances,
            "runs": runs, "best": int(np.argmin(losses))}


def _recorder(objective: FullObjective, distances):
    """Per-snapshot measurements for trajectories: NC1 and ``distances(geometry)``.

    ``distances`` returns a fresh dict of per-layer lists for "features",
    "classifier" and "outputs".  Values that overflow (a diverging run) are
    recorded as inf or nan.
    """

    def record(x: np.ndarray) -> dict:
        with np.errstate(all="ignore"):  # a diverging run overflows: inf/nan are recorded
            geometry = run_geometry(objective, x)
            out = distances(geometry)
        out["outputs"] = out["outputs"][0]
        out["nc1"] = list(geometry.nc1)
        return out

    return record


def _mse_recorder(objective: FullObjective, solution):
    """Per-snapshot NC1 and distances to the global minimizer."""
    problem = objective.problem
    A = np.asarray(solution.directions(), dtype=float)
    target = TheoryTarget.build(problem, A, np.asarray(solution.sigma), np.asarray(solution.z))
    scales = (TheoryTarget.unit(problem),)
    return _recorder(objective, lambda geometry: target.distances(geometry, scales=scales))


def _searched_recorder(objective: FullObjective, target: CETarget, perms):
    """Per-snapshot NC1 and distances to the answer (aligned afresh at every snapshot)."""
    return _recorder(objective, lambda geometry: dict(align(geometry, target, perms).normalized))
