"""What a measurement is handed, checked: the training arrays, the number of classes,
the decays and the bias mode (:func:`ncsolve.measure.measure` reads them through here)."""

from __future__ import annotations

import numpy as np

from ..inputs.problem import BIAS_MODES, LOSSES, Problem, ProblemError, whole_number
from ..inputs.validation import Interval, Options, check, invalid
from .arrays import as_numpy, float_matrix, integer_labels
from .stream import ClassAccumulator, ClassStatistics

BATCH_ROWS = 8192  # samples per pass of the accumulator over in-memory features


def loss_name(loss) -> str:
    return check(str(loss), Options(LOSSES), "loss")


def training_arrays(features, labels, fname="features", lname="labels", num_classes=None,
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


def num_classes_of(num_classes, labels, weights) -> int:
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


def stats_width(features) -> int:
    return features.width if isinstance(features, ClassStatistics) else int(features.width)


def accumulate(X, y, K, head) -> ClassStatistics:
    acc = ClassAccumulator(K, width=X.shape[1],
                           weights=None if head is None else head.weights,
                           biases=None if head is None else head.biases)
    for lo in range(0, X.shape[0], BATCH_ROWS):
        acc.update(X[lo: lo + BATCH_ROWS], y[lo: lo + BATCH_ROWS])
    return acc.statistics()


def checked_decays(convention, lambda_w, lambda_h, lambda_b, depth) -> dict:
    """Validated decays: lambda_w a tuple of one per layer, lambda_h and lambda_b floats."""
    if convention is not None:
        if lambda_w is not None or lambda_h is not None or lambda_b is not None:
            raise invalid("lambda_w", "give the decays or a training "
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
    return check(value, Interval(0, None), name)


def bias_mode(bias, head, lambda_b, notes, from_convention=False) -> str:
    """The bias mode: given, or from the model (a decayed last-layer bias is regularized).
    A bias decay is refused unless the bias is regularized: the objective would carry a
    penalty that the theory's answer does not."""
    last = head is not None and head.biases[-1] is not None
    if bias is None:
        bias = ("regularized" if lambda_b is not None else "free") if last else "none"
    bias = check(str(bias), Options(BIAS_MODES), "bias")
    if bias != "none" and not last:
        raise invalid("bias", f"{bias} needs the last-layer bias bM, which the "
                      "model does not have; use --bias none")
    if bias == "none" and last:
        notes.append("the model has a last-layer bias but the theory is bias-free (--bias "
                     "none): the bias is kept in the outputs and the objective")
    if bias == "regularized" and lambda_b is None:
        raise invalid("lambda_b", "a regularized bias needs its decay")
    if bias != "regularized" and lambda_b is not None:
        fix = ("weight_decay reaches the last-layer bias: use --bias regularized, or "
               "--no-bias-decay (Python: bias_decay=False) if the bias was not decayed"
               if from_convention else "add --bias regularized or leave --lambda-b out")
        raise invalid("lambda_b", f"is the decay of a regularized bias, and "
                      f"the bias here is {bias}; {fix}")
    return bias
