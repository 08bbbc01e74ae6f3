"""The public entry point :func:`predict`: builds a Problem and dispatches to a solver."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, overload

import math

import numpy as np

from .problem import DEFAULT_DECAY, MAX_SEARCH_RESTARTS, Problem, ProblemError, whole_number

if TYPE_CHECKING:  # the result modules are imported only when they are used
    from .crossentropy.result import CESolution
    from .solution import Solution
    from .symbolic.precise import PreciseSolution


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


def predict(
    n,
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
    **training,
) -> Solution | PreciseSolution | CESolution:
    """Exact global minimizer of the regularized deep linear unconstrained feature model.

    Parameters
    ----------
    n : sequence of int, str or Profile
        Samples per class, e.g. ``[500, 100, 50]`` or ``"500,100,50"``; or an
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
        follow :class:`ncsolve.result.Result`: the same core fields (``loss``,
        ``certainty``, ``unique``, ``geometry``, ``notes``, ``rank``, ``bias_value``,
        per class ``feature_norm``, ``classifier_norm``, ``output``, ``collapsed``),
        ``to_dict()`` giving the JSON of ``ncsolve predict --json`` and ``str()`` its
        text. With a regularized bias, the regularized result types. When the decays
        come from training conventions (``weight_decay=...``), the answer is wrapped
        in :class:`ncsolve.result.Mapped`, which reads like the answer and adds the
        mapping (``convention`` in ``to_dict()``, its lines in ``str()``).

    Raises
    ------
    ProblemError
        For invalid input; the message names the parameter and what is allowed.
    """
    if ratio is not None or hasattr(n, "sizes"):
        from .sweep.profiles import profile_sizes

        n = profile_sizes(n, ratio)
    mapping = None
    if training:
        mapping = training_convention(n, depth, loss, lambda_w, lambda_h, bias=bias,
                                      lambda_b=lambda_b, **training)
        lambda_w, lambda_h = mapping.decays()
        lambda_b = mapping.lambda_b if mapping.lambda_b is not None else lambda_b
    lambda_w = DEFAULT_DECAY if lambda_w is None else lambda_w
    lambda_h = DEFAULT_DECAY if lambda_h is None else lambda_h
    problem = Problem.build(n, depth, lambda_w, lambda_h, bias, loss, widths, lambda_b)
    result = _solve(problem, precision, restarts, seed)
    if mapping is None:
        return result
    from .result import Mapped

    return Mapped(result, mapping)


def _solve(problem: Problem, precision, restarts, seed):
    """Dispatch a validated problem to its solver."""
    if problem.bias == "regularized" and precision is not None:
        raise ProblemError("precision (--precision): the high-precision route has no "
                           "regularized bias; leave --precision out with --bias regularized")
    if problem.loss == "ce" and precision is not None:
        raise ProblemError("precision (--precision): the high-precision route is for "
                           "loss mse only; leave it out with --loss ce")
    if problem.loss == "ce":
        restarts = None if restarts is None else whole_number(
            restarts, "restarts", "", low=0, high=MAX_SEARCH_RESTARTS)
        seed = 0 if seed is None else whole_number(seed, "seed", "", low=0)
        _check_ce_range(problem)
        if problem.bias == "regularized":
            from .regularized import solve_ce as solve_regularized_ce

            return _representable(solve_regularized_ce(problem, restarts=restarts, seed=seed))
        from .crossentropy import solve as solve_ce  # scipy: only after the input is checked

        return _representable(solve_ce(problem, restarts=restarts, seed=seed))
    for name, value in (("restarts", restarts), ("seed", seed)):
        if value is not None:
            raise ProblemError(f"{name} (--{name}): only used by the cross-entropy search "
                               "(--loss ce); the MSE answer is exact without it")
    if problem.bias == "regularized":
        from .regularized import solve as solve_regularized

        return solve_regularized(problem)
    if precision is not None:
        from .symbolic import solve_precise

        return solve_precise(problem, precision)
    _check_secular_work(problem)
    from .solution import solve

    return _representable(solve(problem))


MAX_DISTINCT_SIZES = 100_000  # free bias: O(S^2) secular work, about 5 minutes at this S
SECONDS_PER_PAIR = 3e-8  # measured on two cores: 3 s for S = 10^4 distinct sizes


def _check_secular_work(problem: Problem) -> None:
    """Refuse a free-bias problem whose O(S^2) spectrum would run for hours."""
    if problem.bias != "free" or problem.K <= MAX_DISTINCT_SIZES:
        return
    distinct = int(np.unique(problem.n).size)
    if distinct > MAX_DISTINCT_SIZES:
        hours = SECONDS_PER_PAIR * distinct**2 / 3600
        raise ProblemError(
            f"n (--n): a free bias couples the {distinct} distinct class sizes (O(S^2) work, "
            f"about {hours:.2g} hours here); at most {MAX_DISTINCT_SIZES} distinct sizes: "
            "round the sizes (equal sizes cost nothing extra) or use --bias none")


CE_MIN_DECAY = 1e-300  # cross-entropy margins grow like log(1/lbar); tested down to here


def _check_ce_range(problem: Problem) -> None:
    if problem.lbar < CE_MIN_DECAY:
        raise ProblemError(
            f"lambda_w (--lambda-w), lambda_h (--lambda-h): cross-entropy is solved for a "
            f"geometric-mean decay lbar >= {CE_MIN_DECAY:g}, got lbar = {problem.lbar:.3g}; "
            "below it the optimal logit margins (about log(1/lbar) > 690) leave float64")


def _representable(solution):
    """The answer, or a refusal when some of its values are beyond float64.

    An MSE answer is first bounded from its largest values (O(K)); only near the
    end of float64 are the per-class arrays formed to look."""
    sure = getattr(solution, "surely_representable", None)
    if sure is not None and math.isfinite(solution.loss) and sure():
        return solution
    names = ("feature_norm", "classifier_norm", "output", "singular_values",
             "layer_feature_norms")
    values = [np.asarray(getattr(solution, name)) for name in names if hasattr(solution, name)]
    if math.isfinite(solution.loss) and all(np.all(np.isfinite(v)) for v in values):
        return solution
    largest = max(float(np.max(np.abs(v), initial=0.0)) for v in values)
    raise ProblemError(
        "lambda_w (--lambda-w), lambda_h (--lambda-h): with decays this far apart some "
        f"values of the answer ({'inf' if math.isinf(largest) else f'{largest:.3g}'}) are "
        "beyond float64 (magnitudes up to 1.8e308); use --precision 20 (the high-precision "
        "route has no such limit) or decays closer together")


def training_convention(n, depth, loss, lambda_w=None, lambda_h=None, *, weight_decay=None,
                        feature_decay=None, bias="none", lambda_b=None, **settings):
    """The decays of ncsolve's objective for a training set-up with class sizes ``n``
    (:func:`ncsolve.measure.training_decays`; a given ``lambda_h`` stands in for the
    feature decay). With ``bias="regularized"`` the weight decay reaches the bias too:
    ``lambda_b`` is mapped like the weights' decay, not given."""
    from .measure.conventions import training_decays

    if lambda_w is not None or (lambda_h is not None and feature_decay is not None):
        raise ProblemError("weight_decay (--weight-decay): give either the training "
                           "conventions or --lambda-w/--lambda-h, not both")
    if lambda_b is not None:
        raise ProblemError("lambda_b (--lambda-b): with the training conventions the bias "
                           "decay follows from --weight-decay (lambda_b = lambda_W of the last "
                           "layer); leave --lambda-b out")
    if weight_decay is None:
        raise ProblemError("weight_decay (--weight-decay): the training conventions need the "
                           "optimizer's weight_decay")
    problem = Problem.build(n, depth, 1.0, 1.0, "none", loss)
    regularized = str(bias).strip().lower() == "regularized"
    mapping = training_decays(num_classes=problem.K, num_samples=problem.N,
                              depth=problem.depth, weight_decay=weight_decay, loss=loss,
                              feature_decay=feature_decay, last_bias=regularized, **settings)
    if mapping.lambda_h is None:
        if lambda_h is None:
            raise ProblemError("feature_decay (--feature-decay): predict needs the feature "
                               "decay; give --feature-decay (as trained) or --lambda-h")
        from dataclasses import replace

        mapping = replace(mapping, lambda_h=float(lambda_h))
    return mapping
