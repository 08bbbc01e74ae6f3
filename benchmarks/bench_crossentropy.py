"""Speed of the cross-entropy solver (``python benchmarks/bench_crossentropy.py``).

Times ``ncsolve.solvers.crossentropy.solve`` (candidates + reduced global search with
the default 8 random restarts and 3 candidate seeds) for K = 10, 50, 100 classes,
balanced (n = 50 each) and imbalanced (n_k = 10 .. 10 + K - 1), depth 3, decays
5e-4, both bias modes; then shows that the time does not depend on N or the
layer widths (same K, N x 100, widths 512).  Prints a Markdown table; the
figures recorded in docs/crossentropy.md come from it.  Not part of the tests.

    python benchmarks/bench_crossentropy.py [--quick] [--depth 3]
    python benchmarks/bench_crossentropy.py --against-full 40 [--seed 1]
    python benchmarks/bench_crossentropy.py --compare /tmp/ce-old [/tmp/ce-prev] [--repeats 2]

``--compare TREE [TREE ...]`` times the default answer of this tree against
the ncsolve found at each TREE (e.g. a ``git worktree add /tmp/ce-old
<commit>``) in one run: K = 10 and 30, depths 2 and 3, both bias modes,
balanced and imbalanced.  Each solve runs in a fresh interpreter (imports
excluded from the timing), the trees in turn; the table gives the best CPU time
of each (with the number of local runs of the search where the tree reports
them), the ratio of each other tree's time to this tree's, and the objectives.

``--against-full COUNT`` instead draws COUNT random small problems (K = 3..7,
depth 1..4, balanced or imbalanced, both bias modes, sometimes narrow widths,
decays 10^-3.5 .. 10^-1.3) and compares predict's objective with the best of 8
L-BFGS runs on the full objective (ncsolve.core.objective / ncsolve.core.descent); a
line ends in "!!!" when a full run went below predict.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ncsolve import Problem
from ncsolve.solvers.crossentropy import solve


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
    etf = sol.etf_loss
    return (f"| {label} | {problem.K} | {problem.N} | {problem.depth} | {problem.bias} | "
            f"{wall:.2f} | {cpu:.2f} | {sol.loss:.8f} | {sol.rank} | {etf:.8f} | "
            f"{sol.hits}/{len(sol.runs)} |")


def against_full(count: int, seed: int) -> None:
    """Random small problems: predict against 8 full-model L-BFGS restarts."""
    from ncsolve.core.descent import minimize_lbfgs
    from ncsolve.core.objective import FullObjective

    rng = np.random.default_rng(seed)
    below = 0
    for _ in range(count):
        K, depth = int(rng.integers(3, 8)), int(rng.integers(1, 5))
        bias = str(rng.choice(["none", "free"]))
        if rng.random() < 0.6:
            n = rng.integers(1, 12, size=K)
        else:
            n = np.full(K, int(rng.integers(2, 10)))
        decay = float(10 ** rng.uniform(-3.5, -1.3))
        widths = [int(rng.integers(1, K))] * depth if rng.random() < 0.2 else None
        problem = Problem.build(n, depth, decay, decay, bias, "ce", widths)
        started = time.perf_counter()
        sol = solve(problem)
        seconds = time.perf_counter() - started
        f = FullObjective(problem)
        full = min(minimize_lbfgs(f, seed=s, init_scale=(0.1, 0.5, 1.0, 2.0)[s % 4], gtol=1e-10,
                                  maxiter=8000, polish=2).loss for s in range(8))
        diff = (full - sol.loss) / max(1.0, abs(sol.loss))
        below += diff < -1e-9
        print(f"K={K} n={n.tolist()} depth={depth} bias={bias} decay={decay!r} widths={widths} "
              f"predict={sol.loss:.10f} rank={sol.rank} {sol.certainty} "
              f"full={full:.10f} rel.diff={diff:.2e} {seconds:.2f}s"
              + (" !!!" if diff < -1e-9 else ""), flush=True)
    print(f"{below} of {count} problems had a full run below predict")


CHILD = """
import json, sys, time
try:
    from ncsolve.solvers.crossentropy import solve
except ImportError:  # a tree from before the layered layout
    from ncsolve.crossentropy import solve
from ncsolve import Problem
n, depth, bias = json.loads(sys.argv[1])
problem = Problem.build(n, depth, 5e-4, 5e-4, bias, "ce")
started, cpu = time.perf_counter(), time.process_time()
sol = solve(problem)
cpu, wall = time.process_time() - cpu, time.perf_counter() - started
print(json.dumps({"cpu": cpu, "wall": wall, "loss": float(sol.loss),
                  "runs": len(getattr(sol, "runs", None) or ()),
                  "module": __import__("ncsolve").__file__}))
"""


def child_run(tree: str, n, depth: int, bias: str) -> dict:
    """One default solve in a fresh interpreter importing ncsolve from ``tree``."""
    import json
    import os
    import subprocess
    import sys

    tree = os.path.abspath(tree)
    env = dict(os.environ, PYTHONPATH=tree)
    # run in the tree: "python -c" puts the working directory first on sys.path
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([list(n), depth, bias])],
                         env=env, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def compare(others: list[str], repeats: int) -> None:
    """Other trees against this one, same cases, in turn, best CPU time of ``repeats``."""
    import os

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = [os.path.abspath(t) for t in others] + [here]
    names = [f"T{i}" for i in range(len(others))] + ["this"]
    for name, tree in zip(names, trees):
        print(f"{name} = {tree}")
    cols = [f"{name} CPU s (runs)" for name in names]
    cols += [f"{name}/this" for name in names[:-1]] + [f"{name} loss" for name in names]
    print("| K | classes | depth | bias | " + " | ".join(cols) + " |")
    print("|---" * (4 + len(cols)) + "|")
    for K in (10, 30):
        for label, n in (("balanced", [50] * K), ("imbalanced", list(range(10, 10 + K)))):
            for depth in (2, 3):
                for bias in ("none", "free"):
                    times = {name: [] for name in names}
                    last = {}
                    for _ in range(repeats):
                        for name, tree in zip(names, trees):
                            last[name] = child_run(tree, n, depth, bias)
                            times[name].append(last[name]["cpu"])
                    best = {name: min(times[name]) for name in names}
                    cells = [f"{best[m]:.2f} ({last[m]['runs']})" for m in names]
                    cells += [f"{best[m] / best['this']:.1f}" for m in names[:-1]]
                    cells += [f"{last[m]['loss']:.8f}" for m in names]
                    print(f"| {K} | {label} | {depth} | {bias} | " + " | ".join(cells) + " |",
                          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 10 and 50 only, one repeat")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--against-full", type=int, metavar="COUNT",
                        help="compare with full-model restarts on COUNT random small problems")
    parser.add_argument("--seed", type=int, default=1, help="seed of --against-full")
    parser.add_argument("--compare", metavar="TREE", nargs="+",
                        help="time against the ncsolve trees at TREE ... (same cases, one run)")
    parser.add_argument("--repeats", type=int, default=2, help="repeats of --compare")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.repeats)
        return
    if args.against_full:
        against_full(args.against_full, args.seed)
        return
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
