"""Numerical global search of the reduced K x K cross-entropy problem.

Local minimizations (:mod:`.local_runs`: stacked L-BFGS on the factor form,
end points polished) start from

* every leading structured candidate (balanced factors, slightly perturbed), and
* random starts, half at the scale of the simplex ETF and half small (the
  regime gradient descent on the full model starts from).

From the best end points the search moves on: basin hops, exchanges of two
classes (:func:`swap_descent`) and nearby decays and back (:func:`continuation`).
Independent searches run in :func:`lockstep`, what they ask for at the same time
in one stack.  The cost depends on K, the depth and the number of starts only --
not on N or the layer widths (they enter through the class weights and the rank cap).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator

import numpy as np

from ...core.lbfgs import minimize_stack
from .candidates import Candidate
from .local_runs import (EXPLORE_GTOL, REFINE_MAXITER, LocalMinimum, Start, factor_form,
                         refine_leaders, refine_leaders_of, refine_near, run_starts)
from .reduced import ReducedCE

__all__ = ["Steps", "continuation", "exchangeable_pairs", "global_search", "lockstep",
           "random_starts", "search_steps", "swap_descent", "two_batches", "width_ladder"]

EXPLORE_MAXITER = 400  # iteration budget of an exploratory run (refinement finishes the best)
LADDER = (3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 2)  # factor widths of random starts, in order
PERMUTED_FROM = 3  # every third random start permutes the classes of one of this many leaders
FULL_WIDTH_UP_TO = 24  # candidate-seeded runs use the full width up to this many classes
NEAR_MAXITER = 300  # iteration budget of runs started next to a minimum (hops, exchanges)
DECAY_STEPS = (1.5, 1 / 1.5)  # nearby decays of continuation
SWAP_LIMIT = 48  # class exchanges tried per round of swap_descent (all of them up to K = 10)
SWAP_ROUNDS = 4  # rounds of swap_descent
SWAP_CENTRES = 1  # swap_descent starts from this many distinct best runs
SWAP_GAIN = 1e-9  # relative improvement that moves swap_descent to a new centre
REFINE_BEST = 3  # best distinct end points of each search refined to the tight tolerance
HOP_ROUND = 12  # basin hops run in rounds of this many, each round from the best so far


Steps = Generator[tuple[list[Start], int], list[LocalMinimum], list[LocalMinimum]]
"""A stage of the search as a generator: it yields ``(starts, maxiter)``, is sent the
local minima of those starts (:func:`run_starts`) and returns the runs it made."""


def _seeds(candidates: list[Candidate], count: int) -> list[Candidate]:
    """The ``count`` best non-origin candidates with distinct objectives."""
    chosen: list[Candidate] = []
    for cand in sorted(candidates, key=lambda c: c.objective):
        if cand.scale == 0.0:
            continue
        if any(abs(cand.objective - c.objective) <= 1e-12 * c.objective for c in chosen):
            continue
        chosen.append(cand)
        if len(chosen) == count:
            break
    return chosen


def width_ladder(rank_cap: int, count: int, bias: bool = False) -> list[int]:
    """Factor widths of the random starts: small widths first, the full width included.

    Low widths are cheap and reach the low-rank structures that a strong
    low-rank bias favours; the full width mimics gradient descent on the full
    model (first for small rank caps, last for large ones, where it is the
    most expensive run).  The list cycles when ``count`` exceeds the number of
    widths.
    """
    small = [w for w in LADDER if w < rank_cap]
    if bias and rank_cap > 1:
        small.append(1)  # with a free bias, classes on a line (rank 1) can all be separated
    order = [rank_cap] + small if rank_cap <= FULL_WIDTH_UP_TO else small + [rank_cap]
    return [order[i % len(order)] for i in range(count)]


def _seed_width(red: ReducedCE, rank: int) -> int:
    """Width for a run started at a candidate of the given rank (room to grow)."""
    if red.K <= FULL_WIDTH_UP_TO:
        return red.rank_cap
    return min(red.rank_cap, max(rank + 2 + rank // 4, 2))


def global_search(red: ReducedCE, candidates: list[Candidate], restarts: int = 8,
                  seeds: int = 3, seed=0, maxiter: int = EXPLORE_MAXITER,
                  refine_best: int = REFINE_BEST, hops: int | None = None,
                  extra: tuple[Start, ...] = ()) -> list[LocalMinimum]:
    """Local minimizations from the leading candidates and from random starts.

    Parameters
    ----------
    red : ReducedCE
        The reduced problem.
    candidates : list of Candidate
        Structured candidates; the ``seeds`` best (non-origin) start a run each.
    restarts : int
        Number of random starts.  Every third one re-assigns the classes of one
        of the leading candidates at random; the others are random factors at
        the widths of :func:`width_ladder`, their scale alternating between the
        candidates' scale and 1/20 of it.
    seeds : int
        Number of candidates used as starting points.
    seed : int or tuple of int
        Seed of the random generator (anything ``numpy.random.default_rng`` takes).
    maxiter : int
        L-BFGS iteration budget of one run.
    refine_best : int
        Number of best distinct end points re-minimized to a tight tolerance.
    hops : int, optional
        Basin-hopping steps from the best end point so far (default
        ``restarts // 2``), in rounds of ``HOP_ROUND``: two classes of different
        sizes swapped or the factors jittered by 2-10%, then a local search.
    extra : tuple of Start
        More starting points (answers of nearby problems), run with the others.

    After the hops, :func:`swap_descent` exchanges classes of the best point.

    Returns
    -------
    list of LocalMinimum
        One per run, candidate-seeded runs first.
    """
    steps = search_steps(red, candidates, restarts, seeds, seed, maxiter, hops, extra)
    return refine_leaders(red, lockstep(red, [steps])[0], refine_best, REFINE_MAXITER)


def search_steps(red: ReducedCE, candidates: list[Candidate], restarts: int, seeds: int, seed,
                 maxiter: int, hops: int | None, extra: tuple[Start, ...],
                 swap_rounds: int = SWAP_ROUNDS, swap_centres: int = SWAP_CENTRES) -> Steps:
    """The stages of :func:`global_search` before refinement, as a :data:`Steps` generator."""
    rng = np.random.default_rng(seed)
    starts = []
    for cand in _seeds(candidates, seeds):
        fo = factor_form(red, _seed_width(red, cand.rank))
        theta = fo.balanced_point(cand.X, cand.b, rng=rng, noise=1e-3)
        starts.append(Start(f"candidate: {cand.name}", fo.width, theta))
    starts += random_starts(red, candidates, rng, int(restarts))
    starts += list(extra)
    runs = yield starts, maxiter
    near = min(maxiter, NEAR_MAXITER)
    runs += yield from _hops(red, runs, rng, int(restarts) // 2 if hops is None else int(hops),
                             near)
    runs += yield from swap_descent(red, runs, rng, near, rounds=swap_rounds,
                                    centres=swap_centres)
    return runs


def lockstep(red: ReducedCE, searches: list[Steps]) -> list[list[LocalMinimum]]:
    """Run independent searches together: what they ask for at the same time is one stack.

    Each search is a generator that yields ``(starts, maxiter)``, receives the
    local minima of those starts (:func:`run_starts`) and finally returns its
    runs.  The searches never see each other's results, so each gives what it
    would give alone (up to rounding, where a merged stack pads a narrower
    start); the per-call overhead of the small arrays is paid once for all.
    """
    results: list[list[LocalMinimum]] = [[] for _ in searches]
    pending = {k: None for k in range(len(searches))}
    while pending:
        asks = {}
        for k, found in pending.items():
            try:
                asks[k] = searches[k].send(found)
            except StopIteration as stop:
                results[k] = stop.value
        pending = {}
        for cap in sorted({cap for _, cap in asks.values()}):
            ks = [k for k, (_, c) in asks.items() if c == cap]
            merged = run_starts(red, [st for k in ks for st in asks[k][0]], cap)
            for k in ks:
                pending[k], merged = merged[:len(asks[k][0])], merged[len(asks[k][0]):]
    return results


def _swapped(X: np.ndarray, b: np.ndarray | None, i: int, j: int):
    """Logits (and bias) with classes i and j exchanged: each takes the other's place."""
    perm = np.arange(X.shape[0])
    perm[[i, j]] = perm[[j, i]]
    return X[np.ix_(perm, perm)], (None if b is None else b[perm])


def swap_descent(red: ReducedCE, runs: list[LocalMinimum], rng: np.random.Generator,
                 maxiter: int, limit: int = SWAP_LIMIT, rounds: int = SWAP_ROUNDS,
                 centres: int = SWAP_CENTRES) -> Steps:
    """Local search over the placement of classes: exchange two classes, re-minimize.

    For imbalanced classes the minima of a structure differ by which class
    sits where (which classes are neighbours, antipodal or merged).  From each
    of the ``centres`` best runs with distinct objectives, every exchange of
    two classes of different sizes (:func:`exchangeable_pairs`; a random
    ``limit`` of them for many classes) is minimized in
    one stack; an improvement becomes the new centre and the next round starts
    from it, until no exchange improves or after ``rounds`` rounds.

    A :data:`Steps` generator; it returns every run made.
    """
    if not runs or red.K < 3:
        return []
    leaders: list[LocalMinimum] = []
    for run in sorted(runs, key=lambda r: r.objective):
        if len(leaders) == centres:
            break
        if run.rank > 0 and not any(abs(run.objective - r.objective) <= 1e-6 * abs(r.objective)
                                    for r in leaders):
            leaders.append(run)
    out: list[LocalMinimum] = []
    for best in leaders:
        out += yield from _exchange_rounds(red, best, rng, maxiter, limit, rounds)
    return out


def exchangeable_pairs(red: ReducedCE) -> list[tuple[int, int]]:
    """Pairs of classes (i < j) of different sizes.

    Exchanging two classes of the same size maps every point to one of the same
    objective (the problem is invariant under that permutation), so only these
    exchanges can lead anywhere new.
    """
    n = np.asarray(red.problem.n)
    i, j = np.triu_indices(red.K, k=1)
    keep = n[i] != n[j]
    return list(zip(i[keep].tolist(), j[keep].tolist()))


def _exchange_rounds(red: ReducedCE, best: LocalMinimum, rng: np.random.Generator,
                     maxiter: int, limit: int, rounds: int) -> Steps:
    """The rounds of :func:`swap_descent` from one centre."""
    pairs = exchangeable_pairs(red)
    out: list[LocalMinimum] = []
    for round_ in range(rounds if pairs else 0):
        chosen = pairs
        if len(pairs) > limit:
            chosen = [pairs[k] for k in np.sort(rng.choice(len(pairs), limit, replace=False))]
        width = min(red.rank_cap, best.rank + 1)
        fo = factor_form(red, width)
        starts = []
        for i, j in chosen:
            X, b = _swapped(best.X, best.b, i, j)
            starts.append(Start(f"exchange {round_ + 1} (classes {i} and {j})", width,
                                fo.balanced_point(X, b, rng=rng, noise=0.01)))
        found = yield starts, maxiter
        out += found
        top = min(found, key=lambda r: r.objective)
        if not top.objective < best.objective - SWAP_GAIN * abs(best.objective):
            break
        best = top
    return out


def two_batches(red: ReducedCE, candidates: list[Candidate], restarts: int, seeds: int,
                seed: int, extra: tuple[Start, ...] = (),
                maxiter: int = EXPLORE_MAXITER, swap_rounds: int = SWAP_ROUNDS,
                swap_centres: int = SWAP_CENTRES,
                continue_decays: bool = True) -> list[LocalMinimum]:
    """Two independent searches, a shared final stage, and near-best runs refined.

    Two searches as :func:`global_search`'s with ``restarts`` random starts each,
    their generators seeded with (seed, 1) and (seed, 2), run in :func:`lockstep`
    (each as it would run alone, at the per-call cost of one); their runs carry
    ``batch`` 1 and 2, so a caller can tell whether both found the same best
    point.  Then the best point of each batch is carried through the nearby
    problems of :func:`continuation` (batch 0; skipped without ``continue_decays``),
    and every run within ``NEAR_RTOL`` of the best (up to ``NEAR_MAX``) is refined,
    so that the runs counted as reaching the best are counted on accurate objectives.
    ``swap_rounds`` and ``swap_centres`` set :func:`swap_descent`'s budget.
    """
    searches = [search_steps(red, candidates, restarts, seeds, (seed, batch), maxiter, None,
                             extra, swap_rounds, swap_centres) for batch in (1, 2)]
    found = refine_leaders_of(red, lockstep(red, searches), REFINE_BEST, REFINE_MAXITER)
    runs = [dataclasses.replace(r, batch=batch) for batch, mine in zip((1, 2), found)
            for r in mine]
    tops = [min(mine, key=lambda r: r.objective) for k in (1, 2)
            if (mine := [r for r in runs if r.batch == k])]
    if continue_decays:
        runs += continuation(red, tops, maxiter)
    return refine_near(red, runs, REFINE_MAXITER)


def continuation(red: ReducedCE, tops: list[LocalMinimum], maxiter: int,
                 factors: tuple[float, ...] = DECAY_STEPS) -> list[LocalMinimum]:
    """Carry points through the same problem at nearby decays and back.

    Each point is minimized at every decay times ``factors`` (all layer and
    feature decays scaled together), then the end point at the problem's own
    decay.  A larger decay can merge directions and classes that a local
    search alone keeps apart, a smaller one can separate them; the return trip
    lands in a basin next to the one the point came from.
    """
    starts: list[Start] = []
    distinct = []
    for run in tops:
        if run.rank > 0 and not any(abs(run.objective - d.objective) <= 1e-12 * abs(
                d.objective) for d in distinct):
            distinct.append(run)
    for run in distinct:
        width = min(red.rank_cap, run.rank + 1)
        for factor in factors:
            near = ReducedCE(_scaled_decays(red.problem, factor))
            fo = factor_form(near, width)
            end = minimize_stack(fo, fo.balanced_point(run.X, run.b)[None], maxiter,
                                 EXPLORE_GTOL)
            X, b = fo.logits(end.x[0])
            starts.append(Start(f"continuation (decay x{factor:g} and back)", width,
                                factor_form(red, width).balanced_point(X, b)))
    return run_starts(red, starts, maxiter) if starts else []


def _scaled_decays(problem, factor: float):
    """The problem with every layer decay and the feature decay times ``factor``."""
    return dataclasses.replace(problem, lambda_w=tuple(factor * v for v in problem.lambda_w),
                               lambda_h=factor * problem.lambda_h)


def random_starts(red: ReducedCE, candidates: list[Candidate], rng: np.random.Generator,
                  count: int) -> list[Start]:
    """Random factors at the widths of :func:`width_ladder`; every third start permutes the
    classes of a leading candidate instead."""
    typical = _typical_singular_value(red, candidates)
    leaders = _seeds(candidates, PERMUTED_FROM)
    out = []
    for i, width in enumerate(width_ladder(red.rank_cap, count, red.bias)):
        if leaders and i % 3 == 2:
            cand = leaders[(i // 3) % len(leaders)]
            label = f"random start {i + 1} (classes of '{cand.name}' permuted)"
            out.append(_permuted_start(red, cand, rng, label))
            continue
        fo = factor_form(red, width)
        scale = typical if i % 2 == 0 else 0.05 * typical
        out.append(Start(f"random start {i + 1} (width {width})", width,
                         fo.random_point(rng, scale)))
    return out


def _hops(red: ReducedCE, runs: list[LocalMinimum], rng: np.random.Generator, count: int,
          maxiter: int) -> Steps:
    """Basin hopping from the best run, in rounds: perturb, minimize, move to improvements
    (a :data:`Steps` generator; it returns the runs made)."""
    if not runs or count <= 0:
        return []
    best = min(runs, key=lambda r: r.objective)
    pairs = exchangeable_pairs(red)
    out: list[LocalMinimum] = []
    for first in range(0, count, HOP_ROUND):
        if best.rank == 0:
            break
        hops = range(first, min(first + HOP_ROUND, count))
        found = yield _hop_starts(red, best, hops, pairs, rng), maxiter
        out += found
        best = min([best, *found], key=lambda r: r.objective)
    return out


def _hop_starts(red: ReducedCE, best: LocalMinimum, hops: range,
                pairs: list[tuple[int, int]], rng: np.random.Generator) -> list[Start]:
    """One round of hops from ``best``: even hops swap two classes (when any differ in
    size) and jitter the factors by 2%, odd hops only jitter them, by 10%."""
    width = _seed_width(red, best.rank)
    fo = factor_form(red, width)
    starts = []
    for i in hops:
        X, bias = best.X, best.b
        if i % 2 == 0 and red.K > 2 and pairs:
            a, b = pairs[rng.integers(len(pairs))]
            X, bias = _swapped(X, best.b, a, b)
            label = f"hop {i + 1} (classes {a} and {b} swapped)"
        else:
            label = f"hop {i + 1} (factors jittered)"
        noise = 0.02 if i % 2 == 0 else 0.1
        starts.append(Start(label, width, fo.balanced_point(X, bias, rng=rng, noise=noise)))
    return starts


def _permuted_start(red: ReducedCE, cand: Candidate, rng: np.random.Generator,
                    label: str) -> Start:
    """A candidate whose classes are randomly re-assigned to its vertices.

    For imbalanced classes the placement of classes on a structure matters (which
    classes are antipodal, grouped or neighbours); this explores it.
    """
    perm = rng.permutation(red.K)
    X = cand.X[np.ix_(perm, perm)] * np.exp(0.2 * rng.standard_normal())
    fo = factor_form(red, _seed_width(red, cand.rank))
    return Start(label, fo.width, fo.balanced_point(X, None, rng=rng, noise=0.05))


def _typical_singular_value(red: ReducedCE, candidates: list[Candidate]) -> float:
    """Largest singular value of X D^(1/2) over the candidates (a scale for random starts)."""
    top = [red.singular_values(c.X)[0] for c in candidates if c.scale > 0]
    if top:
        return float(max(top))
    return float(8.0 * np.sqrt(np.mean(np.asarray(red.problem.n, float))))
