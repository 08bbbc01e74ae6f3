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
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from . import descent as _descent
from .metrics import (
    RunGeometry,
    class_means,
    measure,
    normalized_distance,
    objective_gap,
    relative_distance,
)
from .objective import FullObjective, default_widths
from .problem import Problem, ProblemError

__all__ = [
    "RunReport",
    "TheoryTarget",
    "Tolerances",
    "VerifyReport",
    "assess",
    "critical_point",
    "plot_report",
    "problem_with_widths",
    "verify",
]

STATUSES = ("global", "local", "not-converged")


@dataclass(frozen=True)
class Tolerances:
    """When a run counts as having reached a critical point of the theory.

    Attributes
    ----------
    loss_rtol : float
        Largest relative difference between the run's objective and the candidate's.
    gram_tol : float
        Largest normalized Frobenius distance of any Gram (any layer) or of the
        output matrix to the candidate's.
    grad_tol : float
        Gradient norm at or below which the run is reported as converged
        (reported, not used for the status).
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
    def build(cls, problem: Problem, A: np.ndarray, sigma: np.ndarray, z: np.ndarray):
        z = np.maximum(np.asarray(z, dtype=float), 0.0)
        sigma = np.asarray(sigma, dtype=float)
        L = problem.L
        decays = (problem.lambda_h, *problem.lambda_w)
        live = sigma > 0
        # C^T = diag(1/sigma) A^T G D^{-1}: class-space coordinates of the features
        Ct = (A[:, live].T @ _target_gram(problem)) / problem.n / sigma[live, None]
        features, classifiers = [], []
        scale = 1.0
        for j in range(problem.depth):
            scale *= math.sqrt(problem.lbar / decays[j])
            s = scale * z ** ((j + 1) / L)  # singular values of the layer-j features
            r = z ** (1 - (j + 1) / L) / scale  # ... of the classifier W_M ... W_{j+1}
            features.append(Ct.T @ (s[live, None] ** 2 * Ct))
            classifiers.append(A @ (r[:, None] ** 2 * A.T))
        outputs = A[:, live] @ (z[live, None] * Ct)
        loss = float(np.sum((z - sigma) ** 2) / (2 * problem.N) + problem.c * np.sum(z**problem.q))
        return cls(features, classifiers, outputs, z, loss)

    def distances(self, run: RunGeometry, normalized: bool = True,
                  reference: TheoryTarget | None = None) -> dict:
        """Per-layer distances of a run's geometry to these targets.

        Normalized (shape) or relative Frobenius distances.  Where a target is zero
        (every direction collapsed) the distance is the run's norm relative to the
        same matrix of ``reference`` (normally the global minimizer), so that a run
        at the origin is measured on the scale of the problem.
        """
        dist = normalized_distance if normalized else relative_distance
        reference = self if reference is None else reference

        def one(measured, target, scale):
            if np.linalg.norm(target) > 0 or np.linalg.norm(scale) == 0:
                return dist(measured, target)
            return float(np.linalg.norm(measured) / np.linalg.norm(scale))

        return {
            "features": [one(a, b, c) for a, b, c in
                         zip(run.feature_grams, self.feature_grams, reference.feature_grams)],
            "classifier": [one(a, b, c) for a, b, c in
                           zip(run.classifier_grams, self.classifier_grams,
                               reference.classifier_grams)],
            "outputs": [one(run.outputs, self.outputs, reference.outputs)],
        }


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


def _floats(values) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]


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
        Relative gap of ``loss`` to the global minimum.
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
        NC1 of the features at every layer.
    misalignment : float
        Off-diagonal part of the run's outputs in the theory's directions (0 at a
        critical point of the theory).
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
    loss, grad = objective(x)
    if grad_norm is None:
        grad_norm = float(np.linalg.norm(grad))
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
    theory_loss = float(solution.loss)

    geometry = measure(objective, x)
    normalized = candidate.distances(geometry, reference=best)
    relative = candidate.distances(geometry, normalized=False, reference=best)
    to_global = best.distances(geometry)
    errors = {k: max(v) for k, v in normalized.items()}
    same_pattern = bool(np.array_equal(active, z_global > 0))
    candidate_global = same_pattern or (
        not bool(getattr(solution, "unique", True))
        and abs(candidate.loss - theory_loss) <= 1e-10 * max(abs(theory_loss), 1e-300)
    )
    matches = (
        np.isfinite(loss)
        and abs(loss - candidate.loss) <= tolerances.loss_rtol * max(abs(candidate.loss), 1e-300)
        and max(errors.values()) <= tolerances.gram_tol
    )
    status = ("global" if candidate_global else "local") if matches else "not-converged"
    zero = np.flatnonzero(~active)
    collapsed = zero if problem.bias == "free" else _zero_classes(candidate)
    return RunReport(
        status=status, seed=seed, method=method, loss=float(loss),
        candidate_loss=candidate.loss, gap=objective_gap(loss, theory_loss),
        grad_norm=float(grad_norm), converged=bool(grad_norm <= tolerances.grad_tol),
        z_run=z_run, z_candidate=z_candidate, candidate_global=candidate_global,
        collapsed_directions=[int(i) for i in zero], collapsed=[int(i) for i in collapsed],
        errors=errors, relative_errors={k: max(v) for k, v in relative.items()},
        layer_errors=normalized, global_errors={k: max(v) for k, v in to_global.items()},
        nc1=list(geometry.nc1), misalignment=misalignment, steps=steps, elapsed=elapsed,
        message=message,
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
    """Per-snapshot measurements for trajectories: NC1 and distances to the global minimizer."""

    def record(x: np.ndarray) -> dict:
        geometry = measure(objective, x)
        out = target.distances(geometry)
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
        An MSE problem.
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
    solution : Solution, optional
        The theory's answer (computed with ``ncsolve.solution.solve`` when omitted).
    progress : bool or None
        Progress on stderr (None: only when stderr is a terminal).
    **options
        Passed to the descent method (lr, momentum, steps, init_scale, maxiter, ...).

    Returns
    -------
    VerifyReport
    """
    if problem.loss != "mse":
        raise ProblemError("loss (--loss): verify compares with the MSE closed form; use mse")
    if widths is None or isinstance(widths, (int, np.integer)):
        widths = default_widths(problem, widths)
    objective = FullObjective(problem, widths)
    if solution is None:
        from .solution import solve

        solution = solve(problem_with_widths(problem, objective.widths))
    A = np.asarray(solution.directions(), dtype=float)
    best_target = TheoryTarget.build(problem, A, np.asarray(solution.sigma), np.asarray(solution.z))
    if "steps" in options and method == "lbfgs":
        options["maxiter"] = options.pop("steps")
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
        return np.where(values > 0, values, np.nan)  # exact zeros cannot be drawn on a log axis

    def series(key):
        return positive([s.data[key] for s in snaps])

    theory_loss = float(report.solution.loss)
    gap = positive([objective_gap(s.loss, theory_loss) for s in snaps])
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
