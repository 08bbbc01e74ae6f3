"""Cross-entropy: ncsolve's answer against gradient-method runs.

There is no closed form: the theory side is :func:`ncsolve.solvers.crossentropy.solve`, whose
answer is "proved" at depth 1 (and for the origin) and the best of a search otherwise.
A run is judged by its objective against that answer, by its gradient norm, and by its
Grams after the best relabeling of classes of equal size (minimizers such as the square
of K = 4 are not unique under class permutations).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..core.metrics import loss_scale, objective_gap, run_geometry
from ..core.objective import FullObjective
from ..inputs.problem import Problem
from ..core.constants import EXACT, PROVED, RUN_RANK_RTOL
from ..results.table import column
from .common import Tolerances, _loss_tolerance, _run_end, _worst
from .alignment import Alignment, CETarget, align, class_permutations
from .report import ComparisonReport, _run_errors, _run_head, _run_timing, _trajectory_dicts
from .text import format_ce_report

# a run's singular value of X D^(1/2) below this times the theory's largest is zero
RANK_RTOL = RUN_RANK_RTOL
COLLAPSE_FRACTION = 1e-3  # a class mean shorter than this times the theory's longest is collapsed


@dataclass(frozen=True, eq=False)
class CERunReport:
    """How one cross-entropy run compares with ncsolve's answer.

    Attributes
    ----------
    status : {"global", "local", "not-converged"}
        See :func:`assess_ce`.
    beats_theory : bool
        The run's objective is below the answer's by more than the loss tolerance.
    loss, gap : float
        The run's objective and its relative gap to the answer's.
    grad_norm : float
    converged : bool
        ``grad_norm <= Tolerances.grad_tol``.
    rank : int
        Rank of the run's mean logits (no bias) scaled by D^(1/2).
    singular_values : ndarray
        Singular values of those logits, descending.
    collapsed : list of int
        Classes whose class-mean feature is (numerically) zero.
    matched : str or None
        A configuration of ncsolve's search with the run's objective, when there is one
        (e.g. a structured candidate at a local run).
    errors, relative_errors, layer_errors : dict
        Largest normalized and relative distances over layers, and the normalized
        distances per layer, after :func:`align`.
    comparison : str
        The alignment method ("permutation", "spectrum" or "none").
    permutation : list of int or None
        The relabeling used.
    nc1 : list of float
    notes : list of str
    """

    status: str
    beats_theory: bool
    seed: int | None
    method: str
    loss: float
    gap: float
    grad_norm: float
    converged: bool
    rank: int
    singular_values: np.ndarray
    collapsed: list
    matched: str | None
    errors: dict
    relative_errors: dict
    layer_errors: dict
    comparison: str
    permutation: list | None
    nc1: list
    notes: list
    steps: int
    elapsed: float
    message: str
    trajectory: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            **_run_head(self, ("loss", "gap", "grad_norm"),
                        beats_theory=bool(self.beats_theory)),
            "rank": int(self.rank),
            "singular_values": column(self.singular_values),
            "matched": self.matched,
            **_run_errors(self),
            "comparison": self.comparison,
            "permutation": self.permutation,
            "nc1": column(self.nc1),
            "notes": list(self.notes),
            **_run_timing(self),
            "trajectory": _trajectory_dicts(self),
        }


def _ce_status(loss: float, target: float, converged: bool, geometry_ok: bool,
               rtol: float, scale: float) -> tuple[str, bool]:
    """(status, beats_theory) from the objective, the gradient and the Grams."""
    if not np.isfinite(loss):
        return "not-converged", False
    tol = _loss_tolerance(target, rtol, scale)
    beats = bool(loss < target - tol)
    if not converged:
        return "not-converged", beats
    if beats:
        return "global", True
    if loss > target + tol:
        return "local", False
    return ("global" if geometry_ok else "not-converged"), False


def _logit_spectrum(problem: Problem, outputs: np.ndarray, reference: float):
    """Singular values of outputs D^(1/2) and their numerical rank against ``reference``."""
    root_n = np.sqrt(np.asarray(problem.n, dtype=float))
    s = np.linalg.svd(outputs * root_n[None, :], compute_uv=False)
    scale = reference if reference > 0 else float(s.max(initial=0.0))
    return s, int(np.sum(s > RANK_RTOL * scale)) if scale > 0 else 0


def _collapsed_classes(feature_gram: np.ndarray, solution) -> list:
    norms = np.sqrt(np.maximum(np.diag(feature_gram), 0.0))
    reference = float(np.max(solution.feature_norm, initial=0.0))
    threshold = COLLAPSE_FRACTION * reference if reference > 0 else 1e-6  # theory at the origin
    return [int(k) for k in np.flatnonzero(norms <= threshold)]


def _matched_configuration(solution, loss: float, rtol: float, scale: float) -> str | None:
    """The candidate or search end point of ncsolve with the run's objective, if any."""
    tol = _loss_tolerance(loss, rtol, scale)
    record = solution.search_record()
    for cand in record.candidates:
        if abs(cand.loss - loss) <= tol:
            return f"candidate: {cand.label} (rank {cand.rank})"
    for run in record.ends:
        if abs(run.loss - loss) <= tol:
            return f"an end point of ncsolve's search (rank {run.rank})"
    return None


def _ce_notes(status: str, beats: bool, solution, gap: float, alignment: Alignment,
              errors: dict, tolerances: Tolerances, loss_matches: bool) -> list:
    notes = []
    if beats and solution.certainty in (PROVED, EXACT):
        notes.append(f"this run is lower than an objective ncsolve reports as proved "
                     f"(relative gap {gap:+.2e}): a bug in ncsolve or a tolerance problem")
    elif beats:
        notes.append(f"this run is lower than ncsolve's best found (relative gap {gap:+.2e}); "
                     "the CE search missed it")
    elif status == "global" and solution.certainty not in (PROVED, EXACT):
        notes.append("the run attains ncsolve's best found; that this is the global minimum "
                     "is not proved (certainty: best found)")
    if status == "not-converged" and loss_matches and _worst(errors.values()) > tolerances.gram_tol:
        notes.append("the objective matches but the geometry does not (largest distance "
                     f"{_worst(errors.values()):.2e} > gram_tol, comparison: {alignment.method})")
    return notes


def assess_ce(solution, objective: FullObjective, x: np.ndarray,
              tolerances: Tolerances = Tolerances(), *, target: CETarget | None = None,
              perms: np.ndarray | None | str = "auto", **run) -> CERunReport:
    """Compare the parameters ``x`` of a cross-entropy model with ncsolve's answer.

    Status: "global" when the gradient norm is within ``tolerances.grad_tol`` and the
    objective is within ``tolerances.loss_rtol`` (relative) of ``solution.loss``
    with every Gram and the outputs within ``tolerances.gram_tol`` after
    :func:`align`, or when a converged run is lower than the answer by more than the
    tolerance (then ``beats_theory`` is True: ncsolve's search missed it); "local"
    when a converged run is higher; "not-converged" otherwise.

    Parameters
    ----------
    solution : Result
        The answer for ``objective.problem`` (with its widths): cross-entropy, or
        a regularized bias of either loss (judged the same way).
    objective : FullObjective
        Layout and objective of ``x`` (loss "ce").
    x : ndarray
        Flat parameter vector.
    tolerances : Tolerances
    target : CETarget, optional
        ``CETarget.from_solution(solution)``, to save recomputing it.
    perms : ndarray, None or "auto"
        Class relabelings to try (:func:`class_permutations`); None for spectra.
    **run
        Keyword-only ``grad_norm`` and the descent's record, as for :func:`assess`.

    Returns
    -------
    CERunReport
    """
    problem = objective.problem
    run = _run_end(objective, x, tolerances, **run)
    target = CETarget.from_solution(solution) if target is None else target
    perms = class_permutations(problem.n) if isinstance(perms, str) else perms
    diverged = not np.isfinite(run["loss"])
    geometry, alignment, (s, rank), collapsed = _ce_geometry(solution, objective, x, target,
                                                             perms, diverged)
    errors = {k: _worst(v) for k, v in alignment.normalized.items()}
    scale = loss_scale(objective)
    status, beats, gap, notes = _verdict(solution, run, alignment, errors, tolerances, scale)
    if diverged:
        notes.append(_diverged_note(run))
    return CERunReport(
        status=status, beats_theory=beats, gap=gap, rank=rank, singular_values=s,
        collapsed=collapsed,
        matched=None if status == "global" else
        _matched_configuration(solution, run["loss"], tolerances.loss_rtol, scale),
        errors=errors, relative_errors={k: _worst(v) for k, v in alignment.relative.items()},
        layer_errors=alignment.normalized, comparison=alignment.method,
        permutation=alignment.permutation, nc1=list(geometry.nc1), notes=notes, **run,
    )


def _verdict(solution, run: dict, alignment: Alignment, errors: dict, tolerances: Tolerances,
             scale: float) -> tuple[str, bool, float, list]:
    """Status, ``beats_theory``, relative gap and notes of a run against the answer."""
    theory = float(solution.loss)
    geometry_ok = not alignment.comparable or _worst(errors.values()) <= tolerances.gram_tol
    status, beats = _ce_status(run["loss"], theory, run["converged"], geometry_ok,
                               tolerances.loss_rtol, scale)
    gap = objective_gap(run["loss"], theory, scale)
    loss_matches = bool(abs(gap) <= tolerances.loss_rtol)
    notes = _ce_notes(status, beats, solution, gap, alignment, errors, tolerances, loss_matches)
    return status, beats, gap, notes


def _diverged_note(run: dict) -> str:
    what = run["message"] or f"objective {run['loss']}"
    return f"the run diverged ({what})"


def _ce_geometry(solution, objective: FullObjective, x: np.ndarray, target: CETarget, perms,
                 diverged: bool):
    """The run's geometry, its alignment with the answer, logit spectrum and collapsed classes."""
    # the geometry of a diverged run is inf/nan; it is reported, not used
    with np.errstate(all="ignore") if diverged else contextlib.nullcontext():
        geometry = run_geometry(objective, x)
        if diverged or not all(np.all(np.isfinite(m)) for m in (
                geometry.outputs, *geometry.feature_grams, *geometry.classifier_grams)):
            return geometry, _no_alignment(objective.problem.depth), (
                np.full(objective.problem.K, np.nan), 0), []
        alignment = align(geometry, target, perms)
        spectrum = _logit_spectrum(objective.problem, geometry.outputs,
                                   float(np.max(target.singular_values, initial=0.0)))
        collapsed = _collapsed_classes(geometry.feature_grams[0], solution)
    return geometry, alignment, spectrum, collapsed


def _no_alignment(depth: int) -> Alignment:
    """The alignment of a run whose matrices are not finite: every distance nan."""
    distances = {"features": [np.nan] * depth, "classifier": [np.nan] * depth,
                 "outputs": [np.nan]}
    return Alignment("diverged", None, distances, {k: list(v) for k, v in distances.items()})


@dataclass(frozen=True, eq=False)
class CEVerifyReport(ComparisonReport):
    """ncsolve's cross-entropy answer versus one or more descent runs.

    The attributes of :class:`~ncsolve.verify.report.ComparisonReport`, with
    ``solution`` a :class:`ncsolve.solvers.crossentropy.CESolution` and ``runs`` a list of
    :class:`CERunReport`, and:

    Attributes
    ----------
    comparison : str
        How the Grams were compared (see :func:`align`).
    """

    comparison: str

    def __str__(self) -> str:
        # a comparison with a searched or proved answer (cross-entropy, regularized bias)
        # has the cross-entropy layout, whatever the loss
        return format_ce_report(self)

    @property
    def beats_theory(self) -> bool:
        return any(r.beats_theory for r in self.runs)

    @property
    def exit_code(self) -> int:
        """0 when the best run reached ncsolve's answer and no run went below it, else 1."""
        return 0 if self.status == "global" and not self.beats_theory else 1

    def summary(self) -> list[dict]:
        """Runs grouped by status, objective (7 digits) and logit rank."""
        def key(r):
            return r.status, f"{r.loss:.7g}", r.rank

        counts = Counter(key(r) for r in self.runs)
        return [{"status": status, "loss": float(loss), "rank": rank, "count": count}
                for (status, loss, rank), count in counts.most_common()]

    def notes(self) -> list:
        out = list(self.best_run.notes)
        lower = [r.seed for r in self.runs if r.beats_theory and r is not self.best_run]
        if lower:
            out.append(f"runs with seeds {', '.join(map(str, lower))} "
                       "are also below ncsolve's answer")
        return out

    def _theory_loss(self) -> float:
        return float(self.solution.loss)

    def _outcome_dict(self) -> dict:
        best, sol = self.best_run, self.solution
        return {
            "certainty": sol.certainty,
            "beats_theory": bool(self.beats_theory),
            "notes": self.notes(),
            "errors": best.errors,
            "relative_errors": best.relative_errors,
            "comparison": self.comparison,
            "collapsed": list(best.collapsed),
            "theory_collapsed": [int(k) for k in np.flatnonzero(sol.collapsed)],
            "rank": int(best.rank),
        }

    def _theory_dict(self) -> dict:
        return _ce_theory_dict(self.solution)


def _ce_theory_dict(sol) -> dict:
    record = sol.search_record()
    runner = record.runner_up
    return {
        "loss": float(sol.loss),
        "certainty": sol.certainty,
        "certainty_reason": record.reason,
        "geometry": sol.geometry,
        "rank": int(sol.rank),
        "unique": sol.unique,
        "singular_values": column(CETarget.from_solution(sol).singular_values),
        "etf_loss": record.etf_loss,
        "runner_up": None if runner is None else {"name": runner.label, "loss": runner.loss},
        "restarts": record.restarts,
        "hits": record.hits,
    }
