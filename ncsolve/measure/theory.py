"""The theory's targets for a measured network: predict for the same class sizes,
depth, widths and bias mode, read off per class and per layer.

Every answer (:class:`ncsolve.results.base.Result`) gives its per-layer singular
values, class-mean lengths, classifier row lengths and Grams; the targets are
formed from those, whatever the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core import metrics
from ..core.brent import minimize_bounded
from ..core.constants import MEASURE_GRAM_TARGETS_MAX_K
from ..core.metrics import self_duality_from_grams
from ..core.objective import chain
from ..inputs import specify
from ..inputs.problem import ProblemError
from ..solvers import solve

GRAM_LIMIT = MEASURE_GRAM_TARGETS_MAX_K  # K x K targets (Grams, outputs) up to this K


@dataclass(frozen=True)
class LayerTargets:
    """The global minimizer at layers 0..M-1 (features ``W_j ... W_1 H``) in class order.

    Attributes
    ----------
    feature_values : ndarray, shape (M, K)
        Row j: singular values of the layer-j features, descending.
    weight_values : ndarray, shape (M, K)
        Row j: singular values of W_{j+1}, descending.
    feature_norms : ndarray, shape (M + 1, K)
        Row j: class-mean lengths at layer j (row M: of the outputs).
    classifier_norms : ndarray, shape (M, K)
        Row j: row lengths of the classifier W_M ... W_{j+1} of layer j.
    output_trace : float
        tr(W_M ... W_1 Hbar): the same at every layer.
    """

    feature_values: np.ndarray
    weight_values: np.ndarray
    feature_norms: np.ndarray
    classifier_norms: np.ndarray
    output_trace: float

    def self_duality(self, layer: int) -> float:

        return self_duality_from_grams(self.output_trace,
                                       float(np.sum(self.classifier_norms[layer] ** 2)),
                                       float(np.sum(self.feature_norms[layer] ** 2)))


def _descending(values: np.ndarray, K: int) -> np.ndarray:
    out = np.zeros(K)
    values = np.sort(np.asarray(values, dtype=float))[::-1][:K]
    out[: values.size] = values
    return out


def layer_targets(solution) -> LayerTargets:
    """Per-layer targets of an answer (MSE or cross-entropy alike: read through the base)."""
    K, M = solution.problem.K, solution.problem.depth
    sv = np.asarray(solution.layer_singular_values(), dtype=float)  # (K, M + 1)
    weights = np.array([_descending(sv[:, j + 1], K) for j in range(M)])
    cum = np.cumprod(sv, axis=1)
    values = [_descending(cum[:, j], K) for j in range(M)]
    norms = np.asarray(solution.layer_feature_norms)
    classifier = [solution.classifier_row_norms(j) for j in range(M)]
    trace = float(np.sum(solution.output))
    return LayerTargets(np.array(values), weights, norms, np.array(classifier), trace)


def feature_gram(solution, layer: int) -> np.ndarray:
    """Class-mean Gram of the layer-``layer`` features at the global minimizer (K x K)."""
    return solution.gram_features(layer)


def output_matrix(solution) -> np.ndarray:
    """W_M ... W_1 Hbar at the global minimizer; column k is class k (K x K)."""
    return solution.gram_outputs()


# ---- the answer for a measured network ---------------------------------------------------


def centred_means(means, counts, bias):
    """Class means around the global mean with a free bias (which absorbs any common
    shift of the features at no cost), else around the origin."""
    if bias != "free":
        return means
    return means - (counts @ means) / counts.sum()


def row_norms(rows) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", rows, rows))


def _predict(stats, head, lambda_w, lambda_h, bias, loss, lambda_b, restarts, seed,
             start=None):
    problem = specify(stats.counts, head.depth, lambda_w, lambda_h, bias, loss, head.widths,
                      lambda_b if bias == "regularized" else None)
    options = {"restarts": restarts, "seed": seed} if loss == "ce" else {}
    if start is not None:
        options["start"] = start
    return solve(problem, **options)


def theory_for(stats, head, decays, bias, loss, restarts, seed, notes):
    fit = None
    lambda_h = decays["lambda_h"]
    if lambda_h is None:
        answers: dict[float, object] = {}
        fit = fit_feature_decay(stats, head, decays["lambda_w"], bias, loss,
                                decays["lambda_b"], restarts, seed, answers)
        lambda_h = fit["value"]
        notes.append(f"feature decay unknown: lambda_H = {lambda_h:.4g} fitted to the class-mean "
                     f"and classifier lengths (residual {fit['residual']:.3g}); the objective "
                     "and its gap use the fitted value")
    if fit is not None and lambda_h in answers:  # solved in the fit: same problem and options
        return answers[lambda_h], fit
    theory = _predict(stats, head, decays["lambda_w"], lambda_h, bias, loss,
                      decays["lambda_b"], restarts, seed)
    return theory, fit


def check_theory(theory, stats, head, decays, bias, loss) -> None:
    p = theory.problem
    same = (head is not None and np.array_equal(p.n, stats.counts) and p.depth == head.depth
            and p.bias == bias and p.loss == loss
            and tuple(p.widths or ()) in ((), head.widths)
            and decays["lambda_w"] is not None
            and np.allclose(p.lambda_w, decays["lambda_w"], rtol=1e-12)
            and (decays["lambda_h"] is None or math.isclose(p.lambda_h, decays["lambda_h"],
                                                             rel_tol=1e-12)))
    if not same:
        raise ProblemError("theory: the given predict answer is for another problem (class "
                           "sizes, depth, widths, decays, bias or loss differ)")
    if decays["lambda_h"] is None:
        decays["lambda_h"] = p.lambda_h


def fit_feature_decay(stats, head, lambda_w, bias="none", loss="mse", lambda_b=None,
                      restarts=None, seed=None, answers: dict | None = None) -> dict:
    """The feature decay lambda_H whose global minimizer best explains the trained
    class-mean lengths and classifier-row lengths (a one-dimensional search in log lambda_H).

    The residual is the root mean square of the two relative distances
    ``||measured - theory|| / ||theory||`` (class-mean lengths, classifier-row lengths).
    With cross-entropy each trial value is warm-started from the answer at the
    nearest value tried so far (at depth 1 a few Newton steps, kept when the dual
    certificate proves them; at depth >= 2 one more start of the search).  With
    cross-entropy, ``answers`` (when given) receives every answer, keyed by lambda_H.
    """
    means, P = centred_means(stats.means, stats.counts, bias), chain(head.weights)
    measured = (row_norms(means), row_norms(P))
    solved: dict[float, object] = {}  # cross-entropy: answers so far, warm starts

    def residual(log_decay: float) -> float:
        start = None
        if loss == "ce" and bias != "regularized" and solved:
            start = solved[min(solved, key=lambda x: abs(x - log_decay))]
        sol = _predict(stats, head, lambda_w, 10.0**log_decay, bias, loss, lambda_b,
                       restarts, seed, start)
        if loss == "ce":
            solved[log_decay] = sol
            if answers is not None:
                answers[10.0**log_decay] = sol
        parts = [metrics.relative_distance(m, t) for m, t in
                 zip(measured, (sol.feature_norm, sol.classifier_norm))]
        return float(np.sqrt(np.mean(np.square(parts))))

    grid = np.linspace(-12.0, 1.0, 27 if loss == "mse" else 14)
    values = [residual(g) for g in grid]
    best = int(np.argmin(values))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    x, fx = minimize_bounded(residual, lo, hi, 1e-6 if loss == "mse" else 1e-3)
    x, r = (x, fx) if fx <= values[best] else (grid[best], values[best])
    return {"value": float(10.0**x), "residual": float(r)}
