"""Where the CPU of a cross-entropy search at depth >= 2 goes, stage by stage (issue 23).

    PYTHONPATH=. python benchmarks/bench_ce_stages.py                  # K = 10, depth 2-3
    PYTHONPATH=. python benchmarks/bench_ce_stages.py --classes 10,30 --profile

Runs ``predict(loss="ce")`` on the problems of ``bench_speed.py`` (class sizes
500 x 0.7^k for K = 10, 200 x 0.93^k for K = 30, decays 5e-4) in this process with one
BLAS thread, and wraps the search's stacked minimizations to attribute CPU time to
what they run: the first stage (candidates, random starts and warm starts of both
batches), basin hops, class exchanges, continuation and the tight refinements.  For
each stacked L-BFGS call it counts the starts, the stack's iterations (the slowest
member) and the iterations of all members.  The exchange rounds are also followed:
how much each round's best improves on its centre, and how many of its runs end back
at the centre or at a point another run of the round reached (duplicates a
deduplication could have skipped).  ``--profile`` adds cProfile's top functions.
Prints Markdown; docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

from ncsolve import predict  # noqa: E402
from ncsolve.solvers.crossentropy import local_runs, search  # noqa: E402

SIZES = {10: [int(500 * 0.7**k) for k in range(10)],
         30: [int(200 * 0.93**k) for k in range(30)]}
SAME_RTOL = 1e-7  # end points this close in objective (relative) and ...
SAME_XTOL = 1e-3  # ... in logits (relative to the centre's largest) count as one point


class Recorder:
    """Wraps the search's stacked minimizations and tallies them by stage."""

    def __init__(self):
        self.stages = defaultdict(lambda: dict(calls=0, starts=0, stack_iters=0,
                                               run_iters=0, seconds=0.0))
        self.rounds: list[dict] = []
        self._patched: list[tuple[object, str, object]] = []

    def _tally(self, stage: str, starts: int, iters: np.ndarray, seconds: float) -> None:
        row = self.stages[stage]
        row["calls"] += 1
        row["starts"] += starts
        row["stack_iters"] += int(iters.max(initial=0))
        row["run_iters"] += int(iters.sum())
        row["seconds"] += seconds

    def _patch(self, module, name: str, wrapper) -> None:
        self._patched.append((module, name, getattr(module, name)))
        setattr(module, name, wrapper)

    def __enter__(self):
        run_starts, refine_runs = search.run_starts, local_runs.refine_runs
        stack = search.minimize_stack
        exchange_rounds = search._exchange_rounds

        def timed_run_starts(red, starts, *args, **kwargs):
            began = time.process_time()
            found = run_starts(red, starts, *args, **kwargs)
            kinds = sorted({s.label.split(" ")[0].rstrip(":") for s in starts})
            self._tally("+".join(kinds), len(starts), np.array([r.iterations for r in found]),
                        time.process_time() - began)
            return found

        def timed_refine(red, runs, *args, **kwargs):
            began = time.process_time()
            found = refine_runs(red, runs, *args, **kwargs)
            iters = np.array([a.iterations - b.iterations for a, b in zip(found, runs)])
            self._tally("refine (gradient 1e-11)", len(runs), iters,
                        time.process_time() - began)
            return found

        def timed_stack(fun, x0, *args, **kwargs):
            began = time.process_time()
            end = stack(fun, x0, *args, **kwargs)
            self._tally("continuation (nearby decays)", len(x0), end.iterations,
                        time.process_time() - began)
            return end

        def followed_rounds(red, best, rng, *args):
            steps = exchange_rounds(red, best, rng, *args)
            found = None
            try:
                while True:
                    starts, cap = steps.send(found)
                    found = yield starts, cap
                    self.rounds.append(_round_facts(best, found))
                    best = min([best, *found], key=lambda r: r.objective)
            except StopIteration as stop:
                return stop.value

        self._patch(search, "run_starts", timed_run_starts)
        self._patch(local_runs, "refine_runs", timed_refine)
        self._patch(search, "minimize_stack", timed_stack)
        self._patch(search, "_exchange_rounds", followed_rounds)
        return self

    def __exit__(self, *exc):
        for module, name, original in reversed(self._patched):
            setattr(module, name, original)


def _round_facts(centre, found) -> dict:
    """How one exchange round ended, relative to its centre."""
    values = np.array([r.objective for r in found])
    scale = np.abs(centre.X).max() or 1.0
    back = sum(abs(r.objective - centre.objective) <= SAME_RTOL * abs(centre.objective)
               and np.abs(r.X - centre.X).max() <= SAME_XTOL * scale for r in found)
    distinct: list = []
    for r in found:
        if not any(abs(r.objective - d.objective) <= SAME_RTOL * abs(d.objective)
                   and np.abs(r.X - d.X).max() <= SAME_XTOL * scale for d in distinct):
            distinct.append(r)
    return dict(runs=len(found), below=int(np.sum(values < centre.objective)),
                gain=float((centre.objective - values.min()) / abs(centre.objective)),
                back=int(back), distinct=len(distinct),
                iterations=int(sum(r.iterations for r in found)))


def one_case(K: int, depth: int, bias: str, profile: bool) -> None:
    kwargs = dict(n=SIZES[K], depth=depth, lambda_w=5e-4, lambda_h=5e-4, bias=bias, loss="ce")
    profiler = cProfile.Profile() if profile else None
    with Recorder() as rec:
        began = time.process_time()
        if profiler:
            profiler.enable()
        answer = predict(**kwargs)
        if profiler:
            profiler.disable()
        total = time.process_time() - began
    batches = ", ".join(f"batch {k + 1}: {b.hits} of {b.runs}" for k, b in
                        enumerate(answer.batches))
    print(f"\n### K = {K}, depth {depth}, bias {bias}: {total:.3f} CPU s, loss "
          f"{answer.loss:.12g} ({answer.certainty}), {len(answer.runs)} runs, "
          f"runs at the reported loss: {answer.hits} ({batches})\n")
    print("| stage | stacked calls | starts | stack iterations | run iterations | CPU s | share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for stage, row in sorted(rec.stages.items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"| {stage} | {row['calls']} | {row['starts']} | {row['stack_iters']} | "
              f"{row['run_iters']} | {row['seconds']:.3f} | {row['seconds'] / total:.0%} |")
    if rec.rounds:
        print("\nexchange rounds (runs, ending below the centre, best gain, back at the "
              "centre, distinct end points, run iterations):")
        for facts in rec.rounds:
            print(f"  {facts['runs']} runs, {facts['below']} below, gain {facts['gain']:.2g}, "
                  f"{facts['back']} back, {facts['distinct']} distinct, "
                  f"{facts['iterations']} iterations")
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
        print("\n```\n" + text.getvalue().strip() + "\n```")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="10", help="comma list of K (10, 30)")
    parser.add_argument("--depths", default="2,3")
    parser.add_argument("--biases", default="none,free")
    parser.add_argument("--profile", action="store_true", help="add cProfile's top functions")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"bench_ce_stages, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {load[0]:.2f}, python {sys.version.split()[0]}")
    for K in map(int, args.classes.split(",")):
        for depth in map(int, args.depths.split(",")):
            for bias in args.biases.split(","):
                one_case(K, depth, bias, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
