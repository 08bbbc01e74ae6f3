"""Streaming class statistics at scale (run with ``python benchmarks/bench_measure.py``).

1. N = 10^6 samples, d = 512, K = 1000 classes, float32 batches of 10^4 rows in
   shuffled label order (as a DataLoader gives them): time of the accumulator's
   pass and of the full measurement (NC metrics at the features, the theory and
   the comparison), against a baseline measured in the same run: one pass of
   ``X^T X`` over the same batches, the d^2 N work any within-class scatter needs.
2. K = 50,000 classes (a vocabulary), d = 512, for two N: peak traced memory of the
   pass does not grow with N; it is the K x d means, the d x d scatter and one batch.

Times are CPU seconds with BLAS on one thread (threadpoolctl), so that they mean the
same on a shared machine; peak memory is measured with tracemalloc (numpy reports
its allocations to it).
``--quick`` runs N = 2 x 10^5 and the K = 50,000 case at 5 x 10^4 and 10^5.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from ncsolve.measure import ClassAccumulator, measure

BATCH = 10_000


def batches(N: int, d: int, K: int, seed: int = 0):
    """Features with class structure, generated batch by batch (never N x d at once)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((K, d)).astype(np.float32)
    for lo in range(0, N, BATCH):
        size = min(BATCH, N - lo)
        labels = rng.integers(0, K, size)
        noise = rng.standard_normal((size, d), dtype=np.float32)
        yield centres[labels] + 0.5 * noise, labels


def pass_time(N: int, d: int, K: int, work) -> float:
    """Seconds of ``work(batch, labels)`` over all batches (generation not counted)."""
    total = 0.0
    for X, y in batches(N, d, K):
        start = time.process_time()
        work(X, y)
        total += time.process_time() - start
    return total


def accumulate(N: int, d: int, K: int, weights=None) -> tuple[ClassAccumulator, float, int]:
    acc = ClassAccumulator(K, width=d, weights=weights)
    tracemalloc.start()
    seconds = pass_time(N, d, K, acc.update)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return acc, seconds, peak


def large(N: int, d: int = 512, K: int = 1000) -> None:
    rng = np.random.default_rng(1)
    W = rng.standard_normal((K, d)) / np.sqrt(d)
    gram = np.zeros((d, d))

    def baseline(X, _):
        X = X.astype(np.float64)
        gram[...] += X.T @ X

    base = pass_time(N, d, K, baseline)
    acc, seconds, peak = accumulate(N, d, K)
    start = time.process_time()
    report = measure(acc, weights=[W], lambda_w=5e-4, lambda_h=5e-4)
    measured = time.process_time() - start
    state = (K * d + d * d) * 8
    print(f"N = {N:,}, d = {d}, K = {K:,}: accumulator pass {seconds:.2f} s "
          f"({N / seconds:,.0f} samples/s), baseline X^T X pass {base:.2f} s, "
          f"ratio {seconds / base:.2f}")
    print(f"  measure() on the statistics (NC1, CDNV, Grams, theory, comparison): "
          f"{measured:.2f} s; NC1 {report.layers[0].nc1:.4g}")
    print(f"  peak traced memory of the pass {peak / 2**20:.0f} MiB; state (K d + d^2) "
          f"x 8 B = {state / 2**20:.1f} MiB; one float32 batch {BATCH * d * 4 / 2**20:.1f} MiB")


def vocabulary(sizes, d: int = 512, K: int = 50_000) -> None:
    for N in sizes:
        acc, seconds, peak = accumulate(N, d, K)
        seen = int(np.count_nonzero(acc.counts))
        print(f"K = {K:,}, d = {d}, N = {N:,}: pass {seconds:.2f} s, peak traced memory "
              f"{peak / 2**20:.0f} MiB ({seen:,} classes seen)")
    print(f"  state (K d + d^2) x 8 B = {(K * d + d * d) * 8 / 2**20:.0f} MiB, independent of N")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        large(200_000 if args.quick else 1_000_000)
        vocabulary((50_000, 100_000) if args.quick else (100_000, 300_000))


if __name__ == "__main__":
    main()
