"""Speed of descent on the full problem (run with ``python benchmarks/bench_verify.py``).

Measures, on the paper's imbalanced synthetic setting (n = 200,100,50,50, width
64, depth 3, decays 5e-4):

1. L-BFGS: wall time until the class-mean, classifier and output Grams are within
   1e-6 (relative Frobenius) of the closed form, and until L-BFGS stops;
2. 30000 steps of heavy-ball momentum (lr 0.1, momentum 0.9, init 0.1);
3. the same with BLAS left multi-threaded, to show why one thread is the default;
4. scaling with the number of samples N and with the width.

Targets from the issue: L-BFGS under 2 s, 30000 momentum steps under 20 s.
``--quick`` runs fewer repetitions and a shorter scaling sweep.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ncsolve.core.descent import gradient_descent, minimize_lbfgs
from ncsolve.core.metrics import relative_distance, run_geometry
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem
from ncsolve.solvers.mse import solve

PAPER = {"n": [200, 100, 50, 50], "depth": 3, "lambda_w": 5e-4, "lambda_h": 5e-4}


def gram_error(objective, x, solution) -> float:
    """Largest relative Frobenius distance of any Gram (any layer) or the outputs."""
    g = run_geometry(objective, x, with_nc1=False)
    errors = [relative_distance(g.outputs, solution.gram_outputs())]
    for j in range(objective.M):
        errors.append(relative_distance(g.feature_grams[j], solution.gram_features(j)))
        errors.append(relative_distance(g.classifier_grams[j], solution.gram_classifier(j)))
    return max(errors)


def lbfgs_time_to_grams(problem, width, seed, threads=1, target=1e-6):
    """(seconds to Gram error < target, seconds to stop, iterations, final error, gap)."""
    solution = solve(problem)
    objective = FullObjective(problem, (width,) * problem.depth)
    # pass 1: find the first iteration where the Grams are within target (recording)
    probe = minimize_lbfgs(objective, seed=seed, record_every=1, threads=threads,
                           recorder=lambda x: gram_error(objective, x, solution))
    hit = next((s.step for s in probe.trajectory if s.data < target), None)
    # pass 2: time the same (deterministic) run without recording, stopped there
    reached = float("nan")
    if hit is not None:
        started = time.perf_counter()
        minimize_lbfgs(objective, seed=seed, maxiter=max(hit, 1), polish=0, threads=threads)
        reached = time.perf_counter() - started
    full = minimize_lbfgs(objective, seed=seed, threads=threads)
    gap = (full.loss - solution.loss) / solution.loss
    return reached, full.elapsed, full.steps, gram_error(objective, full.x, solution), gap


def momentum_time(problem, width, steps, seed=0, threads=1):
    solution = solve(problem)
    result = gradient_descent(problem, (width,) * problem.depth, lr=0.1, momentum=0.9,
                              steps=steps, seed=seed, init_scale=0.1, progress=False,
                              threads=threads)
    gap = (result.loss - solution.loss) / solution.loss
    return result.elapsed, gap, gram_error(result.objective, result.x, solution)


def section(title):
    print(f"\n== {title}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]

    section("paper setting, L-BFGS (one BLAS thread)")
    print("bias  seed  t(Gram<1e-6) s  t(stop) s  iterations  final Gram err  objective gap")
    for bias in ("none", "free"):
        problem = Problem.build(**PAPER, bias=bias)
        for seed in seeds:
            reached, total, iters, err, gap = lbfgs_time_to_grams(problem, 64, seed)
            print(f"{bias:5} {seed:4}  {reached:14.3f}  {total:9.3f}  {iters:10d}  "
                  f"{err:14.2e}  {gap:+.2e}")

    section("paper setting, 30000 momentum steps (lr 0.1, momentum 0.9, init 0.1)")
    print("bias  seconds  objective gap  Gram err")
    for bias in ("none", "free"):
        problem = Problem.build(**PAPER, bias=bias)
        seconds, gap, err = momentum_time(problem, 64, 30000)
        print(f"{bias:5} {seconds:7.2f}  {gap:+13.2e}  {err:8.2e}")

    section("BLAS threads: one (default) versus the library default")
    problem = Problem.build(**PAPER)
    print("threads  L-BFGS to stop s  momentum 3000 steps s")
    for threads, label in ((1, "1"), (None, "default")):
        _, total, _, _, _ = lbfgs_time_to_grams(problem, 64, 0, threads=threads)
        seconds, _, _ = momentum_time(problem, 64, 3000, threads=threads)
        print(f"{label:8} {total:16.3f}  {seconds:20.3f}")

    section("scaling with N (class sizes 200,100,50,50 times f; width 64, depth 3)")
    print("f   N      L-BFGS stop s  iterations  momentum ms/step")
    factors = [0.5, 1, 2, 4] if args.quick else [0.5, 1, 2, 4, 8, 16]
    for f in factors:
        n = [int(v * f) for v in PAPER["n"]]
        problem = Problem.build(n, depth=3)
        _, total, iters, _, _ = lbfgs_time_to_grams(problem, 64, 0)
        seconds, _, _ = momentum_time(problem, 64, 1000)
        print(f"{f:<3g} {sum(n):<6d} {total:13.3f}  {iters:10d}  {seconds:16.3f}")

    section("scaling with width (paper class sizes, depth 3)")
    print("width  L-BFGS stop s  iterations  momentum ms/step")
    widths = [16, 64, 256] if args.quick else [8, 16, 32, 64, 128, 256]
    for width in widths:
        problem = Problem.build(**PAPER)
        runs = [lbfgs_time_to_grams(problem, width, s)[1:3] for s in seeds]
        total = statistics.median(r[0] for r in runs)
        iters = int(statistics.median(r[1] for r in runs))
        seconds, _, _ = momentum_time(problem, width, 1000)
        print(f"{width:<6d} {total:13.3f}  {iters:10d}  {seconds:16.3f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
