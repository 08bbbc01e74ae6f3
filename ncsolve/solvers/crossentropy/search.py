"""Numerical global search of the reduced K x K cross-entropy problem.

Local minimizations run L-BFGS on the smooth factor form X D^(1/2) = A_L ... A_1
(:class:`~ncsolve.solvers.crossentropy.reduced.FactorObjective`), from

* every leading structured candidate (balanced factors, slightly perturbed), and
* random starts, half at the scale of the simplex ETF and half small (the
  regime gradient descent on the full model starts from).

Each end point is polished: logits are centred (cross-entropy ignores a common
shift of a column, the penalty can only drop), singular values that are numerically
vanishing are cut, and the cut point is re-balanced and minimized again.  The
reported value is the exact reduced objective, never the factor-form value.
The cost depends on K, the depth and the number of starts only -- not on N or the
layer widths (they enter through the class weights and the rank cap).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .candidates import Candidate
from ...core.lbfgs import minimize_stack
from .reduced import RANK_RTOL, FactorObjective, ReducedCE

__all__ = ["LocalMinimum", "Start", "continuation", "cut_best", "exchangeable_pairs",
           "global_search", "local_search", "polish", "refine", "refine_near", "refine_runs",
           "run_starts", "swap_descent", "two_batches", "width_ladder"]

CUT_LEVELS = (1e-3, 1e-5, 1e-7, 1e-9)  # relative singular-value levels tried when cutting
EXPLORE_GTOL = 1e-6  # gradient tolerance of exploratory runs
REFINE_GTOL = 1e-11  # gradient tolerance of refined runs
EXPLORE_MAXITER = 400  # iteration budget of an exploratory run (refinement finishes the best)
REFINE_MAXITER = 4000  # iteration budget of a refined run
LADDER = (3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 2)  # factor widths of random starts, in order
PERMUTED_FROM = 3  # every third random start permutes the classes of one of this many leaders
FULL_WIDTH_UP_TO = 24  # candidate-seeded runs use the full width up to this many classes
PAD_RATIO = 3.0  # narrower starts join a wider stack up to this factor-size ratio
PROFILE_BIAS = False  # optimize a free bias inside every evaluation (variable projection)
NEAR_RTOL = 1e-3  # runs this close to the best (relative) are refined before counting hits
NEAR_MAX = 32  # ... at most this many
NEAR_MAXITER = 300  # iteration budget of runs started next to a minimum (hops, exchanges)
DECAY_STEPS = (1.5, 1 / 1.5)  # nearby decays of continuation
SWAP_LIMIT = 48  # class exchanges tried per round of swap_descent (all of them up to K = 10)
SWAP_ROUNDS = 4  # rounds of swap_descent
SWAP_CENTRES = 1  # swap_descent starts from this many distinct best runs
SWAP_GAIN = 1e-9  # relative improvement that moves swap_descent to a new centre
REFINE_BEST = 3  # best distinct end points of each search refined to the tight tolerance
HOP_ROUND = 12  # basin hops run in rounds of this many, each round from the best so far


@dataclass(frozen=True)
class LocalMinimum:
    """End point of one local minimization.

    Attributes
    ----------
    start : str
        Where the run started ("candidate: <name>" or "random start <i>").
    objective : float
        Exact reduced objective at the end point.
    rank : int
        Rank of the logit matrix.
    X : ndarray, shape (K, K)
        Logit matrix (columns centred).
    b : ndarray or None
        Free bias (mean zero) or None.
    iterations : int
        L-BFGS iterations used (all passes).
    batch : int
        Independent batch of starts it belongs to (1 or 2; 0: shared final stage).
    refined : bool
        Whether it was re-minimized to the tight tolerance (its objective is then
        accurate to rounding, not only to the exploratory tolerance).
    """

    start: str
    objective: float
    rank: int
    X: np.ndarray
    b: np.ndarray | None
    iterations: int
    batch: int = 0
    refined: bool = False


@dataclass(frozen=True)
class Start:
    """A starting point of a local minimization: label, factor width, flat factor vector."""

    label: str
    width: int
    theta: np.ndarray


Steps = Generator[tuple[list[Start], int], list[LocalMinimum], list[LocalMinimum]]
"""A stage of the search as a generator: it yields ``(starts, maxiter)``, is sent the
local minima of those starts (:func:`run_starts`) and returns the runs it made."""


def factor_form(red: ReducedCE, width: int) -> FactorObjective:
    """The factor form the search runs on: with a free bias, the bias is profiled out.

    Each evaluation then optimizes the bias exactly for the current logits
    (:meth:`ReducedCE.best_bias`; the gradient in the factors is unchanged,
    since the one in b vanishes there).  The free bias has no penalty, so as a
    plain variable it makes the problem very ill-conditioned where the softmax
    saturates (rank-1 structures with a bias): L-BFGS then needed hundreds of
    iterations for what now takes tens.
    """
    return FactorObjective(red, width, profile=PROFILE_BIAS)


def _centre(X: np.ndarray) -> np.ndarray:
    return X - X.mean(axis=-2, keepdims=True)


def _cut(red: ReducedCE, X: np.ndarray, level: float) -> np.ndarray:
    """X with the singular directions of X D^(1/2) below ``level`` (relative) removed."""
    U, s, Vt = np.linalg.svd(X * red.root_n)
    keep = s > level * s[..., :1]
    return ((U * (s * keep)[..., None, :]) @ Vt) / red.root_n


def cut_best(red: ReducedCE, X: np.ndarray, b: np.ndarray | None):
    """Per point of a stack, X or a cut of it, whichever scores lower.

    The cuts drop the singular directions of X D^(1/2) below each of
    ``CUT_LEVELS`` (relative), or all of them (the origin); the bias is
    re-optimized for each.  X itself is kept unless a cut is strictly lower.

    Parameters
    ----------
    X : ndarray, shape (S, K, K)
    b : ndarray, shape (S, K), or None

    Returns
    -------
    X, b, value, rank
        The chosen points (stacked), their exact objectives and ranks.
    """
    S, K = X.shape[0], red.K
    U, s, Vt = np.linalg.svd(X * red.root_n)
    top = s[:, :1]
    alive = (s > RANK_RTOL * top) & (top > 0)
    levels = np.array([0.0, *CUT_LEVELS, np.inf])
    keep = alive[:, None, :] & (s[:, None, :] > levels[None, :, None] * top[:, None, :])
    options = ((U[:, None] * (s[:, None, :] * keep)[..., None, :]) @ Vt[:, None]) / red.root_n
    options[:, 0] = X
    penalty = red.c * np.sum(np.where(keep, s[:, None, :], 0.0) ** red.q, axis=-1)
    flat = options.reshape(-1, K, K)
    if red.bias:
        b0 = None if b is None else np.repeat(b, levels.size, axis=0)
        bias = red.best_bias(flat, b0).reshape(S, -1, K)
        values = red.ce(flat, bias.reshape(-1, K))[0].reshape(S, -1) + penalty
    else:
        bias = None
        values = red.ce(flat)[0].reshape(S, -1) + penalty
    choice = np.argmin(values, axis=1)
    rows = np.arange(S)
    return (options[rows, choice], None if bias is None else bias[rows, choice],
            values[rows, choice], keep[rows, choice].sum(axis=1))


def run_starts(red: ReducedCE, starts: list[Start], maxiter: int = 1000,
               gtol: float = EXPLORE_GTOL) -> list[LocalMinimum]:
    """Local minimizations from every start, stacked (one L-BFGS pass per stack).

    Starts of similar widths share one stack (:func:`_width_groups`), the
    narrower ones embedded as zero-padded, masked factors
    (:meth:`FactorObjective.embed`), so the per-call overhead is paid once for
    all of them.  End points are centred and their vanishing directions cut
    (:func:`cut_best`), but not yet re-minimized; :func:`refine_runs` does that
    for the runs worth it.  The result is in the order of ``starts``.
    """
    out: list[LocalMinimum | None] = [None] * len(starts)
    for width, members in _width_groups(red, {s.width for s in starts}).items():
        group = [i for i, s in enumerate(starts) if s.width in members]
        fo = factor_form(red, width)
        padded = [fo.embed(starts[i].theta, starts[i].width) for i in group]
        x0 = np.stack([p[0] for p in padded])
        mask = None if len(members) == 1 else np.stack([p[1] for p in padded])
        end = minimize_stack(fo, x0, maxiter, gtol, mask=mask)
        X, b = fo.logits(end.x)
        X, b, values, ranks = cut_best(red, _centre(X), b)
        for j, i in enumerate(group):
            out[i] = LocalMinimum(starts[i].label, float(values[j]), int(ranks[j]), X[j],
                                  None if b is None else b[j], int(end.iterations[j]))
    return out


def _width_groups(red: ReducedCE, widths: set[int]) -> dict[int, list[int]]:
    """Widths that share a stack, keyed by the stack's width.

    Consecutive widths join while the padded factor vector stays at most
    ``PAD_RATIO`` times the narrowest member's: padding costs arithmetic, a
    separate stack costs per-call overhead.
    """
    groups: dict[int, list[int]] = {}
    members: list[int] = []
    for w in sorted(widths):
        if members and factor_form(red, w).size > PAD_RATIO * factor_form(
                red, members[0]).size:
            groups[members[-1]] = members
            members = []
        members.append(w)
    if members:
        groups[members[-1]] = members
    return groups


def local_search(red: ReducedCE, theta: np.ndarray, width: int, start: str,
                 maxiter: int = 1000, gtol: float = EXPLORE_GTOL) -> LocalMinimum:
    """One local minimization (see :func:`run_starts`)."""
    return run_starts(red, [Start(start, width, theta)], maxiter, gtol)[0]


def refine_runs(red: ReducedCE, runs: list[LocalMinimum],
                maxiter: int = 4000) -> list[LocalMinimum]:
    """Re-balance each run's end point at its rank and minimize to a tight tolerance.

    A run is replaced only where that lowers its objective; runs of the same
    rank are minimized together.
    """
    out = list(runs)
    for rank in sorted({r.rank for r in runs if r.rank > 0}):
        group = [i for i, r in enumerate(runs) if r.rank == rank]
        fo = factor_form(red, rank)
        theta0 = np.stack([fo.balanced_point(runs[i].X, runs[i].b) for i in group])
        end = minimize_stack(fo, theta0, maxiter, REFINE_GTOL)
        X, b = fo.logits(end.x)
        X = _centre(X)
        if red.bias:
            b = red.best_bias(X, b)
        values = red.ce(X, b)[0] + red.penalty(X)
        for j, i in enumerate(group):
            if values[j] < runs[i].objective:
                out[i] = dataclasses.replace(
                    runs[i], objective=float(values[j]), rank=red.rank(X[j]), X=X[j],
                    b=None if b is None else b[j],
                    iterations=runs[i].iterations + int(end.iterations[j]), refined=True)
            else:
                out[i] = dataclasses.replace(runs[i], refined=True)
    return out


def refine(red: ReducedCE, run: LocalMinimum, maxiter: int = 4000) -> LocalMinimum:
    """One run through :func:`refine_runs`."""
    return refine_runs(red, [run], maxiter)[0]


def polish(red: ReducedCE, X: np.ndarray, b: np.ndarray | None,
           maxiter: int = 2000) -> tuple[np.ndarray, np.ndarray | None, float, int]:
    """Centre, cut vanishing directions, re-balance at the found rank and minimize again.

    Returns
    -------
    X, b, value, iterations
        The polished logits and bias, the exact objective and the iterations used.
    """
    Xc, bc, value, rank = cut_best(red, _centre(X)[None], None if b is None else b[None])
    run = LocalMinimum("polish", float(value[0]), int(rank[0]), Xc[0],
                       None if bc is None else bc[0], 0)
    run = refine(red, run, maxiter)
    return run.X, run.b, run.objective, run.iterations


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
                 maxiter: int, hops: int | None, extra: tuple[Start, ...]) -> Steps:
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
    runs += yield from swap_descent(red, runs, rng, near)
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
                maxiter: int = EXPLORE_MAXITER) -> list[LocalMinimum]:
    """Two independent searches, a shared final stage, and near-best runs refined.

    Two searches as :func:`global_search`'s with ``restarts`` random starts each,
    their generators seeded with (seed, 1) and (seed, 2), run in :func:`lockstep`
    (each as it would run alone, at the per-call cost of one); their runs carry
    ``batch`` 1 and 2, so a caller can tell whether both found the same best
    point.  Then the best point of each batch is carried through the nearby
    problems of :func:`continuation` (batch 0), and every run within
    ``NEAR_RTOL`` of the best (up to ``NEAR_MAX``) is refined, so that the
    runs counted as reaching the best are counted on accurate objectives.
    """
    searches = [search_steps(red, candidates, restarts, seeds, (seed, batch), maxiter, None,
                             extra) for batch in (1, 2)]
    found = refine_leaders_of(red, lockstep(red, searches), REFINE_BEST, REFINE_MAXITER)
    runs = [dataclasses.replace(r, batch=batch) for batch, mine in zip((1, 2), found)
            for r in mine]
    tops = [min(mine, key=lambda r: r.objective) for k in (1, 2)
            if (mine := [r for r in runs if r.batch == k])]
    runs += continuation(red, tops, maxiter)
    return refine_near(red, runs, REFINE_MAXITER)


def refine_near(red: ReducedCE, runs: list[LocalMinimum], maxiter: int,
                rtol: float = NEAR_RTOL, most: int = NEAR_MAX) -> list[LocalMinimum]:
    """Refine (:func:`refine_runs`) the unrefined runs within ``rtol`` of the best."""
    if not runs:
        return runs
    low = min(r.objective for r in runs)
    near = sorted((i for i, r in enumerate(runs)
                   if not r.refined and r.objective <= low + rtol * abs(low)),
                  key=lambda i: runs[i].objective)[:most]
    out = list(runs)
    for i, run in zip(near, refine_runs(red, [runs[i] for i in near], maxiter)):
        out[i] = run
    return out


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


def refine_leaders(red: ReducedCE, runs: list[LocalMinimum], count: int,
                   maxiter: int) -> list[LocalMinimum]:
    """Refine the ``count`` best runs with distinct objectives (:func:`refine_runs`)."""
    return refine_leaders_of(red, [runs], count, maxiter)[0]


def refine_leaders_of(red: ReducedCE, searches: list[list[LocalMinimum]], count: int,
                      maxiter: int) -> list[list[LocalMinimum]]:
    """:func:`refine_leaders` in each of several lists of runs, in one refinement call."""
    chosen = [_leaders(runs, count) for runs in searches]
    refined = iter(refine_runs(red, [runs[j] for runs, js in zip(searches, chosen) for j in js],
                               maxiter))
    out = [list(runs) for runs in searches]
    for runs, js in zip(out, chosen):
        for j in js:
            runs[j] = next(refined)
    return out


def _leaders(runs: list[LocalMinimum], count: int) -> list[int]:
    """Indices of the ``count`` best runs with distinct objectives (relative 1e-9)."""
    chosen: list[int] = []
    for j in sorted(range(len(runs)), key=lambda j: runs[j].objective):
        if len(chosen) >= count:
            break
        v = runs[j].objective
        if not any(abs(runs[i].objective - v) <= 1e-9 * v for i in chosen):
            chosen.append(j)
    return chosen


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
        width = _seed_width(red, best.rank)
        fo = factor_form(red, width)
        starts = []
        for i in range(first, min(first + HOP_ROUND, count)):
            X, bias = best.X, best.b
            if i % 2 == 0 and red.K > 2 and pairs:
                a, b = pairs[rng.integers(len(pairs))]
                X, bias = _swapped(X, best.b, a, b)
                label = f"hop {i + 1} (classes {a} and {b} swapped)"
            else:
                label = f"hop {i + 1} (factors jittered)"
            noise = 0.02 if i % 2 == 0 else 0.1
            starts.append(Start(label, width, fo.balanced_point(X, bias, rng=rng,
                                                                noise=noise)))
        found = yield starts, maxiter
        out += found
        best = min([best, *found], key=lambda r: r.objective)
    return out


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

