"""Cross-entropy, measure and sweep output against an older tree, in one run (issue 23).

    git worktree add /tmp/base-3817405 3817405
    python benchmarks/bench_speed.py --old /tmp/base-3817405            # about 5 minutes
    python benchmarks/bench_speed.py --old /tmp/base-3817405 --quick    # fewer repeats
    python benchmarks/bench_speed.py --old /tmp/base-3817405 --only measure,mse

Every case runs in a fresh child process with PYTHONPATH set to one tree (this one or
``--old``) and one BLAS thread; the trees alternate case by case, so both see the same
machine load.  Figures are CPU seconds (``time.process_time`` of the timed call in the
child, or user + system time of a whole child process), best of ``--repeats``: the
machine is shared, and CPU time counts only this process's work.  Prints Markdown;
docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
GRID = dict(profile="exp", classes=10, ratio="1:1000:200", decay="1e-5:1e-1:200", depth=3)
CE_SIZES = {10: [int(500 * 0.7**k) for k in range(10)], 30: [int(200 * 0.93**k) for k in range(30)]}


# ---- the children: one measurement each, printed as JSON -------------------------------


def child_ce(K: int, depth: int, bias: str) -> dict:
    from ncsolve import predict

    kwargs = dict(n=CE_SIZES[K], depth=depth, lambda_w=5e-4, lambda_h=5e-4, bias=bias, loss="ce")
    started = time.process_time()
    answer = predict(**kwargs)
    return {"seconds": time.process_time() - started, "loss": answer.loss,
            "certainty": answer.certainty, "runs": len(answer.runs)}


def _rows(index: int, point: dict, answer) -> list[list]:
    """The CSV rows of one predict answer, as a loop writing its own table would."""
    head = [index, *point.values()]
    per_class = zip(answer.problem.n.tolist(), answer.feature_norm.tolist(),
                    answer.classifier_norm.tolist(), answer.output.tolist(),
                    answer.collapsed.tolist(), answer.state.tolist(),
                    answer.critical_decay.tolist())
    return [head + [k, *values, answer.loss, answer.rank, answer.unique, answer.certainty]
            for k, values in enumerate(per_class)]


def child_mse_loop(sample: int) -> dict:
    """A loop of predict over a sample of the grid's points, each point's rows written."""
    from ncsolve import predict
    from ncsolve.sweep.spec import build_grid

    grid = build_grid(**GRID, yes=True)
    chosen = np.random.default_rng(0).choice(grid.size, size=sample, replace=False)
    calls = [(int(i), grid.point(int(i))) for i in chosen]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    started = time.process_time()
    for i, point in calls:
        answer = predict(**grid.predict_kwargs(point))
        writer.writerows([[repr(v) if isinstance(v, float) else v for v in row]
                          for row in _rows(i, point, answer)])
    seconds = time.process_time() - started
    return {"seconds": seconds * grid.size / sample, "points": grid.size, "sample": sample}


def child_mse_sweep() -> dict:
    from ncsolve.sweep.run import sweep

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "grid.csv")
        started = time.process_time()
        sweep(**GRID, output=path)
        seconds = time.process_time() - started
        size = os.path.getsize(path)
    return {"seconds": seconds, "bytes": size}


def child_ce_sweep(depth: int, count: int) -> dict:
    from ncsolve.sweep.run import sweep

    spec = dict(profile="exp", classes=10, ratio=f"2:50:{count}", decay=f"1e-4:1e-2:{count}",
                depth=depth, loss="ce")
    started = time.process_time()
    table = sweep(**spec, executor="serial")
    seconds = time.process_time() - started
    loss = np.asarray(table.column("loss"), float)
    return {"seconds": seconds, "points": count * count, "loss_sum": float(np.sum(loss))}


def child_memory(K: int) -> dict:
    """Peak resident memory of the structured candidates of a K-class CE problem, depth 3."""
    from ncsolve.inputs.problem import Problem
    from ncsolve.solvers.crossentropy.candidates import structured_candidates
    from ncsolve.solvers.crossentropy.reduced import ReducedCE

    problem = Problem.build(list(range(20, 20 + K)), 3, 5e-4, 5e-4, "none", "ce")
    started = time.process_time()
    found = structured_candidates(ReducedCE(problem))
    return {"seconds": time.process_time() - started,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "best": min(c.objective for c in found), "count": len(found)}


CHILDREN = {"memory": child_memory, "ce": child_ce, "mse_loop": child_mse_loop,
            "mse_sweep": child_mse_sweep, "ce_sweep": child_ce_sweep}


# ---- the parent -----------------------------------------------------------------------


def run_child(tree: Path, case: str, **kwargs) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), **SINGLE_THREAD)
    command = [sys.executable, str(HERE), "--child", case, "--kwargs", json.dumps(kwargs)]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{case} {kwargs} in {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def process_cpu(tree: Path, argv: list[str]) -> tuple[float, str]:
    """User + system CPU seconds of one whole ``python -m ncsolve`` process, and its stdout."""
    env = dict(os.environ, PYTHONPATH=str(tree), **SINGLE_THREAD)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "ncsolve", *argv], env=env, cwd=tree,
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} in {tree} failed:\n{done.stderr}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def best(trees: list[Path], repeats: int, action) -> list:
    """Best (lowest ``seconds``) of ``repeats`` of ``action(tree)`` per tree, alternating."""
    out: list = [None] * len(trees)
    for _ in range(repeats):
        for k, tree in enumerate(trees):
            got = action(tree)
            if out[k] is None or got["seconds"] < out[k]["seconds"]:
                out[k] = got
    return out


def ce_table(old: Path, repeats: int) -> None:
    print("### CE predict (CPU s of the predict call; exp-like sizes, decays 5e-4)\n")
    print("| K | depth | bias | ours | old | ratio | loss ours | loss old |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for K in (10, 30):
        for depth in (2, 3):
            for bias in ("none", "free"):
                new, was = best([ROOT, old], repeats, lambda t, K=K, depth=depth, bias=bias:
                                run_child(t, "ce", K=K, depth=depth, bias=bias))
                print(f"| {K} | {depth} | {bias} | {new['seconds']:.3g} | {was['seconds']:.3g} "
                      f"| {was['seconds'] / new['seconds']:.2g}x | {new['loss']:.10g} | "
                      f"{was['loss']:.10g} |", flush=True)


def measure_table(old: Path, repeats: int) -> None:
    from ncsolve.solvers.crossentropy import solve
    from ncsolve.inputs.problem import Problem

    n = [40, 30, 20, 15, 10, 5]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ce6.npz")
        answer = solve(Problem.build(n, 1, 1e-3, 2e-3, "none", "ce"))
        H, weights, _ = answer.full_parameters(widths=(8,))
        noise = 0.01 * np.random.default_rng(0).standard_normal(H.T.shape)
        np.savez(path, features=H.T + noise, labels=np.repeat(np.arange(6), n), W1=weights[0])
        argv = ["measure", path, "--loss", "ce", "--lambda-w", "1e-3", "--json"]

        def once(tree):
            seconds, out = process_cpu(tree, argv)
            return {"seconds": seconds, "fit": json.loads(out)["lambda_h_fit"]}

        new, was = best([ROOT, old], repeats, once)
    print("\n### measure --loss ce, K = 6, depth 1, lambda_H fitted (CPU s of the process)\n")
    print("| ours | old | ratio | fitted lambda_H ours | old |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {new['seconds']:.3g} | {was['seconds']:.3g} | {was['seconds'] / new['seconds']:.2g}x"
          f" | {new['fit']['value']:.10g} | {was['fit']['value']:.10g} |", flush=True)


def mse_table(old: Path, repeats: int, sample: int) -> None:
    loop = best([ROOT], repeats, lambda t: run_child(t, "mse_loop", sample=sample))[0]
    sweep_new, sweep_old = best([ROOT, old], repeats, lambda t: run_child(t, "mse_sweep"))
    print("\n### sweep of a 200 x 200 MSE grid to CSV (exp, K = 10, depth 3; 400,000 rows)\n")
    print("| what | CPU s | ratio to the predict loop |")
    print("|---|---:|---:|")
    print(f"| loop of predict, each point's rows written ({sample} points timed, scaled) "
          f"| {loop['seconds']:.3g} | 1x |")
    for label, got in (("sweep --output grid.csv, this tree", sweep_new),
                       ("sweep --output grid.csv, old tree", sweep_old)):
        print(f"| {label} | {got['seconds']:.3g} | {loop['seconds'] / got['seconds']:.3g}x |")
    print(f"\nthis tree against the old one: {sweep_old['seconds'] / sweep_new['seconds']:.3g}x "
          f"(file {sweep_new['bytes']:,} bytes)", flush=True)


def ce_sweep_table(old: Path, repeats: int, count: int, depths=(1, 2)) -> None:
    print(f"\n### CE sweep, {count} x {count} grid (exp, K = 10), serial executor\n")
    print("| depth | points/s ours | old | ratio | sum of losses ours | old |")
    print("|---|---:|---:|---:|---:|---:|")
    for depth in depths:
        new, was = best([ROOT, old], repeats, lambda t, depth=depth:
                        run_child(t, "ce_sweep", depth=depth, count=count))
        rate_new, rate_old = new["points"] / new["seconds"], was["points"] / was["seconds"]
        print(f"| {depth} | {rate_new:.3g} | {rate_old:.3g} | {rate_new / rate_old:.2g}x | "
              f"{new['loss_sum']:.12g} | {was['loss_sum']:.12g} |", flush=True)


def memory_table(old: Path, K: int = 150) -> None:
    new, was = (run_child(tree, "memory", K=K) for tree in (ROOT, old))
    print(f"\n### CE structured candidates, K = {K}, depth 3: peak resident memory\n")
    print("| tree | peak MB | CPU s | candidates | best objective |")
    print("|---|---:|---:|---:|---:|")
    for label, got in (("this tree", new), ("old tree", was)):
        print(f"| {label} | {got['peak_mb']:.0f} | {got['seconds']:.3g} | {got['count']} | "
              f"{got['best']:.12g} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="the older tree (a git worktree)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="mse,measure,ce,ce_sweep,memory",
                        help="comma list of tables: mse, measure, ce, ce_sweep, memory")
    parser.add_argument("--sweep-count", type=int, default=3,
                        help="points per axis of the CE sweep grid (default 3)")
    parser.add_argument("--sweep-depths", default="1,2", help="depths of the CE sweep table")
    parser.add_argument("--child")
    parser.add_argument("--kwargs", default="{}")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child](**json.loads(args.kwargs))))
        return 0
    if args.old is None:
        parser.error("--old PATH is required (a worktree of the baseline commit)")
    repeats = 1 if args.quick else 3
    load = os.getloadavg()
    print(f"bench_speed, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, old tree "
          f"{args.old}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, best of {repeats}\n")
    tables = {"mse": lambda: mse_table(args.old, repeats, sample=200 if args.quick else 400),
              "measure": lambda: measure_table(args.old, repeats),
              "ce": lambda: ce_table(args.old, repeats),
              "ce_sweep": lambda: ce_sweep_table(
                  args.old, 1, args.sweep_count, tuple(map(int, args.sweep_depths.split(",")))),
              "memory": lambda: memory_table(args.old)}
    for name in args.only.split(","):
        tables[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
