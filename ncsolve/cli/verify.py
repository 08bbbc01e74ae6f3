"""Train the full deep linear model by gradient methods and compare with the theory.

Every run starts from weights and features drawn N(0, init_scale^2).  With the
squared loss it is then matched against the critical points of the theory: each
direction of the target either collapsed to zero or at its nonzero local minimum.
The report says which one the run reached, whether it is the global minimizer,
and how far the run's Grams are from it.  With --loss ce the run is compared with
ncsolve's cross-entropy answer (proved at depth 1, the best found by a search at
depth >= 2): by its objective, its gradient norm and its Grams up to relabeling
classes of equal size; a run below ncsolve's answer is reported as such.

exit status: 0 when the best run reached the global minimizer within tolerance
(for cross-entropy: and no run went below ncsolve's answer), 1 otherwise, 2 for
bad input.

examples:
  ncsolve verify --n 200,100,50,50 --depth 3 --width 64
  ncsolve verify --n 100,100,100,100 --depth 3 --bias free --restarts 5 --json
  ncsolve verify --n 200,100,50,50 --depth 3 --method momentum --plot nc.png
  ncsolve verify --n 50,50,50,50 --depth 3 --width 4 --loss ce --restarts 4
  ncsolve verify --n 6,3,2 --loss ce --features nonnegative --width 4 --init-scale 1 --restarts 4
  ncsolve verify --n 8,4,2 --depth 2 --lambda-w 0.05 --lambda-h 0.05 --width 4 --method gd \
      --init-scale 0.3 --steps 3000 --restarts 10 --spectral-start
  ncsolve verify --n 5,3,2 --depth 2 --width 4 --label-smoothing 0.1 --restarts 3
  ncsolve verify --targets regression.npz --depth 2 --bias free --width 4   # N x t, key targets
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys


from ..core.objective import DEFAULT_WIDTH  # one default for Python and the CLI
from ..core.descent import METHODS, MOMENTUM
from ..inputs import outfile
from ..inputs.problem import MAX_DEPTH, Problem, whole_number
from ..inputs.validation import POSITIVE, Options, check, invalid
from .options import MODEL, Option, add_options, add_target_options, option, target_settings

DEFAULT_STEPS = {"lbfgs": 20000, "gd": 30000, "momentum": 30000}
DEFAULTS = {"lr": 0.1, "momentum": 0.9}
MAX_RUNS = 1000  # --restarts: each run is a full minimization
MAX_STEPS = 10**7  # --steps: beyond this a run takes hours even on small models
FIGURE_FORMATS = ("png", "pdf", "svg")


DESCENT = (
    Option("--method", "{lbfgs,gd,momentum}", "lbfgs", "L-BFGS (default), gradient descent, "
           "or heavy-ball momentum"),
    Option("--steps", "S", None, "steps (gd, momentum; default 30000) or L-BFGS iteration "
           "cap (20000)"),
    Option("--lr", "X", None, "step size for gd and momentum (0.1); refused with lbfgs"),
    Option("--momentum", "X", None, "heavy-ball coefficient for --method momentum (0.9); "
           "refused with other methods"),
    Option("--init-scale", "X", "0.1", "standard deviation of the N(0, X^2) start (0.1)"),
    Option("--spectral-start", action="store_true", help="also descend from the spectral "
           "start the random starts read as (singular value X sqrt(rows) per factor) and "
           "report the gradient flow's predicted ends and times against both (squared loss, "
           "--method gd)"),
    option("seed", default="0", help="seed of the first run"),
    option("restarts", default="1", help="number of runs, seeds S, S+1, ...",
           note=f"default 1; at most {MAX_RUNS}"),
)
COMPARISON = (
    Option("--loss-rtol", "X", "1e-6", "relative objective tolerance for a match (1e-6); "
           "relative to at least 1e-8 of the objective at the origin, so that a minimum of 0 "
           "is handled"),
    Option("--gram-tol", "X", "1e-3", "normalized Gram distance tolerance for a match (1e-3)"),
    Option("--grad-tol", "X", "1e-6", "gradient norm of a converged run (1e-6); decides the "
           "status for --loss ce, is only reported for mse"),
)
OUTPUT = (
    "json",
    option("plot", help="draw NC1 and the distances to theory against iterations"), "force",
    Option("--record-every", "K", None, "record the trajectory every K steps, for --plot and "
           "the trajectory in --json (default with --plot: about 300 points)"),
    "quiet",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ncsolve verify``."""
    width = Option("--width", "D", None, f"one width d for every layer, d_1 = ... = d_M = D "
                   f"(default {DEFAULT_WIDTH}, the paper's setting); --widths sets each layer")
    add_options(parser.add_argument_group("model"), "n", *MODEL[1:], width, "features")
    add_target_options(parser)
    add_options(parser.add_argument_group("descent"), *DESCENT)
    add_options(parser.add_argument_group("comparison"), *COMPARISON)
    add_options(parser.add_argument_group("output"), *OUTPUT)


# ---- input checks ----------------------------------------------------------------------


def _integer(text: str, param: str, low: int) -> int:
    return whole_number(text, param, "", low=low)


def _momentum(text: str) -> float:
    """The heavy-ball coefficient, a number in [0, 1)."""
    return check(text, MOMENTUM, "momentum")


def _plot_path(path: str, force: bool = False) -> str:
    """The figure's path, checked before any training: format, folder, matplotlib."""
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in FIGURE_FORMATS:  # as ncsolve.verify.plot, before importing it
        raise invalid("plot", f"the extension gives the format: .png, .pdf or .svg; got "
                      f"{os.path.basename(path)!r}")
    if os.path.isdir(path):
        raise invalid("plot", f"{path!r} is a folder; give a file name such as nc.png")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise invalid("plot", "needs matplotlib; install it with: pip install 'ncsolve[plot]' "
                            "(or pip install matplotlib)") from None
    outfile.check_target(path, "plot", force=force)
    return path


OUTPUT_COPIES = 6  # K x N arrays alive at once in a descent step (outputs, residual, ...)


def _memory_limit() -> float:
    """Half of the physical memory in bytes (8 GB when it cannot be read)."""
    try:
        return 0.5 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 8e9


def _check_size(problem: Problem) -> None:
    """Refuse models whose parameter vectors and K x N outputs would not fit in memory."""
    d = problem.widths
    rows = problem.K if problem.target is None else problem.target.outputs
    count = (d[0] * problem.N + sum(a * b for a, b in itertools.pairwise(d))
             + rows * (d[-1] + 1))
    outputs = rows * problem.N  # logits, residual and their gradients: OUTPUT_COPIES
    needed = 8.0 * (count * 30 + outputs * OUTPUT_COPIES)  # L-BFGS keeps about 30 vectors
    if needed > _memory_limit():
        blame = "n" if d[0] * problem.N >= count / 2 or outputs * OUTPUT_COPIES > count * 30 \
            else "width"
        raise invalid(
            blame,
            f"the full model has {count:.3g} parameters and {outputs:.3g} outputs and would "
            f"need about "
            f"{needed / 1e9:.3g} GB; use smaller class sizes or a smaller --width",
        )


def _refuse_what_does_not_apply(args, method: str) -> None:
    """An option that would change nothing is refused, as everywhere in ncsolve."""
    if args.lr is not None and method == "lbfgs":
        raise invalid("lr", "is the step size of --method gd or momentum; L-BFGS chooses its "
                      "own steps: leave --lr out, or add --method gd|momentum")
    if args.momentum is not None and method != "momentum":
        raise invalid("momentum", "is the coefficient of --method momentum; leave it out, or "
                      "add --method momentum")
    if args.record_every is not None and args.plot is None and not args.json:
        raise invalid("record_every", "records a trajectory for --plot or --json; add one "
                      "of them, or leave --record-every out")


def _settings(args) -> dict:
    """Validated settings from the parsed arguments (raises ProblemError)."""
    method = check(args.method, Options(METHODS), "method")
    if args.width is not None and args.widths is not None:
        raise invalid("widths", "give either --width (every layer) or --widths, not both")
    _refuse_what_does_not_apply(args, method)
    depth = whole_number(args.depth, "depth", "the depth (number of layers)", high=MAX_DEPTH)
    widths = args.widths
    if widths is None:
        width = DEFAULT_WIDTH if args.width is None else _integer(args.width, "width", 1)
        widths = [width] * depth
    plot = None if args.plot is None else _plot_path(args.plot, args.force)
    restarts = whole_number(args.restarts, "restarts", "", high=MAX_RUNS)
    steps = (DEFAULT_STEPS[method] if args.steps is None
             else whole_number(args.steps, "steps", "", high=MAX_STEPS))
    if args.n is None and args.targets is None:
        raise invalid("n", "give the class sizes, e.g. --n 500,100,50 (or per-sample "
                      "targets with --targets FILE)")
    targets = target_settings(args)
    problem = Problem.build(args.n, depth, args.lambda_w, args.lambda_h, args.bias, args.loss,
                            widths, args.lambda_b, args.features, **targets)
    _check_size(problem)
    if problem.target is not None and (args.plot or args.record_every):
        raise invalid("plot" if args.plot else "record_every", "trajectories are recorded "
                      "for one-hot labels only; leave it out with a target other than one-hot")
    if problem.features == "nonnegative" and (args.plot or args.record_every):
        raise invalid("plot" if args.plot else "record_every", "the bounded runs of "
                      "--features nonnegative record no trajectory; leave it out")
    options = {"steps": steps, "init_scale": check(args.init_scale, POSITIVE, "init_scale")}
    if method != "lbfgs":
        options["lr"] = check(args.lr or DEFAULTS["lr"], POSITIVE, "lr")
    if method == "momentum":
        options["momentum"] = _momentum(args.momentum or DEFAULTS["momentum"])
    record_every = (None if args.record_every is None
                    else _integer(args.record_every, "record_every", 1))
    if plot is not None and record_every is None:
        record_every = 1 if method == "lbfgs" else max(1, steps // 300)
    return {
        "problem": problem,
        "method": method,
        "options": options,
        "seed": _integer(args.seed, "seed", 0),
        "restarts": restarts,
        "loss_rtol": check(args.loss_rtol, POSITIVE, "loss_rtol"),
        "gram_tol": check(args.gram_tol, POSITIVE, "gram_tol"),
        "grad_tol": check(args.grad_tol, POSITIVE, "grad_tol"),
        "record_every": record_every,
        "plot": plot,
        "targets": targets.get("targets"),
    }


# ---- output ----------------------------------------------------------------------------


def run(args) -> int:
    """Execute ``ncsolve verify``; returns the exit status."""
    settings = _settings(args)
    from ..verify import Tolerances, plot_report, verify

    report = verify(
        settings["problem"], settings["problem"].widths, method=settings["method"],
        restarts=settings["restarts"], seed=settings["seed"],
        record_every=settings["record_every"],
        tolerances=Tolerances(loss_rtol=settings["loss_rtol"], gram_tol=settings["gram_tol"],
                              grad_tol=settings["grad_tol"]),
        progress=False if args.quiet else None, spectral_start=args.spectral_start,
        targets=settings["targets"],
        **settings["options"],
    )
    if settings["plot"]:
        plot_report(report, settings["plot"])
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(str(report) + "\n")
        if settings["plot"]:
            sys.stdout.write(f"figure written to {settings['plot']}\n")
    return report.exit_code
