"""The public entry point :func:`predict`: the inputs made a Problem, handed to the one
dispatch :func:`ncsolve.solvers.solve`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, overload

from .inputs import class_sizes, specify
from .inputs.conventions import training_convention, training_decays
from .inputs.keywords import check_keywords, declared
from .results.base import Mapped
from .inputs.validation import POSITIVE, check, invalid
from .solvers import solve
from .solvers.dynamics import (DynamicsSolution, check_supported, solve_ce_dynamics,
                                solve_dynamics)

if TYPE_CHECKING:
    from .solvers.crossentropy.result import CESolution
    from .solvers.mse import Solution
    from .solvers.precise import PreciseSolution


@overload
def predict(n, depth=..., lambda_w=..., lambda_h=..., bias=..., loss: Literal["mse"] = ...,
            widths=..., precision: None = ..., restarts: None = ...,
            seed: None = ...) -> Solution: ...
@overload
def predict(n, depth=..., lambda_w=..., lambda_h=..., bias=..., loss: Literal["mse"] = ...,
            widths=..., *, precision: int, restarts: None = ...,
            seed: None = ...) -> PreciseSolution: ...
@overload
def predict(n, depth=..., lambda_w=..., lambda_h=..., bias=..., *, loss: Literal["ce"],
            widths=..., precision: None = ..., restarts: int | None = ...,
            seed: int | None = ...) -> CESolution: ...

# training_decays' arguments that predict fills in itself
TRAINING_GIVEN = ("num_classes", "num_samples", "last_bias")


def predict(
    n=None,
    depth=1,
    lambda_w=None,
    lambda_h=None,
    bias="none",
    loss="mse",
    widths=None,
    precision: int | None = None,
    restarts: int | None = None,
    seed: int | None = None,
    lambda_b=None,
    ratio=None,
    features=None,
    label_smoothing=None,
    soft_labels=None,
    targets=None,
    effort: str | None = None,
    init_scale=None,
    **training,
) -> Solution | PreciseSolution | CESolution:
    """Exact global minimizer of the regularized deep linear unconstrained feature model.

    Parameters
    ----------
    n : sequence of int, str or Profile
        Samples per class (left out only with ``targets``), e.g. ``[500, 100, 50]`` or
        ``"500,100,50"``; or an
        imbalance profile from :func:`ncsolve.sweep.profile`, evaluated at ``ratio``
        (sizes rounded down; a ratio that leaves a class under one sample is
        refused; docs/phase.md).
    depth : int
        Number of linear layers M >= 1 after the features (1 is the plain UFM).
    lambda_w : float or sequence of float
        Weight decay: one value for every layer, or M values with layer 1 first
        (default 5e-4, the paper's synthetic setting).
    lambda_h : float
        Decay of the free features H (default 5e-4).
    bias : {"none", "free", "regularized"}
        Bias-free model, a learned unregularized bias, or a learned bias with the
        penalty ``lambda_b/2 ||b||^2`` (what weight decay on every parameter trains).
    loss : {"mse", "ce"}
        Squared error or softmax cross-entropy.
    widths : sequence of int, optional
        Feature widths d_1, ..., d_M; narrow widths cap the rank of the solution.
    precision : int, optional
        Digits for the symbolic/high-precision route (15..1000, MSE only); the
        default is the float64 closed form.
    lambda_b : float, optional
        Decay of the bias; required with ``bias="regularized"``, refused otherwise.
    restarts, seed : int, optional
        Cross-entropy only: random starts of the search of the reduced problem
        (default depends on K) and their seed (default 0). More restarts make a
        "best found" answer more certain.
    ratio : float, optional
        Imbalance ratio n_max / n_min (>= 1) at which a profile ``n`` is evaluated.
    features : {"unconstrained", "nonnegative"}, optional
        ``"nonnegative"`` constrains the features to H >= 0 (a head after a ReLU;
        docs/nonnegative.md); the answer is then a closed form where one is proved
        and ``best found`` by a bounded search otherwise. Default unconstrained.
    label_smoothing : float, optional
        MSE toward one-hot labels smoothed by eps in [0, 1) (0 is exactly the one-hot
        answer); docs/targets.md.
    soft_labels : array, shape (K', K), optional
        Class-level targets: column k is the target of every sample of class k.
    targets : array, shape (N, t), or iterable of row blocks, optional
        Per-sample targets (rows are samples: regression, multi-label); streamed to
        their t x t moments. ``n`` is then left out. Helpers: :mod:`ncsolve.targets`.
    effort : {"quick", "default", "thorough"}, optional
        Cross-entropy only: the search budget, about a third of the default
        search, the default, or about three times as much (docs/crossentropy.md).
    init_scale : float or sequence of float, optional
        MSE, bias none or free: also say where gradient flow from this spectral start
        ends in each direction (``end``, ``end_z``; see :func:`dynamics`).
    **training
        What a training script set, instead of ``lambda_w``/``lambda_h``:
        ``weight_decay``, ``feature_decay``, ``loss_reduction``, ``batch_size``,
        ``feature_decay_scope``, ``optimizer`` (mapped by
        :func:`ncsolve.measure.training_decays`; docs/measure.md).

    Returns
    -------
    Solution or PreciseSolution or CESolution
        ``Solution`` (the float64 closed form) for ``loss="mse"``; ``PreciseSolution``
        when ``precision`` is given; ``CESolution`` for ``loss="ce"``. All three
        follow :class:`ncsolve.results.base.Result`: the same core fields (``loss``,
        ``certainty``, ``unique``, ``geometry``, ``notes``, ``rank``, ``bias_value``,
        per class ``feature_norm``, ``classifier_norm``, ``output``, ``collapsed``),
        ``to_dict()`` giving the JSON of ``ncsolve predict --json`` and ``str()`` its
        text. With a regularized bias, the regularized result types. When the decays
        come from training conventions (``weight_decay=...``), the answer is wrapped
        in :class:`ncsolve.results.base.Mapped`, which reads like the answer and adds the
        mapping (``convention`` in ``to_dict()``, its lines in ``str()``).

    Raises
    ------
    ProblemError
        For invalid input; the message names the parameter and what is allowed.
    """
    check_keywords(training, declared(predict, training_decays, leave_out=TRAINING_GIVEN)
                   - {"training"}, "predict")
    n = class_sizes(n, ratio)
    mapping = None
    if training:
        mapping = training_convention(n, depth, loss, lambda_w, lambda_h, bias=bias,
                                      lambda_b=lambda_b, **training)
        lambda_w, lambda_h = mapping.decays()
        lambda_b = mapping.lambda_b if mapping.lambda_b is not None else lambda_b
    target = {key: value for key, value in (("label_smoothing", label_smoothing),
                                            ("soft_labels", soft_labels),
                                            ("targets", targets)) if value is not None}
    problem = specify(n, depth, lambda_w, lambda_h, bias, loss, widths, lambda_b, features,
                      **target)
    if init_scale is not None:
        result = _with_ends(problem, init_scale, precision)
    else:
        search = {} if effort is None else {"effort": effort}
        result = solve(problem, precision=precision, restarts=restarts, seed=seed, **search)
    return result if mapping is None else Mapped(result, mapping)


def _with_ends(problem, init_scale, precision):
    """The float64 answer with the end of the flow from ``init_scale`` per direction."""
    if precision is not None:
        raise invalid("init_scale", "the ends of the flow are float64; leave --precision out "
                      "with --init-scale")
    check_supported(problem.loss, problem.bias)
    return solve_dynamics(problem, init_scale, ends_only=True)


def _ce_dynamics(n, depth, lambda_w, lambda_h, bias, widths, init_scale, lr, steps,
                 trajectory, training):
    """Balanced cross-entropy from a simplex-ETF start (docs/dynamics.md)."""
    if training:
        raise invalid(next(iter(training)), "training conventions are converted for the "
                      "squared-loss flow only; give lambda_w and lambda_h of the objective")
    problem = specify(n, depth, lambda_w, lambda_h, bias, "ce", widths, None)
    return solve_ce_dynamics(problem, init_scale, lr=lr, steps=steps, trajectory=trajectory)


def dynamics(
    n,
    depth=1,
    lambda_w=None,
    lambda_h=None,
    bias="none",
    loss="mse",
    widths=None,
    init_scale=None,
    lr=None,
    steps=None,
    trajectory: bool = False,
    ratio=None,
    **training,
) -> DynamicsSolution:
    """Gradient flow of the MSE model from a spectral start: which minimizer it reaches.

    Parameters
    ----------
    n, depth, lambda_w, lambda_h, bias, loss, widths, ratio, **training
        As in :func:`predict`; the loss must be ``"mse"`` and the bias ``"none"`` or
        ``"free"`` (a free bias starts at its optimum n/N).
    init_scale : float or sequence of float, optional
        Every factor (H and each W_j) starts with this singular value in every
        direction of the target; or one value per factor, H first. Without it only
        the thresholds are computed.
    lr : float, optional
        Learning rate of gradient descent: time t of the flow is t / lr steps. With
        training conventions (``weight_decay=...``) it is the training script's rate on
        its own loss, converted (``flow.lr`` is then the rate on this objective).
    steps : int, optional
        Also report each direction's value after this many steps (needs ``lr``).
    trajectory : bool
        Sample each direction's path (``flow.times``, ``flow.paths``).

    Returns
    -------
    DynamicsSolution
        The MSE answer (every field of :func:`predict`) plus, per direction,
        ``init_threshold``, ``end``, ``end_z``, ``time_to_half`` and the summary
        (``learning_order``, ``global_scales``); docs/dynamics.md.

    Raises
    ------
    ProblemError
        For invalid input, cross-entropy or a regularized bias.
    """
    check_supported(loss, bias, ce=True)
    n = class_sizes(n, ratio)
    if isinstance(loss, str) and loss.strip().lower() == "ce":
        return _ce_dynamics(n, depth, lambda_w, lambda_h, bias, widths, init_scale, lr, steps,
                            trajectory, training)
    mapping = None
    if training:
        mapping = training_convention(n, depth, loss, lambda_w, lambda_h, bias=bias, **training)
        lambda_w, lambda_h = mapping.decays()
        # descent on the training loss T = f / scale with step lr is descent on f with lr/scale
        lr = None if lr is None else check(lr, POSITIVE, "lr") / mapping.scale
    problem = specify(n, depth, lambda_w, lambda_h, bias, loss, widths, None)
    result = solve_dynamics(problem, init_scale, lr=lr, steps=steps, trajectory=trajectory)
    return result if mapping is None else Mapped(result, mapping)
