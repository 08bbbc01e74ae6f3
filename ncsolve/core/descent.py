"""Gradient methods on the full objective: gradient descent, heavy-ball momentum, L-BFGS.

All methods start from weights and features drawn i.i.d. N(0, init_scale^2) (the
paper uses init_scale = 0.1) with a zero bias, or from a given point, and return a
:class:`DescentResult`.  :func:`descend` runs one method from several seeds.

Speed.  The matrices here are small (K x N, d x d); multi-threaded BLAS spends
more time waking threads than computing, and scipy's L-BFGS-B runs about four
times slower with two OpenBLAS threads than with one on the paper's setting.
Every method therefore limits BLAS to ``threads=1`` while it runs, through
threadpoolctl (see :func:`blas_threads`); pass ``threads=None`` to leave the
BLAS setting alone.  Progress is a tqdm bar on stderr, shown only on a terminal
unless asked for (``progress``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import vector_norm
from .objective import FullObjective, Parameters
from ..inputs.problem import Problem
from ..inputs.validation import POSITIVE, Interval, Options, WholeNumber, check

__all__ = [
    "METHODS",
    "DescentResult",
    "Snapshot",
    "blas_threads",
    "descend",
    "gradient_descent",
    "minimize_lbfgs",
]

METHODS = ("lbfgs", "gd", "momentum")
MOMENTUM = Interval(0, 1, closed="left")
Recorder = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class Snapshot:
    """One recorded point of a trajectory.

    Attributes
    ----------
    step : int
        Iteration count when recorded (0 is the starting point).
    loss, grad_norm : float
        Objective value and Euclidean norm of its gradient there.
    data : object
        What the ``recorder`` returned for the parameters (None without one).
    """

    step: int
    loss: float
    grad_norm: float
    data: Any = None


@dataclass(frozen=True, eq=False)
class DescentResult:
    """Outcome of one run.

    Attributes
    ----------
    x : ndarray
        Final flat parameter vector (layout of ``objective``).
    objective : FullObjective
        The objective that was minimized (gives the layout and the problem).
    loss : float
        Objective value at ``x``.
    grad_norm : float
        Euclidean norm of the gradient at ``x``.
    steps : int
        Iterations performed.
    evaluations : int
        Objective-and-gradient evaluations.
    method : str
        "lbfgs", "gd" or "momentum".
    seed : int or None
        Seed of the random start (None when started from a given point).
    message : str
        Why the run stopped.
    elapsed : float
        Wall time in seconds.
    trajectory : list of Snapshot
        Recorded points when ``record_every`` was given.
    """

    x: np.ndarray
    objective: FullObjective
    loss: float
    grad_norm: float
    steps: int
    evaluations: int
    method: str
    seed: int | None
    message: str
    elapsed: float
    trajectory: list[Snapshot] = field(default_factory=list)

    @property
    def params(self) -> Parameters:
        """The final parameters as arrays (H, weights, b)."""
        return self.objective.split(self.x)

    @property
    def problem(self) -> Problem:
        return self.objective.problem

    @property
    def finite(self) -> bool:
        """False when the run diverged to inf or nan."""
        return bool(np.isfinite(self.loss) and np.all(np.isfinite(self.x)))


# ---- BLAS threads and progress --------------------------------------------------------


@contextlib.contextmanager
def blas_threads(limit: int | None = 1) -> Iterator[None]:
    """Limit BLAS threads inside the block (threadpoolctl); the setting is restored after it.

    A no-op for ``limit=None``.
    """
    if limit is None:
        yield
        return
    import scipy.optimize  # noqa: F401  - make sure scipy's BLAS is loaded before limiting
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit, user_api="blas"):
        yield


class _Progress:
    """A tqdm bar on stderr: shown when ``enabled``, or for None when stderr is a terminal."""

    def __init__(self, enabled: bool | None, label: str, total: int):
        self.enabled = _is_terminal() if enabled is None else bool(enabled)
        self.bar = None
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, file=sys.stderr, leave=False,
                            unit="step", mininterval=0.5, dynamic_ncols=True)

    def update(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.10g}", refresh=False)
            self.bar.update(step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False


def _start(objective: FullObjective, seed, init_scale: float, x0) -> np.ndarray:
    if x0 is not None:
        x = np.array(x0, dtype=float, copy=True).ravel()
        if x.size != objective.size:
            raise ValueError(f"x0 must have {objective.size} entries, got {x.size}")
        return x
    init_scale = check(init_scale, POSITIVE, "init_scale")
    return objective.random_point(np.random.default_rng(seed), init_scale)


def _objective(problem: Problem, widths) -> FullObjective:
    if isinstance(problem, FullObjective):
        return problem
    return FullObjective(problem, widths)


def _snapshot(objective: FullObjective, x: np.ndarray, step: int, recorder) -> Snapshot:
    with np.errstate(over="ignore", invalid="ignore"):
        value, grad = objective(x)
    data = recorder(x) if recorder is not None else None
    return Snapshot(step, value, vector_norm(grad), data)


# ---- methods ---------------------------------------------------------------------------


def minimize_lbfgs(
    problem: Problem | FullObjective,
    widths=None,
    *,
    seed: int | None = 0,
    init_scale: float = 0.1,
    x0: np.ndarray | None = None,
    gtol: float = 1e-12,
    maxiter: int = 20000,
    maxcor: int = 10,
    polish: int = 5,
    record_every: int | None = None,
    recorder: Recorder | None = None,
    progress: bool | None = False,
    threads: int | None = 1,
) -> DescentResult:
    """Minimize the full objective with scipy's L-BFGS-B (no bounds) to tight tolerances.

    Parameters
    ----------
    problem : Problem or FullObjective
        The model; a FullObjective fixes the widths as well.
    widths : sequence of int, optional
        Widths d_1..d_M when ``problem`` is a Problem (default: problem.widths, else K).
    seed : int, optional
        Seed of the N(0, init_scale^2) start (ignored when ``x0`` is given).
    init_scale : float
        Standard deviation of the random start.  The paper's 0.1 suits its setting
        (width 64, N = 400); on small problems a start that small often ends at a
        lower-rank critical point (the origin is a local minimum for depth >= 2).
        For checking closed forms, ``init_scale=1.0``, widths 2K and a few seeds
        reached the global minimum in nearly every run we tried.
    x0 : ndarray, optional
        Flat starting vector (layout of :class:`~ncsolve.core.objective.FullObjective`).
    gtol : float
        Stop when the largest gradient component is below this.
    maxiter : int
        Iteration budget of each L-BFGS pass.
    maxcor : int
        Number of stored correction pairs.
    polish : int
        Extra L-BFGS passes (fresh memory) from the end point while they lower the loss;
        they guard against early line-search stops.
    record_every : int, optional
        Record a :class:`Snapshot` every this many iterations (and at the start and end).
    recorder : callable, optional
        ``recorder(x)`` -> anything stored in each snapshot's ``data``.
    progress : bool or None
        Report progress on stderr; None means only when stderr is a terminal.
    threads : int or None
        BLAS thread limit during the run (None: leave unchanged).

    Returns
    -------
    DescentResult
    """
    from scipy.optimize import minimize

    objective = _objective(problem, widths)
    x = _start(objective, seed, init_scale, x0)
    trajectory: list[Snapshot] = []
    counter = {"evals": 0, "iters": 0}
    bar = _Progress(progress, f"lbfgs seed {seed}", maxiter)

    def fun(v):
        counter["evals"] += 1
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run: reported, not warned
            return objective(v)

    def callback(xk):
        counter["iters"] += 1
        if record_every and counter["iters"] % record_every == 0:
            trajectory.append(_snapshot(objective, xk, counter["iters"], recorder))
        if bar.enabled:
            bar.update(counter["iters"], objective.value(xk))

    started = time.perf_counter()
    if record_every:
        trajectory.append(_snapshot(objective, x, 0, recorder))
    options = {"maxiter": maxiter, "maxfun": 4 * maxiter, "gtol": gtol, "ftol": 0.0,
               "maxcor": maxcor}
    best_loss, message = np.inf, ""
    with blas_threads(threads):
        for _ in range(1 + max(int(polish), 0)):
            out = minimize(fun, x, jac=True, method="L-BFGS-B", callback=callback, options=options)
            improved = out.fun < best_loss
            if improved or not np.isfinite(best_loss):
                x, best_loss, message = out.x, float(out.fun), str(out.message)
            if not improved or np.max(np.abs(out.jac)) <= gtol:
                break
        with np.errstate(over="ignore", invalid="ignore"):
            value, grad = objective(x)
    bar.close()
    if record_every and (not trajectory or trajectory[-1].step != counter["iters"]):
        trajectory.append(_snapshot(objective, x, counter["iters"], recorder))
    return DescentResult(
        x=x, objective=objective, loss=value, grad_norm=vector_norm(grad),
        steps=counter["iters"], evaluations=counter["evals"], method="lbfgs",
        seed=None if x0 is not None else seed, message=message,
        elapsed=time.perf_counter() - started, trajectory=trajectory,
    )


def gradient_descent(
    problem: Problem | FullObjective,
    widths=None,
    *,
    lr: float = 0.1,
    momentum: float = 0.0,
    steps: int = 30000,
    seed: int | None = 0,
    init_scale: float = 0.1,
    x0: np.ndarray | None = None,
    gtol: float = 0.0,
    record_every: int | None = None,
    recorder: Recorder | None = None,
    progress: bool | None = None,
    threads: int | None = 1,
) -> DescentResult:
    """Full-batch gradient descent, with heavy-ball momentum when ``momentum > 0``.

    The update is the one of ``torch.optim.SGD`` with weight decay folded into the
    objective: ``v <- momentum * v + grad f(x)``, ``x <- x - lr * v`` (v starts at 0).
    The paper's setting is ``lr=0.1, momentum=0.9, steps=30000, init_scale=0.1``.

    Parameters
    ----------
    problem, widths, seed, init_scale, x0, record_every, recorder, threads
        As in :func:`minimize_lbfgs`.
    lr : float
        Step size (> 0).
    momentum : float
        Heavy-ball coefficient in [0, 1); 0 is plain gradient descent.
    steps : int
        Number of updates.
    gtol : float
        Stop early once the gradient norm is at most this (0: run every step).
    progress : bool or None
        Report progress on stderr; None means only when stderr is a terminal.

    Returns
    -------
    DescentResult
        ``message`` says whether the run finished, stopped on ``gtol`` or diverged.
    """
    _check_descent_options(lr, momentum, steps)
    objective = _objective(problem, widths)
    x = _start(objective, seed, init_scale, x0)
    method = "momentum" if momentum > 0 else "gd"
    velocity = np.zeros_like(x)
    trajectory: list[Snapshot] = []
    bar = _Progress(progress, f"{method} seed {seed}", steps)
    message = f"finished {steps} steps"
    started = time.perf_counter()
    with blas_threads(threads):
        with np.errstate(over="ignore", invalid="ignore"):  # a start that overflows
            value, grad = objective(x)
        step = 0
        while True:
            if record_every and step % record_every == 0:
                data = recorder(x) if recorder is not None else None
                trajectory.append(Snapshot(step, value, vector_norm(grad), data))
            if not np.isfinite(value):
                message = f"diverged at step {step} (lower --lr)"
                break
            if step >= steps:
                break
            if gtol > 0 and vector_norm(grad) <= gtol:
                message = f"gradient norm below {gtol:g} at step {step}"
                break
            step += 1
            # a diverging run overflows here first: the non-finite value below names it
            with np.errstate(over="ignore", invalid="ignore"):
                velocity *= momentum
                velocity += grad
                x -= lr * velocity
                value, grad = objective(x)
            bar.update(step, value)
    bar.close()
    if record_every and trajectory[-1].step != step:
        data = recorder(x) if recorder is not None else None
        trajectory.append(Snapshot(step, value, vector_norm(grad), data))
    return DescentResult(
        x=x, objective=objective, loss=float(value), grad_norm=vector_norm(grad),
        steps=step, evaluations=step + 1, method=method,
        seed=None if x0 is not None else seed, message=message,
        elapsed=time.perf_counter() - started, trajectory=trajectory,
    )


def _check_descent_options(lr: float, momentum: float, steps: int) -> None:
    check(lr, POSITIVE, "lr")
    check(momentum, MOMENTUM, "momentum")
    check(steps, WholeNumber(0), "steps")


def descend(
    problem: Problem | FullObjective,
    widths=None,
    *,
    method: str = "lbfgs",
    restarts: int = 1,
    seed: int = 0,
    **options,
) -> list[DescentResult]:
    """Run one method from ``restarts`` random starts with seeds ``seed, seed+1, ...``.

    Parameters
    ----------
    problem, widths
        As in :func:`minimize_lbfgs`.
    method : {"lbfgs", "gd", "momentum"}
        L-BFGS, plain gradient descent, or heavy-ball momentum (default momentum 0.9).
    restarts : int
        Number of runs (>= 1).
    seed : int
        Seed of the first run.
    **options
        Passed to :func:`minimize_lbfgs` or :func:`gradient_descent`.

    Returns
    -------
    list of DescentResult
        One per run, in seed order.
    """
    method = check(method, Options(METHODS), "method")
    check(restarts, WholeNumber(1), "restarts")
    objective = _objective(problem, widths)
    if method == "momentum":
        options.setdefault("momentum", 0.9)
    elif method == "gd":
        options["momentum"] = 0.0
    run = minimize_lbfgs if method == "lbfgs" else gradient_descent
    return [run(objective, seed=seed + i, **options) for i in range(int(restarts))]
