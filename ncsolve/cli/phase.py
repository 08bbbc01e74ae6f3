"""Exact MSE phase boundaries of an imbalance profile: where each class (bias-free) or
direction (free bias) collapses, in the (ratio, decay) plane or along depth.

For each group of equal classes or directions, two curves in the geometric-mean
decay lbar: critical_decay (above it the group is zero at the global minimum) and
existence_decay (above it its nonzero stationary point is gone). Between them is
the window, where the "largest root" is only a local minimum. The curves are the
closed-form thresholds at every sampled ratio (certainty: exact), not a grid of
predict calls. Regions: all classes kept, minority collapsed, window, all collapsed.

examples:
  ncsolve phase --profile step --classes 4 --largest 500 --depth 3 --plot phase.png
  ncsolve phase --profile exp --classes 10 --ratio 1:1000:400 --depth 1,2,3,4 --bias free --json
  ncsolve phase --profile exp --ratio 100 --depth 1:8:8 --plot depth.pdf
  ncsolve phase --profile step --format csv --output phase.csv
  ncsolve phase --profile exp --classes 10 --loss ce --features nonnegative   # ReLU features
"""

from __future__ import annotations

import argparse
import json
import sys

from ..inputs.grid import parse_values
from ..inputs.validation import Options, check, invalid
from ..sweep.output import check_output, csv_text, write_atomic
from ..sweep.phase import phase_map
from ..sweep.plot import check_path, plot_phase, save
from .options import PROFILE, Option, add_options, option, profile_from_args
from .trainaxes import NOTE, add_train_options, in_weight_decay, region_in_weight_decay, scale_of

DEFAULT_RATIOS = "1:1000:400"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(
        parser, option("n", note="only with --profile scaled: the sizes whose imbalance is "
                       "rescaled"), *PROFILE[:1],
        option("ratio", default=DEFAULT_RATIOS, note="a comma list or START:STOP:COUNT, "
               f"log-spaced; default {DEFAULT_RATIOS}"), *PROFILE[2:],
        option("depth", metavar="M|M1,M2,...|A:B:COUNT", default=None,
               note="or several depths; default 3 (1 with --loss ce)"),
        option("bias", metavar="none|free", help="bias-free: curves per class group; free "
               "bias: curves per direction group of D - n n^T/N"),
        option("loss", note="default mse; ce only with --features nonnegative, bias-free, "
               "depth 1"),
        option("features", note="default unconstrained; nonnegative: bias-free MSE (the "
               "same curves) or bias-free CE at depth 1 (docs/nonnegative.md)"),
        Option("--integer-sizes", default=False, action="store_true", help="use the "
               "rounded-down integer sizes that predict and sweep use (default: the "
               "continuous profile)"),
        Option("--format", "text|json|csv", "text", "output format", "default text; csv: one "
               "row per decay interval at each (ratio, depth), with its region and the curve "
               "above it"),
        option("json", help="same as --format json"), "output", "force",
        option("plot", help="draw the phase diagram"),
        Option("--label-smoothing", "EPS", None, "MSE toward one-hot labels smoothed by EPS "
               "in [0, 1)", "0 is the one-hot map; docs/targets.md"))
    add_train_options(parser, grid=False)


def run(args: argparse.Namespace) -> int:

    fmt = "json" if args.json else check(args.format, Options(("text", "json", "csv")), "format")
    if args.plot is not None:

        check_path(args.plot, force=args.force)
    if args.output is not None:
        check_output(args.output, force=args.force)
    family = profile_from_args(args) if args.profile is not None else None
    if family is None:
        raise invalid("profile", "a phase map needs an imbalance profile: "
                      "step, exp or scaled (with --n)")
    ratios = parse_values(args.ratio, "ratio", scale="log", low=1.0)
    loss = check(args.loss, Options(("mse", "ce")), "loss")
    default_depth = "1" if loss == "ce" else "3"
    depths = parse_values(args.depth or default_depth, "depth", integer=True, low=1.0)

    scale = None
    if args.loss_reduction is not None:
        scale = scale_of(args, loss, len(family.sizes(ratios[0])))
    elif args.batch_size is not None:
        raise invalid("batch_size", "maps --loss-reduction sum; give --loss-reduction too")
    pm = phase_map(family, ratios, [int(d) for d in depths], args.bias, args.integer_sizes,
                   loss, args.features, args.label_smoothing)
    if fmt == "json":
        data = pm.to_dict() if scale is None else in_weight_decay(pm.to_dict(), scale)
        text = json.dumps(data, allow_nan=False) + "\n"
    elif fmt == "csv":

        rows = pm.rows() if scale is None else [region_in_weight_decay(r, scale)
                                                for r in pm.rows()]
        text = csv_text(rows)
    else:
        text = str(pm) + "\n"
        if scale is not None:
            text += (f"weight_decay = decay / {scale:.6g} ({args.loss_reduction} reduction; "
                     f"{NOTE})\n")
    if args.plot is not None:

        save(plot_phase(pm), args.plot)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text)
    return 0
