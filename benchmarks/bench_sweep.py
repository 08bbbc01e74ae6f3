"""Benchmark of ncsolve sweep (not part of the test suite).

    python benchmarks/bench_sweep.py            # MSE 100 x 100 grid and CE throughput
    python benchmarks/bench_sweep.py --quick    # smaller grids

MSE: points per CPU second of the vectorized sweep against a loop of ``predict``
calls over the same points, measured in the same run (the loop runs on a
sample of the grid's points and is scaled by its per-point time). CE: points
per second through a local process pool of 1 and 2 workers and the serial
executor. Prints Markdown; the figures in docs/phase.md come from it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from ncsolve import predict
from ncsolve.sweep.run import sweep
from ncsolve.sweep.spec import build_grid


def timed(action, repeats: int = 1, clock=time.perf_counter):
    """Best of ``repeats`` runs; MSE uses the process's CPU clock (one process, and the
    machine is shared), CE the wall clock (its work runs in worker processes)."""
    best, value = np.inf, None
    for _ in range(repeats):
        started = clock()
        value = action()
        best = min(best, clock() - started)
    return best, value


def mse(count: int, sample: int, repeats: int) -> None:
    grid_spec = dict(profile="exp", classes=10, ratio=f"1:1000:{count}",
                     decay=f"1e-5:1e-1:{count}", depth=3)
    points = count * count
    cpu = time.process_time
    sweep_time, _ = timed(lambda: sweep(**grid_spec), repeats, cpu)
    grid = build_grid(**grid_spec)
    rng = np.random.default_rng(0)
    chosen = rng.choice(points, size=min(sample, points), replace=False)
    calls = [grid.predict_kwargs(grid.point(int(i))) for i in chosen]
    loop_time, _ = timed(lambda: [predict(**kw) for kw in calls], repeats, cpu)
    per_call = loop_time / len(calls)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "grid.csv")
        write_time, _ = timed(lambda: (os.path.exists(path) and os.unlink(path),
                                       sweep(**grid_spec, output=path)), 1, cpu)
    print(f"### MSE: {count} x {count} grid (exp profile, K = 10, depth 3, bias-free)\n")
    print("| | points/s | time for the grid |")
    print("|---|---:|---:|")
    print(f"| loop of predict ({len(calls)} sampled points) | {1 / per_call:,.0f} | "
          f"{per_call * points:.2f} s (extrapolated) |")
    print(f"| sweep (vectorized, in memory) | {points / sweep_time:,.0f} | {sweep_time:.2f} s |")
    print(f"| sweep with --output CSV ({points * 10:,} rows) | {points / write_time:,.0f} | "
          f"{write_time:.2f} s |")
    print(f"\nspeed-up of the vectorized sweep over the predict loop: "
          f"{per_call * points / sweep_time:.0f}x\n")


def ce(ratios: int, repeats: int) -> None:
    spec = dict(profile="step", classes=4, largest=200, ratio=f"1:100:{ratios}", decay=5e-3,
                depth="1,2", loss="ce", restarts=8)
    points = 2 * ratios
    sweep(**dict(spec, ratio="2"), executor="serial")  # warm up: imports, first calls
    print(f"### CE: {points} points (step profile, K = 4, depths 1 and 2, 8 restarts)\n")
    print("| executor | workers | points/s | time |")
    print("|---|---:|---:|---:|")
    for label, kwargs in (("serial", dict(executor="serial")),
                          ("process", dict(executor="process", workers=1)),
                          ("process", dict(executor="process", workers=2))):
        seconds, _ = timed(lambda: sweep(**spec, **kwargs), repeats)
        workers = kwargs.get("workers", 1)
        print(f"| {label} | {workers} | {points / seconds:.2f} | {seconds:.2f} s |")
    print(f"\n(os.cpu_count() = {os.cpu_count()})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"ncsolve sweep benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    if args.quick:
        mse(count=40, sample=100, repeats=1)
        ce(ratios=3, repeats=1)
    else:
        mse(count=100, sample=400, repeats=3)
        ce(ratios=8, repeats=1)


if __name__ == "__main__":
    main()
