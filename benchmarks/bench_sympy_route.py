"""How fast is ncsolve.predict against the paper's per-class sympy root finding?

The paper's published experiment code finds each class's singular value from
its stationarity equation in the variable x (equal decays, bias-free),

    b / n_k = M x^(M-1) / (x^M + 1)^2,   b = M N (N lambda_W^M lambda_H)^(1/M),

with one line per class, ``solve(b/n_k - M*x**(M-1)/(x**M+1)**2, x)`` for a real
symbol x and ``rational=False`` (floats are kept as floats), and it keeps the
largest real root; only its imbalanced-data script then clips a negative value
to 0. :func:`sympy_root_selection` runs exactly that line (in this project's own
code) and converts the root with ``z = sqrt(n_k) x^M / (1 + x^M)``. The recipe
also inherits the flaw of the largest root: inside the phase window it is only
a local minimum, and the class is in fact collapsed (docs/theory.md).

Run as a script (not a pytest file):

    python benchmarks/bench_sympy_route.py                # K = 40, depth 6; 4 classes timed
    python benchmarks/bench_sympy_route.py --all          # every class
    python benchmarks/bench_sympy_route.py --classes 8 --depth 3 --all
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def sympy_root_selection(n: Sequence[int], depth: int, lambda_w: float, lambda_h: float,
                         classes: Sequence[int] | None = None) -> dict:
    """Per-class roots the way the paper's experiment code selects them.

    Parameters
    ----------
    n : sequence of int
        Class sizes (bias-free model, one decay for every layer).
    depth : int
        M, the number of weight layers.
    lambda_w, lambda_h : float
        Weight and feature decays.
    classes : sequence of int, optional
        Only solve these class indices (for timing a sample); default all.

    Returns
    -------
    dict
        ``x``: the largest real root per solved class (None when there is none),
        ``z``: the matching output singular value (0.0 when none),
        ``classes``: the solved indices, ``seconds``: CPU time of the root finding.
    """
    import sympy as sp

    M, N = int(depth), int(sum(n))
    b = M * N * (N * lambda_w**M * lambda_h) ** (1.0 / M)
    x = sp.Symbol("x", real=True)
    chosen = range(len(n)) if classes is None else list(classes)
    xs, zs = [], []
    start = time.process_time()
    for k in chosen:
        roots = sp.solve(b / int(n[k]) - M * x ** (M - 1) / (x**M + 1) ** 2, x, rational=False)
        best = max((float(r) for r in roots), default=None)
        xs.append(best)
        zs.append(0.0 if best is None else math.sqrt(n[k]) * best**M / (1.0 + best**M))
    return {"x": xs, "z": zs, "classes": list(chosen), "seconds": time.process_time() - start}


def class_sizes(K: int, largest: int = 500, ratio: float = 0.92) -> list[int]:
    """A long-tailed imbalanced problem: n_k = largest * ratio^k (at least 1)."""
    return [max(1, round(largest * ratio**k)) for k in range(K)]


def _predict_seconds(n, depth, lam_w, lam_h, repeats: int = 50):
    import ncsolve

    ncsolve.predict(n, depth, lam_w, lam_h)  # warm imports
    start = time.process_time()
    for _ in range(repeats):
        result = ncsolve.predict(n, depth, lam_w, lam_h)
    return (time.process_time() - start) / repeats, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=40, help="K (default 40)")
    parser.add_argument("--depth", type=int, default=6, help="M (default 6)")
    parser.add_argument("--lambda-w", type=float, default=5e-4)
    parser.add_argument("--lambda-h", type=float, default=5e-4)
    parser.add_argument("--sample", type=int, default=4,
                        help="solve only this many classes (spread over K) and extrapolate "
                        "the sympy time to all K (default 4)")
    parser.add_argument("--all", action="store_true",
                        help="solve every class")
    args = parser.parse_args(argv)
    n = class_sizes(args.classes)
    K = len(n)
    predict_s, result = _predict_seconds(n, args.depth, args.lambda_w, args.lambda_h)
    chosen = None
    if not args.all and args.sample < K:
        chosen = sorted({round(i * (K - 1) / max(args.sample - 1, 1)) for i in range(args.sample)})
    print(f"K = {K}, depth = {args.depth}, lambda_W = {args.lambda_w}, lambda_H = {args.lambda_h}, "
          f"n = {n[0]}..{n[-1]}", flush=True)
    baseline = sympy_root_selection(n, args.depth, args.lambda_w, args.lambda_h, chosen)
    solved = len(baseline["classes"])
    sympy_s = baseline["seconds"] * K / solved
    label = "measured" if solved == K else f"extrapolated from {solved} classes"
    print(f"the paper's sympy line, largest root: {sympy_s:.3f} s CPU ({label}; "
          f"{baseline['seconds'] / solved:.3f} s per class)")
    print(f"ncsolve.predict (float64, all K):    {predict_s * 1e3:.3f} ms")
    print(f"speed-up: {sympy_s / predict_s:.3g}x")
    disagree = []
    for k, z in zip(baseline["classes"], baseline["z"]):
        exact = float(result.spectrum.diag(result.z)[k])
        if abs(z - exact) > 1e-8 * max(1.0, abs(exact)):
            disagree.append((k, n[k], z, exact))
    for k, size, z, exact in disagree:
        print(f"  class {k} (n = {size}): largest root gives z = {z:.10g}, "
              f"global minimizer z = {exact:.10g}")
    if not disagree:
        print("largest-root answers agree with the global minimizer on every solved class")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's ncsolve
    sys.exit(main())
