"""Direct minimization of the full objective: the arbiter of every closed-form claim."""

from __future__ import annotations

import numpy as np

from ncsolve.core.descent import minimize_lbfgs
from ncsolve.core.objective import FullObjective


def class_means(features: np.ndarray, n) -> np.ndarray:
    """Column k: the mean of class k's columns (samples are stored class by class)."""
    n = np.asarray(n)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    return np.add.reduceat(features, starts, axis=1) / n


def run_grams(result) -> dict:
    """Class-mean, classifier and output matrices of a descent run, measured directly."""
    params = result.params
    n = result.problem.n
    means = class_means(params.H, n)
    W = params.product()
    return {"features": means.T @ means, "classifier": W @ W.T, "outputs": W @ means}


def theory_grams(solution) -> dict:
    return {
        "features": solution.gram_features(),
        "classifier": solution.gram_classifier(),
        "outputs": solution.gram_outputs(),
    }


def relative_error(measured: np.ndarray, target: np.ndarray) -> float:
    scale = max(np.linalg.norm(target), 1e-300)
    return float(np.linalg.norm(measured - target) / scale)


def best_of(problem, widths=None, seeds=range(4), init_scale=1.0, x0s=()):
    """All L-BFGS runs (random starts and given starting points) and the best one."""
    objective = FullObjective(problem, widths)
    runs = [minimize_lbfgs(objective, seed=s, init_scale=init_scale) for s in seeds]
    runs += [minimize_lbfgs(objective, x0=x0) for x0 in x0s]
    return runs, min(runs, key=lambda r: r.loss)
