"""What a training script sets, in the terms of ncsolve's objective (docs/measure.md).

ncsolve minimizes, for MSE,

    f = 1/(2N) ||W_M ... W_1 H + b 1^T - Y||_F^2 + sum_j lambda_j/2 ||W_j||^2
        + lambda_H/2 ||H||^2 (+ lambda_b/2 ||b||^2),

and for cross-entropy the same with the mean CE over the N samples as its first
term.  A training run descends, over an epoch of N/B batches of B samples, on the
average of its batch objectives

    r(B) sum_{i in batch} loss_i + fd/2 ||H_batch||^2 + wd/2 ||W||^2,

where ``r(B)`` is the loss reduction (``nn.MSELoss()``: 1/(B K) with loss_i the
squared error summed over the K outputs; ``reduction="sum"``: 1; the paper's
1/(2B); ``nn.CrossEntropyLoss()``: 1/B) and ``wd`` is a coupled weight decay
(SGD or Adam ``weight_decay``: the gradient gains ``wd W``, the gradient of
``wd/2 ||W||^2``).  The epoch average is

    (B/N) r(B) sum_i loss_i + (B/N) fd/2 ||H||^2 + wd/2 ||W||^2

(a feature decay applied to the whole H at every step keeps fd/2 ||H||^2).
Minimizers do not change when an objective is multiplied by a constant; with
``s = (1/(2N)) / ((B/N) r(B))`` for MSE and ``(1/N) / ((B/N) r(B))`` for CE, s
times this is ncsolve's objective with

    lambda_j = s wd_j,   lambda_H = s fd (B/N)  (s fd for the whole H),   lambda_b = s wd.

Examples: ``nn.MSELoss()`` gives s = K/2, so lambda = K wd / 2 (the paper's
published validation code uses wd itself, off by K/2); ``nn.CrossEntropyLoss()``
gives s = 1.  AdamW's decoupled decay shrinks the weights outside the gradient
of the loss, scaled by the learning rate and not by Adam's preconditioner: it is
not an L2 penalty of any objective, so no decay of this model reproduces it and
:func:`training_decays` refuses it rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .problem import LOSSES, Problem, whole_number
from .validation import Interval, Options, check, invalid

__all__ = ["LOSS_REDUCTIONS", "OPTIMIZERS", "TrainingConvention", "decay_scale",
           "training_decays"]

# name -> (losses it applies to, what it is)
LOSS_REDUCTIONS = {
    "mean": ("mse ce", "the mean (nn.MSELoss() over the B x K entries, nn.CrossEntropyLoss() "
             "over the B samples)"),
    "sum": ("mse ce", "reduction='sum' over the batch"),
    "half-mean": ("mse", "nn.MSELoss() / 2 (the paper's imbalanced-data script)"),
    "ufm": ("mse", "1/(2B) ||Z - Y||^2: the objective's own scaling (the paper's 1/(2N))"),
}
OPTIMIZERS = ("sgd", "adam", "adamw")
FEATURE_DECAY_SCOPES = ("batch", "all")


def _reduction(name: str, loss: str, B: float, K: int) -> float:
    if loss == "ce":
        return {"mean": 1.0 / B, "sum": 1.0}[name]
    return {"mean": 1.0 / (B * K), "sum": 1.0, "half-mean": 1.0 / (2 * B * K),
            "ufm": 1.0 / (2 * B)}[name]


def decay_scale(loss: str, loss_reduction: str, num_classes: int, batch_size=None) -> float:
    """``s`` with ``lambda = s x weight_decay`` (every decay of the objective, features
    included when the optimizer's weight_decay reaches free features): the equal-batch
    mapping of :func:`training_decays`, in which N cancels.

    Raises
    ------
    ProblemError
        For an unknown loss or reduction, or ``sum`` without the batch size.
    """
    loss, reduction, _, _ = check_names(loss, loss_reduction)
    K = whole_number(num_classes, "num_classes", "the number of classes")
    if batch_size is None and reduction == "sum":
        raise invalid("batch_size", "with --loss-reduction sum the scale is 1/(2B) (MSE) or "
                      "1/B (CE): give the batch size")
    B = 1 if batch_size is None else whole_number(batch_size, "batch_size", "the batch size")
    return (0.5 if loss == "mse" else 1.0) / (B * _reduction(reduction, loss, B, K))


@dataclass(frozen=True)
class TrainingConvention:
    """A training set-up mapped onto ncsolve's objective.

    Attributes
    ----------
    lambda_w : tuple of float
        Decay of each layer W_1..W_M.
    lambda_h : float or None
        Feature decay; None when the training had none (a real backbone).
    lambda_b : float or None
        Decay of the last-layer bias when ``weight_decay`` reaches it, else None.
    scale : float
        s: ncsolve's objective is s times the epoch-averaged training objective.
    settings : dict
        What was given (loss_reduction, weight_decay, feature_decay, batch_size, ...).
    notes : tuple of str
        The mapping in words.
    """

    lambda_w: tuple[float, ...]
    lambda_h: float | None
    lambda_b: float | None
    scale: float
    settings: dict
    notes: tuple[str, ...]

    def decays(self) -> tuple[tuple[float, ...], float | None]:
        """(lambda_w, lambda_h)."""
        return self.lambda_w, self.lambda_h

    def to_dict(self) -> dict:
        return {"lambda_w": list(self.lambda_w), "lambda_h": self.lambda_h,
                "lambda_b": self.lambda_b, "scale": self.scale, "settings": dict(self.settings),
                "notes": list(self.notes)}

    def __str__(self) -> str:
        return "training convention: " + "; ".join(self.notes)


def _decay(value, name: str, allow_zero: bool = True) -> float:
    return check(value, Interval(0, None, closed="left" if allow_zero else "neither"), name)


def _decay_list(value, depth: int) -> list[float]:
    items = value.split(",") if isinstance(value, str) else (
        list(value) if hasattr(value, "__iter__") else [value])
    decays = [_decay(v, "weight_decay") for v in items]
    if len(decays) == 1:
        return decays * depth
    if len(decays) != depth:
        raise invalid("weight_decay", f"give one value or depth={depth} values (layer 1 first), "
                      f"got {len(decays)}")
    return decays


def check_names(loss: str, loss_reduction: str, optimizer: str = "sgd",
                feature_decay_scope: str = "batch") -> tuple[str, str, str, str]:
    """Validated (loss, loss_reduction, optimizer, feature_decay_scope); AdamW is refused."""
    loss = check(loss, Options(LOSSES), "loss")
    optimizer = check(optimizer, Options(OPTIMIZERS), "optimizer")
    if optimizer == "adamw":
        raise invalid(
            "optimizer", "AdamW's decoupled weight decay is not an L2 penalty on "
            "the loss (it is applied outside the gradient, scaled by the learning rate), so "
            "no decay of ncsolve's objective reproduces it; use SGD or Adam with weight_decay, "
            "or give --lambda-w/--lambda-h yourself as an approximation")
    reduction = str(loss_reduction).strip().lower()
    if reduction not in LOSS_REDUCTIONS or loss not in LOSS_REDUCTIONS[reduction][0].split():
        allowed = [k for k, v in LOSS_REDUCTIONS.items() if loss in v[0].split()]
        raise invalid("loss_reduction", f"for loss {loss} one of {', '.join(allowed)}; "
                      f"got {loss_reduction!r}")
    scope = check(feature_decay_scope, Options(FEATURE_DECAY_SCOPES), "feature_decay_scope")
    return loss, reduction, optimizer, scope


def training_decays(*, num_classes: int, num_samples: int, depth: int, weight_decay,
                    loss: str = "mse", loss_reduction: str = "mean", feature_decay=None,
                    batch_size=None, feature_decay_scope: str = "batch",
                    optimizer: str = "sgd", bias_decay: bool = True,
                    last_bias: bool = False) -> TrainingConvention:
    """Map a training set-up onto the decays of ncsolve's objective (see the module docstring).

    Parameters
    ----------
    num_classes, num_samples, depth : int
        K, N and the number M of linear layers.
    weight_decay : float or sequence of float
        The optimizer's ``weight_decay`` (one value, or one per layer, layer 1 first).
    loss : {"mse", "ce"}
    loss_reduction : {"mean", "sum", "half-mean", "ufm"}
        How the training loss averages (``mean`` is PyTorch's default).
    feature_decay : float, optional
        An explicit ``fd/2 ||H||^2`` added to the loss (free features); None: none.
    batch_size : int, optional
        B (default N: full batch).
    feature_decay_scope : {"batch", "all"}
        The feature penalty is on the batch's features (default) or on all of H.
    optimizer : {"sgd", "adam", "adamw"}
        ``adamw`` is refused: its decoupled decay is not an L2 penalty.
    bias_decay : bool
        Whether ``weight_decay`` also reaches the last-layer bias (PyTorch's default
        for a parameter group holding it).
    last_bias : bool
        Whether the model has a last-layer bias.

    Returns
    -------
    TrainingConvention

    Raises
    ------
    ProblemError
        For AdamW, unknown names, negative decays or a batch larger than N.
    """
    loss, reduction, optimizer, scope = check_names(loss, loss_reduction, optimizer,
                                                    feature_decay_scope)
    K = whole_number(num_classes, "num_classes", "the number of classes")
    N = whole_number(num_samples, "num_samples", "the number of samples")
    M = whole_number(depth, "depth", "the depth")
    B = N if batch_size is None else whole_number(batch_size, "batch_size", "the batch size")
    if B > N:
        raise invalid("batch_size", f"at most N = {N}, got {B}")
    wd = _decay_list(weight_decay, M)
    if min(wd) <= 0:
        raise invalid("weight_decay", "the theory needs a positive decay on "
                      "every layer (without one the objective has an infimum but no "
                      f"minimizer); got {', '.join(f'{v:g}' for v in wd)}")
    fd = None if feature_decay is None else _decay(feature_decay, "feature_decay")
    fd = None if fd == 0 else fd  # no feature decay: lambda_H unknown (fitted by measure)
    per_sample = (0.5 if loss == "mse" else 1.0) / N  # the objective's own weight of loss_i
    s = per_sample / ((B / N) * _reduction(reduction, loss, B, K))
    lambda_w = tuple(s * v for v in wd)
    lambda_h = None
    if fd is not None:
        lambda_h = s * fd * (B / N if scope == "batch" else 1.0)
    lambda_b = s * wd[-1] if (last_bias and bias_decay and wd[-1] > 0) else None
    what = LOSS_REDUCTIONS[reduction][1]
    if reduction == "mean":
        what = ("nn.MSELoss() (mean over the B x K entries)" if loss == "mse"
                else "nn.CrossEntropyLoss() (mean over the B samples)")
    notes = [f"{what} with {optimizer} weight_decay: ncsolve's objective is {s:.6g} x the "
             f"training objective, lambda_W = {s:.6g} x weight_decay"]
    if fd is not None:
        where = (f"on each batch of B = {B} of N = {N} samples: lambda_H = {s:.6g} x fd x B/N"
                 if scope == "batch" else f"on all of H at every step: lambda_H = {s:.6g} x fd")
        notes.append(f"feature decay {where} = {lambda_h:.6g}")
    else:
        notes.append("no feature decay: lambda_H is unknown (a trained backbone has none)")
    if lambda_b is not None:
        notes.append(f"weight_decay also decays the last-layer bias: lambda_b = {lambda_b:.6g}")
    if N % B:
        notes.append(f"N = {N} is not a multiple of B = {B}: the last batch of {N % B} "
                     "weights its samples more, and the mapping, exact for equal batches, is "
                     f"off by O(1/{-(-N // B)} batches); drop_last=True or a B dividing N "
                     "makes it exact")
    settings = {"loss": loss, "loss_reduction": reduction, "weight_decay": wd,
                "feature_decay": fd, "batch_size": B, "feature_decay_scope": scope,
                "optimizer": optimizer, "bias_decay": bool(bias_decay)}
    return TrainingConvention(lambda_w, lambda_h, lambda_b, s, settings, tuple(notes))


def training_convention(n, depth, loss, lambda_w=None, lambda_h=None, *, weight_decay=None,
                        feature_decay=None, bias="none", lambda_b=None, **settings):
    """The decays of ncsolve's objective for a training set-up with class sizes ``n``
    (:func:`training_decays`; a given ``lambda_h`` stands in for the
    feature decay). With ``bias="regularized"`` the weight decay reaches the bias too:
    ``lambda_b`` is mapped like the weights' decay, not given."""
    if lambda_w is not None or (lambda_h is not None and feature_decay is not None):
        raise invalid("weight_decay", "give either the training "
                      "conventions or --lambda-w/--lambda-h, not both")
    if lambda_b is not None:
        raise invalid("lambda_b", "with the training conventions the bias "
                      "decay follows from --weight-decay (lambda_b = lambda_W of the last "
                      "layer); leave --lambda-b out")
    if weight_decay is None:
        raise invalid("weight_decay", "the training conventions need the "
                      "optimizer's weight_decay")
    problem = Problem.build(n, depth, 1.0, 1.0, "none", loss)
    regularized = str(bias).strip().lower() == "regularized"
    mapping = training_decays(num_classes=problem.K, num_samples=problem.N,
                              depth=problem.depth, weight_decay=weight_decay, loss=loss,
                              feature_decay=feature_decay, last_bias=regularized, **settings)
    if mapping.lambda_h is None:
        if lambda_h is None:
            raise invalid("feature_decay", "predict needs the feature "
                          "decay; give --feature-decay (as trained) or --lambda-h")
        mapping = replace(mapping, lambda_h=float(lambda_h))
    return mapping
