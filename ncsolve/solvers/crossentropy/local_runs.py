"""Stacked local minimizations of the reduced cross-entropy problem, and their polish.

A run is L-BFGS on the smooth factor form X D^(1/2) = A_L ... A_1
(:class:`~ncsolve.solvers.crossentropy.factor_form.FactorObjective`) from one
:class:`Start`; runs of similar widths share one stack (:func:`run_starts`).
Each end point is polished: logits are centred (cross-entropy ignores a common
shift of a column, the penalty can only drop), singular values that are numerically
vanishing are cut (:func:`cut_best`), and the runs worth it are re-balanced at their
rank and minimized again to a tight tolerance (:func:`refine_runs`).  The reported
value is the exact reduced objective, never the factor-form value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ...core.constants import RANK_RTOL
from ...core.lbfgs import minimize_stack
from .budget import chunks, start_bytes
from .factor_form import FactorObjective
from .reduced import ReducedCE

__all__ = ["LocalMinimum", "Start", "cut_best", "factor_form", "local_search", "polish",
           "refine", "refine_leaders", "refine_leaders_of", "refine_near", "refine_runs",
           "run_starts"]

CUT_LEVELS = (1e-3, 1e-5, 1e-7, 1e-9)  # relative singular-value levels tried when cutting
EXPLORE_GTOL = 1e-6  # gradient tolerance of exploratory runs
REFINE_GTOL = 1e-11  # gradient tolerance of refined runs
REFINE_MAXITER = 4000  # iteration budget of a refined run
PAD_RATIO = 3.0  # narrower starts join a wider stack up to this factor-size ratio
PROFILE_BIAS = False  # optimize a free bias inside every evaluation (variable projection)
NEAR_RTOL = 1e-3  # runs this close to the best (relative) are refined before counting hits
NEAR_MAX = 32  # ... at most this many


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
    with np.errstate(invalid="ignore"):  # inf x 0 at the origin, where nothing is alive
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
        for part in chunks(len(group), start_bytes(red.K, red.L, width)):
            _run_group(red, starts, group[part], width, len(members) > 1, maxiter, gtol, out)
    return out


def _run_group(red: ReducedCE, starts: list[Start], group: list[int], width: int,
               padded_widths: bool, maxiter: int, gtol: float, out: list) -> None:
    """One stack of :func:`run_starts` (starts ``group`` at factor width ``width``)."""
    fo = factor_form(red, width)
    padded = [fo.embed(starts[i].theta, starts[i].width) for i in group]
    x0 = np.stack([p[0] for p in padded])
    mask = np.stack([p[1] for p in padded]) if padded_widths else None
    end = minimize_stack(fo, x0, maxiter, gtol, mask=mask)
    X, b = fo.logits(end.x)
    X, b, values, ranks = cut_best(red, _centre(X), b)
    for j, i in enumerate(group):
        out[i] = LocalMinimum(starts[i].label, float(values[j]), int(ranks[j]), X[j],
                              None if b is None else b[j], int(end.iterations[j]))


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
        every = [i for i, r in enumerate(runs) if r.rank == rank]
        for part in chunks(len(every), start_bytes(red.K, red.L, rank)):
            _refine_group(red, runs, every[part], rank, maxiter, out)
    return out


def _refine_group(red: ReducedCE, runs: list[LocalMinimum], group: list[int], rank: int,
                  maxiter: int, out: list) -> None:
    """One stack of :func:`refine_runs` (runs ``group``, all of rank ``rank``)."""
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
