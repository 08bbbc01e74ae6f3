"""Benchmark of per-sample targets (not part of the test suite): ``predict(targets=Y)``
streams Y (N x t) to its t x t moments in blocks, so memory stays bounded in N.

    python benchmarks/bench_targets.py            # N = 10^6, t = 100
    python benchmarks/bench_targets.py --quick    # N = 10^5

Three ways to hand over the same targets, each timed (CPU seconds of this process,
best of ``--repeats``; a shared machine disturbs them less than wall time)
with its peak of traced allocations (``tracemalloc``; numpy reports its buffers
there):

* a generator of row blocks (a data loader: no N x t array ever exists);
* a float32 ``.npy`` file opened with ``mmap_mode="r"`` (read block by block);
* the whole float64 array in memory (the input alone is 8 N t bytes): the baseline.

Prints one Markdown table; the figures in docs/performance.md come from it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc

import numpy as np

from ncsolve import predict

BLOCK_ROWS = 20_000


def blocks(N: int, t: int, seed: int = 0):
    """Correlated targets, generated block by block (same values on every call)."""
    rng = np.random.default_rng(seed)
    mix = np.linalg.qr(rng.normal(size=(t, t)))[0] * np.geomspace(3.0, 0.01, t)
    for start in range(0, N, BLOCK_ROWS):
        rows = min(BLOCK_ROWS, N - start)
        yield rng.normal(size=(rows, t)) @ mix.T + 1.0


def measure(make_input, repeats: int):
    """Best wall time of predict on a fresh input, and the peak traced memory."""
    best, peak, result = np.inf, 0, None
    for _ in range(repeats):
        targets = make_input()
        tracemalloc.start()
        started = time.process_time()
        result = predict(targets=targets, depth=3, bias="free", lambda_w=1e-4, lambda_h=1e-4)
        best = min(best, time.process_time() - started)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del targets
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    N, t = (100_000 if args.quick else 1_000_000), 100
    mib = 1 / 2**20
    rows = []
    time_gen, peak_gen, res = measure(lambda: blocks(N, t), args.repeats)
    rows.append(("generator of 20,000-row blocks", time_gen, peak_gen, res))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "targets.npy")
        stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(N, t))
        start = 0
        for block in blocks(N, t):
            stored[start:start + block.shape[0]] = block
            start += block.shape[0]
        stored.flush()
        del stored
        time_map, peak_map, res_map = measure(lambda: np.load(path, mmap_mode="r"),
                                              args.repeats)
        rows.append(("float32 .npy, mmap_mode='r'", time_map, peak_map, res_map))
    whole = np.concatenate(list(blocks(N, t)))
    time_all, peak_all, res_all = measure(lambda: whole, args.repeats)
    rows.append(("whole float64 array in memory (input: "
                 f"{whole.nbytes * mib:.0f} MiB, not traced)", time_all, peak_all, res_all))
    print(f"N = {N}, t = {t}, depth 3, free bias; load average {os.getloadavg()[0]:.1f}")
    print("| input | time (s) | peak traced memory (MiB) | loss | rank |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, peak, result in rows:
        print(f"| {name} | {seconds:.2f} | {peak * mib:.1f} | {result.loss:.10g} | "
              f"{result.rank} |")
    ratio = rows[0][1] / rows[2][1]
    print(f"\nstreamed (generator) / in-memory time: {ratio:.2f}x; generator peak "
          f"{peak_gen * mib:.1f} MiB against an input of {whole.nbytes * mib:.0f} MiB")
    gap = abs(rows[0][3].loss - rows[2][3].loss) / rows[2][3].loss
    print(f"relative loss difference, generator vs whole array: {gap:.2e}")


if __name__ == "__main__":
    main()
