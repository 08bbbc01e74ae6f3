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
"""

from __future__ import annotations

import argparse
import sys

from ..sweep.executors import check_executor
from ..sweep.output import block_text, check_output, format_from
from ..sweep.plot import check_path, check_sweep_plot, plot_sweep, save
from ..sweep.run import run as run_grid
from ..sweep.spec import build_grid
from .options import add_profile_options

GRID = "X|X1,X2,...|START:STOP:COUNT"


def add_arguments(parser: argparse.ArgumentParser) -> None:

    parser.add_argument("--n", default=None, metavar="N1,N2,...",
                        help="fixed class sizes (or the base sizes of --profile scaled)")
    add_profile_options(parser, ratio_help=f"imbalance ratio(s) of the profile ({GRID}, "
                        "log-spaced)")
    grid = parser.add_argument_group("grid (each: one value, a comma list or START:STOP:COUNT)")
    grid.add_argument("--depth", default=None, metavar=GRID, help="number of layers (default 1)")
    grid.add_argument("--decay", default=None, metavar=GRID,
                      help="lambda_h and every lambda_w together (lbar equals it)")
    grid.add_argument("--lambda-w", default=None, metavar=GRID,
                      help="weight decay of every layer (default 5e-4), or a fixed vector "
                      "X1/X2/.../XM")
    grid.add_argument("--lambda-h", default=None, metavar=GRID, help="feature decay (5e-4)")
    grid.add_argument("--lambda-b", default=None, metavar=GRID,
                      help="bias decay (with --bias regularized)")
    grid.add_argument("--bias", default=None, metavar="none,free,regularized",
                      help="bias mode(s) (default none)")
    grid.add_argument("--loss", default=None, metavar="mse,ce", help="loss(es) (default mse)")
    grid.add_argument("--seed", default=None, metavar=GRID,
                      help="cross-entropy: seed of each point's search (default 0)")
    grid.add_argument("--restarts", default=None, metavar=GRID,
                      help="cross-entropy: random starts per point (default by K)")
    parser.add_argument("--widths", default=None, metavar="D1,...,DM",
                        help="fixed layer widths (one per layer)")
    run = parser.add_argument_group("running")
    run.add_argument("--executor", default=None, metavar="process|thread|serial|dask",
                     help="where cross-entropy and regularized points run (default process: "
                     "local processes; dask: a local Dask cluster)")
    run.add_argument("--workers", default=None, metavar="W",
                     help="local workers (default: all cores)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="address of a running Dask scheduler, e.g. tcp://host:8786")
    run.add_argument("--yes", action="store_true", help="allow grids of more than 10^7 points")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bar and no summary line on stderr")
    out = parser.add_argument_group("output")
    out.add_argument("--output", default=None, metavar="PATH",
                     help="table file (appended point by point; a rerun resumes); default: "
                     "standard output at the end")
    out.add_argument("--format", default=None, metavar="csv|jsonl|parquet",
                     help="table format (default from the extension of --output, else csv; "
                     "parquet needs pyarrow and is written once, at the end)")
    out.add_argument("--plot", default=None, metavar="PATH",
                     help="figure of one or two swept parameters (.png, .pdf, .svg)")
    out.add_argument("--plot-value", default=None, metavar="COLUMN",
                     help="what to draw: a per-class column (lines, or a heat map of one "
                     "class with --plot-class), or collapsed_classes (default: feature_norm "
                     "for one parameter, collapsed_classes for two)")
    out.add_argument("--plot-class", default=None, metavar="K",
                     help="class to draw in a heat map of a per-class column")


SPEC_NAMES = ("ratio", "classes", "minority", "largest", "depth", "decay", "lambda_w",
              "lambda_h", "lambda_b", "bias", "loss", "seed", "restarts")


def run(args: argparse.Namespace) -> int:

    fmt = format_from(args.output, args.format)
    if args.output is not None:
        check_output(args.output)
    specs = {name: getattr(args, name) for name in SPEC_NAMES}
    grid = build_grid(profile=args.profile, n=args.n, widths=args.widths, yes=args.yes,
                      **specs)
    if args.plot is not None:

        check_path(args.plot)
        check_sweep_plot(grid, args.plot_value, args.plot_class)

    check_executor(args.executor, args.workers, args.scheduler)
    table = run_grid(grid, executor=args.executor, workers=args.workers,
                     scheduler=args.scheduler, output=args.output, fmt=fmt,
                     progress=False if args.quiet else None)
    if args.plot is not None:

        save(plot_sweep(table, args.plot_value, args.plot_class), args.plot)
    if args.output is None:

        sys.stdout.write(block_text(table.data, list(table.columns), fmt, header=True))
    elif not args.quiet:
        sys.stderr.write(f"{table}\n")
    return 0
