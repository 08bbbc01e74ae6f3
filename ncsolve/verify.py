"""The theory against gradient methods on the full problem.

A run of :mod:`ncsolve.descent` ends at some point ``x``.  The theory (docs/theory.md,
sections 2-5) says that every critical point of interest has the same singular
directions as the target and, in each direction i, a product singular value
that is either 0 or the nonzero local minimum ``z_local_i`` of that direction's
scalar problem.  :func:`assess` reads off the run's value in every direction,
builds the matching *candidate* critical point, and compares the run with it:

* ``global``: the run matches the candidate and the candidate is a global minimizer;
* ``local``: the run matches another critical point of the theory (some
  directions zero that the global minimizer keeps, or the reverse in the window
  of docs/theory.md, section 3);
* ``not-converged``: the run matches no candidate within tolerance.

Directions with equal target singular values form an eigenspace in which the
theory does not fix a basis; there the theory's basis is rotated to the run's
own before comparing, so a run that kept any k of m equivalent directions is
compared with the candidate that keeps exactly those.

:func:`verify` runs descent from one or more seeds and assesses every run.

Cross-entropy has no closed form.  There the theory is ncsolve's answer
(:func:`ncsolve.crossentropy.solve`: proved at depth 1 and for the origin, the best
found by a search otherwise) and :func:`assess_ce` judges a run by its gradient
norm, its objective against the answer's and its Grams after the best relabeling
of classes of equal size (:func:`align`).  A run below the answer is reported with
``beats_theory``: ncsolve's search missed it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from . import descent as _descent
from .metrics import (
    LOSS_FLOOR,
    RunGeometry,
    class_means,
    loss_scale,
    measure,
    normalized_distance,
    objective_gap,
    relative_distance,
    vector_norm,
)
from .objective import FullObjective, default_widths
from .problem import Problem, ProblemError
from .report import _column as _floats

__all__ = [
    "Alignment",
    "CERunReport",
    "CETarget",
    "CEVerifyReport",
    "RunReport",
    "TheoryTarget",
    "Tolerances",
    "VerifyReport",
    "align",
    "assess",
    "assess_ce",
    "class_permutations",
    "critical_point",
    "plot_report",
    "problem_with_widths",
    "verify",
]

STATUSES = ("global", "local", "not-converged")


def _worst(values) -> float:
    """The largest value, nan if any is nan (``max`` would depend on the order)."""
    values = np.asarray(list(values), dtype=float)
    return float(np.max(values)) if values.size else 0.0


def _loss_tolerance(reference: float, rtol: float, scale: float) -> float:
    """Absolute objective tolerance: ``rtol`` relative to ``reference``, floored on the problem's scale."""
    return rtol * max(abs(float(reference)), LOSS_FLOOR * scale)


@dataclass(frozen=True)
class Tolerances:
    """When a run counts as having reached a critical point of the theory.

    Attributes
    ----------
    loss_rtol : float
        Largest difference between the run's objective and the candidate's, relative
        to the candidate's objective, or to ``LOSS_FLOOR`` (1e-8) times the objective
        at the origin (:func:`ncsolve.metrics.loss_scale`) when the candidate's is
        smaller (a minimum of 0 or nearly 0).
    gram_tol : float
        Largest normalized Frobenius distance of any Gram (any layer) or of the
        output matrix to the candidate's (for a zero target: the run's norm on the
        problem's scale, see :meth:`TheoryTarget.distances`).
    grad_tol : float
        Gradient norm at or below which the run is reported as converged (only
        reported for the squared loss; part of the status for cross-entropy).
    zero_fraction : float
        A direction counts as zero when its value is below this fraction of the
        nonzero local minimum ``z_local`` of that direction.
    """

    loss_rtol: float = 1e-6
    gram_tol: float = 1e-3
    grad_tol: float = 1e-6
    zero_fraction: float = 0.5


# ---- the theory side -------------------------------------------------------------------


def _target_gram(problem: Problem) -> np.ndarray:
    n = problem.n.astype(float)
    G = np.diag(n)
    if problem.bias == "free":
        G -= np.outer(n, n) / problem.N
    return G


@dataclass(frozen=True, eq=False)
class TheoryTarget:
    """Grams of one critical point of the theory, in class order (docs/theory.md, section 5).

    Built from directions ``A`` (columns), target singular values ``sigma`` and
    product singular values ``z``; every Gram is invariant to the internal
    rotations of the factors, so it can be compared with any run.
    """

    feature_grams: list
    classifier_grams: list
    outputs: np.ndarray
    z: np.ndarray
    loss: float

    @classmethod
    def build(cls, problem: Problem, A: np.ndarray, sigma: np.ndarray, z: np.ndarray,
              gram: np.ndarray | None = None):
        """The critical point with product singular values ``z`` in directions ``A``.

        ``gram`` replaces the target Gram ``G`` of the problem (used by :meth:`unit`).
        """
        z = np.maximum(np.asarray(z, dtype=float), 0.0)
        sigma = np.asarray(sigma, dtype=float)
        L = problem.L
        decays = (problem.lambda_h, *problem.lambda_w)
        live = sigma > 0
        G = _target_gram(problem) if gram is None else gram
        # C^T = diag(1/sigma) A^T G D^{-1}: class-space coordinates of the features
        Ct = (A[:, live].T @ G) / problem.n / sigma[live, None]
        features, classifiers = [], []
        scale = 1.0
        for j in range(problem.depth):
            scale *= math.sqrt(problem.lbar) / math.sqrt(decays[j])
            # decays many orders apart put a Gram outside float64: it becomes inf
            # or 0, and no run can match it (its distances are nan)
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                s = scale * z ** ((j + 1) / L)  # singular values of the layer-j features
                r = z ** (1 - (j + 1) / L) / scale  # ... of the classifier W_M ... W_{j+1}
                features.append(Ct.T @ (s[live, None] ** 2 * Ct))
                classifiers.append(A @ (r[:, None] ** 2 * A.T))
        outputs = A[:, live] @ (z[live, None] * Ct)
        loss = float(np.sum((z - sigma) ** 2) / (2 * problem.N) + problem.c * np.sum(z**problem.q))
        return cls(features, classifiers, outputs, z, loss)

    @classmethod
    def unit(cls, problem: Problem) -> TheoryTarget:
        """The natural size of every matrix of ``problem``: a model that outputs the labels.

        The balanced point without bias whose product is exactly ``Y`` (one direction
        per class, ``z_k = sigma_k = sqrt(n_k)``).  Its matrices are never zero, so
        they give a scale even when every critical point is the origin (for example
        one class with a free bias).
        """
        root = np.sqrt(problem.n.astype(float))
        return cls.build(problem, np.eye(problem.K), root, root, gram=np.diag(root**2))

    def matrices(self) -> dict:
        """The matrices by kind: per-layer lists for "features" and "classifier", "outputs"."""
        return {"features": self.feature_grams, "classifier": self.classifier_grams,
                "outputs": [self.outputs]}

    def distances(self, run: RunGeometry, normalized: bool = True, scales=()) -> dict:
        """Per-layer distances of a run's geometry to these targets.

        Normalized (shape) or relative Frobenius distances.  Where a target matrix
        is zero (every direction collapsed) neither is defined; the distance is then
        the run's norm divided by the norm of the same matrix of the first of
        ``scales`` where it is nonzero (normally the global minimizer, then
        :meth:`unit`), so that a run at the origin is measured on the scale of the
        problem and a run at rounding size counts as a match.
        """
        dist = normalized_distance if normalized else relative_distance
        runs = {"features": run.feature_grams, "classifier": run.classifier_grams,
                "outputs": [run.outputs]}
        fallbacks = [t.matrices() for t in scales]
        out = {}
        for kind, targets in self.matrices().items():
            out[kind] = []
            for j, (measured, target) in enumerate(zip(runs[kind], targets)):
                if np.any(target):
                    out[kind].append(dist(measured, target))
                else:
                    out[kind].append(_against_scale(measured, [f[kind][j] for f in fallbacks]))
        return out


def _against_scale(measured: np.ndarray, references: list) -> float:
    """``||measured|| / ||reference||`` for the first nonzero, finite reference.

    Without one, 0 for a zero run and 1 otherwise.
    """
    size = vector_norm(measured)
    for reference in references:
        norm = vector_norm(reference)
        if 0 < norm < np.inf:
            return size / norm
    return float(size > 0)


def _groups(sigma: np.ndarray, rtol: float = 1e-9) -> list[np.ndarray]:
    """Runs of (numerically) equal target singular values, in direction order."""
    scale = max(float(np.max(sigma, initial=0.0)), 1e-300)
    groups, start = [], 0
    for i in range(1, len(sigma) + 1):
        if i == len(sigma) or abs(sigma[i] - sigma[start]) > rtol * scale:
            groups.append(np.arange(start, i))
            start = i
    return groups


def _run_directions(problem, Z: np.ndarray, A: np.ndarray, sigma: np.ndarray):
    """The run's value in each direction, and the theory basis rotated to the run's.

    For a critical point ``Z = A diag(z) V^T`` of the theory, ``A^T Z Yt^T A =
    diag(z sigma)``; inside a group of equal sigma the symmetric part of that block
    is diagonalized, which picks the basis the run actually uses.
    """
    n = problem.n
    target = class_means(Z, n) * n  # Z Y^T
    if problem.bias == "free":
        target -= np.outer(Z.sum(axis=1), n) / problem.N  # Z (I - 11^T/N) Y^T
    S = A.T @ target @ A
    z_run, rotated = np.zeros(len(sigma)), A.copy()
    for g in _groups(sigma):
        if sigma[g[0]] > 0:
            block = 0.5 * (S[np.ix_(g, g)] + S[np.ix_(g, g)].T) / sigma[g[0]]
        else:
            B = A[:, g].T @ Z
            block = B @ B.T
        values, vectors = np.linalg.eigh(block)
        order = np.argsort(-values, kind="stable")
        values, vectors = values[order], vectors[:, order]
        z_run[g] = values if sigma[g[0]] > 0 else np.sqrt(np.maximum(values, 0.0))
        rotated[:, g] = A[:, g] @ vectors
    S_rot = rotated.T @ target @ rotated
    off = S_rot - np.diag(np.diag(S_rot))
    misalignment = float(np.linalg.norm(off) / max(np.linalg.norm(S_rot), 1e-300))
    return z_run, rotated, misalignment


# ---- reports ---------------------------------------------------------------------------


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
        (:func:`ncsolve.metrics.objective_gap`, on the problem's scale when the
        minimum is 0).
    grad_norm : float
        Gradient norm at the end of the run.
    converged : bool
        ``grad_norm <= Tolerances.grad_tol``.
    z_run, z_candidate : ndarray
        The run's and the candidate's product singular value in each direction.
    collapsed_directions : list of int
        Directions that are zero in the run (theory order: decreasing sigma).
    collapsed : list of int
        Bias-free: the classes those directions belong to; free bias: the directions.
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
    collapsed_directions: list
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
            "seed": self.seed,
            "method": self.method,
            "status": self.status,
            "loss": float(self.loss),
            "candidate_loss": float(self.candidate_loss),
            "gap": float(self.gap),
            "grad_norm": float(self.grad_norm),
            "converged": bool(self.converged),
            "collapsed": list(self.collapsed),
            "collapsed_directions": list(self.collapsed_directions),
            "candidate_is_global": bool(self.candidate_global),
            "z": _floats(self.z_run),
            "z_candidate": _floats(self.z_candidate),
            "errors": self.errors,
            "relative_errors": self.relative_errors,
            "layer_errors": self.layer_errors,
            "global_errors": self.global_errors,
            "nc1": _floats(self.nc1),
            "misalignment": float(self.misalignment),
            "steps": int(self.steps),
            "elapsed": float(self.elapsed),
            "message": self.message,
            "notes": list(self.notes),
            "trajectory": [_snapshot_dict(s) for s in self.trajectory],
        }


def _snapshot_dict(snapshot) -> dict:
    out = {"step": int(snapshot.step), "loss": float(snapshot.loss),
           "grad_norm": float(snapshot.grad_norm)}
    if isinstance(snapshot.data, dict):
        out.update(snapshot.data)
    return out


def _zero_classes(target: TheoryTarget) -> np.ndarray:
    """Classes whose class-mean feature (hence output) is zero at a critical point."""
    lengths = np.diag(target.feature_grams[0])
    return np.flatnonzero(lengths <= 1e-12 * max(float(lengths.max(initial=0.0)), 1e-300))


def assess(
    solution,
    objective: FullObjective,
    x: np.ndarray,
    tolerances: Tolerances = Tolerances(),
    *,
    grad_norm: float | None = None,
    seed: int | None = None,
    method: str = "",
    steps: int = 0,
    elapsed: float = 0.0,
    message: str = "",
) -> RunReport:
    """Which critical point of the theory the parameters ``x`` are at, and how closely.

    Parameters
    ----------
    solution : ncsolve.solution.Solution
        The theory's global minimizer for ``objective.problem`` (MSE).
    objective : FullObjective
        Layout and objective of ``x``.
    x : ndarray
        Flat parameter vector (e.g. ``DescentResult.x``).
    tolerances : Tolerances
        Matching thresholds.
    grad_norm : float, optional
        Gradient norm at ``x`` (computed when omitted).
    seed, method, steps, elapsed, message
        Copied into the report.

    Returns
    -------
    RunReport
    """
    problem = objective.problem
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run overflows here
        loss, grad = objective(x)
    if grad_norm is None:
        grad_norm = vector_norm(grad)
    run = {"seed": seed, "method": method, "loss": float(loss), "grad_norm": float(grad_norm),
           "converged": bool(grad_norm <= tolerances.grad_tol), "steps": steps,
           "elapsed": elapsed, "message": message}
    scale = loss_scale(objective)
    if not np.isfinite(loss):
        return _diverged_report(solution, problem, objective.M, scale, run)
    sigma = np.asarray(solution.sigma, dtype=float)
    z_local = np.asarray(solution.z_local, dtype=float)
    z_global = np.asarray(solution.z, dtype=float)
    A = np.asarray(solution.directions(), dtype=float)
    params = objective.split(x)
    Z = params.product() @ params.H
    z_run, basis, misalignment = _run_directions(problem, Z, A, sigma)

    active = np.isfinite(z_local) & (z_run > tolerances.zero_fraction * np.nan_to_num(z_local))
    active &= _rank_allowed(active, objective.widths, problem.K)
    z_candidate = np.where(active, np.nan_to_num(z_local), 0.0)
    candidate = TheoryTarget.build(problem, basis, sigma, z_candidate)
    best = TheoryTarget.build(problem, A, sigma, z_global)
    scales = (best, TheoryTarget.unit(problem))
    theory_loss = float(solution.loss)

    geometry = measure(objective, x)
    normalized = candidate.distances(geometry, scales=scales)
    relative = candidate.distances(geometry, normalized=False, scales=scales)
    to_global = best.distances(geometry, scales=scales)
    errors = {k: _worst(v) for k, v in normalized.items()}
    same_pattern = bool(np.array_equal(active, z_global > 0))
    candidate_global = same_pattern or (
        not bool(getattr(solution, "unique", True))
        and abs(candidate.loss - theory_loss) <= _loss_tolerance(theory_loss, 1e-10, scale)
    )
    tol = _loss_tolerance(candidate.loss, tolerances.loss_rtol, scale)
    decays = _decay_size(problem)
    checked = errors if decays > tol else {"outputs": errors["outputs"]}
    matches = abs(loss - candidate.loss) <= tol and _worst(checked.values()) <= tolerances.gram_tol
    status = ("global" if candidate_global else "local") if matches else "not-converged"
    notes = [] if decays > tol else [_invisible_decays_note(decays, tol)]
    zero = np.flatnonzero(~active)
    collapsed = zero if problem.bias == "free" else _zero_classes(candidate)
    return RunReport(
        status=status, candidate_loss=candidate.loss,
        gap=objective_gap(loss, theory_loss, scale),
        z_run=z_run, z_candidate=z_candidate, candidate_global=candidate_global,
        collapsed_directions=[int(i) for i in zero], collapsed=[int(i) for i in collapsed],
        errors=errors, relative_errors={k: _worst(v) for k, v in relative.items()},
        layer_errors=normalized, global_errors={k: _worst(v) for k, v in to_global.items()},
        nc1=list(geometry.nc1), misalignment=misalignment, notes=notes, **run,
    )


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


def _diverged_report(solution, problem: Problem, depth: int, scale: float, run: dict) -> RunReport:
    """The report of a run whose objective is inf or nan: not-converged, no geometry."""
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
        collapsed_directions=[], collapsed=[], errors=dict(worst), relative_errors=dict(worst),
        layer_errors=layers, global_errors=dict(worst), nc1=[nan] * depth, misalignment=nan,
        notes=[note], **run,
    )


def _rank_allowed(active: np.ndarray, widths, K: int) -> np.ndarray:
    """Keep at most min(K, widths) active directions (the largest first)."""
    cap = min(K, *widths)
    return np.cumsum(active) <= cap


@dataclass(frozen=True, eq=False)
class VerifyReport:
    """Theory versus one or more descent runs.

    Attributes
    ----------
    problem : Problem
    widths : tuple of int
    method : str
    options : dict
        Descent options used (lr, momentum, steps, init_scale, ...).
    solution : Solution
        The theory's global minimizer.
    runs : list of RunReport
        One per restart, in seed order.
    best : int
        Index in ``runs`` of the run with the lowest objective.
    """

    problem: Problem
    widths: tuple
    method: str
    options: dict
    solution: object
    tolerances: Tolerances
    runs: list
    best: int

    @property
    def best_run(self) -> RunReport:
        return self.runs[self.best]

    @property
    def status(self) -> str:
        return self.best_run.status

    @property
    def exit_code(self) -> int:
        """0 when the best run reached the global minimizer within tolerance, else 1."""
        return 0 if self.status == "global" else 1

    def summary(self) -> list[dict]:
        """How many runs reached each critical point: status, collapsed set, count, loss."""
        def key(r):
            return r.status, tuple(r.collapsed), tuple(r.collapsed_directions)

        counts = Counter(key(r) for r in self.runs)
        rows = []
        for (status, collapsed, directions), count in counts.most_common():
            loss = min(r.loss for r in self.runs if key(r) == (status, collapsed, directions))
            rows.append({"status": status, "collapsed": list(collapsed),
                         "collapsed_directions": list(directions), "count": count,
                         "loss": float(loss)})
        return rows

    def to_dict(self) -> dict:
        best = self.best_run
        solution = self.solution
        return {
            "status": best.status,
            "loss": float(best.loss),
            "theory_loss": float(solution.loss),
            "gap": float(best.gap),
            "errors": best.errors,
            "relative_errors": best.relative_errors,
            "collapsed": list(best.collapsed),
            "theory_collapsed": _theory_collapsed(solution, self.problem),
            "notes": list(best.notes),
            "best_seed": best.seed,
            "grad_norm": float(best.grad_norm),
            "converged": bool(best.converged),
            "problem": self.problem.to_dict(),
            "widths": list(self.widths),
            "method": self.method,
            "options": dict(self.options),
            "tolerances": {
                "loss_rtol": self.tolerances.loss_rtol,
                "gram_tol": self.tolerances.gram_tol,
                "grad_tol": self.tolerances.grad_tol,
            },
            "theory": {
                "sigma": _floats(solution.sigma),
                "z": _floats(solution.z),
                "z_local": _floats(solution.z_local),
                "unique": bool(getattr(solution, "unique", True)),
                "geometry": str(getattr(solution, "geometry", "")),
            },
            "best": best.to_dict(),
            "restarts": [r.to_dict() for r in self.runs],
            "summary": self.summary(),
        }


def _theory_collapsed(solution, problem: Problem) -> list:
    if problem.bias == "free":
        return [int(i) for i in np.flatnonzero(np.asarray(solution.z) <= 0)]
    return [int(k) for k in np.flatnonzero(np.asarray(solution.collapsed, dtype=bool))]


# ---- running ---------------------------------------------------------------------------


def _recorder(objective: FullObjective, target: TheoryTarget):
    """Per-snapshot measurements for trajectories: NC1 and distances to the global minimizer.

    Values that overflow (a diverging run) are recorded as inf or nan.
    """
    scales = (TheoryTarget.unit(objective.problem),)

    def record(x: np.ndarray) -> dict:
        with np.errstate(all="ignore"):  # a diverging run overflows: inf/nan are recorded
            geometry = measure(objective, x)
            out = target.distances(geometry, scales=scales)
        out["outputs"] = out["outputs"][0]
        out["nc1"] = list(geometry.nc1)
        return out

    return record


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
) -> VerifyReport:
    """Run descent on the full problem and compare every run with the theory.

    Parameters
    ----------
    problem : Problem
        An MSE or a cross-entropy problem (``problem.loss``); for cross-entropy
        the theory is :func:`ncsolve.crossentropy.solve` and the report a
        :class:`CEVerifyReport` (see :func:`assess_ce`).
    widths : sequence of int or int, optional
        Layer widths d_1..d_M, or one width for all layers (default: problem.widths,
        else K).
    method : {"lbfgs", "gd", "momentum"}
        Descent method (see :func:`ncsolve.descent.descend`).
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
        The theory's answer (computed with ``ncsolve.solution.solve``, or
        ``ncsolve.crossentropy.solve`` for cross-entropy, when omitted).
    progress : bool or None
        Progress on stderr (None: only when stderr is a terminal).
    **options
        Passed to the descent method (lr, momentum, steps, init_scale, maxiter, ...).

    Returns
    -------
    VerifyReport or CEVerifyReport
    """
    if problem.loss not in ("mse", "ce"):
        raise ProblemError(f"loss (--loss): must be mse or ce, got {problem.loss!r}")
    if widths is None or isinstance(widths, (int, np.integer)):
        widths = default_widths(problem, widths)
    objective = FullObjective(problem, widths)
    if "steps" in options and method == "lbfgs":
        options["maxiter"] = options.pop("steps")
    if problem.loss == "ce":
        return _verify_ce(objective, method, restarts, seed, record_every, tolerances,
                          solution, progress, options)
    if solution is None:
        from .solution import solve

        solution = solve(problem_with_widths(problem, objective.widths))
    A = np.asarray(solution.directions(), dtype=float)
    best_target = TheoryTarget.build(problem, A, np.asarray(solution.sigma), np.asarray(solution.z))
    recorder = _recorder(objective, best_target) if record_every else None
    runs = []
    results = _descent.descend(
        objective, method=method, restarts=restarts, seed=seed, record_every=record_every,
        recorder=recorder, progress=progress, **options,
    )
    for result in results:
        report = assess(
            solution, objective, result.x, tolerances, grad_norm=result.grad_norm,
            seed=result.seed, method=result.method, steps=result.steps,
            elapsed=result.elapsed, message=result.message,
        )
        runs.append(_with_trajectory(report, result.trajectory))
    losses = [r.loss if np.isfinite(r.loss) else np.inf for r in runs]
    return VerifyReport(
        problem=problem, widths=objective.widths, method=method, options=dict(options),
        solution=solution, tolerances=tolerances, runs=runs, best=int(np.argmin(losses)),
    )


def _with_trajectory(report: RunReport, trajectory: list) -> RunReport:
    from dataclasses import replace

    return replace(report, trajectory=list(trajectory))


def problem_with_widths(problem: Problem, widths) -> Problem:
    """The same problem with explicit widths (the theory caps the rank by them)."""
    if problem.widths is not None and tuple(problem.widths) == tuple(widths):
        return problem
    return Problem.build(
        problem.n, problem.depth, problem.lambda_w, problem.lambda_h, problem.bias,
        problem.loss, widths,
    )


# ---- figure ----------------------------------------------------------------------------


def plot_report(report: VerifyReport, path: str, run: int | None = None) -> None:
    """Figure of NC1 and the distances to the global minimizer against iterations.

    Four panels, one curve per layer, logarithmic y axis (as in the paper's
    synthetic experiments): NC1 of the features, normalized distance of the
    class-mean Gram, of the classifier Gram, and of the output matrix together
    with the relative objective gap.  Needs matplotlib and a run recorded with
    ``record_every``.

    Parameters
    ----------
    report : VerifyReport
    path : str
        Output file; the format follows the extension (png, pdf, svg, ...).
    run : int, optional
        Index of the run to draw (default: the best run).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = report.runs[report.best if run is None else run]
    snaps = [s for s in chosen.trajectory if isinstance(s.data, dict)]
    if not snaps:
        raise ValueError("the run has no recorded trajectory; pass record_every to verify()")
    steps = np.array([s.step for s in snaps])

    def positive(values):
        values = np.asarray(values, dtype=float)
        # exact zeros cannot be drawn on a log axis, nor inf/nan of a diverging run
        return np.where(np.isfinite(values) & (values > 0), values, np.nan)

    def series(key):
        return positive([s.data[key] for s in snaps])

    theory_loss = float(report.solution.loss)
    scale = loss_scale(FullObjective(report.problem, report.widths))
    gap = positive([objective_gap(s.loss, theory_loss, scale) for s in snaps])
    p = report.problem
    fig, grid = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    axes = grid.ravel()
    panels = [("nc1", "NC1 = tr(Σ_W Σ_B⁺)/K"), ("features", "class-mean Gram: distance to theory"),
              ("classifier", "classifier Gram: distance to theory")]
    for ax, (key, title) in zip(axes, panels):
        values = series(key)
        for j in range(values.shape[1]):
            ax.plot(steps, values[:, j], label=f"layer {j}")
        ax.set_title(title)
    axes[3].plot(steps, series("outputs"), label="output matrix")
    axes[3].plot(steps, gap, label="relative objective gap", linestyle="--")
    axes[3].set_title("output matrix and objective: gap to theory")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"n = {','.join(str(int(v)) for v in p.n)}, depth {p.depth}, bias {p.bias}, "
        f"widths {','.join(str(d) for d in report.widths)}\n{chosen.method} "
        f"(seed {chosen.seed}) → {chosen.status}; distances are normalized Frobenius"
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- starting points on the theory ---------------------------------------------------


def critical_point(solution, objective: FullObjective, z=None) -> np.ndarray:
    """Parameters at a critical point of the theory, in the layout of ``objective``.

    The point has product ``W_M ... W_1 H = A diag(z) V^T`` (``V`` the right singular
    vectors of the target), balanced factors (docs/theory.md, section 2), every sample
    on its class mean, and the optimal bias ``n / N`` when the bias is free.  Useful
    to start descent at, or next to, a chosen critical point.

    Parameters
    ----------
    solution : Solution
        The theory for ``objective.problem``.
    objective : FullObjective
        Gives the widths; the number of nonzero directions must fit in every width.
    z : array of shape (K,), optional
        Product singular value per direction, each 0 or ``z_local``; default the
        global minimizer's ``solution.z``.

    Returns
    -------
    ndarray
        Flat parameter vector.
    """
    problem = objective.problem
    z = np.asarray(solution.z if z is None else z, dtype=float)
    active = np.flatnonzero(z > 0)
    r = active.size
    if r > min(objective.widths):
        raise ValueError(f"{r} nonzero directions do not fit in widths {objective.widths}")
    A = np.asarray(solution.directions(), dtype=float)[:, active]
    sigma = np.asarray(solution.sigma, dtype=float)[active]
    L = problem.L
    scales = np.sqrt(problem.lbar / np.array((problem.lambda_h, *problem.lambda_w)))
    factor = z[active] ** (1.0 / L)
    # V^T = diag(1/sigma) A^T Yt, with Yt = Y or Y (I - 11^T/N): constant on each class
    per_class = A.T / sigma[:, None]
    if problem.bias == "free":
        per_class = per_class - (A.T @ problem.n)[:, None] / problem.N / sigma[:, None]
    Vt = np.repeat(per_class, problem.n, axis=1)
    H = np.zeros((objective.widths[0], problem.N))
    H[:r] = (scales[0] * factor)[:, None] * Vt
    weights = []
    for j, shape in enumerate(objective.shapes[1: problem.depth + 1]):
        W = np.zeros(shape)
        block = np.diag(scales[j + 1] * factor)
        if j == problem.depth - 1:
            W[:, :r] = A @ block
        else:
            W[:r, :r] = block
        weights.append(W)
    bias = problem.n / problem.N if problem.bias == "free" else None
    return objective.pack(H, weights, bias)


# ---- cross-entropy ---------------------------------------------------------------------
#
# There is no closed form: the theory side is ncsolve.crossentropy.solve, whose answer is
# "proved" at depth 1 (and for the origin) and the best of a search otherwise.  A run is
# judged by its objective against that answer, by its gradient norm, and by its Grams
# after the best relabeling of classes of equal size (minimizers such as the square of
# K = 4 are not unique under class permutations).

PERMUTATION_LIMIT = 40320  # class relabelings tried exhaustively (8!); beyond it: spectra
RANK_RTOL = 1e-6  # a run's singular value of X D^(1/2) below this times the theory's largest is zero
COLLAPSE_FRACTION = 1e-3  # a class mean shorter than this times the theory's longest is collapsed


@dataclass(frozen=True, eq=False)
class CETarget:
    """Class-space matrices of a cross-entropy answer at every layer.

    Read off from the logit matrix X by factor balancing (docs/crossentropy.md,
    section 1).  With ``X D^(1/2) = U diag(s) V^T``, the features after layer j have
    class-mean Gram ``D^(-1/2) V diag(t_j^2) V^T D^(-1/2)`` with ``t_j`` the singular
    values of H times those of ``W_1 .. W_j``; the classifier ``W_M ... W_{j+1}`` has
    Gram ``U diag(r_j^2) U^T`` with ``r_j`` the product of the singular values of
    ``W_{j+1} .. W_M``; the outputs (no bias) are X.
    """

    feature_grams: list
    classifier_grams: list
    outputs: np.ndarray

    @classmethod
    def from_solution(cls, solution) -> CETarget:
        """The matrices of a :class:`ncsolve.crossentropy.CESolution`."""
        p = solution.problem
        r = int(solution.logit_rank)
        root_n = np.sqrt(np.asarray(p.n, dtype=float))
        U, _, Vt = np.linalg.svd(np.asarray(solution.logits) * root_n[None, :])
        U, Vs = U[:, :r], Vt[:r].T / root_n[:, None]
        weights = np.array([np.asarray(w, dtype=float)[:r] for w in solution.layers.weight_sv])
        t = np.asarray(solution.layers.feature_sv, dtype=float)[:r]
        features, classifiers = [], []
        for j in range(p.depth):
            if j:
                t = t * weights[j - 1]
            rest = np.prod(weights[j:], axis=0)
            features.append((Vs * t**2) @ Vs.T)
            classifiers.append((U * rest**2) @ U.T)
        return cls(features, classifiers, np.array(solution.logits, dtype=float))

    @property
    def is_zero(self) -> bool:
        """True for the origin (every matrix zero)."""
        return not np.any(self.outputs) and not np.any(self.feature_grams[0])


def class_permutations(n, limit: int = PERMUTATION_LIMIT) -> np.ndarray | None:
    """Relabelings of the classes that keep every class size, identity first.

    Parameters
    ----------
    n : sequence of int
        Class sizes.
    limit : int
        Largest number of relabelings to enumerate.

    Returns
    -------
    ndarray of shape (P, K) or None
        Row ``perm``: run class k is compared with theory class ``perm[k]``.
        None when there are more than ``limit``.
    """
    n = np.asarray(n)
    groups = [np.flatnonzero(n == size) for size in np.unique(n)]
    if math.prod(math.factorial(len(g)) for g in groups) > limit:
        return None
    rows = []
    for images in itertools.product(*(itertools.permutations(g) for g in groups)):
        perm = np.empty(n.size, dtype=int)
        for g, image in zip(groups, images):
            perm[g] = image
        rows.append(perm)
    return np.array(rows)


def _matrix_pairs(run: RunGeometry, target: CETarget) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(kind, run matrix, theory matrix) for every layer's Grams and the outputs."""
    pairs = [("features", a, b) for a, b in zip(run.feature_grams, target.feature_grams)]
    pairs += [("classifier", a, b) for a, b in zip(run.classifier_grams, target.classifier_grams)]
    pairs.append(("outputs", run.outputs, target.outputs))
    return pairs


def _unit(matrix: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(matrix)
    return matrix / norm if norm > 0 else matrix


def _best_permutation(pairs, perms: np.ndarray) -> np.ndarray:
    """The relabeling with the smallest sum of squared normalized distances over all pairs."""
    total = np.zeros(len(perms))
    rows, cols = perms[:, :, None], perms[:, None, :]
    for _, run, theory in pairs:
        moved = _unit(theory)[rows, cols]
        total += np.sum((_unit(run)[None] - moved) ** 2, axis=(1, 2))
    return perms[int(np.argmin(total))]


def _spectrum(matrix: np.ndarray, kind: str) -> np.ndarray:
    if kind == "outputs":
        return np.linalg.svd(matrix, compute_uv=False)
    return np.sort(np.linalg.eigvalsh(0.5 * (matrix + matrix.T)))[::-1]


def _spectral_distance(run: np.ndarray, theory: np.ndarray, kind: str, normalized: bool) -> float:
    if normalized:
        return float(np.linalg.norm(_spectrum(_unit(run), kind) - _spectrum(_unit(theory), kind)))
    scale = np.linalg.norm(theory)
    gap = np.linalg.norm(_spectrum(run, kind) - _spectrum(theory, kind))
    return float(gap / scale if scale > 0 else gap)


@dataclass(frozen=True)
class Alignment:
    """Distances of a run's class-space matrices to a cross-entropy answer.

    Attributes
    ----------
    method : {"permutation", "spectrum", "none"}
        "permutation": Frobenius distances after the relabeling of equal-size classes
        that fits best (one relabeling for all matrices); "spectrum": distances
        between sorted spectra (too many relabelings to try); "none": the answer is
        the origin, and the numbers are the run's own norms.
    permutation : list of int or None
        Run class k was compared with theory class ``permutation[k]``.
    normalized, relative : dict
        Per-layer lists for "features", "classifier", "outputs": normalized (shape)
        and relative (scale included) distances.
    """

    method: str
    permutation: list | None
    normalized: dict
    relative: dict

    @property
    def comparable(self) -> bool:
        return self.method != "none"


def align(run: RunGeometry, target: CETarget, perms: np.ndarray | None) -> Alignment:
    """Compare a run with a cross-entropy answer up to relabeling equal-size classes.

    Parameters
    ----------
    run : RunGeometry
        From :func:`ncsolve.metrics.measure`.
    target : CETarget
    perms : ndarray or None
        From :func:`class_permutations`; None selects the spectral comparison.
    """
    pairs = _matrix_pairs(run, target)
    normalized = {"features": [], "classifier": [], "outputs": []}
    relative = {"features": [], "classifier": [], "outputs": []}
    if target.is_zero:
        for kind, a, _ in pairs:
            normalized[kind].append(float(np.linalg.norm(a)))
            relative[kind].append(float(np.linalg.norm(a)))
        return Alignment("none", None, normalized, relative)
    if perms is None:
        for kind, a, b in pairs:
            normalized[kind].append(_spectral_distance(a, b, kind, True))
            relative[kind].append(_spectral_distance(a, b, kind, False))
        return Alignment("spectrum", None, normalized, relative)
    perm = _best_permutation(pairs, perms)
    for kind, a, b in pairs:
        moved = b[np.ix_(perm, perm)]
        normalized[kind].append(normalized_distance(a, moved))
        relative[kind].append(relative_distance(a, moved))
    return Alignment("permutation", [int(k) for k in perm], normalized, relative)


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
    logit_rank : int
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
    logit_rank: int
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
            "seed": self.seed,
            "method": self.method,
            "status": self.status,
            "beats_theory": bool(self.beats_theory),
            "loss": float(self.loss),
            "gap": float(self.gap),
            "grad_norm": float(self.grad_norm),
            "converged": bool(self.converged),
            "collapsed": list(self.collapsed),
            "logit_rank": int(self.logit_rank),
            "singular_values": _floats(self.singular_values),
            "matched": self.matched,
            "errors": self.errors,
            "relative_errors": self.relative_errors,
            "layer_errors": self.layer_errors,
            "comparison": self.comparison,
            "permutation": self.permutation,
            "nc1": _floats(self.nc1),
            "notes": list(self.notes),
            "steps": int(self.steps),
            "elapsed": float(self.elapsed),
            "message": self.message,
            "trajectory": [_snapshot_dict(s) for s in self.trajectory],
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
    for cand in solution.candidates:
        if abs(cand.objective - loss) <= tol:
            return f"candidate: {cand.name} (rank {cand.rank})"
    for run in solution.runs:
        if abs(run.objective - loss) <= tol:
            return f"an end point of ncsolve's search (rank {run.rank})"
    return None


def _ce_notes(status: str, beats: bool, solution, gap: float, alignment: Alignment,
              errors: dict, tolerances: Tolerances, loss_matches: bool) -> list:
    notes = []
    if beats and solution.certainty == "proved":
        notes.append(f"this run is lower than an objective ncsolve reports as proved "
                     f"(relative gap {gap:+.2e}): a bug in ncsolve or a tolerance problem")
    elif beats:
        notes.append(f"this run is lower than ncsolve's best found (relative gap {gap:+.2e}); "
                     "the CE search missed it")
    elif status == "global" and solution.certainty != "proved":
        notes.append("the run attains ncsolve's best found; that this is the global minimum "
                     "is not proved (certainty: best found)")
    if status == "not-converged" and loss_matches and _worst(errors.values()) > tolerances.gram_tol:
        notes.append("the objective matches but the geometry does not (largest distance "
                     f"{_worst(errors.values()):.2e} > gram_tol, comparison: {alignment.method})")
    return notes


def assess_ce(
    solution,
    objective: FullObjective,
    x: np.ndarray,
    tolerances: Tolerances = Tolerances(),
    *,
    grad_norm: float | None = None,
    seed: int | None = None,
    method: str = "",
    steps: int = 0,
    elapsed: float = 0.0,
    message: str = "",
    target: CETarget | None = None,
    perms: np.ndarray | None | str = "auto",
) -> CERunReport:
    """Compare the parameters ``x`` of a cross-entropy model with ncsolve's answer.

    Status: "global" when the gradient norm is within ``tolerances.grad_tol`` and the
    objective is within ``tolerances.loss_rtol`` (relative) of ``solution.objective``
    with every Gram and the outputs within ``tolerances.gram_tol`` after
    :func:`align`, or when a converged run is lower than the answer by more than the
    tolerance (then ``beats_theory`` is True: ncsolve's search missed it); "local"
    when a converged run is higher; "not-converged" otherwise.

    Parameters
    ----------
    solution : ncsolve.crossentropy.CESolution
        The answer for ``objective.problem`` (with its widths).
    objective : FullObjective
        Layout and objective of ``x`` (loss "ce").
    x : ndarray
        Flat parameter vector.
    tolerances : Tolerances
    grad_norm : float, optional
        Gradient norm at ``x`` (computed when omitted).
    seed, method, steps, elapsed, message
        Copied into the report.
    target : CETarget, optional
        ``CETarget.from_solution(solution)``, to save recomputing it.
    perms : ndarray, None or "auto"
        Class relabelings to try (:func:`class_permutations`); None for spectra.

    Returns
    -------
    CERunReport
    """
    problem = objective.problem
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run overflows here
        loss, grad = objective(x)
    if grad_norm is None:
        grad_norm = vector_norm(grad)
    target = CETarget.from_solution(solution) if target is None else target
    perms = class_permutations(problem.n) if isinstance(perms, str) else perms
    diverged = not np.isfinite(loss)
    # the geometry of a diverged run is inf/nan; it is reported, not used
    with np.errstate(all="ignore") if diverged else contextlib.nullcontext():
        geometry = measure(objective, x)
        alignment = align(geometry, target, perms)
        s, rank = _logit_spectrum(problem, geometry.outputs,
                                  float(np.max(solution.layers.s, initial=0.0)))
        collapsed = _collapsed_classes(geometry.feature_grams[0], solution)
    errors = {k: _worst(v) for k, v in alignment.normalized.items()}
    theory = float(solution.objective)
    scale = loss_scale(objective)
    converged = bool(grad_norm <= tolerances.grad_tol)
    geometry_ok = not alignment.comparable or _worst(errors.values()) <= tolerances.gram_tol
    status, beats = _ce_status(float(loss), theory, converged, geometry_ok, tolerances.loss_rtol,
                               scale)
    gap = objective_gap(loss, theory, scale)
    loss_matches = bool(abs(gap) <= tolerances.loss_rtol)
    notes = _ce_notes(status, beats, solution, gap, alignment, errors, tolerances, loss_matches)
    if diverged:
        notes.append(f"the run diverged ({message or f'objective {loss}'})")
    return CERunReport(
        status=status, beats_theory=beats, seed=seed, method=method, loss=float(loss), gap=gap,
        grad_norm=float(grad_norm), converged=converged, logit_rank=rank, singular_values=s,
        collapsed=collapsed,
        matched=None if status == "global" else
        _matched_configuration(solution, float(loss), tolerances.loss_rtol, scale),
        errors=errors, relative_errors={k: _worst(v) for k, v in alignment.relative.items()},
        layer_errors=alignment.normalized, comparison=alignment.method,
        permutation=alignment.permutation, nc1=list(geometry.nc1),
        notes=notes, steps=steps, elapsed=elapsed, message=message,
    )


def _comparison_text(method: str, perms) -> str:
    if method == "permutation":
        return (f"Frobenius distances after the best of {len(perms)} relabeling(s) of classes "
                "of equal size (one relabeling for all matrices)")
    if method == "spectrum":
        return "distances between sorted spectra (too many class relabelings to try)"
    return "none: the answer is the origin; errors are the run's own Frobenius norms"


@dataclass(frozen=True, eq=False)
class CEVerifyReport:
    """ncsolve's cross-entropy answer versus one or more descent runs.

    Attributes
    ----------
    problem : Problem
    widths : tuple of int
    method : str
    options : dict
    solution : ncsolve.crossentropy.CESolution
    tolerances : Tolerances
    runs : list of CERunReport
    best : int
        Index of the run with the lowest objective.
    comparison : str
        How the Grams were compared (see :func:`align`).
    """

    problem: Problem
    widths: tuple
    method: str
    options: dict
    solution: object
    tolerances: Tolerances
    runs: list
    best: int
    comparison: str

    @property
    def best_run(self) -> CERunReport:
        return self.runs[self.best]

    @property
    def status(self) -> str:
        return self.best_run.status

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
            return r.status, f"{r.loss:.7g}", r.logit_rank

        counts = Counter(key(r) for r in self.runs)
        return [{"status": status, "loss": float(loss), "logit_rank": rank, "count": count}
                for (status, loss, rank), count in counts.most_common()]

    def notes(self) -> list:
        out = list(self.best_run.notes)
        lower = [r.seed for r in self.runs if r.beats_theory and r is not self.best_run]
        if lower:
            out.append(f"runs with seeds {', '.join(map(str, lower))} are also below ncsolve's answer")
        return out

    def to_dict(self) -> dict:
        best, sol = self.best_run, self.solution
        return {
            "status": best.status,
            "loss": float(best.loss),
            "theory_loss": float(sol.objective),
            "gap": float(best.gap),
            "certainty": sol.certainty,
            "beats_theory": bool(self.beats_theory),
            "notes": self.notes(),
            "errors": best.errors,
            "relative_errors": best.relative_errors,
            "comparison": self.comparison,
            "collapsed": list(best.collapsed),
            "theory_collapsed": [int(k) for k in np.flatnonzero(sol.collapsed)],
            "logit_rank": int(best.logit_rank),
            "best_seed": best.seed,
            "grad_norm": float(best.grad_norm),
            "converged": bool(best.converged),
            "problem": self.problem.to_dict(),
            "widths": list(self.widths),
            "method": self.method,
            "options": dict(self.options),
            "tolerances": {"loss_rtol": self.tolerances.loss_rtol,
                           "gram_tol": self.tolerances.gram_tol,
                           "grad_tol": self.tolerances.grad_tol},
            "theory": _ce_theory_dict(sol),
            "best": best.to_dict(),
            "restarts": [r.to_dict() for r in self.runs],
            "summary": self.summary(),
        }


def _ce_theory_dict(sol) -> dict:
    runner = sol.runner_up
    return {
        "objective": float(sol.objective),
        "certainty": sol.certainty,
        "certainty_reason": sol.certainty_reason,
        "geometry": sol.geometry,
        "logit_rank": int(sol.logit_rank),
        "unique": sol.unique,
        "singular_values": _floats(sol.layers.s),
        "etf_objective": None if not np.isfinite(sol.etf_objective) else float(sol.etf_objective),
        "runner_up": None if runner is None else {
            "name": getattr(runner, "name", None) or getattr(runner, "start", ""),
            "objective": float(runner.objective)},
        "search_restarts": int(sol.restarts),
        "hits": int(sol.hits),
    }


def _ce_recorder(objective: FullObjective, target: CETarget, perms):
    """Per-snapshot NC1 and distances to the answer (aligned afresh at every snapshot)."""

    def record(x: np.ndarray) -> dict:
        with np.errstate(all="ignore"):  # a diverging run overflows: inf/nan are recorded
            geometry = measure(objective, x)
            out = dict(align(geometry, target, perms).normalized)
        out["outputs"] = out["outputs"][0]
        out["nc1"] = list(geometry.nc1)
        return out

    return record


def _verify_ce(objective: FullObjective, method: str, restarts: int, seed: int,
               record_every, tolerances: Tolerances, solution, progress,
               options: dict) -> CEVerifyReport:
    """The cross-entropy branch of :func:`verify` (same arguments)."""
    problem = objective.problem
    if solution is None:
        from .crossentropy import solve

        solution = solve(problem_with_widths(problem, objective.widths))
    target = CETarget.from_solution(solution)
    perms = class_permutations(problem.n)
    recorder = _ce_recorder(objective, target, perms) if record_every else None
    results = _descent.descend(
        objective, method=method, restarts=restarts, seed=seed, record_every=record_every,
        recorder=recorder, progress=progress, **options,
    )
    runs = []
    for result in results:
        report = assess_ce(
            solution, objective, result.x, tolerances, grad_norm=result.grad_norm,
            seed=result.seed, method=result.method, steps=result.steps,
            elapsed=result.elapsed, message=result.message, target=target, perms=perms,
        )
        runs.append(_with_trajectory(report, result.trajectory))
    losses = [r.loss if np.isfinite(r.loss) else np.inf for r in runs]
    method_used = runs[0].comparison if runs else "none"
    return CEVerifyReport(
        problem=problem, widths=objective.widths, method=method, options=dict(options),
        solution=solution, tolerances=tolerances, runs=runs, best=int(np.argmin(losses)),
        comparison=_comparison_text(method_used, perms),
    )
