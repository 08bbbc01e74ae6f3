"""ReLU backbones: a measured network beside the nonnegative theory and the unconstrained one.

When every feature is >= 0 (features after a ReLU), the model to compare with is
the one with H >= 0 (docs/nonnegative.md). :func:`compare_relu` measures the
network as :func:`ncsolve.measure.measure` does, solves both theories for the
same problem and puts the shape comparisons side by side: the residual of the
class-mean and classifier-row lengths (the quantity a feature-decay fit
minimizes), the Gram, output and self-duality distances, and the objective gap.

The unconstrained theory is compared as ``measure`` compares it (with a free
bias, around the sample-weighted mean of the class means, which the bias makes
free); the nonnegative theory with the class means as they are, since its means
are not centred.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..core import metrics
from ..core.objective import chain
from ..inputs.validation import invalid
from ..solvers import solve
from .inputs import training_arrays
from .network import measure
from .theory import centred_means, layer_targets, row_norms

__all__ = ["ReluComparison", "TheoryComparison", "compare_relu", "shape_metrics"]

FIT_GRID = np.linspace(-8.0, 0.0, 17)  # log10 lambda_H of the nonnegative fit


@dataclass(frozen=True)
class TheoryComparison:
    """The trained network against one theory.

    Attributes
    ----------
    features : str
        "unconstrained" or "nonnegative".
    lambda_h : float
        The feature decay of this theory (given, or fitted to this theory).
    fitted : bool
        Whether ``lambda_h`` was fitted.
    certainty : str
    theory_loss, gap : float
        The theory's objective and the trained objective's relative gap to it.
    residual : float
        RMS of the relative distances of the class-mean lengths and the classifier-row
        lengths (what the feature-decay fit minimizes).
    gram_distance, output_distance : float
        Normalized distances of the class-mean Gram and of W Hbar (K x K).
    self_duality, theory_self_duality : float
        Measured and theoretical distance between classifier rows and class means.
    """

    features: str
    lambda_h: float
    fitted: bool
    certainty: str
    theory_loss: float
    gap: float | None
    residual: float
    gram_distance: float
    output_distance: float
    self_duality: float
    theory_self_duality: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReluComparison:
    """Both comparisons, and the smallest feature (>= 0 for a ReLU backbone)."""

    min_feature: float
    unconstrained: TheoryComparison
    nonnegative: TheoryComparison

    def to_dict(self) -> dict:
        return {"min_feature": self.min_feature, "unconstrained": self.unconstrained.to_dict(),
                "nonnegative": self.nonnegative.to_dict()}

    def __str__(self) -> str:
        rows = [("feature decay lambda_H", "lambda_h", "{:.4g}"),
                ("  fitted", "fitted", "{}"), ("certainty", "certainty", "{}"),
                ("objective gap", "gap", "{:.3g}"),
                ("length residual", "residual", "{:.3g}"),
                ("Gram distance", "gram_distance", "{:.3g}"),
                ("output distance", "output_distance", "{:.3g}"),
                ("self-duality", "self_duality", "{:.3g}"),
                ("  theory", "theory_self_duality", "{:.3g}")]
        lines = [f"features >= 0 (smallest {self.min_feature:.3g}): a ReLU backbone, compared "
                 "with the nonnegative theory beside the unconstrained one",
                 f"{'':24}{'unconstrained':>16}{'nonnegative':>16}"]
        for label, name, form in rows:
            cells = [_cell(getattr(c, name), form) for c in (self.unconstrained,
                                                              self.nonnegative)]
            lines.append(f"{label:24}{cells[0]:>16}{cells[1]:>16}")
        return "\n".join(lines)


def _cell(value, form: str) -> str:
    return "-" if value is None else form.format(value)


def shape_metrics(theory, means: np.ndarray, product: np.ndarray) -> dict:
    """Residual and distances of class means (K x d) and classifier (K x d) to an answer."""
    parts = [metrics.relative_distance(row_norms(means), theory.feature_norm),
             metrics.relative_distance(row_norms(product), theory.classifier_norm)]
    return {
        "residual": float(np.sqrt(np.mean(np.square(parts)))),
        "gram_distance": metrics.normalized_distance(means @ means.T, theory.gram_features()),
        "output_distance": metrics.normalized_distance(product @ means.T,
                                                       theory.gram_outputs()),
        "self_duality": metrics.self_duality(product, means.T),
        "theory_self_duality": layer_targets(theory).self_duality(0),
    }


def compare_relu(features, labels, weights, biases=None, *, restarts=None, seed=None,
                 **options) -> ReluComparison:
    """Measure a network with nonnegative features against both theories.

    Parameters
    ----------
    features, labels, weights, biases
        As for :func:`ncsolve.measure.measure` (in-memory arrays; every feature >= 0).
    restarts, seed : int, optional
        The nonnegative theory's search (and the cross-entropy search).
    **options
        Decays, bias, loss or a training convention, as for ``measure``. Without a
        feature decay, each theory's lambda_H is fitted to the lengths separately.

    Raises
    ------
    ProblemError
        For a negative feature, or without the decays of a theory.
    """
    X, y = training_arrays(features, labels)
    smallest = float(X.min())
    if smallest < 0:
        raise invalid("features", f"has negative entries (smallest {smallest:.3g}); the "
                      "nonnegative theory is for features after a ReLU")
    search = {"restarts": restarts, "seed": seed}
    base = measure(features, labels, weights, biases, **options,
                   **(search if options.get("loss") == "ce" else {}))
    if base.theory is None:
        raise invalid("lambda_w", "give the decays (--lambda-w or --weight-decay): the "
                      "comparison needs both theories")
    K = base.theory.problem.K
    counts = np.bincount(y, minlength=K).astype(float)
    means = np.zeros((K, X.shape[1]))
    np.add.at(means, y, X)
    means /= counts[:, None]
    product = chain([np.asarray(w, dtype=float) for w in weights])
    bias = base.theory.problem.bias
    unconstrained = _column("unconstrained", base.theory, base.lambda_h_fit is not None,
                            centred_means(means, counts, bias), product, base.loss)
    nonneg, fitted = _nonnegative_theory(base, means, product, search)
    loss = base.loss if not fitted else _objective_at(base, nonneg.problem.lambda_h, features,
                                                      labels, weights, biases, options)
    return ReluComparison(smallest, unconstrained,
                          _column("nonnegative", nonneg, fitted, means, product, loss))


def _column(name, theory, fitted, means, product, loss) -> TheoryComparison:
    problem = theory.problem
    scale = 0.5 if problem.loss == "mse" else (math.log(problem.K) if problem.K > 1 else 1.0)
    gap = None if loss is None else metrics.objective_gap(loss, float(theory.loss), scale)
    return TheoryComparison(name, float(problem.lambda_h), bool(fitted), theory.certainty,
                            float(theory.loss), gap, **shape_metrics(theory, means, product))


def _nonnegative_theory(base, means, product, search):
    """The nonnegative answer at the given lambda_H, or at the one fitted to it."""
    problem = dataclasses.replace(base.theory.problem, features="nonnegative")
    options = {k: v for k, v in search.items() if v is not None}

    def answer(lambda_h):
        return solve(dataclasses.replace(problem, lambda_h=float(lambda_h)), **options)

    if base.lambda_h_fit is None:
        return answer(problem.lambda_h), False
    from scipy.optimize import minimize_scalar

    def residual(log_decay):
        return shape_metrics(answer(10.0**log_decay), means, product)["residual"]

    values = [residual(g) for g in FIT_GRID]
    best = int(np.argmin(values))
    lo, hi = FIT_GRID[max(best - 1, 0)], FIT_GRID[min(best + 1, FIT_GRID.size - 1)]
    found = minimize_scalar(residual, bounds=(lo, hi), method="bounded",
                            options={"xatol": 1e-3})
    x = found.x if found.fun <= values[best] else FIT_GRID[best]
    return answer(10.0**x), True


def _objective_at(base, lambda_h, features, labels, weights, biases, options):
    """The trained objective with another lambda_H (measure computes it)."""
    given = {k: v for k, v in options.items() if k not in ("lambda_h", "convention")}
    if options.get("convention") is not None:
        return None
    again = measure(features, labels, weights, biases, **{**given, "lambda_h": lambda_h})
    return again.loss
