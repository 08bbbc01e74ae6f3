"""Gradient flow from a spectral start: which minimizer training reaches (MSE).

Every factor (H, W_1, ..., W_M) starts aligned with the target's singular vectors,
with singular value S in each direction (--init-scale S, or one value per factor).
The flow then splits into one small ODE system per direction (docs/dynamics.md). Per
direction: the balanced scale below which it ends at zero (init_threshold), and with
a start its end (zero, global, or the phase window's local minimum), the end value
and the time to get halfway there (in steps with --lr). The summary gives the order in
which classes are learned and the balanced scales that reach the global minimizer.

--plot draws each direction's singular value against time (log axis), the prediction
with gradient descent on the full model from the same start overlaid (--lr, default
small enough that the two agree), thresholds marked. An existing file is not
overwritten unless --force is given.

--loss ce: balanced classes only, from a simplex-ETF start (all K - 1 directions share
one flow; the end is compared with ncsolve's cross-entropy answer); unequal class sizes
are refused (not derived).

examples:
  ncsolve dynamics --n 100,50,20,10 --depth 3 --lambda-w 5e-3 --lambda-h 5e-3
  ncsolve dynamics --n 100,50,20,10 --depth 3 --lambda-w 5e-3 --lambda-h 5e-3 --init-scale 0.4
  ncsolve dynamics --n 100,50,20,10 --depth 3 --init-scale 0.5 --lr 0.05 --steps 20000 --json
  ncsolve dynamics --n 4,4,4 --depth 2 --lambda-w 0.03 --lambda-h 0.03 --loss ce --init-scale 1
  ncsolve dynamics --n 30,20,10 --depth 3 --lambda-w 0.02 --lambda-h 0.02 --init-scale 0.6 \\
      --plot flow.png
"""

from __future__ import annotations

import argparse
import json
import sys

from ..inputs import outfile
from ..inputs.validation import invalid
from ..solvers.dynamics import check_supported
from .options import FLOW, MODEL, PROFILE, SCALED, add_options, option, profile_from_args

def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, option("n", note=SCALED), *MODEL[1:], *PROFILE, "init_scale",
                *FLOW.values(), "json", "plot", "force", "quiet")


def run(args: argparse.Namespace) -> int:
    from ..api import dynamics

    check_supported(args.loss, args.bias, ce=True)
    family = profile_from_args(args)
    if family is None and args.n is None:
        raise invalid("n", "give the class sizes, e.g. --n 100,50,20,10, or an imbalance "
                      "profile with --profile step|exp|scaled --ratio RHO")
    if args.lambda_b is not None:
        raise invalid("lambda_b", "the flow is solved for bias none or free only; leave it out")
    if args.plot is not None:
        _check_plot(args)
    if args.plot is not None and args.loss.strip().lower() == "ce":
        raise invalid("plot", "the figure is drawn for the squared loss; leave --plot out "
                      "with --loss ce")
    result = dynamics(n=args.n if family is None else family, ratio=args.ratio,
                      depth=args.depth, lambda_w=args.lambda_w, lambda_h=args.lambda_h,
                      bias=args.bias, loss=args.loss, widths=args.widths,
                      init_scale=args.init_scale, lr=args.lr, steps=args.steps,
                      trajectory=args.trajectory)
    if args.plot is not None:
        from ..verify.dynamics_plot import plot_dynamics

        plot_dynamics(result, args.plot, lr=args.lr, progress=False if args.quiet else None)
    text = json.dumps(result.to_dict(), allow_nan=False) if args.json else str(result)
    sys.stdout.write(text + "\n")
    return 0


def _check_plot(args) -> None:
    from ..verify.plot import figure_format

    figure_format(args.plot)
    outfile.check_target(args.plot, "plot", force=args.force)
    if args.init_scale is None:
        raise invalid("plot", "the figure follows the flow from a start; give --init-scale")
