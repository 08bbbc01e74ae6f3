"""One table of speed ratios, every figure measured in this run (not part of the tests).

    python benchmarks/run.py                        # ncsolve against its baselines
    python benchmarks/run.py --old /tmp/speed-old   # and against an older checkout
    python benchmarks/run.py --quick                # fewer repeats, smaller samples

Every case runs in a fresh child process whose PYTHONPATH points at the tree
being measured (this checkout, or the checkout given by ``--old``), so two
versions are timed side by side in one run; the children of the two trees
alternate. Times are CPU seconds of the child (``time.process_time``, best of
several repeats, one BLAS thread), which other jobs on a shared machine disturb
less than wall time; the machine's load average is printed with the table.

An older tree is made with ``git worktree add /tmp/speed-old <commit>``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]

# ---- problems ------------------------------------------------------------------------

PAPER_N = (200, 100, 50, 50)  # the paper's imbalanced synthetic setting
PAPER_DECAY = 5e-4


def geometric_sizes() -> np.ndarray:
    """K = 40 class sizes from 20 to 2000, geometrically spaced."""
    return np.unique(np.round(np.geomspace(20, 2000, 40))).astype(np.int64)


def zipf_sizes(K: int, scale: int) -> np.ndarray:
    """Zipf-like sizes ``floor(scale K / rank)``: a long tail of repeated sizes."""
    return np.maximum(1, (scale * K) // np.arange(1, K + 1)).astype(np.int64)


def random_sweep(cases: int, seed: int = 9):
    """(n, depth, decay) of a random sweep: K in 10..10^4 (log-uniform), depths
    2..50, decays 1e-6..1e-1 (log-uniform), class sizes 1..10^4 (log-uniform)."""
    rng = np.random.default_rng(seed)
    for _ in range(cases):
        K = int(round(10 ** rng.uniform(1, 4)))
        n = np.round(10 ** rng.uniform(0, 4, K)).astype(np.int64)
        yield n, int(rng.integers(2, 51)), float(10 ** rng.uniform(-6, -1))


# ---- timing (in the child) -------------------------------------------------------------


def best_cpu(action, repeats: int, budget: float = 2.0) -> float:
    """Best CPU time of ``action`` over ``repeats`` runs (fewer if ``budget`` s is spent)."""
    action()  # warm imports and caches
    best, spent = math.inf, 0.0
    for _ in range(repeats):
        start = time.process_time()
        action()
        elapsed = time.process_time() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget:
            break
    return best


def summary(solution) -> None:
    """What `ncsolve predict` prints per class, short of the Grams."""
    solution.feature_norm, solution.classifier_norm, solution.output, solution.loss


# ---- cases (each runs in a child; it may use only API that old trees have too) --------


def case_k40(repeats: int) -> dict:
    from ncsolve import predict

    n = geometric_sizes()
    return {"seconds": best_cpu(lambda: summary(predict(n, 6)), repeats * 20)}


def case_sympy(repeats: int, sample: int) -> dict:
    """The paper's line per class (bench_sympy_route.py), for ``sample`` classes spread
    over K = 40; the largest real root is kept, as the paper's code does."""
    from bench_sympy_route import sympy_root_selection

    from ncsolve import predict

    n = geometric_sizes()
    K, M = n.size, 6
    chosen = sorted({round(i * (K - 1) / max(sample - 1, 1)) for i in range(sample)})
    found = sympy_root_selection(n, M, PAPER_DECAY, PAPER_DECAY, chosen)
    exact = predict(n, M)
    z_exact = exact.spectrum.diag(exact.z)
    disagree = [[int(k), int(n[k]), z, float(z_exact[k])]
                for k, z in zip(found["classes"], found["z"])
                if abs(z - z_exact[k]) > 1e-8 * max(1.0, z_exact[k])]
    per_class = found["seconds"] / len(chosen)
    return {"seconds": per_class * K, "per_class": per_class, "classes": len(chosen),
            "disagree": disagree}


def case_lbfgs(repeats: int) -> dict:
    """A plain scipy L-BFGS on the full problem (paper's setting, width 64) against
    predict on the same problem."""
    from scipy.optimize import minimize

    from ncsolve import Problem, predict
    try:
        from ncsolve.core.objective import FullObjective
    except ImportError:  # a tree from before the layered layout
        from ncsolve.objective import FullObjective

    problem = Problem.build(PAPER_N, 3, PAPER_DECAY, PAPER_DECAY)
    objective = FullObjective(problem, (64, 64, 64))
    x0 = objective.random_point(np.random.default_rng(0), scale=1.0)
    start = time.process_time()  # scipy's default tolerances: a plain call
    run = minimize(objective.value_and_grad, x0, jac=True, method="L-BFGS-B")
    seconds = time.process_time() - start
    exact = predict(PAPER_N, 3)
    return {"seconds": seconds, "predict": best_cpu(lambda: summary(predict(PAPER_N, 3)),
                                                    repeats * 20),
            "gap": float(run.fun - exact.loss) / exact.loss, "iterations": int(run.nit)}


def _one_pass(n, depth, bias) -> None:
    """The floor for large K: Problem construction plus one vectorized pass over the
    classes (sort, square roots, the scalar objective at every sigma)."""
    from ncsolve import Problem

    p = Problem.build(n, depth, bias=bias)
    sigma = np.sqrt(np.sort(p.n)[::-1].astype(float))
    (sigma - 0.5 * sigma) ** 2 / (2.0 * p.N) + p.c * (0.5 * sigma) ** p.q


def case_large(repeats: int, K: int, scale: int, bias: str) -> dict:
    from ncsolve import predict

    n = zipf_sizes(K, scale)
    return {"seconds": best_cpu(lambda: predict(n, 3, bias=bias), repeats),
            "summary": best_cpu(lambda: summary(predict(n, 3, bias=bias)), repeats),
            "floor": best_cpu(lambda: _one_pass(n, 3, bias), repeats),
            "distinct": int(np.unique(n).size)}


def _scalar_and_spectrum():
    """The scalar module and target_spectrum, in this tree's layout or an older one."""
    try:
        from ncsolve.core import scalar
        from ncsolve.core.spectral import target_spectrum
    except ImportError:  # a tree from before the layered layout
        from ncsolve import scalar
        from ncsolve.spectral import target_spectrum
    return scalar, target_spectrum


def case_sweep(repeats: int, cases: int) -> dict:
    """Every call of the random sweep: CPU time of all predict calls, and the Newton
    passes of the scalar root (new trees report them; for trees before the pass count
    the previous loop is replayed and its cap hits counted)."""
    from ncsolve import Problem, predict

    scalar, target_spectrum = _scalar_and_spectrum()

    sweep = list(random_sweep(cases))
    start = time.process_time()
    for n, depth, decay in sweep:
        summary(predict(n, depth, decay, decay))
    seconds = time.process_time() - start
    passes = []
    for n, depth, decay in sweep:
        p = Problem.build(n, depth, decay, decay)
        sigma = target_spectrum(p.n, p.bias).sigma
        minima = scalar.minimize(sigma, p.N, p.c, p.q)
        passes.append(getattr(minima, "iterations", None))
    if passes[0] is None:
        passes = [_previous_passes(*case) for case in sweep]
        cap = 200
    else:
        cap = scalar.MAX_ITER
    return {"seconds": seconds, "max_passes": max(passes), "cap": cap,
            "capped": sum(count >= cap for count in passes)}


def _previous_passes(n, depth, decay) -> int:
    """Passes of the root finder before this change (Newton from v = beta, stop on
    ``|dv| <= 4 eps v`` for every entry at once, at most 200)."""
    from ncsolve import Problem

    scalar, target_spectrum = _scalar_and_spectrum()

    p = Problem.build(n, depth, decay, decay)
    sigma = target_spectrum(p.n, p.bias).sigma
    q, Nc = p.q, p.N * p.c
    exists = Nc <= scalar.existence_boundary(sigma, q)
    beta = Nc * q / sigma[exists] ** (2.0 - q)
    v, target = beta.copy(), np.log(beta)
    for passes in range(1, 201):
        h = (1.0 - q) * np.log1p(-v) + np.log(v) - target
        scaled = 1.0 - (1.0 - q) * v / (1.0 - v)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = -h * v / scaled
        new = np.minimum(v + np.where(scaled > 0, step, 0.0), 1.0 - (1.0 - q) / (2.0 - q))
        done = np.all(np.abs(new - v) <= 4 * np.finfo(float).eps * v)
        v = new
        if done:
            return passes
    return 200


def case_grid(repeats: int, count: int, sample: int) -> dict:
    """``ncsolve sweep`` over a count x count grid (exp profile, K = 10, depth 3)
    against a loop of predict calls over a sample of the same points, scaled."""
    from ncsolve import predict
    from ncsolve.sweep.run import sweep
    from ncsolve.sweep.spec import build_grid

    spec = dict(profile="exp", classes=10, ratio=f"1:1000:{count}",
                decay=f"1e-5:1e-1:{count}", depth=3)
    points = count * count
    seconds = best_cpu(lambda: sweep(**spec), max(1, repeats // 2), budget=5.0)
    grid = build_grid(**spec)
    chosen = np.random.default_rng(0).choice(points, size=min(sample, points), replace=False)
    calls = [grid.predict_kwargs(grid.point(int(i))) for i in chosen]
    loop = best_cpu(lambda: [predict(**kw) for kw in calls], max(1, repeats // 2), budget=5.0)
    return {"seconds": seconds, "loop": loop * points / len(calls), "points": points}


def case_json(repeats: int, K: int, grams) -> dict:
    """``predict --json`` work at K classes (all sizes distinct, free bias)."""
    from ncsolve import predict

    n = np.random.default_rng(0).permutation(np.arange(1, K + 1) * 3)
    size = []

    def action():
        solution = predict(n, 3, bias="free")
        data = solution.to_dict() if grams is None else solution.to_dict(grams)
        size[:] = [len(json.dumps(data, allow_nan=False))]

    return {"seconds": best_cpu(action, max(1, repeats // 2), budget=5.0), "bytes": size[0]}


def case_precision(repeats: int, digits: int) -> dict:
    import mpmath.libmp

    from ncsolve import predict

    n = geometric_sizes()
    return {"seconds": best_cpu(lambda: predict(n, 6, precision=digits).loss,
                                max(1, repeats // 2), budget=10.0),
            "backend": mpmath.libmp.BACKEND}


def case_cli(repeats: int) -> dict:
    """Wall time of one ``ncsolve predict`` process, against importing numpy and scipy."""
    def wall(command):
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            best = min(best, time.perf_counter() - start)
        return best

    return {"seconds": wall([sys.executable, "-m", "ncsolve", "predict", "--n", "500,100,50",
                             "--depth", "3"]),
            "imports": wall([sys.executable, "-c", "import numpy, scipy.optimize"])}


CASES = {
    "k40": case_k40, "sympy": case_sympy, "lbfgs": case_lbfgs, "large": case_large,
    "sweep": case_sweep, "grid": case_grid, "json": case_json, "precision": case_precision,
    "cli": case_cli,
}


# ---- the parent: run children, print the table ------------------------------------------


# one BLAS thread: CPU time then counts work, not spinning threads on a shared machine
SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def measure(tree: Path, case: str, env_extra: dict | None = None, **kwargs) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), **SINGLE_THREAD, **(env_extra or {}))
    command = [sys.executable, str(HERE), "--child", case, "--kwargs", json.dumps(kwargs)]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{case} {kwargs} in {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def pair(old: Path | None, case: str, **kwargs) -> tuple[dict, dict | None]:
    """Measure the case in this tree and (alternating) in the old one."""
    new = measure(ROOT, case, **kwargs)
    return new, None if old is None else measure(old, case, **kwargs)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def table(args) -> list[list[str]]:
    old, r = args.old, args.repeats
    rows = []

    def row(what, ours, baseline, ratio, note=""):
        rows.append([what, ours, baseline, ratio, note])
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)

    k40, k40_old = pair(old, "k40", repeats=r)
    sym = measure(ROOT, "sympy", repeats=r, sample=args.sample)
    wrong = "; ".join(f"class {k} (n = {size}): largest root z = {z:.6g}, global z = {g:.6g}"
                      for k, size, z, g in sym["disagree"])
    row("predict, K = 40 (sizes 20..2000 geometric), depth 6", _ms(k40["seconds"]),
        f"sympy line: {_ms(sym['seconds'])} (extrapolated from {sym['classes']} classes, "
        f"{_ms(sym['per_class'])} per class)", f"{sym['seconds'] / k40['seconds']:.3g}x",
        wrong or "largest roots agree with predict on the timed classes")
    if k40_old:
        row("predict, K = 40, depth 6: this tree against --old", _ms(k40["seconds"]),
            _ms(k40_old["seconds"]), f"{k40_old['seconds'] / k40['seconds']:.3g}x")
    lb = measure(ROOT, "lbfgs", repeats=r)
    row("predict, n = 200,100,50,50, depth 3", _ms(lb["predict"]),
        f"scipy L-BFGS (default tolerances), full problem, width 64: {_ms(lb['seconds'])} "
        f"({lb['iterations']} iterations)", f"{lb['seconds'] / lb['predict']:.3g}x",
        f"L-BFGS loss above the exact minimum by {lb['gap']:.2g} (relative)")
    for scale in (2, 100):
        none, none_old = pair(old, "large", repeats=r, K=50_000, scale=scale, bias="none")
        free, free_old = pair(old, "large", repeats=r, K=50_000, scale=scale, bias="free")
        label = f"K = 50,000 Zipf (scale {scale}, {none['distinct']} distinct sizes)"
        row(f"{label}, bias-free predict", _ms(none["seconds"]),
            f"Problem + one pass: {_ms(none['floor'])}",
            f"{none['seconds'] / none['floor']:.2g}x of the floor",
            "" if none_old is None else
            f"old: {_ms(none_old['seconds'])} = {none_old['seconds'] / none['floor']:.2g}x")
        row(f"{label}, bias-free predict + per-class summary", _ms(none["summary"]),
            f"Problem + one pass: {_ms(none['floor'])}",
            f"{none['summary'] / none['floor']:.2g}x of the floor",
            "" if none_old is None else
            f"old: {_ms(none_old['summary'])} = {none_old['summary'] / none['floor']:.2g}x")
        row(f"{label}, free bias predict + per-class summary", _ms(free["summary"]),
            f"bias-free: {_ms(none['summary'])}",
            f"{free['summary'] / none['summary']:.2g}x of bias-free",
            "" if free_old is None else
            f"old: {_ms(free_old['summary'])} = {free_old['summary'] / none_old['summary']:.2g}x "
            "of old bias-free")
    sw, sw_old = pair(old, "sweep", repeats=r, cases=args.cases)
    row(f"random sweep, {args.cases} predict calls (K 10..10^4, depth 2..50, decay "
        "1e-6..1e-1)", _ms(sw["seconds"]), "" if sw_old is None else f"old: "
        f"{_ms(sw_old['seconds'])}", "" if sw_old is None else
        f"{sw_old['seconds'] / sw['seconds']:.3g}x",
        f"scalar root: at most {sw['max_passes']} Newton passes (cap {sw['cap']}), "
        f"{sw['capped']} calls at the cap" + ("" if sw_old is None else
                                              f"; old: {sw_old['capped']} calls at its cap "
                                              f"of {sw_old['cap']}"))
    if (ROOT / "ncsolve" / "sweep" / "run.py").exists():
        grid = measure(ROOT, "grid", repeats=r, count=30, sample=100)
        row(f"ncsolve sweep, {grid['points']} MSE points (exp profile, K = 10, depth 3)",
            _ms(grid["seconds"]), f"loop of predict calls: {_ms(grid['loop'])} (100 points "
            "timed, scaled)", f"{grid['loop'] / grid['seconds']:.3g}x")
    js = measure(ROOT, "json", repeats=r, K=1000, grams=None)
    forced = measure(ROOT, "json", repeats=r, K=1000, grams=True)
    at_limit = measure(ROOT, "json", repeats=r, K=200, grams=True)
    row("predict --json, K = 1000 distinct sizes, free bias (Grams left out by default)",
        f"{_ms(js['seconds'])}, {js['bytes'] / 1e6:.2g} MB",
        f"with --grams: {_ms(forced['seconds'])}, {forced['bytes'] / 1e6:.3g} MB",
        f"{forced['seconds'] / js['seconds']:.3g}x",
        f"K = 200 with Grams (the default limit): {_ms(at_limit['seconds'])}, "
        f"{at_limit['bytes'] / 1e6:.2g} MB")
    digits = 300 if args.quick else 1000
    fast = measure(ROOT, "precision", repeats=r, digits=digits)
    slow = measure(ROOT, "precision", {"MPMATH_NOGMPY": "1"}, repeats=r, digits=digits)
    row(f"predict --precision {digits}, K = 40, depth 6", f"{_ms(fast['seconds'])} "
        f"(mpmath backend {fast['backend']})", f"{_ms(slow['seconds'])} (backend "
        f"{slow['backend']}, MPMATH_NOGMPY=1)", f"{slow['seconds'] / fast['seconds']:.3g}x")
    cli = measure(ROOT, "cli", repeats=max(3, r // 2))
    row("ncsolve predict --n 500,100,50 --depth 3 (one process, wall)", _ms(cli["seconds"]),
        f"python -c 'import numpy, scipy.optimize': {_ms(cli['imports'])}",
        f"{cli['seconds'] / cli['imports']:.2g}x")
    return rows


def header(args) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    old = ""
    if args.old:
        old_commit = subprocess.run(["git", "-C", str(args.old), "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
        old = f", old tree {args.old} at {old_commit}"
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}{old}; "
            f"{os.cpu_count()} cores, load average {load} at the start; Python "
            f"{platform.python_version()}, numpy {np.__version__}; CPU seconds (one BLAS "
            f"thread), best of {args.repeats} unless noted")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, default=None,
                        help="an older checkout to time side by side (git worktree add ...)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CASES[args.child](**json.loads(args.kwargs))))
        return 0
    args.repeats = 3 if args.quick else 7
    args.sample = 2 if args.quick else 4
    args.cases = 200
    lines = [header(args), "", "| what | ncsolve | baseline | ratio | note |",
             "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in table(args)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
