"""MSE: a gradient-method run against the theory's critical points.

:func:`assess` reads off the run's value in every direction of the target
(:func:`~ncsolve.verify.critical_points.run_directions`), builds the matching
*candidate* critical point (:class:`~ncsolve.verify.critical_points.TheoryTarget`),
and compares the run with it (statuses: see :mod:`ncsolve.verify`).
:class:`VerifyReport` holds the comparison of every run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..core.metrics import RunGeometry, loss_scale, objective_gap, run_geometry
from ..core.objective import FullObjective
from ..inputs.problem import Problem
from ..results.table import column
from .common import Tolerances, _loss_tolerance, _run_end, _worst
from .critical_points import TheoryTarget, run_directions
from .report import ComparisonReport, _run_errors, _run_head, _run_timing, _trajectory_dicts
from .text import format_report


@dataclass(frozen=True, eq=False)
class RunReport:
    """How one run compares with the theory.

    Attributes
    ----------
    status : {"global", "local", "not-converged"}
        See the module docstring.
    seed : int or None
        Seed of the run's random start.
    loss : float
        The run's final objective.
    candidate_loss : float
        Objective of the matched critical point of the theory.
    gap : float
        Relative gap of ``loss`` to the global minimum
        (:func:`ncsolve.core.metrics.objective_gap`, on the problem's scale when the
        minimum is 0).
    grad_norm : float
        Gradient norm at the end of the run.
    converged : bool
        ``grad_norm <= Tolerances.grad_tol``.
    z_run, z_candidate : ndarray
        The run's and the candidate's product singular value in each direction.
    zero_directions : list of int
        Directions that are zero in the run (theory order: decreasing sigma).
    collapsed : list of int
        Classes whose class mean is zero at the matched point (class order).
    errors, relative_errors : dict
        Largest normalized (shape) and relative (scale included) Frobenius distance
        to the candidate over layers, for "features", "classifier", "outputs".
    layer_errors : dict
        The normalized distances at every layer (lists, layer 0 first).
    global_errors : dict
        Largest normalized distances to the global minimizer (differs from
        ``errors`` when the run is at another critical point).
    nc1 : list of float
        NC1 of the features at every layer (nan where undefined: the class means
        do not spread).
    misalignment : float
        Off-diagonal part of the run's outputs in the theory's directions (0 at a
        critical point of the theory).
    notes : list of str
        Remarks on the run, e.g. that it diverged (then every geometric field is nan).
    """

    status: str
    seed: int | None
    method: str
    loss: float
    candidate_loss: float
    gap: float
    grad_norm: float
    converged: bool
    z_run: np.ndarray
    z_candidate: np.ndarray
    candidate_global: bool
    zero_directions: list
    collapsed: list
    errors: dict
    relative_errors: dict
    layer_errors: dict
    global_errors: dict
    nc1: list
    misalignment: float
    steps: int
    elapsed: float
    message: str
    trajectory: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        """True when the run's objective is not finite."""
        return not np.isfinite(self.loss)

    def to_dict(self) -> dict:
        return {
            **_run_head(self, ("loss", "candidate_loss", "gap", "grad_norm")),
            "zero_directions": list(self.zero_directions),
            "candidate_is_global": bool(self.candidate_global),
            "z": column(self.z_run),
            "z_candidate": column(self.z_candidate),
            **_run_errors(self),
            "global_errors": self.global_errors,
            "nc1": column(self.nc1),
            "misalignment": float(self.misalignment),
            **_run_timing(self),
            "notes": list(self.notes),
            "trajectory": _trajectory_dicts(self),
        }


def _zero_classes(target: TheoryTarget) -> np.ndarray:
    """Classes whose class-mean feature (hence output) is zero at a critical point."""
    lengths = np.diag(target.feature_grams[0])
    return np.flatnonzero(lengths <= 1e-12 * max(float(lengths.max(initial=0.0)), 1e-300))


def assess(solution, objective: FullObjective, x: np.ndarray,
           tolerances: Tolerances = Tolerances(), **run) -> RunReport:
    """Which critical point of the theory the parameters ``x`` are at, and how closely.

    Parameters
    ----------
    solution : ncsolve.solvers.mse.Solution
        The theory's global minimizer for ``objective.problem`` (MSE).
    objective : FullObjective
        Layout and objective of ``x``.
    x : ndarray
        Flat parameter vector (e.g. ``DescentResult.x``).
    tolerances : Tolerances
        Matching thresholds.
    **run
        Keyword-only: ``grad_norm``, the gradient norm at ``x`` (computed when
        omitted), and the descent's ``seed``, ``method``, ``steps``, ``elapsed``,
        ``message``, copied into the result.

    Returns
    -------
    RunReport
    """
    problem = objective.problem
    run = _run_end(objective, x, tolerances, **run)
    loss, scale = run["loss"], loss_scale(objective)
    if not np.isfinite(loss):
        return _diverged_run(solution, problem, objective.M, scale, run)
    sigma = np.asarray(solution.sigma, dtype=float)
    A = np.asarray(solution.directions(), dtype=float)
    z_run, active, z_candidate, candidate, misalignment = _candidate(
        solution, objective, x, A, tolerances)
    best = TheoryTarget.build(problem, A, sigma, np.asarray(solution.z, dtype=float))
    geometry = run_geometry(objective, x)
    normalized, relative, to_global = _distances(geometry, candidate, best, problem)
    errors = {k: _worst(v) for k, v in normalized.items()}
    candidate_global = _candidate_is_global(solution, active, candidate.loss, scale)
    matches, notes = _matches(problem, loss, candidate.loss, errors, tolerances, scale)
    status = ("global" if candidate_global else "local") if matches else "not-converged"
    return RunReport(
        status=status, candidate_loss=candidate.loss,
        gap=objective_gap(loss, float(solution.loss), scale),
        z_run=z_run, z_candidate=z_candidate, candidate_global=candidate_global,
        zero_directions=[int(i) for i in np.flatnonzero(~active)],
        collapsed=[int(i) for i in _zero_classes(candidate)],
        errors=errors, relative_errors={k: _worst(v) for k, v in relative.items()},
        layer_errors=normalized, global_errors={k: _worst(v) for k, v in to_global.items()},
        nc1=list(geometry.nc1), misalignment=misalignment, notes=notes, **run,
    )


def _candidate(solution, objective: FullObjective, x: np.ndarray, A: np.ndarray,
               tolerances: Tolerances):
    """The critical point of the theory that keeps the directions the run keeps.

    Returns the run's value in each of the theory's directions ``A``, the directions
    it keeps, the candidate's product singular values and :class:`TheoryTarget` (in
    the basis of ``A`` rotated to the run's), and the run's misalignment.
    """
    problem = objective.problem
    sigma = np.asarray(solution.sigma, dtype=float)
    z_run, basis, misalignment = run_directions(problem, _product(objective, x), A, sigma)
    active = _active_directions(solution, objective, z_run, tolerances)
    z_candidate = np.where(active, np.nan_to_num(np.asarray(solution.z_local, dtype=float)), 0.0)
    candidate = TheoryTarget.build(problem, basis, sigma, z_candidate)
    return z_run, active, z_candidate, candidate, misalignment


def _distances(geometry: RunGeometry, candidate: TheoryTarget, best: TheoryTarget,
               problem: Problem) -> tuple[dict, dict, dict]:
    """Normalized and relative distances to the candidate, normalized ones to the global
    minimizer; a zero target is measured on the global minimizer's scale, then the unit's."""
    scales = (best, TheoryTarget.unit(problem))
    return (candidate.distances(geometry, scales=scales),
            candidate.distances(geometry, normalized=False, scales=scales),
            best.distances(geometry, scales=scales))


def _product(objective: FullObjective, x: np.ndarray) -> np.ndarray:
    """The run's output matrix without bias, ``W_M ... W_1 H``."""
    params = objective.split(x)
    return params.product() @ params.H


def _active_directions(solution, objective: FullObjective, z_run: np.ndarray,
                       tolerances: Tolerances) -> np.ndarray:
    """Directions the run keeps: above ``zero_fraction`` of ``z_local``, capped by the rank."""
    z_local = np.asarray(solution.z_local, dtype=float)
    active = np.isfinite(z_local) & (z_run > tolerances.zero_fraction * np.nan_to_num(z_local))
    return active & _rank_allowed(active, objective.widths, objective.problem.K)


def _candidate_is_global(solution, active: np.ndarray, candidate_loss: float,
                         scale: float) -> bool:
    """The candidate keeps the global minimizer's directions, or ties it when that is not unique."""
    theory_loss = float(solution.loss)
    same_pattern = bool(np.array_equal(active, np.asarray(solution.z, dtype=float) > 0))
    return same_pattern or (
        not bool(solution.unique)
        and abs(candidate_loss - theory_loss) <= _loss_tolerance(theory_loss, 1e-10, scale)
    )


def _matches(problem: Problem, loss: float, candidate_loss: float, errors: dict,
             tolerances: Tolerances, scale: float) -> tuple[bool, list]:
    """Whether the run is at the candidate, and the notes on how that was judged."""
    tol = _loss_tolerance(candidate_loss, tolerances.loss_rtol, scale)
    decays = _decay_size(problem)
    checked = errors if decays > tol else {"outputs": errors["outputs"]}
    matches = abs(loss - candidate_loss) <= tol and _worst(checked.values()) <= tolerances.gram_tol
    notes = [] if decays > tol else [_invisible_decays_note(decays, tol)]
    return matches, notes


def _decay_size(problem: Problem) -> float:
    """What the decays add to the objective of a balanced model that outputs the labels.

    ``c * sum_k sqrt(n_k)^q``: the decay term at ``z = sigma = sqrt(n)``, the largest
    any critical point of the problem needs (up to the bias).  When even this is
    below the loss tolerance, the objective cannot tell how the product is split
    among the layers.
    """
    return float(problem.c * np.sum(np.sqrt(problem.n.astype(float)) ** problem.q))


def _invisible_decays_note(decays: float, tol: float) -> str:
    return (f"the decays add at most {decays:.2g} to the objective of a balanced model, less "
            f"than the loss tolerance {tol:.2g}: within tolerance the objective does not fix how "
            "the product is split among the layers, so only the objective and the outputs "
            "decide the match (feature and classifier Grams, NC1: shown, not checked)")


def _diverged_run(solution, problem: Problem, depth: int, scale: float, run: dict) -> RunReport:
    """The comparison of a run whose objective is inf or nan: not-converged, no geometry."""
    K, nan = problem.K, float("nan")
    layers = {"features": [nan] * depth, "classifier": [nan] * depth, "outputs": [nan]}
    worst = {k: nan for k in layers}
    message = run["message"]
    what = f"the run {message}" if message.startswith("diverged") else \
        f"the run diverged (objective {run['loss']})"
    note = f"{what}; it matches no critical point"
    return RunReport(
        status="not-converged", candidate_loss=nan,
        gap=objective_gap(run["loss"], float(solution.loss), scale),
        z_run=np.full(K, nan), z_candidate=np.full(K, nan), candidate_global=False,
        zero_directions=[], collapsed=[], errors=dict(worst), relative_errors=dict(worst),
        layer_errors=layers, global_errors=dict(worst), nc1=[nan] * depth, misalignment=nan,
        notes=[note], **run,
    )


def _rank_allowed(active: np.ndarray, widths, K: int) -> np.ndarray:
    """Keep at most min(K, widths) active directions (the largest first)."""
    cap = min(K, *widths)
    return np.cumsum(active) <= cap


@dataclass(frozen=True, eq=False)
class VerifyReport(ComparisonReport):
    """Theory versus one or more descent runs (MSE).

    The attributes of :class:`~ncsolve.verify.report.ComparisonReport`, with
    ``solution`` the theory's global minimizer (a Solution) and ``runs`` a list
    of :class:`RunReport`. ``spectral``: with ``spectral_start``, the flow's prediction
    against descent from the spectral start and from the random starts
    (:class:`~ncsolve.verify.spectral.SpectralCheck`), else None.
    """

    spectral: object = None

    def __str__(self) -> str:
        text = format_report(self)
        if self.spectral is None:
            return text
        return "\n".join([text, *self.spectral.lines()])

    def _raw_dict(self) -> dict:
        out = super()._raw_dict()
        if self.spectral is not None:
            out["spectral_start"] = self.spectral.to_dict()
        return out

    @property
    def exit_code(self) -> int:
        """0 when the best run reached the global minimizer within tolerance, else 1."""
        return 0 if self.status == "global" else 1

    def summary(self) -> list[dict]:
        """How many runs reached each critical point: status, collapsed set, count, loss."""
        def key(r):
            return r.status, tuple(r.collapsed), tuple(r.zero_directions)

        counts = Counter(key(r) for r in self.runs)
        rows = []
        for (status, collapsed, directions), count in counts.most_common():
            loss = min(r.loss for r in self.runs if key(r) == (status, collapsed, directions))
            rows.append({"status": status, "collapsed": list(collapsed),
                         "zero_directions": list(directions), "count": count,
                         "loss": float(loss)})
        return rows

    def _theory_loss(self) -> float:
        return float(self.solution.loss)

    def _outcome_dict(self) -> dict:
        best = self.best_run
        return {
            "errors": best.errors,
            "relative_errors": best.relative_errors,
            "collapsed": list(best.collapsed),
            "zero_directions": list(best.zero_directions),
            "theory_collapsed": [int(k) for k in np.flatnonzero(self.solution.collapsed)],
            "theory_zero_directions": [int(i) for i in np.flatnonzero(self.solution.z <= 0)],
            "notes": list(best.notes),
        }

    def _theory_dict(self) -> dict:
        solution = self.solution
        return {
            "sigma": column(solution.sigma),
            "z": column(solution.z),
            "z_local": column(solution.z_local),
            "unique": bool(solution.unique),
            "geometry": str(solution.geometry),
        }
