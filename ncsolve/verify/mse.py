"""MSE: the theory's critical points against gradient-method runs.

A run of :mod:`ncsolve.core.descent` ends at some point ``x``.  The theory (docs/theory.md,
sections 2-5) says that every critical point of interest has the same singular
directions as the target and, in each direction i, a product singular value
that is either 0 or the nonzero local minimum ``z_local_i`` of that direction's
scalar problem.  :func:`assess` reads off the run's value in every direction,
builds the matching *candidate* critical point, and compares the run with it
(statuses: see :mod:`ncsolve.verify`).

Directions with equal target singular values form an eigenspace in which the
theory does not fix a basis; there the theory's basis is rotated to the run's
own before comparing, so a run that kept any k of m equivalent directions is
compared with the candidate that keeps exactly those.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..core.balance import factor_values, layer_values
from ..core.metrics import (
    RunGeometry,
    class_means,
    loss_scale,
    run_geometry,
    normalized_distance,
    objective_gap,
    relative_distance,
    vector_norm,
)
from ..core.objective import FullObjective
from ..inputs.problem import Problem
from ..results.table import column
from .common import (
    Tolerances,
    _descend_and_assess,
    _evaluate,
    _loss_tolerance,
    _recorder,
    _worst,
    problem_with_widths,
)
from .report import ComparisonReport, _run_identity, _run_timing, _trajectory_dicts
from .text import format_report

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
        live = sigma > 0
        G = _target_gram(problem) if gram is None else gram
        # C^T = diag(1/sigma) A^T G D^{-1}: class-space coordinates of the features
        Ct = (A[:, live].T @ G) / problem.n / sigma[live, None]
        features, classifiers = [], []
        values = layer_values(problem, z)  # of the layer-j features, column j
        rest = layer_values(problem, z, classifier=True)  # of W_M ... W_{j+1}
        for s, r in zip(values.T[:problem.depth], rest.T):
            # decays many orders apart put a Gram outside float64: it becomes inf
            # or 0, and no run can match it (its distances are nan)
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
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
            **_run_identity(self),
            "loss": float(self.loss),
            "candidate_loss": float(self.candidate_loss),
            "gap": float(self.gap),
            "grad_norm": float(self.grad_norm),
            "converged": bool(self.converged),
            "collapsed": list(self.collapsed),
            "zero_directions": list(self.zero_directions),
            "candidate_is_global": bool(self.candidate_global),
            "z": column(self.z_run),
            "z_candidate": column(self.z_candidate),
            "errors": self.errors,
            "relative_errors": self.relative_errors,
            "layer_errors": self.layer_errors,
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
    solution : ncsolve.solvers.mse.Solution
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
    loss, grad_norm = _evaluate(objective, x, grad_norm)
    run = {"seed": seed, "method": method, "loss": float(loss), "grad_norm": float(grad_norm),
           "converged": bool(grad_norm <= tolerances.grad_tol), "steps": steps,
           "elapsed": elapsed, "message": message}
    scale = loss_scale(objective)
    if not np.isfinite(loss):
        return _diverged_report(solution, problem, objective.M, scale, run)
    sigma = np.asarray(solution.sigma, dtype=float)
    A = np.asarray(solution.directions(), dtype=float)
    z_run, basis, misalignment = _run_directions(problem, _product(objective, x), A, sigma)
    active = _active_directions(solution, objective, z_run, tolerances)
    z_candidate = np.where(active, np.nan_to_num(np.asarray(solution.z_local, dtype=float)), 0.0)
    candidate = TheoryTarget.build(problem, basis, sigma, z_candidate)
    best = TheoryTarget.build(problem, A, sigma, np.asarray(solution.z, dtype=float))
    scales = (best, TheoryTarget.unit(problem))

    geometry = run_geometry(objective, x)
    normalized = candidate.distances(geometry, scales=scales)
    relative = candidate.distances(geometry, normalized=False, scales=scales)
    to_global = best.distances(geometry, scales=scales)
    errors = {k: _worst(v) for k, v in normalized.items()}
    candidate_global = _candidate_is_global(solution, active, candidate.loss, scale)
    matches, notes = _matches(problem, float(loss), candidate.loss, errors, tolerances, scale)
    status = ("global" if candidate_global else "local") if matches else "not-converged"
    zero = np.flatnonzero(~active)
    collapsed = _zero_classes(candidate)
    return RunReport(
        status=status, candidate_loss=candidate.loss,
        gap=objective_gap(loss, float(solution.loss), scale),
        z_run=z_run, z_candidate=z_candidate, candidate_global=candidate_global,
        zero_directions=[int(i) for i in zero], collapsed=[int(i) for i in collapsed],
        errors=errors, relative_errors={k: _worst(v) for k, v in relative.items()},
        layer_errors=normalized, global_errors={k: _worst(v) for k, v in to_global.items()},
        nc1=list(geometry.nc1), misalignment=misalignment, notes=notes, **run,
    )


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
    of :class:`RunReport`.
    """

    def __str__(self) -> str:
        return format_report(self)

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




# ---- running ---------------------------------------------------------------------------


# ---- running ---------------------------------------------------------------------------


def _verify_mse(objective: FullObjective, method: str, settings: dict, options: dict,
                tolerances: Tolerances, solution) -> VerifyReport:
    """The MSE branch of :func:`ncsolve.verify.verify`."""
    problem = objective.problem
    if solution is None:
        from ..solvers.mse import solve

        solution = solve(problem_with_widths(problem, objective.widths))
    recorder = _mse_recorder(objective, solution) if settings["record_every"] else None
    runs, best = _descend_and_assess(objective, assess, solution, tolerances, recorder,
                                     method, settings, options)
    return VerifyReport(
        problem=problem, widths=objective.widths, method=method, options=dict(options),
        solution=solution, tolerances=tolerances, runs=runs, best=best,
    )


def _mse_recorder(objective: FullObjective, solution):
    """Per-snapshot NC1 and distances to the global minimizer."""
    problem = objective.problem
    A = np.asarray(solution.directions(), dtype=float)
    target = TheoryTarget.build(problem, A, np.asarray(solution.sigma), np.asarray(solution.z))
    scales = (TheoryTarget.unit(problem),)
    return _recorder(objective, lambda geometry: target.distances(geometry, scales=scales))


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
    factors = factor_values(problem, z[active]).T  # row j: singular values of factor j
    # V^T = diag(1/sigma) A^T Yt, with Yt = Y or Y (I - 11^T/N): constant on each class
    per_class = A.T / sigma[:, None]
    if problem.bias == "free":
        per_class = per_class - (A.T @ problem.n)[:, None] / problem.N / sigma[:, None]
    Vt = np.repeat(per_class, problem.n, axis=1)
    H = np.zeros((objective.widths[0], problem.N))
    H[:r] = factors[0][:, None] * Vt
    weights = []
    for j, shape in enumerate(objective.shapes[1: problem.depth + 1]):
        W = np.zeros(shape)
        block = np.diag(factors[j + 1])
        if j == problem.depth - 1:
            W[:, :r] = A @ block
        else:
            W[:r, :r] = block
        weights.append(W)
    bias = problem.n / problem.N if problem.bias == "free" else None
    return objective.pack(H, weights, bias)

