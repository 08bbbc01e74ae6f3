"""Bounded descent for nonnegative features: L-BFGS-B on the full problem with H >= 0.

Every run starts from weights drawn N(0, init_scale^2) and features |N(0, init_scale^2)|
(nonnegative), or, for the run labelled ``theory``, from ncsolve's answer itself with
every sample at its class mean. A bounded run's stationarity is measured by the
projected gradient: the gradient with the components removed that push an entry of
H at zero below zero (the bound holds them).
"""

from __future__ import annotations

import time

import numpy as np

from ..core.descent import DescentResult, blas_threads
from ..core.metrics import vector_norm
from ..core.objective import FullObjective
from ..inputs.validation import invalid

__all__ = ["bounded_descent", "projected_gradient_norm"]

FTOL = 1e-15


def projected_gradient_norm(objective: FullObjective, x: np.ndarray) -> float:
    """Norm of the gradient projected on the feasible directions of H >= 0."""
    _, grad = objective(x)
    rows = int(objective.offsets[1])
    held = (x[:rows] <= 0.0) & (grad[:rows] > 0.0)
    grad = grad.copy()
    grad[:rows][held] = 0.0
    return vector_norm(grad)


def bounded_descent(objective: FullObjective, *, restarts: int = 1, seed: int = 0,
                    method: str = "lbfgs", init_scale: float = 0.1, maxiter: int = 20000,
                    start=None, **options) -> list[DescentResult]:
    """Runs of L-BFGS-B with H >= 0, seeds ``seed, seed+1, ...``; plus one from ``start``.

    Parameters
    ----------
    objective : FullObjective
    restarts, seed : int
        Random nonnegative starts and the seed of the first.
    method : str
        Only ``"lbfgs"`` (bounded L-BFGS-B); gd and momentum are refused.
    init_scale : float
        Standard deviation of the start.
    maxiter : int
        Iteration cap of each run.
    start : ndarray, optional
        A flat starting point (the theory's); its run has seed None.
    """
    if method != "lbfgs":
        raise invalid("method", "with --features nonnegative verify runs bounded L-BFGS-B "
                      "(H >= 0); use --method lbfgs")
    unknown = set(options) - {"progress", "record_every", "recorder", "gtol", "maxcor"}
    if unknown or options.get("record_every"):
        name = "record_every" if options.get("record_every") else sorted(unknown)[0]
        raise invalid(name, "not available for the bounded runs of --features nonnegative; "
                      "leave it out")
    rows = int(objective.offsets[1])
    starts = []
    for i in range(int(restarts)):
        x = objective.random_point(np.random.default_rng(seed + i), init_scale)
        x[:rows] = np.abs(x[:rows])
        starts.append((seed + i, x))
    if start is not None:
        starts.append((None, np.asarray(start, dtype=float)))
    with blas_threads(1):
        return [_run(objective, x0, label, maxiter, options) for label, x0 in starts]


def _run(objective: FullObjective, x0: np.ndarray, seed, maxiter: int,
         options: dict) -> DescentResult:
    from scipy.optimize import minimize

    rows = int(objective.offsets[1])
    bounds = [(0.0, None)] * rows + [(None, None)] * (objective.size - rows)
    began = time.perf_counter()
    run = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": maxiter, "maxfun": 2 * maxiter, "ftol": FTOL,
                            "gtol": options.get("gtol", 1e-12),
                            "maxcor": options.get("maxcor", 30)})
    x = run.x
    return DescentResult(x=x, objective=objective, loss=float(run.fun),
                         grad_norm=projected_gradient_norm(objective, x), steps=int(run.nit),
                         evaluations=int(run.nfev), method="lbfgs-b (H >= 0)", seed=seed,
                         message=str(run.message), elapsed=time.perf_counter() - began)


def theory_start(objective: FullObjective, solution) -> np.ndarray | None:
    """The answer's configuration as a full-problem start (every sample at its class mean),
    when the answer holds one (a nonnegative answer); None otherwise."""
    point = getattr(solution, "point", None)
    if point is None:
        return None
    dims = (*objective.widths, objective.K)
    if point.means.shape[0] > dims[0] or any(
            W.shape[0] > dims[j + 1] or W.shape[1] > dims[j]
            for j, W in enumerate(point.weights)):
        return None  # searched wider than the model: no start of this shape
    means = _embed(point.means, (dims[0], objective.K))
    weights = [_embed(W, (dims[j + 1], dims[j])) for j, W in enumerate(point.weights)]
    H = np.repeat(means, objective.problem.n, axis=1)
    return objective.pack(H, weights, point.bias)


def _embed(A: np.ndarray, shape) -> np.ndarray:
    out = np.zeros(shape)
    out[:A.shape[0], :A.shape[1]] = A
    return out


def answer_target(solution):
    """The answer's own matrices at every layer, read from its Grams (not by factor
    balancing of its outputs: under H >= 0 the features are not the balanced factor)."""
    from .alignment import CETarget

    p = solution.problem
    logits = np.asarray(solution.gram_outputs(), dtype=float)
    s = np.linalg.svd(logits * np.sqrt(np.asarray(p.n, dtype=float))[None, :],
                      compute_uv=False)[: int(solution.rank)]
    features = [np.asarray(solution.gram_features(j), dtype=float) for j in range(p.depth)]
    classifiers = [np.asarray(solution.gram_classifier(j), dtype=float)
                   for j in range(p.depth)]
    return CETarget(features, classifiers, logits, s)
