"""Numerical global search of the reduced K x K cross-entropy problem.

Local minimizations run L-BFGS on the smooth factor form X D^(1/2) = A_L ... A_1
(:class:`~ncsolve.crossentropy.reduced.FactorObjective`), from

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

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .candidates import Candidate
from .reduced import FactorObjective, ReducedCE

__all__ = ["LocalMinimum", "global_search", "local_search", "polish", "refine", "width_ladder"]

CUT_LEVELS = (1e-3, 1e-5, 1e-7, 1e-9)  # relative singular-value levels tried when cutting
EXPLORE_GTOL = 1e-6  # gradient tolerance of exploratory runs (refined runs use 1e-11)
LADDER = (3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 2)  # factor widths of random starts, in order
PERMUTED_FROM = 3  # every third random start permutes the classes of one of this many leaders
FULL_WIDTH_UP_TO = 24  # candidate-seeded runs use the full width up to this many classes


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
    """

    start: str
    objective: float
    rank: int
    X: np.ndarray
    b: np.ndarray | None
    iterations: int


def _lbfgs(fo: FactorObjective, theta: np.ndarray, maxiter: int,
           gtol: float = 1e-11) -> tuple[np.ndarray, int]:
    """L-BFGS from ``theta``; ``gtol`` is relative to the starting objective.

    scipy's gradient tolerance is absolute.  Objectives scale with the decay
    (about 1e-297 at decay 1e-300), so the objective is divided by its starting
    value when that is below 1; ordinary problems (objective of order 1) are
    unaffected.
    """
    unit = min(1.0, fo(theta)[0])
    if not unit > 0:
        return theta, 0

    def scaled(t: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = fo(t)
        return value / unit, grad / unit

    options = {"maxiter": maxiter, "maxfun": 2 * maxiter, "gtol": gtol, "ftol": 1e-16,
               "maxcor": 10}
    out = minimize(scaled, theta, jac=True, method="L-BFGS-B", options=options)
    return out.x, int(out.nit)


def _centre(X: np.ndarray) -> np.ndarray:
    return X - X.mean(axis=0, keepdims=True)


def _cut(red: ReducedCE, X: np.ndarray, level: float) -> np.ndarray:
    """X with the singular directions of X D^(1/2) below ``level`` (relative) removed."""
    U, s, Vt = np.linalg.svd(X * red.root_n[None, :])
    keep = s > level * s[0] if s[0] > 0 else np.zeros_like(s, dtype=bool)
    Y = (U[:, keep] * s[keep]) @ Vt[keep]
    return Y / red.root_n[None, :]


def _score(red: ReducedCE, X: np.ndarray, b: np.ndarray | None) -> tuple[float, np.ndarray | None]:
    if red.bias:
        b = red.best_bias(X, b)
    return red.value(X, b), b


def _cut_best(red: ReducedCE, X: np.ndarray,
              b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, float]:
    """X or a cut of it (vanishing singular directions removed, or all of them), whichever
    scores lower."""
    best_X, (best_v, best_b) = X, _score(red, X, b)
    for level in (*CUT_LEVELS, np.inf):  # np.inf cuts everything: the origin
        Xc = _cut(red, X, level) if np.isfinite(level) else np.zeros_like(X)
        v, bc = _score(red, Xc, best_b)
        if v < best_v:
            best_X, best_v, best_b = Xc, v, bc
    return best_X, best_b, best_v


def polish(red: ReducedCE, X: np.ndarray, b: np.ndarray | None,
           maxiter: int = 2000) -> tuple[np.ndarray, np.ndarray | None, float, int]:
    """Centre, cut vanishing directions, re-balance at the found rank and minimize again.

    Returns
    -------
    X, b, value, iterations
        The polished logits and bias, the exact objective and the iterations used.
    """
    best_X, best_b, best_v = _cut_best(red, _centre(X), b)
    rank = red.rank(best_X)
    if rank == 0:
        return best_X, best_b, best_v, 0
    fo = FactorObjective(red, rank)
    theta, its = _lbfgs(fo, fo.balanced_point(best_X, best_b), maxiter, 1e-11)
    X2, b2 = fo.logits(theta)
    X2 = _centre(X2)
    v2, b2 = _score(red, X2, b2)
    if v2 < best_v:
        return X2, b2, v2, its
    return best_X, best_b, best_v, its


def local_search(red: ReducedCE, theta: np.ndarray, width: int, start: str,
                 maxiter: int = 1000, gtol: float = EXPLORE_GTOL) -> LocalMinimum:
    """L-BFGS on the factor form of the given width from ``theta`` (a coarse tolerance).

    The end point is centred and its vanishing directions cut, but not yet
    re-minimized; :func:`refine` does that for the runs worth it.
    """
    fo = FactorObjective(red, width)
    theta, its = _lbfgs(fo, theta, maxiter, gtol)
    X, b = fo.logits(theta)
    X, b, value = _cut_best(red, _centre(X), b)
    return LocalMinimum(start, value, red.rank(X), X, b, its)


def refine(red: ReducedCE, run: LocalMinimum, maxiter: int = 4000) -> LocalMinimum:
    """Re-balance a run's end point at its rank and minimize to a tight tolerance."""
    X, b, value, its = polish(red, run.X, run.b, maxiter)
    if value >= run.objective:
        return run
    return LocalMinimum(run.start, value, red.rank(X), X, b, run.iterations + its)


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


def width_ladder(rank_cap: int, count: int) -> list[int]:
    """Factor widths of the random starts: small widths first, the full width included.

    Low widths are cheap and reach the low-rank structures that a strong
    low-rank bias favours; the full width mimics gradient descent on the full
    model (first for small rank caps, last for large ones, where it is the
    most expensive run).  The list cycles when ``count`` exceeds the number of
    widths.
    """
    small = [w for w in LADDER if w < rank_cap]
    order = [rank_cap] + small if rank_cap <= FULL_WIDTH_UP_TO else small + [rank_cap]
    return [order[i % len(order)] for i in range(count)]


def _seed_width(red: ReducedCE, rank: int) -> int:
    """Width for a run started at a candidate of the given rank (room to grow)."""
    if red.K <= FULL_WIDTH_UP_TO:
        return red.rank_cap
    return min(red.rank_cap, max(rank + 2 + rank // 4, 2))


def global_search(red: ReducedCE, candidates: list[Candidate], restarts: int = 8,
                  seeds: int = 3, seed: int = 0, maxiter: int = 1000,
                  refine_best: int = 3, hops: int | None = None) -> list[LocalMinimum]:
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
    seed : int
        Seed of the random generator.
    maxiter : int
        L-BFGS iteration budget of one run.
    refine_best : int
        Number of best distinct end points re-minimized to a tight tolerance.
    hops : int, optional
        Basin-hopping steps from the best end point so far (default
        ``restarts // 2``): two classes swapped or the factors jittered by 10%,
        then a local search; the hop is kept when it lowers the objective.

    Returns
    -------
    list of LocalMinimum
        One per run, candidate-seeded runs first.
    """
    rng = np.random.default_rng(seed)
    runs = []
    for cand in _seeds(candidates, seeds):
        fo = FactorObjective(red, _seed_width(red, cand.rank))
        theta = fo.balanced_point(cand.X, cand.b, rng=rng, noise=1e-3)
        runs.append(local_search(red, theta, fo.width, f"candidate: {cand.name}", maxiter))
    typical = _typical_singular_value(red, candidates)
    leaders = _seeds(candidates, PERMUTED_FROM)
    widths = width_ladder(red.rank_cap, int(restarts))
    for i, width in enumerate(widths):
        if leaders and i % 3 == 2:
            cand = leaders[(i // 3) % len(leaders)]
            label = f"random start {i + 1} (classes of '{cand.name}' permuted)"
            runs.append(_permuted_run(red, cand, rng, label, maxiter))
            continue
        fo = FactorObjective(red, width)
        scale = typical if i % 2 == 0 else 0.05 * typical
        theta = fo.random_point(rng, scale)
        runs.append(local_search(red, theta, width, f"random start {i + 1} (width {width})",
                                 maxiter))
    runs += _hops(red, runs, rng, int(restarts) // 2 if hops is None else int(hops), maxiter)
    order = sorted(range(len(runs)), key=lambda j: runs[j].objective)
    done: list[float] = []
    for j in order:
        if len(done) >= refine_best:
            break
        if any(abs(runs[j].objective - v) <= 1e-9 * v for v in done):
            continue
        runs[j] = refine(red, runs[j], 4 * maxiter)
        done.append(runs[j].objective)
    return runs


def _hops(red: ReducedCE, runs: list[LocalMinimum], rng: np.random.Generator, count: int,
          maxiter: int) -> list[LocalMinimum]:
    """Basin hopping from the best run: perturb, minimize, keep improvements."""
    if not runs or count <= 0:
        return []
    best = min(runs, key=lambda r: r.objective)
    out = []
    for i in range(count):
        if best.rank == 0:
            break
        X = best.X.copy()
        if i % 2 == 0 and red.K > 2:
            a, b = rng.choice(red.K, size=2, replace=False)
            perm = np.arange(red.K)
            perm[[a, b]] = perm[[b, a]]
            X = X[np.ix_(perm, perm)]
            label = f"hop {i + 1} (classes {a} and {b} swapped)"
        else:
            label = f"hop {i + 1} (factors jittered)"
        fo = FactorObjective(red, _seed_width(red, best.rank))
        noise = 0.02 if i % 2 == 0 else 0.1
        theta = fo.balanced_point(X, best.b, rng=rng, noise=noise)
        run = local_search(red, theta, fo.width, label, maxiter)
        out.append(run)
        if run.objective < best.objective:
            best = run
    return out


def _permuted_run(red: ReducedCE, cand: Candidate, rng: np.random.Generator, label: str,
                  maxiter: int) -> LocalMinimum:
    """Local search from a candidate whose classes are randomly re-assigned to its vertices.

    For imbalanced classes the placement of classes on a structure matters (which
    classes are antipodal, grouped or neighbours); this explores it.
    """
    perm = rng.permutation(red.K)
    X = cand.X[np.ix_(perm, perm)] * np.exp(0.2 * rng.standard_normal())
    fo = FactorObjective(red, _seed_width(red, cand.rank))
    theta = fo.balanced_point(X, None, rng=rng, noise=0.05)
    return local_search(red, theta, fo.width, label, maxiter)


def _typical_singular_value(red: ReducedCE, candidates: list[Candidate]) -> float:
    """Largest singular value of X D^(1/2) over the candidates (a scale for random starts)."""
    top = [red.singular_values(c.X)[0] for c in candidates if c.scale > 0]
    if top:
        return float(max(top))
    return float(8.0 * np.sqrt(np.mean(np.asarray(red.problem.n, float))))

