"""A set of imbalanced deep CE problems: this tree's default loss against another tree's.

    python benchmarks/ce_problem_set.py --old /tmp/base-3817405             # about 2 minutes
    python benchmarks/ce_problem_set.py --old /tmp/base-3817405 --reference-restarts 72

24 problems drawn with a fixed seed (K 4-10, depth 2-4, both bias modes, every fourth
with narrow widths; class sizes uniform, geometric or two-level; decays 1e-4..1e-2,
log-uniform; search seeds 0-2). Each tree solves them in one child process with one
BLAS thread: ``predict(loss="ce")`` with its default search, and on the old tree also
with ``restarts`` random starts per batch as a reference (3 x the default at K <= 20).
Prints a Markdown table of the losses relative to the lowest one found, and how many
problems end above it; a faster default search must never end above the old default
(issue 23). docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench_speed import SINGLE_THREAD

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
ABOVE_RTOL = 1e-12  # a loss above another by more than this (relative) counts as higher


def problems() -> list[dict]:
    """The problem set (keyword arguments of ``predict`` without the loss)."""
    rng = np.random.default_rng(2323)
    out = []
    for i in range(24):
        K = int(rng.integers(4, 11))
        depth = int(rng.integers(2, 5))
        if i % 3 == 0:
            n = np.round(400 * rng.uniform(0.05, 1.0, K)).astype(int) + 2
        elif i % 3 == 1:
            r = rng.uniform(0.6, 0.9)
            n = np.array([int(300 * r**k) + 2 for k in range(K)])
        else:
            m = int(rng.integers(1, K))
            n = np.array([300] * m + [int(rng.integers(3, 40))] * (K - m))
        lambda_w, lambda_h = (float(10 ** rng.uniform(-4, -2)) for _ in range(2))
        widths = None
        if i % 4 == 3:
            widths = [int(rng.integers(2, max(3, K // 2) + 1))] * depth
        out.append(dict(n=n.tolist(), depth=depth, lambda_w=lambda_w, lambda_h=lambda_h,
                        bias="free" if i % 2 else "none", widths=widths, seed=i % 3))
    return out


def child(restarts: int | None) -> list[dict]:
    """Loss, certainty and CPU seconds of every problem, in this process."""
    from ncsolve import predict

    out = []
    for kwargs in problems():
        extra = {} if restarts is None else {"restarts": restarts}
        started = time.process_time()
        answer = predict(**kwargs, loss="ce", **extra)
        out.append({"loss": answer.loss, "certainty": answer.certainty,
                    "seconds": time.process_time() - started})
    return out


def run_child(tree: Path, restarts: int | None) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(tree), **SINGLE_THREAD)
    command = [sys.executable, str(HERE), "--child", json.dumps(restarts)]
    done = subprocess.run(command, env=env, cwd=HERE.parent, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} (restarts {restarts}) failed:\n{done.stderr}")
    return json.loads(done.stdout)


def report(columns: dict[str, list[dict]]) -> None:
    names = list(columns)
    print("| # | K | depth | bias | widths | lowest loss | "
          + " | ".join(f"{name}: above" for name in names) + " |")
    print("|---|---|---|---|---|---:|" + "---:|" * len(names))
    above = dict.fromkeys(names, 0)
    for i, kwargs in enumerate(problems()):
        losses = {name: columns[name][i]["loss"] for name in names}
        low = min(losses.values())
        cells = []
        for name in names:
            rel = (losses[name] - low) / abs(low)
            above[name] += rel > ABOVE_RTOL
            cells.append(f"{rel:.1e}")
        widths = "-" if kwargs["widths"] is None else ",".join(map(str, kwargs["widths"]))
        print(f"| {i} | {len(kwargs['n'])} | {kwargs['depth']} | {kwargs['bias']} | {widths} "
              f"| {low:.12g} | " + " | ".join(cells) + " |")
    print()
    for name in names:
        cpu = sum(r["seconds"] for r in columns[name])
        print(f"- {name}: {above[name]} of {len(problems())} above the lowest loss by more "
              f"than {ABOVE_RTOL:g} (relative); CPU {cpu:.1f} s in all")
    if len(names) > 1:
        first, second = names[0], names[1]
        worse = [i for i in range(len(problems()))
                 if columns[first][i]["loss"] > columns[second][i]["loss"] * (1 + ABOVE_RTOL)]
        print(f"- {first} above {second} on problems {worse or 'none'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="a worktree of the baseline commit")
    parser.add_argument("--reference-restarts", type=int, default=0,
                        help="also solve with this many restarts on the old tree (0: no)")
    parser.add_argument("--child")
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    load = os.getloadavg()
    print(f"ce_problem_set, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    columns = {"this tree, default": run_child(ROOT, None)}
    if args.old is not None:
        columns["old, default"] = run_child(args.old, None)
        if args.reference_restarts:
            columns[f"old, {args.reference_restarts} restarts"] = run_child(
                args.old, args.reference_restarts)
    report(columns)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
