"""Benchmark of ncsolve predict (not part of the test suite).

    python benchmarks/bench_predict.py            # everything
    python benchmarks/bench_predict.py --quick    # smaller grid

Prints Markdown scaling tables (K, depth, bias mode); the table of ratios in
docs/performance.md comes from benchmarks/run.py.
Times are the best of several repeats (wall clock, this process only).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ncsolve import predict


def zipf_counts(K: int, scale: int = 100) -> np.ndarray:
    """Zipf-like class sizes ``floor(scale * K / rank)``: a long tail of repeated sizes,
    like token counts of a language-model vocabulary."""
    return np.maximum(1, (scale * K) // np.arange(1, K + 1)).astype(np.int64)


def best_time(action, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def per_class_summary(n, depth, bias):
    solution = predict(n=n, depth=depth, bias=bias)
    return solution.loss, solution.feature_norm, solution.classifier_norm, solution.output


def scaling_table(sizes, depths, repeats):
    print("| K | distinct sizes | bias | depth | per-class summary (s) |")
    print("|---:|---:|---|---:|---:|")
    for K in sizes:
        n = zipf_counts(K)
        for bias in ("none", "free"):
            for depth in depths:
                seconds = best_time(lambda: per_class_summary(n, depth, bias), repeats)
                print(f"| {K} | {np.unique(n).size} | {bias} | {depth} | {seconds:.4f} |")


def worst_case_table(repeats):
    """All class sizes distinct: the secular equation has K roots, O(K^2) work."""
    print("\n| K (all sizes distinct) | bias | depth | per-class summary (s) | with Grams (s) |")
    print("|---:|---|---:|---:|---:|")
    for K in (1000, 10000):
        n = np.random.default_rng(0).permutation(np.arange(1, K + 1) * 3)
        summary = best_time(lambda: per_class_summary(n, 3, "free"), repeats)
        grams = "-"
        if K <= 1000:
            grams = f"{best_time(lambda: predict(n=n, depth=3, bias='free').to_dict(), 1):.3f}"
        print(f"| {K} | free | 3 | {summary:.3f} | {grams} |")


def cli_table(repeats):
    print("\n| command | best wall time (s) |")
    print("|---|---:|")
    commands = {
        'python -c "import numpy, scipy.optimize"':
            [sys.executable, "-c", "import numpy, scipy.optimize"],
        "ncsolve predict --n 500,100,50 --depth 3":
            [sys.executable, "-m", "ncsolve", "predict", "--n", "500,100,50", "--depth", "3"],
    }
    for label, command in commands.items():
        seconds = best_time(lambda: subprocess.run(command, check=True, capture_output=True),
                            repeats)
        print(f"| `{label}` | {seconds:.3f} |")


def sympy_table(sample: int):
    """Root selection the way the paper's experiment code does it (its sympy line per
    class, then the largest root) against predict, at K = 40 and depth 6; a sample
    of classes is timed and the total extrapolated (benchmarks/bench_sympy_route.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_sympy_route import main as sympy_route

    print("\nsympy route against predict (K = 40, depth 6):", flush=True)
    sympy_route(["--classes", "40", "--depth", "6", "--sample", str(sample)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid, fewer repeats")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    sizes = (10, 100, 1000, 10000) if args.quick else (10, 100, 1000, 10000, 50000)
    depths = (1, 3) if args.quick else (1, 3, 10, 50)
    scaling_table(sizes, depths, repeats)
    worst_case_table(repeats)
    cli_table(repeats)
    sympy_table(sample=2 if args.quick else 4)


if __name__ == "__main__":
    main()
