r"""predict over a grid of its parameters: one row per grid point and class.

Any parameter takes a comma list of values or START:STOP:COUNT (log-spaced for
decays and ratios, linear otherwise); --decay sets --lambda-h and every
--lambda-w together. A per-layer decay vector, fixed for the sweep, is written
with '/' (--lambda-w 1e-3/2e-3/5e-3). MSE points with bias none or free are
solved vectorized in-process (certainty: exact); cross-entropy and regularized-
bias points run through an executor: local processes by default, --executor dask
for a local Dask cluster, --scheduler ADDRESS for a running one. With --output,
rows are appended as points finish (whole points only), and a rerun with the
same file skips the finished points (resume after a crash or a kill). The final
file is in point order and does not depend on the executor or the number of
workers: each cross-entropy point is seeded by its seed column.

examples:
  ncsolve sweep --profile exp --classes 10 --ratio 1:1000:100 --decay 1e-5:1e-1:100 \
                --depth 3 --output grid.csv --plot grid.png
  ncsolve sweep --n 500,100,50 --depth 1,2,3,4 --lambda-w 1e-4:1e-1:200 --format jsonl
  ncsolve sweep --profile step --classes 4 --largest 200 --ratio 1:200:12 --decay 5e-3 \
                --loss ce --output ce.csv --plot ce.png --plot-value classifier_max_cosine
  ncsolve sweep --n 6,3,2 --loss ce --features nonnegative --decay 0.05:0.3:12
"""

from __future__ import annotations

import argparse
import sys

from ..sweep.executors import check_executor
from ..sweep.output import block_text, check_output, format_from
from ..sweep.plot import check_path, check_sweep_plot, plot_sweep, save
from ..sweep.run import run as run_grid
from ..sweep.spec import build_grid
from ..inputs.validation import invalid
from .options import GRID, PROFILE, SCALED, Option, add_options, option
from .trainaxes import NOTE, add_train_options, check_alone, scale_of, scaled_grid

# one value, a comma list or START:STOP:COUNT of the option predict has
AXES = ("depth", "decay", "lambda_w", "lambda_h", "lambda_b", "bias", "loss", "seed", "restarts",
        "label_smoothing")
CHANGES = {
    "decay": Option("--decay", GRID, None, "lambda_h and every lambda_w together",
                    "lbar equals it"),
    "lambda_w": option("lambda_w", metavar=GRID, help="weight decay of every layer, or a "
                       "fixed vector X1/X2/.../XM, layer 1 first"),
    "bias": option("bias", metavar="none,free,regularized", default=None),
    "loss": option("loss", metavar="mse,ce", default=None),
    "label_smoothing": Option("--label-smoothing", GRID, None, "MSE toward one-hot labels "
                              "smoothed by EPS in [0, 1)", "linear grid; points with EPS > 0 "
                              "are solved one by one; docs/targets.md"),
}
RUNNING = (
    Option("--executor", "process|thread|serial|dask", None, "where cross-entropy and "
           "regularized points run", "default process: local processes; dask: a local Dask "
           "cluster"),
    Option("--workers", "W", None, "local workers", "default: all cores"),
    Option("--scheduler", "ADDRESS", None, "address of a running Dask scheduler, e.g. "
           "tcp://host:8786"),
    Option("--yes", default=False, action="store_true",
           help="allow grids of more than 10^7 points"),
    option("quiet", help="no progress bar and no summary line on stderr"),
)
OUTPUT = (
    option("output", note="appended point by point; a rerun resumes. Without "
           "it the table is printed at the end"), "force",
    Option("--format", "csv|jsonl|parquet", None, "table format", "default from the extension "
           "of --output, else csv; parquet needs pyarrow and is written once, at the end"),
    option("plot", help="draw one or two swept parameters"),
    Option("--plot-value", "COLUMN", None, "what to draw: a per-class column (lines, or a heat "
           "map of one class with --plot-class), or collapsed_classes (default: feature_norm "
           "for one parameter, collapsed_classes for two)"),
    Option("--plot-class", "K", None, "class to draw in a heat map of a per-class column"),
)


def _axis(name: str) -> Option:
    """predict's option ``name`` as a grid axis: GRID values, and no default of its own."""
    return CHANGES.get(name) or option(name, metavar=GRID, default=None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, option("n", note=SCALED), *PROFILE[:1],
                option("ratio", note=f"{GRID}, log-spaced"), *PROFILE[2:])
    add_options(parser.add_argument_group("grid (each: one value, a comma list or "
                                          "START:STOP:COUNT)"), *map(_axis, AXES))
    add_options(parser, option("widths", note="fixed for the whole sweep"),
                option("features", note="fixed for the whole sweep; default unconstrained. "
                       "nonnegative: every point is predict --features nonnegative, solved "
                       "one by one through the executor"))
    add_train_options(parser, grid=True)
    add_options(parser.add_argument_group("running"), *RUNNING)
    add_options(parser.add_argument_group("output"), *OUTPUT)


SPEC_NAMES = (*PROFILE[1:], *AXES)


def run(args: argparse.Namespace) -> int:

    fmt = format_from(args.output, args.format)
    if args.output is not None:
        check_output(args.output, force=True)  # its kind now; its content in run_grid
    specs = {name: getattr(args, name) for name in SPEC_NAMES}
    grid = build_grid(profile=args.profile, n=args.n, widths=args.widths, yes=args.yes,
                      features=args.features, **_training_decays(args, specs))
    if args.plot is not None:

        check_path(args.plot, force=args.force)
        check_sweep_plot(grid, args.plot_value, args.plot_class)

    check_executor(args.executor, args.workers, args.scheduler)
    table = run_grid(grid, executor=args.executor, workers=args.workers,
                     scheduler=args.scheduler, output=args.output, fmt=fmt,
                     progress=False if args.quiet else None, force=args.force)
    if args.plot is not None:

        save(plot_sweep(table, args.plot_value, args.plot_class), args.plot)
    if args.output is None:

        sys.stdout.write(block_text(table.data, list(table.columns), fmt, header=True))
    elif not args.quiet:
        sys.stderr.write(f"{table}\n")
    return 0


def _training_decays(args, specs: dict) -> dict:
    """--weight-decay GRID: the --decay axis s x it, for one loss and one K."""
    if args.weight_decay is None:
        if args.batch_size is not None or args.loss_reduction != "mean":
            raise invalid("loss_reduction", "maps --weight-decay; give --weight-decay too")
        return specs
    check_alone(args, ("decay", "lambda_w", "lambda_h"))
    losses = str(args.loss or "mse").split(",")
    if len(losses) != 1:
        raise invalid("loss", "with --weight-decay sweep one loss at a time (the scale "
                      "depends on it)")
    probe = build_grid(profile=args.profile, n=args.n, widths=args.widths, yes=True,
                       **{**specs, "decay": 1.0})
    if "classes" in probe.swept:
        raise invalid("classes", "with --weight-decay keep K fixed (the scale depends on it)")
    K = len(probe.sizes(probe.point(0)))
    scale = scale_of(args, losses[0].strip(), K)
    if not args.quiet:
        sys.stderr.write(f"sweep: decay = {scale:.6g} x weight_decay ({NOTE})\n")
    return {**specs, "decay": scaled_grid(args.weight_decay, scale)}
