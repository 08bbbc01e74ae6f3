"""Measure a trained network against the global minimizer of the same problem.

FILE (.npz, .safetensors, or .pt/.pth with PyTorch installed) holds
features (N x d, rows are samples), labels (N,), the head's layers W1..WM in
PyTorch's (out, in) layout (or a state_dict), optional b1..bM and optional
test_features/test_labels and ood_features.  Prints per class the measured and predicted
class-mean length, classifier-row length, output and collapse; per layer NC1,
CDNV, equinorm, the distance of the class-mean Gram to the theory's,
self-duality and NC4, and the literature's other forms (NC1 by top-(K-1) SVD
and by trace quotient, centred equinorm, Gram distance and self-duality, GNC2,
UNC3, NC5 with --ood; docs/measure.md has each formula); the objective at the
trained parameters against the global minimum; and a one-line verdict.

Decays: --lambda-w/--lambda-h/--lambda-b in ncsolve's objective, or what the
training code set (--weight-decay, --loss-reduction, --feature-decay, ...).
Without a feature decay, lambda_H is fitted to the trained lengths.

examples:
  ncsolve measure ufm.npz --depth 3 --lambda-w 5e-4 --lambda-h 5e-4
  ncsolve measure model.pt --weight-decay 5e-4 --loss-reduction mean --json
  ncsolve measure digits.safetensors --weight-decay 1e-3 --plot digits.png
"""

from __future__ import annotations

import argparse
import json
import sys

from ..inputs import conventions
from ..inputs.problem import FEATURES, whole_number
from ..inputs.validation import Interval, Options, check, invalid
from ..measure.arrays import integer_labels
from ..measure.files import check_path, load, ood_features
from ..measure.targets import check_target_path, export_targets
from ..measure.plot import save_measurement
from ..sweep.plot import check_path as check_figure_path
from .options import (
    SEARCH,
    Option,
    add_convention_options,
    add_options,
    convention_given,
    convention_settings,
    option,
)

BIAS = ("default: none without a last-layer bias; with one, regularized when its decay is "
        "known (--lambda-b, or --weight-decay without --no-bias-decay), else free")
MEASURE = (
    Option("--collapse-threshold", "T", "1e-3", "a class is collapsed when its class-mean "
           "length is at most T times the largest", "default 1e-3"),
    Option("--gap-tolerance", "G", "1e-4", "relative objective gap counted as the global "
           "minimum", "default 1e-4"),
    Option("--head", "PREFIX", None, "state_dict key prefix of the head's layers ('' for "
           "every layer)", "default: the module holding the last layer"),
    Option("--ood", "FILE", None, "out-of-distribution features (.npz/.safetensors/.pt with "
           "an array 'ood_features' or 'features'): NC5 at every layer"),
    Option("--export-targets", "FILE", None, "write the global minimizer's class-mean, "
           "classifier and output Grams (.npz or .json) for other metric code",
           "an existing file is refused unless --force"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, Option("file", "FILE", help="trained model: .npz, .safetensors, .pt or "
                               ".pth (see docs/measure.md for the keys)"),
                option("depth", default=None, help="number of head layers",
                       note="default: all W1..WM in the file"),
                option("lambda_w", note="in ncsolve's objective"),
                option("lambda_h", note="default: fitted to the trained lengths"),
                option("lambda_b", note="a regularized last-layer bias"),
                option("bias", default=None, note=BIAS), "loss",
                option("features", note="nonnegative: the ReLU features are also compared "
                       "with that theory, beside the unconstrained one"))
    add_convention_options(parser, bias_decay=True)
    add_options(parser, *MEASURE, *SEARCH, "json",
                option("plot", help="draw the measured values against the theory"), "force")


def _fraction(value, name: str):
    return check(value, Interval(0, 1, closed="neither"), name)


def _relu_comparison(args, model, options):
    """With --features nonnegative: the comparison with both theories (measure.relu)."""
    if args.features == FEATURES[0]:
        return None
    from ..measure.relu import compare_relu

    return compare_relu(model.features, model.labels, model.weights, model.biases,
                        bias=args.bias, loss=args.loss, restarts=args.restarts,
                        seed=args.seed, **options)


def run(args: argparse.Namespace) -> int:

    check_path(args.file)
    args.features = check(args.features or FEATURES[0], Options(FEATURES), "features")
    if args.plot is not None:

        check_figure_path(args.plot, force=args.force)
    threshold = _fraction(args.collapse_threshold, "collapse_threshold")
    tolerance = _fraction(args.gap_tolerance, "gap_tolerance")
    depth = None if args.depth is None else whole_number(args.depth, "depth", "the depth")
    use_convention = convention_given(args)
    if use_convention and any(v is not None for v in (args.lambda_w, args.lambda_h,
                                                       args.lambda_b)):
        raise invalid("weight_decay", "give either the training "
                      "conventions or --lambda-w/--lambda-h/--lambda-b, not both")
    if use_convention and args.weight_decay is None:
        raise invalid("weight_decay", "the training conventions need the "
                      "optimizer's weight_decay")
    if use_convention:
        conventions.check_names(args.loss, args.loss_reduction, args.optimizer,
                                args.feature_decay_scope)
    if args.export_targets is not None:
        check_target_path(args.export_targets, args.force)
        if args.lambda_w is None and not use_convention:
            raise invalid("export_targets", "the targets are the theory's: give the decays "
                          "(--lambda-w or --weight-decay)")
    if _holds_targets(args.file):
        return _regression(args, depth)
    ood = None if args.ood is None else ood_features(args.ood)
    model = load(args.file, depth, args.head)
    options = dict(lambda_w=args.lambda_w, lambda_h=args.lambda_h, lambda_b=args.lambda_b)
    if use_convention:

        labels = integer_labels(model.labels, "labels")
        options = {"convention": conventions.training_decays(
            num_classes=int(labels.max()) + 1 if labels.size else 1,
            num_samples=int(labels.size), depth=len(model.weights), loss=args.loss,
            bias_decay=args.bias_decay, **convention_settings(args),
            last_bias=model.biases is not None and model.biases[-1] is not None)}
    result = model.measure(bias=args.bias, loss=args.loss, collapse_threshold=threshold,
                           gap_tolerance=tolerance, restarts=args.restarts, seed=args.seed,
                           **options, **({} if ood is None else {"ood_features": ood}))
    relu = _relu_comparison(args, model, options)
    if args.export_targets is not None:
        export_targets(result, args.export_targets, args.force)
    if args.plot is not None:

        save_measurement(result, args.plot)
    if args.json:
        data = result.to_dict()
        if relu is not None:
            data["nonnegative_comparison"] = relu.to_dict()
        text = json.dumps(data, allow_nan=False)
    else:
        text = str(result) if relu is None else f"{result}\n\n{relu}"
    sys.stdout.write(text + "\n")
    return 0


# ---- regression heads (a file with per-sample targets) ----------------------------------

NOT_FOR_REGRESSION = ("weight_decay", "export_targets", "ood", "plot")


def _holds_targets(path) -> bool:
    from ..measure.regression import holds_targets

    return holds_targets(path)


def _regression(args, depth) -> int:
    """NRC1-3 of a regression head and, with the decays, the exact minimizer's values."""
    from ..measure.regression import load_regression, measure_regression

    for name in NOT_FOR_REGRESSION:
        if getattr(args, name, None) is not None:
            raise invalid(name, "is not used for a regression head (the file holds "
                          "'targets'); give --lambda-w and --lambda-h for the exact comparison")
    if args.loss != "mse" or args.features != FEATURES[0]:
        which = "loss" if args.loss != "mse" else "features"
        raise invalid(which, "a regression head (the file holds 'targets') is measured for "
                      "the squared error with unconstrained features")
    head = load_regression(args.file, depth, args.head)
    result = measure_regression(**head, lambda_w=args.lambda_w, lambda_h=args.lambda_h,
                                bias=args.bias, lambda_b=args.lambda_b)
    text = json.dumps(result.to_dict(), allow_nan=False) if args.json else str(result)
    sys.stdout.write(text + "\n")
    return 0
