"""A bounded search of the class-mean problem under H >= 0 (answers labelled ``best found``).

Local L-BFGS-B runs on the class-mean objective (:mod:`.reduced`), from
structured starts (class means on their own axes, with the classifier of the
unconstrained target at a few scales) and from random nonnegative starts; the
best end is reported with how many runs reached it.
"""

from __future__ import annotations

import numpy as np

from ...core.constants import RUN_RANK_RTOL
from ...core.descent import blas_threads
from ...inputs.problem import Problem
from ...results.base import Found
from .reduced import ClassMeanObjective, Point, minimize_bounded

__all__ = ["DEFAULT_RESTARTS", "search", "search_widths"]

DEFAULT_RESTARTS = 8
AXIS_SCALES = (0.3, 1.0, 3.0)


def search_widths(problem: Problem) -> tuple[int, ...]:
    """The widths searched: the problem's, or d_1 = 2K (room for nonnegative means that do
    not fit on K axes) and K inside."""
    if problem.widths is not None:
        return tuple(problem.widths)
    return (2 * problem.K,) + (problem.K,) * (problem.depth - 1)


def _axis_start(objective: ClassMeanObjective, scale: float) -> Point:
    """Class means on distinct axes; the product maps them to a multiple of the target."""
    K, widths = objective.K, objective.widths
    centred = objective.problem.loss == "ce" or objective.has_bias
    target = np.eye(K) - (1.0 / K if centred else 0.0)
    means = np.zeros((widths[0], K))
    r = min(K, widths[0])
    means[np.arange(r), np.arange(r)] = scale
    dims = (*widths, K)
    weights = []
    for j in range(objective.M):
        W = np.zeros((dims[j + 1], dims[j]))
        m = min(W.shape)
        W[np.arange(m), np.arange(m)] = scale
        weights.append(W)
    last = weights[-1]
    last[:, :min(K, dims[-2])] = target[:, :min(K, dims[-2])] * scale
    return Point(means, tuple(weights), None)


def _random_start(objective: ClassMeanObjective, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(objective.size)
    x[:objective.offsets[1]] = np.abs(x[:objective.offsets[1]])
    if objective.has_bias:
        x[objective.offsets[-2]:] = 0.0
    return x


def _rank(objective: ClassMeanObjective, x: np.ndarray) -> int:
    p = objective.split(x)
    s = np.linalg.svd(p.layer_features()[-1], compute_uv=False)
    return int(np.count_nonzero(s > RUN_RANK_RTOL * max(float(s.max(initial=0)), 1e-300)))


def search(problem: Problem, restarts: int | None = None, seed: int = 0,
           extra_starts: tuple[tuple[str, Point], ...] = ()):
    """Best end of the bounded local runs: (Point, loss, ends as Found records)."""
    objective = ClassMeanObjective(problem, search_widths(problem))
    starts = [(f"axes x{s:g}", objective.pack(_axis_start(objective, s))) for s in AXIS_SCALES]
    starts += [(label, objective.pack(point)) for label, point in extra_starts]
    rng = np.random.default_rng(seed)
    count = DEFAULT_RESTARTS if restarts is None else restarts
    starts += [(f"random {i}", _random_start(objective, rng)) for i in range(count)]
    best, ends = None, []
    with blas_threads(1):  # small matrices: thread wake-ups would dominate (core.descent)
        for label, x0 in starts:
            value, x, _ = minimize_bounded(objective, x0)
            ends.append(Found(label, value, _rank(objective, x)))
            if best is None or value < best[0]:
                best = (value, x)
    ends.sort(key=lambda f: f.loss)
    return objective.split(best[1]), best[0], tuple(ends)
