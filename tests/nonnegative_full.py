"""The full problem with H >= 0, minimized directly: bounded L-BFGS-B on every sample's
features (scipy), from random nonnegative starts and from given points.

Independent of the solver's class-mean reduction: every sample has its own
feature column here, and NC1 is not assumed.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from ncsolve.core.descent import blas_threads
from ncsolve.core.objective import FullObjective


def bounded_runs(problem, widths, seeds=range(6), scale=1.0, points=()):
    """Losses and end points of bounded runs on the full objective (H block >= 0)."""
    f = FullObjective(problem, widths)
    rows = int(f.offsets[1])
    bounds = [(0.0, None)] * rows + [(None, None)] * (f.size - rows)
    starts = []
    for seed in seeds:
        x = f.random_point(np.random.default_rng(seed), scale)
        x[:rows] = np.abs(x[:rows])
        starts.append(x)
    starts += [expand(f, point) for point in points]
    ends = []
    with blas_threads(1):
        for x0 in starts:
            run = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": 50_000, "maxfun": 100_000, "ftol": 1e-15,
                                    "gtol": 1e-11, "maxcor": 30})
            ends.append((float(run.fun), f.split(run.x)))
    return ends


def expand(f: FullObjective, point) -> np.ndarray:
    """Flat full-problem vector of a class-mean configuration (every sample at its mean),
    each matrix embedded in the top-left corner of the (wider) full-problem layout."""
    dims = (*f.widths, f.K)
    means = _embed(point.means, (dims[0], point.means.shape[1]))
    weights = [_embed(W, (dims[j + 1], dims[j])) for j, W in enumerate(point.weights)]
    H = np.repeat(means, f.problem.n, axis=1)
    return f.pack(H, weights, point.bias)


def _embed(A: np.ndarray, shape) -> np.ndarray:
    out = np.zeros(shape)
    r, c = min(shape[0], A.shape[0]), min(shape[1], A.shape[1])
    out[:r, :c] = A[:r, :c]
    return out


def class_mean_norms(params, n) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    means = np.add.reduceat(params.H, starts, axis=1) / np.asarray(n)
    return np.linalg.norm(means, axis=0)
