"""Streaming class statistics on the tensors' device against the numpy host path.

    python benchmarks/bench_accelerator.py                  # N = 10^6, d = 512, K = 1000
    python benchmarks/bench_accelerator.py --device cuda    # the same on a GPU
    python benchmarks/bench_accelerator.py --quick          # N = 2 x 10^5
    python benchmarks/bench_accelerator.py --precision both # float64 and float32 sums

Both paths see the same float32 batches of 10^4 rows with shuffled labels: the host
path as numpy arrays (``ClassAccumulator(where="host")``, float64 in host memory),
the device path as PyTorch tensors on ``--device`` (``where="input"``: float64 sums
on that device, only the K x d means and the d x d scatter copied back at the end).
Batches are generated before the clock starts for each batch (on the device for
torch) and not timed.  Times are wall-clock seconds with one BLAS/torch thread on a
CPU device (so that the ratio means the same on a shared machine) and the device
synchronized before each reading on a GPU.  The two results are compared (relative
difference of the scatters) so a fast wrong answer cannot pass; the float32 path
(``precision="float32"``, compensated merges) must also land inside its reported
error bound ``scatter_error``, or the script exits with status 1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ncsolve.measure import ClassAccumulator

BATCH = 10_000


def pick_device(name: str):
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def batches(N: int, d: int, K: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((K, d)).astype(np.float32)
    for lo in range(0, N, BATCH):
        size = min(BATCH, N - lo)
        labels = rng.integers(0, K, size)
        yield centres[labels] + 0.5 * rng.standard_normal((size, d), dtype=np.float32), labels


def timed_pass(acc, N, d, K, convert, sync) -> float:
    total = 0.0
    for X, y in batches(N, d, K):
        X, y = convert(X), convert(y)
        sync()
        start = time.perf_counter()
        acc.update(X, y)
        sync()
        total += time.perf_counter() - start
    start = time.perf_counter()
    stats = acc.statistics()  # the device path's only transfer
    return total + time.perf_counter() - start, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--N", type=int, default=None)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--K", type=int, default=1000)
    parser.add_argument("--precision", choices=("float64", "float32", "both"),
                        default="float64", help="dtype of the device sums (float64)")
    args = parser.parse_args()
    import torch

    device = pick_device(args.device)
    N = args.N or (200_000 if args.quick else 1_000_000)
    d, K = args.d, args.K
    if device.type == "cpu":
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        torch.set_num_threads(1)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    host, host_stats = timed_pass(ClassAccumulator(K, width=d, where="host"), N, d, K,
                                  lambda a: a, lambda: None)
    print(f"N = {N:,}, d = {d}, K = {K:,}, batches of {BATCH:,}, device {device}")
    print(f"  numpy host path   {host:8.2f} s  ({N / host:,.0f} samples/s)")
    wrong = False
    for precision in (("float64", "float32") if args.precision == "both"
                      else (args.precision,)):
        acc = ClassAccumulator(K, width=d, where="input", precision=precision)
        dev, dev_stats = timed_pass(acc, N, d, K, lambda a: torch.from_numpy(a).to(device),
                                    sync)
        error = (np.abs(dev_stats.scatter - host_stats.scatter).max()
                 / np.abs(host_stats.scatter).max())
        print(f"  torch {precision} on {device.type:<5} {dev:8.2f} s  "
              f"({N / dev:,.0f} samples/s), ratio host / device {host / dev:.2f}; max "
              f"relative difference of the scatters {error:.1e}")
        if dev_stats.scatter_error is not None:
            frobenius = np.linalg.norm(dev_stats.scatter - host_stats.scatter)
            print(f"    Frobenius error {frobenius:.2e}, documented bound "
                  f"{dev_stats.scatter_error:.2e}")
            wrong |= frobenius > dev_stats.scatter_error
    if wrong:
        raise SystemExit("float32 path outside its error bound")


if __name__ == "__main__":
    main()
