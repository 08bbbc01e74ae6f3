"""Results of :func:`ncsolve.measure.measure`: immutable, ``to_dict()`` is the JSON of
``ncsolve measure --json``, ``str()`` its text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..results.table import column
from .text import measurement_text

__all__ = ["LayerMetrics", "Measurement"]


def _value(x):
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    x = float(x)
    return x if np.isfinite(x) else None


def _array(values):
    return None if values is None else column(values)


@dataclass(frozen=True)
class LayerMetrics:
    """Neural-collapse metrics of the features at one layer, with the theory's values.

    Layer j holds the features ``W_j ... W_1 H`` (layer 0: the features given) and its
    classifier ``W_M ... W_{j+1}``.  Fields named ``theory_*`` are the same quantity
    at the global minimizer (None without a theory).

    Attributes
    ----------
    layer, width : int
    nc1 : float
        ``tr(Sigma_W Sigma_B^+) / K``.
    cdnv : float or None
        Class-distance-normalized variance, mean over pairs (None: K too large or
        per-class spreads not accumulated at this layer).
    equinorm, classifier_equinorm : float
        Coefficient of variation of the class-mean lengths and classifier-row lengths.
    gram_distance : float or None
        Normalized distance of the class-mean Gram to the theory's (0..2); class
        means around the global mean with a free bias, around the origin otherwise
        (as the objective sees them).
    gram_distance_centred : float or None
        The same with both the measured and the theory's class means taken around
        their global means (Papyan et al.'s NC2 convention: shape only, blind to a
        common shift such as the positive mean of ReLU features).
    nc1_svd, nc1_quotient : float
        NC1 with Sigma_B inverted on its top K - 1 directions (Han et al.), and
        ``tr(Sigma_W) / tr(Sigma_B)`` (Tirer et al.).
    nc1_dropped : int
        Directions of the centred class means below the pseudo-inverse cutoff.
    equinorm_centred, self_duality_centred : float or None
        Equinorm and self-duality with the class means around their global mean
        (Papyan et al. 2020), whatever the bias mode.
    gnc2, unc3, nc5 : float or None
        Hyperspherical energy of the normalized centred means, uniformity of duality
        (CoV of classifier/mean cosines), ID/OOD orthogonality (with OOD features).
    self_duality : float or None
        ``|| C^T/||C|| - Hbar/||Hbar|| ||_F`` (NC3, 0..2).
    nc4 : float or None
        Fraction of samples whose nearest class mean at this layer gives the
        network's prediction.
    singular_values, weight_singular_values : ndarray
        Largest K singular values of the layer's features and of ``W_{j+1}``.
    """

    layer: int
    width: int
    nc1: float
    cdnv: float | None
    equinorm: float
    classifier_equinorm: float | None
    gram_distance: float | None
    self_duality: float | None
    nc4: float | None
    singular_values: np.ndarray
    weight_singular_values: np.ndarray | None
    gram_distance_centred: float | None = None
    nc1_svd: float | None = None
    nc1_quotient: float | None = None
    nc1_dropped: int = 0
    equinorm_centred: float | None = None
    self_duality_centred: float | None = None
    gnc2: float | None = None
    unc3: float | None = None
    nc5: float | None = None
    theory_equinorm: float | None = None
    theory_classifier_equinorm: float | None = None
    theory_self_duality: float | None = None
    theory_singular_values: np.ndarray | None = None
    theory_weight_singular_values: np.ndarray | None = None

    def to_dict(self) -> dict:
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = (_array(value) if isinstance(value, np.ndarray)
                         else value if isinstance(value, int) else _value(value))
        return out


@dataclass(frozen=True, eq=False)
class Measurement:
    """A trained network measured against the global minimizer of the same problem.

    Attributes
    ----------
    problem : dict
        n, depth, widths, lambda_w, lambda_h, lambda_b, bias, loss as used by the theory.
    n : ndarray of int, shape (K,)
        Class sizes, from the labels.
    classes : dict of ndarray
        Per class (label order): ``feature_norm``, ``theory_feature_norm``,
        ``classifier_norm``, ``theory_classifier_norm``, ``output``, ``theory_output``,
        ``collapsed``, ``theory_collapsed``, ``feature_norms_by_layer`` (M + 1 x K) and
        ``theory_feature_norms_by_layer``.
    layers : tuple of LayerMetrics
    loss, theory_loss : float or None
        The objective at the trained parameters (features as the free variables) and
        its global minimum.
    gap : float or None
        ``(loss - theory_loss) / |theory_loss|`` (:func:`ncsolve.core.metrics.objective_gap`).
    stationarity : float or None
        Relative gradient norm of the objective at the trained parameters (MSE only).
    output_distance : float or None
        Normalized distance of ``W_M ... W_1 Hbar`` to the theory's output matrix.
    status : str
        ``global``, ``critical point``, ``not converged``, ``below theory`` or
        ``metrics only``.
    summary : str
        One line: how far from the global minimizer, which classes differ.
    certainty : str or None
        The theory's: ``exact`` (MSE closed form), ``proved`` or ``best found`` (CE).
    geometry : str or None
        The theory's geometry.
    collapse_threshold : float
        A class counts as collapsed when its class-mean length is at most this
        fraction of the largest.
    nc4_on : str or None
        ``test`` or ``train``: which samples NC4 and ``accuracy`` were measured on.
    accuracy : float or None
    lambda_h_fit : dict or None
        ``{"value", "residual"}`` when the feature decay was fitted.
    convention : TrainingConvention or None
    notes : tuple of str
    theory : Solution or CESolution or None
        The predict answer used (not part of the JSON: ``theory.to_dict()`` is).
    """

    problem: dict
    n: np.ndarray
    classes: dict
    layers: tuple
    loss: float | None
    theory_loss: float | None
    gap: float | None
    stationarity: float | None
    gradient_norm: float | None
    output_distance: float | None
    status: str
    summary: str
    certainty: str | None
    geometry: str | None
    collapse_threshold: float
    nc4_on: str | None
    accuracy: float | None
    lambda_h_fit: dict | None
    convention: object | None
    notes: tuple = field(default=())
    theory: object | None = None

    @property
    def K(self) -> int:
        return int(self.n.size)

    def to_dict(self) -> dict:
        """The JSON of ``ncsolve measure --json`` (docs/measure.md)."""
        K = self.K
        classes = []
        for k in range(K):
            row = {"class": k, "n": int(self.n[k])}
            for name, values in self.classes.items():
                if values is None:
                    row[name] = None
                elif values.ndim == 2:
                    row[name] = column(values[:, k])
                elif values.dtype == bool:
                    row[name] = bool(values[k])
                else:
                    row[name] = _value(values[k])
            classes.append(row)
        return {
            "problem": self.problem,
            "status": self.status,
            "summary": self.summary,
            "loss": _value(self.loss),
            "theory_loss": _value(self.theory_loss),
            "gap": _value(self.gap),
            "stationarity": _value(self.stationarity),
            "gradient_norm": _value(self.gradient_norm),
            "output_distance": _value(self.output_distance),
            "certainty": self.certainty,
            "geometry": self.geometry,
            "collapse_threshold": self.collapse_threshold,
            "nc4_on": self.nc4_on,
            "accuracy": _value(self.accuracy),
            "lambda_h_fit": self.lambda_h_fit,
            "convention": None if self.convention is None else self.convention.to_dict(),
            "notes": list(self.notes),
            "classes": classes,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def layer(self, j: int) -> LayerMetrics:
        return self.layers[j]

    def __repr__(self) -> str:
        return (f"Measurement(K={self.K}, depth={self.problem['depth']}, status={self.status!r}, "
                f"gap={self.gap!r})")

    def __str__(self) -> str:

        return measurement_text(self)
