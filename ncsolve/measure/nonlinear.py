"""Heads with nonlinearities: every layer measured from its own features, the last layer
W_M as the classifier, and no theory (the closed form is for linear heads)."""

from __future__ import annotations

import numpy as np

from ..core import metrics
from ..inputs.problem import ProblemError
from .arrays import float_matrix
from .inputs import BATCH_ROWS, accumulate
from .result import Measurement
from .stream import Head
from .theory import centred_means, row_norms

__all__ = ["nonlinear_measurement"]


def nonlinear_measurement(layer_metrics, stats, head, layer_features, X, y, K, loss,
                          threshold, notes) -> Measurement:
    """Heads with nonlinearities: every layer measured from its own features, the last
    layer W_M as the classifier, no theory (the closed form is for linear heads).
    ``layer_metrics`` is the per-layer assembler of :mod:`.network`."""
    if X is None:
        raise ProblemError("layer_features: give the layer features together with the "
                           "layer-0 features as arrays (not statistics)")
    layer_features = list(layer_features)
    if len(layer_features) != head.depth - 1:
        raise ProblemError(f"layer_features: give the features after each hidden layer "
                           f"1..{head.depth - 1} ({head.depth - 1} arrays), got "
                           f"{len(layer_features)}")
    rows = [X]
    for j, (features, W) in enumerate(zip(layer_features, head.weights[:-1]), start=1):
        rows.append(float_matrix(features, f"layer_features[{j - 1}]", X.shape[0],
                                 W.shape[0], layout=f" (N x d_{j + 1}, the outputs of layer {j})"))
    per_layer = [accumulate(r, y, K, None) for r in rows]
    last = Head(head.weights[-1:], head.biases[-1:])
    predicted = (rows[-1] @ last.weights[0].T
                 + (0.0 if last.biases[0] is None else last.biases[0])).argmax(axis=1)
    layers = []
    for j, (r, st) in enumerate(zip(rows, per_layer)):
        agree = float(np.mean(_nearest(r, st.means) == predicted))
        classifier = last if j == len(rows) - 1 else None
        layers.append(layer_metrics(j, st.means, st.scatter, st, classifier, "none", None,
                                    None, agree, spread=st.class_spread[0]))
    bias = "free" if last.biases[0] is not None else "none"
    centred = centred_means(stats.means, stats.counts, bias)
    norms = row_norms(centred)
    top = centred_means(per_layer[-1].means, stats.counts, bias)
    classes = {"feature_norm": norms,
               "collapsed": norms <= threshold * max(float(norms.max()), np.finfo(float).tiny),
               "classifier_norm": row_norms(last.weights[0]),
               "output": np.diag(top @ last.weights[0].T).copy(),
               "feature_norms_by_layer": np.array([row_norms(centred_means(st.means, stats.counts,
                                                                        bias))
                                                   for st in per_layer])}
    notes.append("the head has nonlinearities (layer features given): every layer is measured "
                 "from its own features and W_M is the classifier of the last; the theory's "
                 "model is linear, so nothing is compared with it")
    return Measurement(
        problem={"n": stats.counts.tolist(), "depth": head.depth, "widths": list(head.widths),
                 "lambda_w": None, "lambda_h": None, "lambda_b": None, "bias": bias,
                 "loss": loss},
        n=stats.counts.copy(), classes=classes, layers=tuple(layers), loss=None,
        theory_loss=None, gap=None, stationarity=None, gradient_norm=None,
        output_distance=None, status="metrics only",
        summary=f"NC1 {layers[0].nc1:.3g} at the features, {layers[-1].nc1:.3g} at the last "
                "layer (nonlinear head: no theory compared)",
        certainty=None, geometry=None, collapse_threshold=threshold, nc4_on="train",
        accuracy=float(np.mean(predicted == y)), lambda_h_fit=None, convention=None,
        notes=tuple(notes))


def _nearest(rows, means):
    return np.concatenate([metrics.nearest_centre(rows[lo: lo + BATCH_ROWS], means)
                           for lo in range(0, rows.shape[0], BATCH_ROWS)])
