"""Measuring a trained network: class statistics -> NC metrics at every layer -> the
theory for the same problem -> side-by-side comparison (:func:`measure`)."""

from __future__ import annotations

import math

import numpy as np

from ..core import metrics
from ..core.objective import chain
from ..inputs import specify
from ..inputs.problem import Problem, ProblemError, whole_number
from ..results.constants import EXACT
from ..solvers import solve
from .arrays import as_numpy, float_matrix, integer_labels
from .result import LayerMetrics, Measurement
from .stream import ClassAccumulator, ClassStatistics, Head
from .theory import GRAM_LIMIT, feature_gram, layer_targets, output_matrix
from . import ufm

__all__ = ["measure"]

BATCH_ROWS = 8192  # samples per pass of the accumulator over in-memory features
GAP_TOLERANCE = 1e-4
STATIONARY = 1e-3  # relative gradient below which a run counts as a critical point
COLLAPSE_THRESHOLD = 1e-3
NC4_BUDGET = 2e10  # N K d above which NC4 is not computed on the training samples


def measure(features, labels=None, weights=None, biases=None, *, depth=None, lambda_w=None,
            lambda_h=None, lambda_b=None, bias=None, loss="mse", convention=None,
            num_classes=None, test_features=None, test_labels=None, layer_features=None,
            collapse_threshold=COLLAPSE_THRESHOLD, gap_tolerance=GAP_TOLERANCE,
            restarts=None, seed=None, theory=None) -> Measurement:
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

    Returns
    -------
    Measurement

    Raises
    ------
    ProblemError
        Naming the array or parameter and what is expected.
    """
    notes: list[str] = []
    loss = _loss_name(loss)
    in_memory = not isinstance(features, (ClassAccumulator, ClassStatistics))
    if in_memory:
        X, y = _training_arrays(features, labels)
        K = _num_classes(num_classes, y, weights)
    else:
        K = features.K
    head = None
    if weights is not None:
        width = X.shape[1] if in_memory else _stats_width(features)
        head = Head.build(weights, biases, num_classes=K, width=width)
        if depth is not None and int(depth) != head.depth:
            raise ProblemError(f"depth (--depth): the head has {head.depth} layer(s) "
                               f"W1..W{head.depth}, got depth {depth}")
    elif layer_features is not None:
        raise ProblemError("weights: give the head's layers with layer_features")
    if in_memory:
        stats = _accumulate(X, y, K, None if layer_features is not None else head)
    else:
        stats = features.statistics() if isinstance(features, ClassAccumulator) else features
        if not in_memory and isinstance(features, ClassAccumulator) and head is None:
            head = features.head
    if layer_features is not None:
        return _nonlinear(stats, head, layer_features, X if in_memory else None,
                          y if in_memory else None, K, loss, collapse_threshold, notes)
    decays = _decays(convention, lambda_w, lambda_h, lambda_b,
                     None if head is None else head.depth)
    bias = _bias_mode(bias, head, decays["lambda_b"], notes, convention is not None)
    if loss != "ce":
        for name, value in (("restarts", restarts), ("seed", seed)):
            if value is not None:
                raise ProblemError(f"{name} (--{name}): only used by the cross-entropy search "
                                   "(--loss ce); the MSE theory is solved without it")
    if head is not None and head.hidden_biases:
        notes.append("the head has hidden-layer biases; the theory's model has none: they "
                     "are measured in the layer features and the objective, not predicted")
    fit = None
    if theory is not None:
        _check_theory(theory, stats, head, decays, bias, loss)
    elif head is not None and decays["lambda_w"] is not None:
        theory, fit = _theory(stats, head, decays, bias, loss, restarts, seed, notes)
    elif head is not None:
        notes.append("no weight decay given (--lambda-w or --weight-decay): metrics only, "
                     "no comparison with the theory")
    test = None
    if test_features is not None or test_labels is not None:
        test = _training_arrays(test_features, test_labels, "test_features", "test_labels",
                                num_classes=K, width=stats.width)
    elif in_memory and X.shape[0] * K * X.shape[1] <= NC4_BUDGET:
        test = (X, y)
    elif in_memory:
        notes.append("NC4 left out: nearest class means for all training samples would cost "
                     f"N K d = {X.shape[0] * K * X.shape[1]:.2g} multiply-adds; give "
                     "test_features/test_labels (a held-out subset) for NC4")
    return _assemble(stats, head, theory, fit, decays, bias, loss, test,
                     "test" if test_features is not None else "train", collapse_threshold,
                     gap_tolerance, convention, notes)


# ---- input -------------------------------------------------------------------------------


def _loss_name(loss) -> str:
    name = str(loss).strip().lower()
    if name not in ("mse", "ce"):
        raise ProblemError(f"loss (--loss): must be mse or ce, got {loss!r}")
    return name


def _training_arrays(features, labels, fname="features", lname="labels", num_classes=None,
                     width=None):
    if features is None or labels is None:
        missing = fname if features is None else lname
        raise ProblemError(f"{missing}: give {fname} (N x d) together with {lname} (N,)")
    X = as_numpy(features, fname)
    if X.ndim != 2:
        raise ProblemError(f"{fname}: expected a 2-D array (samples x width; rows are "
                           f"samples), got shape {X.shape}")
    size = np.shape(labels)[0] if np.ndim(labels) else None
    if size is not None and X.shape[0] != size and X.shape[1] == size:
        raise ProblemError(f"{fname}: expected N x d with one row per sample (N = {size} "
                           f"labels), got shape {X.shape}, the theory's d x N layout: pass "
                           "its transpose")
    X = float_matrix(X, fname, columns=width, layout=" (rows are samples)")
    y = integer_labels(labels, lname, size=X.shape[0], num_classes=num_classes)
    if not y.size:
        raise ProblemError(f"{fname}: no samples")
    return X, y


def _num_classes(num_classes, labels, weights) -> int:
    """K: given, else the rows of the last layer, else the largest label + 1."""
    if num_classes is None and weights is not None and len(weights):
        name = f"W{len(weights)}"
        last = as_numpy(weights[-1], name)
        if last.ndim == 2 and labels.max() >= last.shape[0]:
            raise ProblemError(f"{name}: has {last.shape[0]} rows but the labels go up to "
                               f"{labels.max()}: the last layer needs one row per class "
                               f"(K = {labels.max() + 1}), or the labels must be "
                               f"0..{last.shape[0] - 1}")
        num_classes = last.shape[0] if last.ndim == 2 else None
    if num_classes is None:
        return int(labels.max()) + 1

    K = whole_number(num_classes, "num_classes", "the number of classes")
    if labels.max() >= K:
        raise ProblemError(f"labels: labels must be integers 0..{K - 1} (K = {K}, the rows "
                           f"of the last layer or num_classes), found {labels.max()}")
    return K


def _stats_width(features) -> int:
    return features.width if isinstance(features, ClassStatistics) else int(features.width)


def _accumulate(X, y, K, head) -> ClassStatistics:
    acc = ClassAccumulator(K, width=X.shape[1],
                           weights=None if head is None else head.weights,
                           biases=None if head is None else head.biases)
    for lo in range(0, X.shape[0], BATCH_ROWS):
        acc.update(X[lo: lo + BATCH_ROWS], y[lo: lo + BATCH_ROWS])
    return acc.statistics()


def _decays(convention, lambda_w, lambda_h, lambda_b, depth) -> dict:
    """Validated decays: lambda_w a tuple of one per layer, lambda_h and lambda_b floats."""
    if convention is not None:
        if lambda_w is not None or lambda_h is not None or lambda_b is not None:
            raise ProblemError("lambda_w (--lambda-w): give the decays or a training "
                               "convention (--weight-decay, ...), not both")
        lambda_w, lambda_h, lambda_b = (convention.lambda_w, convention.lambda_h,
                                        convention.lambda_b)

    if lambda_w is not None and depth is not None:
        lambda_w = Problem.build([1], depth, lambda_w, 1.0).lambda_w
    if lambda_h is not None:
        lambda_h = Problem.build([1], 1, 1.0, lambda_h).lambda_h
    if lambda_b is not None:
        lambda_b = _non_negative(lambda_b, "lambda_b")
    return {"lambda_w": lambda_w, "lambda_h": lambda_h, "lambda_b": lambda_b}


def _non_negative(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number >= 0):
        raise ProblemError(f"{name} (--{name.replace('_', '-')}): must be a finite number "
                           f">= 0, got {value!r}")
    return number


def _bias_mode(bias, head, lambda_b, notes, from_convention=False) -> str:
    """The bias mode: given, or from the model (a decayed last-layer bias is regularized).
    A bias decay is refused unless the bias is regularized: the objective would carry a
    penalty that the theory's answer does not."""
    last = head is not None and head.biases[-1] is not None
    if bias is None:
        bias = ("regularized" if lambda_b is not None else "free") if last else "none"
    bias = str(bias).strip().lower()
    if bias not in ("none", "free", "regularized"):
        raise ProblemError(f"bias (--bias): must be one of none, free, regularized; got {bias!r}")
    if bias != "none" and not last:
        raise ProblemError(f"bias (--bias): {bias} needs the last-layer bias bM, which the "
                           "model does not have; use --bias none")
    if bias == "none" and last:
        notes.append("the model has a last-layer bias but the theory is bias-free (--bias "
                     "none): the bias is kept in the outputs and the objective")
    if bias == "regularized" and lambda_b is None:
        raise ProblemError("lambda_b (--lambda-b): a regularized bias needs its decay")
    if bias != "regularized" and lambda_b is not None:
        fix = ("weight_decay reaches the last-layer bias: use --bias regularized, or "
               "--no-bias-decay (Python: bias_decay=False) if the bias was not decayed"
               if from_convention else "add --bias regularized or leave --lambda-b out")
        raise ProblemError(f"lambda_b (--lambda-b): is the decay of a regularized bias, and "
                           f"the bias here is {bias}; {fix}")
    return bias


# ---- the theory --------------------------------------------------------------------------


def _predict(stats, head, lambda_w, lambda_h, bias, loss, lambda_b, restarts, seed):
    problem = specify(stats.counts, head.depth, lambda_w, lambda_h, bias, loss, head.widths,
                      lambda_b if bias == "regularized" else None)
    options = {"restarts": restarts, "seed": seed} if loss == "ce" else {}
    return solve(problem, **options)


def _theory(stats, head, decays, bias, loss, restarts, seed, notes):
    fit = None
    lambda_h = decays["lambda_h"]
    if lambda_h is None:
        fit = fit_feature_decay(stats, head, decays["lambda_w"], bias, loss,
                                decays["lambda_b"], restarts, seed)
        lambda_h = fit["value"]
        notes.append(f"feature decay unknown: lambda_H = {lambda_h:.4g} fitted to the class-mean "
                     f"and classifier lengths (residual {fit['residual']:.3g}); the objective "
                     "and its gap use the fitted value")
    theory = _predict(stats, head, decays["lambda_w"], lambda_h, bias, loss,
                      decays["lambda_b"], restarts, seed)
    return theory, fit


def _check_theory(theory, stats, head, decays, bias, loss) -> None:
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
                      restarts=None, seed=None) -> dict:
    """The feature decay lambda_H whose global minimizer best explains the trained
    class-mean lengths and classifier-row lengths (a one-dimensional search in log lambda_H).

    The residual is the root mean square of the two relative distances
    ``||measured - theory|| / ||theory||`` (class-mean lengths, classifier-row lengths).
    """
    means, P = _centred(stats.means, stats.counts, bias), chain(head.weights)
    measured = (_row_norms(means), _row_norms(P))

    def residual(log_decay: float) -> float:
        sol = _predict(stats, head, lambda_w, 10.0**log_decay, bias, loss, lambda_b,
                       restarts, seed)
        parts = [metrics.relative_distance(m, t) for m, t in
                 zip(measured, (sol.feature_norm, sol.classifier_norm))]
        return float(np.sqrt(np.mean(np.square(parts))))

    grid = np.linspace(-12.0, 1.0, 27 if loss == "mse" else 14)
    values = [residual(g) for g in grid]
    best = int(np.argmin(values))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(residual, bounds=(lo, hi), method="bounded",
                            options={"xatol": 1e-6 if loss == "mse" else 1e-3})
    x, r = (found.x, found.fun) if found.fun <= values[best] else (grid[best], values[best])
    return {"value": float(10.0**x), "residual": float(r)}


# ---- assembling the measurement -----------------------------------------------------------


def _centred(means, counts, bias):
    """Class means around the global mean with a free bias (which absorbs any common
    shift of the features at no cost), else around the origin."""
    if bias != "free":
        return means
    return means - (counts @ means) / counts.sum()


def _row_norms(rows) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", rows, rows))


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


def _layer(j, means, scatter, stats, head, bias, targets, theory, nc4, spread=None):
    """Metrics of layer j; ``head`` holds the layers from j + 1 on (None: no classifier)."""
    n, K, N = stats.counts, stats.K, stats.N
    centred = _centred(means, n, bias)
    around_mean = _centred(means, n, "free")
    square = float(np.trace(scatter) + n @ np.einsum("ij,ij->i", means, means))
    rms = math.sqrt(max(square, 0.0) / N)
    nc1 = metrics.nc1_from_moments(around_mean.T, scatter, N, rms)
    if spread is None and stats.class_spread.shape[0] > j:
        spread = stats.class_spread[j]
    cdnv = (metrics.cdnv(means, spread / n) if spread is not None and K <= GRAM_LIMIT
            else None)
    norms = _row_norms(centred)
    second = scatter + (means * n[:, None]).T @ means
    values = _top(np.linalg.eigvalsh(second), K)
    classifier = weight_values = None
    if head is not None:
        classifier = chain(head.weights)
        weight_values = _top(np.linalg.svd(head.weights[0], compute_uv=False) ** 2, K)
    row = dict(
        layer=j, width=int(means.shape[1]), nc1=nc1, cdnv=cdnv,
        equinorm=metrics.coefficient_of_variation(norms),
        classifier_equinorm=(None if classifier is None
                             else metrics.coefficient_of_variation(_row_norms(classifier))),
        gram_distance=None,
        self_duality=None if classifier is None else metrics.self_duality(classifier,
                                                                         centred.T),
        nc4=nc4, singular_values=values, weight_singular_values=weight_values)
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
            row["centred_gram_distance"] = metrics.normalized_distance(
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
              gap_tolerance, convention, notes) -> Measurement:
    n, K = stats.counts, stats.K
    moments = _layer_moments(stats, head)
    targets = None if theory is None else layer_targets(theory)
    nc4, accuracy = _nc4(test, stats, head, [m for m, _ in moments], bias)
    layers = tuple(_layer(j, m, s, stats, _tail(head, j), bias, targets, theory, nc4[j])
                   for j, (m, s) in enumerate(moments))
    classes = _classes(stats, head, bias, theory, targets, moments, threshold)
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
            means = _centred(stats.means, n, bias)
            output_distance = metrics.normalized_distance(
                chain(head.weights) @ means.T, output_matrix(theory))
    status, summary = _status(theory, gap, station, classes, layers, gap_tolerance, loss)
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


def _objective(stats, head, decays, lambda_h, loss, notes):
    if loss == "ce" and stats.ce_sum is None:
        notes.append("cross-entropy objective unknown: the statistics were accumulated without "
                     "the head (pass weights to ClassAccumulator)")
        return None
    return ufm.data_term(stats, head, loss) + ufm.penalty(stats, head, decays["lambda_w"],
                                                          lambda_h, decays["lambda_b"])


def _classes(stats, head, bias, theory, targets, moments, threshold) -> dict:
    n = stats.counts
    centred = _centred(stats.means, n, bias)
    norms = _row_norms(centred)
    largest = max(float(norms.max(initial=0.0)), np.finfo(float).tiny)
    by_layer = [_row_norms(_centred(m, n, bias)) for m, _ in moments]
    out = {"feature_norm": norms, "collapsed": norms <= threshold * largest}
    if head is not None:
        P = chain(head.weights)
        outputs = centred @ P.T
        by_layer.append(_row_norms(outputs))
        out.update(classifier_norm=_row_norms(P), output=np.diag(outputs).copy())
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


def _nonlinear(stats, head, layer_features, X, y, K, loss, threshold, notes) -> Measurement:
    """Heads with nonlinearities: every layer measured from its own features, the last
    layer W_M as the classifier, no theory (the closed form is for linear heads)."""
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
    per_layer = [_accumulate(r, y, K, None) for r in rows]
    last = Head(head.weights[-1:], head.biases[-1:])
    predicted = (rows[-1] @ last.weights[0].T
                 + (0.0 if last.biases[0] is None else last.biases[0])).argmax(axis=1)
    layers = []
    for j, (r, st) in enumerate(zip(rows, per_layer)):
        agree = float(np.mean(_nearest(r, st.means) == predicted))
        layers.append(_layer(j, st.means, st.scatter, st, last if j == len(rows) - 1 else None,
                             "none", None, None, agree, spread=st.class_spread[0]))
    bias = "free" if last.biases[0] is not None else "none"
    centred = _centred(stats.means, stats.counts, bias)
    norms = _row_norms(centred)
    top = _centred(per_layer[-1].means, stats.counts, bias)
    classes = {"feature_norm": norms,
               "collapsed": norms <= threshold * max(float(norms.max()), np.finfo(float).tiny),
               "classifier_norm": _row_norms(last.weights[0]),
               "output": np.diag(top @ last.weights[0].T).copy(),
               "feature_norms_by_layer": np.array([_row_norms(_centred(st.means, stats.counts,
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
