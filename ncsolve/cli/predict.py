"""The exact global minimizer of the deep linear unconstrained feature model.

Prints, per class, the class-mean length ||hbar_k||, the classifier row length
||w_k|| of the product W_M...W_1, the output on the class's own label and
whether the class collapsed; per direction, the target singular value sigma,
the output singular value z and the singular values of H and every W_j; and
the loss, the geometry and whether the minimizer is unique.

examples:
  ncsolve predict --n 500,100,50 --depth 3
  ncsolve predict --n 100,100,100,100 --depth 3 --bias free --json
  ncsolve predict --n 500,100,50 --depth 3 --lambda-w 0.0095 --lambda-h 0.0095
  ncsolve predict --n 100,100,100,100 --depth 3 --bias regularized --lambda-b 5e-4
  ncsolve predict --profile exp --classes 10 --ratio 100 --depth 3   # CIFAR-10-LT sizes
  ncsolve predict --n 500,100,50 --loss ce --features nonnegative   # features after a ReLU
  ncsolve predict --n 500,100,50 --depth 3 --label-smoothing 0.1
  ncsolve predict --targets targets.npz --depth 2 --bias free      # regression, N x t
"""

from __future__ import annotations

import argparse
import sys

from ..inputs.validation import invalid
from .jsonout import write_json
from .options import (EFFORT, MODEL, PROFILE, SCALED, SEARCH, Option, add_convention_options,
                      add_options, add_target_options, convention_given, convention_settings,
                      option, profile_from_args, target_settings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, option("n", note=SCALED), *MODEL[1:], "features", *PROFILE)
    add_convention_options(parser)
    add_target_options(parser)
    add_options(parser, option("precision", help="use the high-precision route with this "
                               "many significant digits, 15..1000", note="MSE only; slower"),
                *SEARCH, EFFORT, "init_scale", "json")
    add_options(parser.add_mutually_exclusive_group(),
                Option("--grams", default=None, action="store_true", help="include the K x K "
                       "Gram matrices in --json (default: only for K <= 200; their JSON "
                       "grows as K^2)"),
                Option("--no-grams", default=None, action="store_false", dest="grams",
                       help="leave the Gram matrices out of --json"))


def _precision(value):
    if value is None:
        return None
    from ..solvers.precise import check_precision  # mpmath only, not sympy

    return check_precision(value)


def run(args: argparse.Namespace) -> int:
    from ..api import predict

    family = profile_from_args(args)
    if family is None and args.n is None and args.targets is None:
        raise invalid("n", "give the class sizes, e.g. --n 500,100,50, or an "
                      "imbalance profile with --profile step|exp|scaled --ratio RHO")
    if args.grams is not None and not args.json:
        flag = "--grams" if args.grams else "--no-grams"
        raise invalid("grams", f"chooses the Gram matrices of --json; add --json, "
                      f"or leave {flag} out", flag)
    n = args.n if family is None else family
    training = convention_settings(args) if convention_given(args) else {}
    training.update(target_settings(args))
    result = predict(n=n, ratio=args.ratio, depth=args.depth, lambda_w=args.lambda_w,
                     lambda_h=args.lambda_h, bias=args.bias, loss=args.loss,
                     widths=args.widths, precision=_precision(args.precision),
                     restarts=args.restarts, seed=args.seed, lambda_b=args.lambda_b,
                     features=args.features, effort=args.effort,
                     init_scale=args.init_scale, **training)
    if args.json:
        data = result.to_dict(args.grams, lazy=True)
        write_json(data, sys.stdout.write)  # piece by piece: K = 10^6 is 400 MB of text
        return 0
    else:
        text = str(result)  # every result type renders its own report
    sys.stdout.write(text + "\n")
    return 0
