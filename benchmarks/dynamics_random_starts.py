"""How often the spectral prediction names the classes that random starts learn.

    python benchmarks/dynamics_random_starts.py            # 50 seeds per case
    python benchmarks/dynamics_random_starts.py --seeds 10 --case 0   # one case, fewer seeds

Not a speed benchmark: an accuracy table for docs/dynamics.md. Each case trains the
full model (every factor matrix, width 16) by plain gradient descent from i.i.d.
N(0, std_j^2) starts (bias 0), and compares the directions each run learned (at least
half of z_plus at its end) with those the flow from the equivalent spectral start
learns: factor j read as singular value ``std_j sqrt(rows_j)`` (its root-mean-square
gain on a unit vector; ncsolve.verify.dynamics.gains).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ncsolve import dynamics
from ncsolve.verify.dynamics import gains, random_starts

ISSUE = {"n": [100, 50, 20, 10], "depth": 3, "lambda_w": 5e-3, "lambda_h": 5e-3}
WIDTH = 16
# name, problem, std of (H, W_1, ..., W_M)
CASES = [
    ("issue, every factor std 0.1", ISSUE, [0.1] * 4),
    ("issue, H 0.1, layers 1/sqrt(d)", ISSUE, [0.1] + [WIDTH**-0.5] * 3),
    ("issue, every factor 1/sqrt(d)", ISSUE, [WIDTH**-0.5] * 4),
    ("free bias, depth 2, std 0.15", {"n": [60, 30, 15, 15], "depth": 2, "lambda_w": 0.01,
                                      "lambda_h": 0.01, "bias": "free"}, [0.15] * 3),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--case", type=int, action="append",
                        help="run only these cases (0-based; repeatable)")
    args = parser.parse_args()
    print(f"{'case':34} {'spectral scales':24} {'predicted':12} rate  (seeds {args.seeds}, "
          f"gd lr {args.lr}, {args.steps} steps)")
    for index, (name, spec, std) in enumerate(CASES):
        if args.case and index not in args.case:
            continue
        started = time.perf_counter()
        base = dynamics(**spec)
        widths = [WIDTH] * base.problem.depth
        scales = gains(base.problem, widths, std)
        predicted = dynamics(**spec, init_scale=scales).flow.end != "zero"
        report = random_starts(base, predicted, std, widths, range(args.seeds), args.lr,
                               args.steps, progress=False)
        learned = np.flatnonzero(predicted).tolist()
        sets = {}
        for row in report.observed:
            key = str(np.flatnonzero(row).tolist())
            sets[key] = sets.get(key, 0) + 1
        print(f"{name:34} {np.array2string(scales, precision=3):24} {str(learned):12} "
              f"{report.rate:.2f}  observed {sets}  ({time.perf_counter() - started:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
