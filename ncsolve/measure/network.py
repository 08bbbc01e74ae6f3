"""Measuring a trained network: class statistics -> NC metrics at every layer -> the
theory for the same problem -> side-by-side comparison (:func:`measure`)."""

from __future__ import annotations

import math

import numpy as np

from ..core import metrics
from ..core.objective import chain
from ..inputs.problem import ProblemError
from ..inputs.validation import invalid
from .arrays import float_matrix
from ..core.constants import EXACT
from .result import LayerMetrics, Measurement
from .stream import ClassAccumulator, ClassStatistics, Head
from .inputs import (BATCH_ROWS, accumulate, bias_mode, checked_decays, loss_name,
                     num_classes_of, stats_width, training_arrays)
from .hints import scope_alternative, scope_hint
from .nonlinear import nonlinear_measurement
from .theory import (GRAM_LIMIT, centred_means, check_theory, feature_gram, layer_targets,
                     output_matrix, row_norms, theory_for)
from . import literature, ufm
from .scale import check_features, check_outputs, check_scale, feature_scale

__all__ = ["measure"]

GAP_TOLERANCE = 1e-4
STATIONARY = 1e-3  # relative gradient below which a run counts as a critical point
COLLAPSE_THRESHOLD = 1e-3
NC4_BUDGET = 2e10  # N K d above which NC4 is not computed on the training samples


def measure(features, labels=None, weights=None, biases=None, *, depth=None, lambda_w=None,
            lambda_h=None, lambda_b=None, bias=None, loss="mse", convention=None,
            num_classes=None, test_features=None, test_labels=None, layer_features=None,
            collapse_threshold=COLLAPSE_THRESHOLD, gap_tolerance=GAP_TOLERANCE,
            restarts=None, seed=None, theory=None, ood_features=None) -> Measurement:
    """Neural-collapse metrics of a trained network and the global minimizer beside them.

    Parameters
    ----------
    features : array (N x d), ClassAccumulator or ClassStatistics
        Penultimate features, one row per sample, in any sample order (numpy,
        PyTorch, JAX, anything with ``__array__`` or ``__dlpack__``); or the
        statistics of a streaming pass (:class:`ClassAccumulator`).
    labels : array of int (N,)
        Class labels 0..K-1 (with array features).
    weights : sequence of arrays
        The head's layers in PyTorch's (out, in) layout, layer 1 (acting on the
        features) first; the last has K rows.  None: metrics of the features only.
    biases : sequence of arrays or None, optional
        ``b1..bM`` (None entries for layers without one).  The theory has no
        hidden-layer biases; a last-layer bias is its free (or regularized) bias.
    depth : int, optional
        Checked against ``len(weights)``.
    lambda_w, lambda_h, lambda_b : optional
        Decays of ncsolve's objective (one lambda_w or one per layer).  lambda_h
        None with lambda_w given: the feature decay that best explains the trained
        features is fitted.  Both None: metrics and shape-free comparisons only.
    bias : {"none", "free", "regularized"}, optional
        Default: ``free`` when a last-layer bias is given, else ``none``.
    loss : {"mse", "ce"}
    convention : TrainingConvention, optional
        From :func:`ncsolve.measure.training_decays`; supplies the decays.
    num_classes : int, optional
        K (default: largest label + 1).
    test_features, test_labels : optional
        Held-out samples for NC4 and the accuracy (else the training features,
        when given as arrays).
    layer_features : sequence of arrays, optional
        Features after hidden layers 1..M-1 for heads with nonlinearities: then
        every layer is measured from its own features and the theory (which is
        linear) is not compared.
    collapse_threshold : float
        Class-mean length, as a fraction of the largest, at or below which a class
        counts as collapsed.
    gap_tolerance : float
        Relative objective gap within which the run is at the global minimizer.
    restarts, seed : int, optional
        Cross-entropy search of the theory.
    theory : Solution, optional
        A predict answer for this very problem (same class sizes, depth, widths,
        decays, bias and loss) to reuse instead of solving again, as a training-loop
        tracker does; its problem is checked.
    ood_features : array (N_ood x d), optional
        Out-of-distribution features: NC5 (their mean against the class means) at
        every layer.

    Returns
    -------
    Measurement

    Raises
    ------
    ProblemError
        Naming the array or parameter and what is expected.
    """
    notes: list[str] = []
    loss = loss_name(loss)
    in_memory = not isinstance(features, (ClassAccumulator, ClassStatistics))
    if in_memory:
        X, y = training_arrays(features, labels)
        check_features(X)
        K = num_classes_of(num_classes, y, weights)
    else:
        K = features.K
    head = None
    if weights is not None:
        width = X.shape[1] if in_memory else stats_width(features)
        head = Head.build(weights, biases, num_classes=K, width=width)
        if in_memory:
            check_outputs(feature_scale(X, None), head)
        if depth is not None and int(depth) != head.depth:
            raise invalid("depth", f"the head has {head.depth} layer(s) "
                          f"W1..W{head.depth}, got depth {depth}")
    elif layer_features is not None:
        raise ProblemError("weights: give the head's layers with layer_features")
    if in_memory:
        stats = accumulate(X, y, K, None if layer_features is not None else head)
    else:
        stats = features.statistics() if isinstance(features, ClassAccumulator) else features
        if isinstance(features, ClassAccumulator) and head is None:
            head = features.head
        elif isinstance(features, ClassAccumulator) and features.head is not None:
            _same_head(head, features.head)
    if layer_features is not None:
        return nonlinear_measurement(_layer, stats, head, layer_features,
                                     X if in_memory else None, y if in_memory else None, K,
                                     loss, collapse_threshold, notes)
    decays = checked_decays(convention, lambda_w, lambda_h, lambda_b,
                     None if head is None else head.depth)
    bias = bias_mode(bias, head, decays["lambda_b"], notes, convention is not None)
    check_scale(feature_scale(X if in_memory else None, stats), head, decays)
    if loss != "ce":
        for name, value in (("restarts", restarts), ("seed", seed)):
            if value is not None:
                raise invalid(name, "only used by the cross-entropy search "
                              "(--loss ce); the MSE theory is solved without it")
    if head is not None and head.hidden_biases:
        notes.append("the head has hidden-layer biases; the theory's model has none: they "
                     "are measured in the layer features and the objective, not predicted")
    fit = None
    if theory is not None:
        check_theory(theory, stats, head, decays, bias, loss)
    elif head is not None and decays["lambda_w"] is not None:
        theory, fit = theory_for(stats, head, decays, bias, loss, restarts, seed, notes)
    elif head is not None:
        notes.append("no weight decay given (--lambda-w or --weight-decay): metrics only, "
                     "no comparison with the theory")
    test = None
    if test_features is not None or test_labels is not None:
        test = training_arrays(test_features, test_labels, "test_features", "test_labels",
                                num_classes=K, width=stats.width)
    elif in_memory and X.shape[0] * K * X.shape[1] <= NC4_BUDGET:
        test = (X, y)
    elif in_memory:
        notes.append("NC4 left out: nearest class means for all training samples would cost "
                     f"N K d = {X.shape[0] * K * X.shape[1]:.2g} multiply-adds; give "
                     "test_features/test_labels (a held-out subset) for NC4")
    ood = None if ood_features is None else _ood_means(ood_features, stats.width, head)
    return _assemble(stats, head, theory, fit, decays, bias, loss, test,
                     "test" if test_features is not None else "train", collapse_threshold,
                     gap_tolerance, convention, notes, ood)


def _ood_means(ood_features, width, head):
    """Mean of the out-of-distribution features at layers 0..M-1 (an affine head maps
    means to means)."""
    rows = float_matrix(ood_features, "ood_features", columns=width,
                        layout=" (N_ood x d, rows are samples)")
    if not rows.shape[0]:
        raise ProblemError("ood_features: give at least one out-of-distribution sample")
    out = [rows.mean(axis=0)]
    if head is not None:
        for W, b in zip(head.weights[:-1], head.biases[:-1]):
            out.append(W @ out[-1] + (0.0 if b is None else b))
    return out


def _same_head(given: Head, own: Head) -> None:
    """Refuse weights other than those an accumulator summed its cross-entropy, accuracy
    and per-layer spreads with."""
    def equal(a, b):
        return (a is None) == (b is None) and (a is None or (a.shape == b.shape
                                                             and np.array_equal(a, b)))
    if given.depth != own.depth or not all(
            equal(a, b) for a, b in zip(given.weights + given.biases,
                                        own.weights + own.biases)):
        raise ProblemError("weights: differ from the head the ClassAccumulator was built "
                           "with, whose cross-entropy, accuracy and layer spreads it summed; "
                           "leave weights out to measure that head, or accumulate again "
                           "with ClassAccumulator(K, weights=...)")


# ---- assembling the measurement -----------------------------------------------------------


def _tail(head: Head | None, j: int) -> Head | None:
    """The layers j + 1 .. M of a head (what acts on the layer-j features)."""
    return None if head is None else Head(head.weights[j:], head.biases[j:])


def _layer_moments(stats: ClassStatistics, head: Head | None):
    """(means, scatter) at layers 0..M-1 (means as rows, raw, with hidden biases)."""
    means, scatter = stats.means, stats.scatter
    out = [(means, scatter)]
    if head is None:
        return out
    for W, b in zip(head.weights[:-1], head.biases[:-1]):
        means = means @ W.T + (0.0 if b is None else b)
        scatter = W @ scatter @ W.T
        out.append((means, scatter))
    return out


def _top(values, K) -> np.ndarray:
    values = np.sort(np.sqrt(np.maximum(values, 0.0)))[::-1][:K]
    return np.concatenate([values, np.zeros(K - values.size)])


def _layer(j, means, scatter, stats, head, bias, targets, theory, nc4, spread=None,
           ood_mean=None):
    """Metrics of layer j; ``head`` holds the layers from j + 1 on (None: no classifier)."""
    n, K, N = stats.counts, stats.K, stats.N
    centred = centred_means(means, n, bias)
    around_mean = centred_means(means, n, "free")
    square = float(np.trace(scatter) + n @ np.einsum("ij,ij->i", means, means))
    rms = math.sqrt(max(square, 0.0) / N)
    forms = literature.nc1_forms(means, scatter, n, rms)
    if spread is None and stats.class_spread.shape[0] > j:
        spread = stats.class_spread[j]
    cdnv = (metrics.cdnv(means, spread / n) if spread is not None and K <= GRAM_LIMIT
            else None)
    norms = row_norms(centred)
    second = scatter + (means * n[:, None]).T @ means
    values = _top(np.linalg.eigvalsh(second), K)
    classifier = weight_values = None
    if head is not None:
        classifier = chain(head.weights)
        weight_values = _top(np.linalg.svd(head.weights[0], compute_uv=False) ** 2, K)
    row = dict(
        layer=j, width=int(means.shape[1]), nc1=forms.nc1, cdnv=cdnv,
        equinorm=metrics.coefficient_of_variation(norms),
        classifier_equinorm=(None if classifier is None
                             else metrics.coefficient_of_variation(row_norms(classifier))),
        gram_distance=None,
        self_duality=None if classifier is None else metrics.self_duality(classifier,
                                                                         centred.T),
        nc4=nc4, singular_values=values, weight_singular_values=weight_values,
        nc1_svd=forms.nc1_svd, nc1_quotient=forms.nc1_quotient, nc1_dropped=forms.dropped,
        equinorm_centred=literature.centred_equinorm(means, n),
        self_duality_centred=(None if classifier is None
                              else metrics.self_duality(classifier, around_mean.T)),
        gnc2=literature.gnc2(means, n),
        unc3=None if classifier is None else literature.unc3(classifier, means, n),
        nc5=None if ood_mean is None else literature.nc5(means, n, ood_mean))
    if targets is not None:
        row.update(
            theory_equinorm=metrics.coefficient_of_variation(targets.feature_norms[j]),
            theory_classifier_equinorm=metrics.coefficient_of_variation(
                targets.classifier_norms[j]),
            theory_self_duality=targets.self_duality(j),
            theory_singular_values=targets.feature_values[j],
            theory_weight_singular_values=targets.weight_values[j])
        if K <= GRAM_LIMIT:
            target = feature_gram(theory, j)
            row["gram_distance"] = metrics.normalized_distance(centred @ centred.T, target)
            row["gram_distance_centred"] = metrics.normalized_distance(
                around_mean @ around_mean.T, _centred_gram(target, n))
    return LayerMetrics(**row)


def _centred_gram(gram: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The Gram of the same class means taken around their sample-weighted global mean:
    ``C^T G C`` with ``C = I - n 1^T / N``."""
    weights = counts / counts.sum()
    row = gram @ weights
    return gram - row[:, None] - row[None, :] + weights @ row


def _nc4(test, stats, head, layer_means, bias):
    """Per layer, agreement of the nearest class mean with the network's prediction, and
    the network's accuracy, on ``test`` = (X, y)."""
    if test is None or head is None:
        return [None] * len(layer_means), None
    X, y = test
    agree = np.zeros(len(layer_means))
    correct = 0
    for lo in range(0, X.shape[0], BATCH_ROWS):
        rows = head.layers(X[lo: lo + BATCH_ROWS])
        predicted = rows[-1].argmax(axis=1)
        correct += int(np.count_nonzero(predicted == y[lo: lo + BATCH_ROWS]))
        for j, means in enumerate(layer_means):
            agree[j] += np.count_nonzero(metrics.nearest_centre(rows[j], means) == predicted)
    return list(agree / X.shape[0]), correct / X.shape[0]


def _assemble(stats, head, theory, fit, decays, bias, loss, test, test_name, threshold,
              gap_tolerance, convention, notes, ood=None) -> Measurement:
    n, K = stats.counts, stats.K
    moments = _layer_moments(stats, head)
    targets = None if theory is None else layer_targets(theory)
    nc4, accuracy = _nc4(test, stats, head, [m for m, _ in moments], bias)
    if accuracy is None and stats.correct is not None and head is not None:
        accuracy = stats.correct / stats.N
        notes.append("accuracy on the accumulated samples (the accumulator counted the "
                     "head's correct predictions); NC4 needs the samples or test_features")
    if stats.scatter_error is not None:
        notes.append(f"class statistics summed in float32 on the device: the within-class "
                     f"scatter is within {stats.scatter_error:.2g} of exact in Frobenius norm, "
                     f"{stats.scatter_error / max(np.linalg.norm(stats.scatter), 1e-300):.2g} "
                     "of its norm (docs/measure.md, Float32 on the device)")
    layers = tuple(_layer(j, m, s, stats, _tail(head, j), bias, targets, theory, nc4[j],
                          ood_mean=None if ood is None else ood[j])
                   for j, (m, s) in enumerate(moments))
    classes = _classes(stats, head, bias, theory, targets, moments, threshold)
    dropped = [lay.layer for lay in layers if lay.nc1_dropped]
    if dropped:
        notes.append(f"NC1 at layer(s) {_names(np.array(dropped))}: the pseudo-inverse of "
                     "Sigma_B left out directions of the class means below its default cutoff "
                     "(d eps of the largest eigenvalue, as numpy and torch); nc1_svd keeps "
                     "the top K - 1")
    lambda_h = decays["lambda_h"] if fit is None else fit["value"]
    loss_value = theory_loss = gap = station = grad_norm = output_distance = None
    if theory is not None:
        loss_value = _objective(stats, head, decays, lambda_h, loss, notes)
        theory_loss = float(theory.loss)
        scale = 0.5 if loss == "mse" else (math.log(K) if K > 1 else 1.0)
        gap = None if loss_value is None else metrics.objective_gap(loss_value, theory_loss,
                                                                    scale)
        if loss == "mse" and not head.hidden_biases:
            station, grad_norm = ufm.stationarity(stats, head, decays["lambda_w"], lambda_h,
                                                  decays["lambda_b"], bias)
        if K <= GRAM_LIMIT:
            means = centred_means(stats.means, n, bias)
            output_distance = metrics.normalized_distance(
                chain(head.weights) @ means.T, output_matrix(theory))
    status, summary = _status(theory, gap, station, classes, layers, gap_tolerance, loss)
    if status in ("not converged", "below theory", "critical point") and gap is not None:
        _scope_note(stats, head, theory, decays, bias, loss, convention, lambda_h, gap, notes)
    problem = {"n": n.tolist(), "depth": None if head is None else head.depth,
               "widths": None if head is None else list(head.widths),
               "lambda_w": (None if decays["lambda_w"] is None
                            else list(decays["lambda_w"])),
               "lambda_h": lambda_h, "lambda_b": decays["lambda_b"], "bias": bias,
               "loss": loss}
    certainty = None
    if theory is not None:
        certainty = theory.certainty
        if certainty != EXACT:
            kind = "cross-entropy" if loss == "ce" else f"{theory.problem.bias}-bias"
            reason = theory.certainty_reason
            notes.append(f"the {kind} theory's answer is {certainty}, not a closed form"
                         + (f": {reason}" if reason else ""))
    return Measurement(
        problem=problem, n=n.copy(), classes=classes, layers=layers, loss=loss_value,
        theory_loss=theory_loss, gap=gap, stationarity=station, gradient_norm=grad_norm,
        output_distance=output_distance, status=status, summary=summary, certainty=certainty,
        geometry=None if theory is None else theory.geometry, collapse_threshold=threshold,
        nc4_on=None if nc4[0] is None else test_name, accuracy=accuracy, lambda_h_fit=fit,
        convention=convention, notes=tuple(notes), theory=theory)


def _scope_note(stats, head, theory, decays, bias, loss, convention, lambda_h, gap, notes):
    """Solve once more with the feature decay on all of H; note it when that explains the
    run far better (free features trained with weight_decay, a per-batch mapping)."""
    whole = scope_alternative(convention, lambda_h)
    if whole is None:
        return
    restarts, seed = (1, 0) if loss == "ce" else (None, None)
    other, _ = theory_for(stats, head, dict(decays, lambda_h=whole), bias, loss, restarts,
                          seed, [])
    value = _objective(stats, head, decays, whole, loss, [])
    if value is None:
        return
    scale = 0.5 if loss == "mse" else (math.log(stats.K) if stats.K > 1 else 1.0)
    other_gap = metrics.objective_gap(value, float(other.loss), scale)
    if abs(other_gap) < 0.1 * abs(gap):
        notes.append(scope_hint(lambda_h, whole, gap, other_gap))


def _objective(stats, head, decays, lambda_h, loss, notes):
    if loss == "ce" and stats.ce_sum is None:
        notes.append("cross-entropy objective unknown: the statistics were accumulated without "
                     "the head (pass weights to ClassAccumulator)")
        return None
    return ufm.data_term(stats, head, loss) + ufm.penalty(stats, head, decays["lambda_w"],
                                                          lambda_h, decays["lambda_b"])


def _classes(stats, head, bias, theory, targets, moments, threshold) -> dict:
    n = stats.counts
    centred = centred_means(stats.means, n, bias)
    norms = row_norms(centred)
    largest = max(float(norms.max(initial=0.0)), np.finfo(float).tiny)
    by_layer = [row_norms(centred_means(m, n, bias)) for m, _ in moments]
    out = {"feature_norm": norms, "collapsed": norms <= threshold * largest}
    if head is not None:
        P = chain(head.weights)
        outputs = centred @ P.T
        by_layer.append(row_norms(outputs))
        out.update(classifier_norm=row_norms(P), output=np.diag(outputs).copy())
    out["feature_norms_by_layer"] = np.array(by_layer)
    if theory is not None:
        out.update(theory_feature_norm=np.asarray(theory.feature_norm, dtype=float),
                   theory_classifier_norm=np.asarray(theory.classifier_norm, dtype=float),
                   theory_output=np.diag(output_matrix(theory)).copy()
                   if stats.K <= GRAM_LIMIT else np.asarray(theory.output, dtype=float),
                   theory_collapsed=np.asarray(theory.collapsed, dtype=bool),
                   theory_feature_norms_by_layer=np.asarray(targets.feature_norms))
    return out


def _status(theory, gap, station, classes, layers, tolerance, loss) -> tuple[str, str]:
    if theory is None:
        return "metrics only", f"NC1 {layers[0].nc1:.3g} at the features (no theory compared)"
    differ = _collapse_differences(classes)
    gram = layers[0].gram_distance
    gram_text = "" if gram is None else f", Gram distance {gram:.2g}"
    if gap is None:
        return "metrics only", f"objective unknown{gram_text}; {differ or 'collapsed set agrees'}"
    if gap < -tolerance:
        return ("below theory", f"objective {gap:.3g} below the global minimum: the decays do "
                "not describe this training (check the convention and the loss reduction)")
    if abs(gap) <= tolerance and not differ:
        return "global", (f"at the global minimizer: relative objective gap {gap:.2g}"
                          f"{gram_text}; collapsed classes agree with the theory")
    if station is not None and station <= STATIONARY:
        return "critical point", (f"a critical point that is not the global minimizer "
                                  f"(relative gradient {station:.2g}): relative objective gap "
                                  f"{gap:.3g}{gram_text}; " + (differ or "same collapsed set"))
    grad = "" if station is None else f", relative gradient {station:.2g}"
    return "not converged", (f"not at the global minimizer: relative objective gap {gap:.3g}"
                             f"{grad}{gram_text}; " + (differ or "collapsed classes agree"))


def _collapse_differences(classes) -> str:
    measured, theory = classes["collapsed"], classes.get("theory_collapsed")
    if theory is None:
        return ""
    kept = np.flatnonzero(~measured & theory)
    lost = np.flatnonzero(measured & ~theory)
    parts = []
    if kept.size:
        parts.append(f"class(es) {_names(kept)} kept, which the global minimizer collapses")
    if lost.size:
        parts.append(f"class(es) {_names(lost)} collapsed, which the global minimizer keeps")
    return "; ".join(parts)


def _names(indices) -> str:
    head = ", ".join(str(int(i)) for i in indices[:10])
    return head + (", ..." if indices.size > 10 else "")
