"""Speed of the cross-entropy solver (``python benchmarks/bench_crossentropy.py``).

Times ``ncsolve.crossentropy.solve`` (candidates + reduced global search with
the default 8 random restarts and 3 candidate seeds) for K = 10, 50, 100 classes,
balanced (n = 50 each) and imbalanced (n_k = 10 .. 10 + K - 1), depth 3, decays
5e-4, both bias modes; then shows that the time does not depend on N or the
layer widths (same K, N x 100, widths 512).  Prints a Markdown table; the
figures recorded in docs/crossentropy.md come from it.  Not part of the tests.

    python benchmarks/bench_crossentropy.py [--quick] [--depth 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ncsolve.crossentropy import solve
from ncsolve.problem import Problem


def timed(problem: Problem, repeats: int):
    """Best wall time and best CPU time of this process over ``repeats`` solves.

    BLAS runs on one thread inside the solver, so on an idle machine the two
    agree; on a shared machine the CPU time is the fairer figure.
    """
    wall, cpu, sol = np.inf, np.inf, None
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        sol = solve(problem)
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu, sol


def row(label: str, problem: Problem, repeats: int) -> str:
    wall, cpu, sol = timed(problem, repeats)
    etf = sol.etf_objective
    return (f"| {label} | {problem.K} | {problem.N} | {problem.depth} | {problem.bias} | "
            f"{wall:.2f} | {cpu:.2f} | {sol.objective:.8f} | {sol.logit_rank} | {etf:.8f} | "
            f"{sol.hits}/{len(sol.runs)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 10 and 50 only, one repeat")
    parser.add_argument("--depth", type=int, default=3)
    args = parser.parse_args()
    sizes = (10, 50) if args.quick else (10, 50, 100)
    repeats = 1 if args.quick else 2
    print("| case | K | N | depth | bias | wall s | CPU s | objective | rank | ETF objective "
          "| hits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for K in sizes:
        for label, n in (("balanced", [50] * K), ("imbalanced", list(range(10, 10 + K)))):
            for bias in ("none", "free"):
                problem = Problem.build(n, args.depth, 5e-4, 5e-4, bias, "ce")
                print(row(label, problem, repeats), flush=True)
    K = sizes[-1]
    big = Problem.build([5000] * K, args.depth, 5e-4, 5e-4, "none", "ce", [512] * args.depth)
    print(row("balanced, N x 100, widths 512", big, repeats), flush=True)


if __name__ == "__main__":
    main()
