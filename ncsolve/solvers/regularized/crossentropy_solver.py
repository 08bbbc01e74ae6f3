"""solve_ce(problem): cross-entropy with a regularized bias, and how certain the answer is."""

from __future__ import annotations

import dataclasses

import numpy as np
from threadpoolctl import threadpool_limits

from ...inputs.problem import Problem
from ..crossentropy.result import feature_shape
from ...core.constants import BEST_FOUND, PROVED, SAME_MINIMUM_RTOL, TIE_RTOL
from ..crossentropy.result import RunSummary
from ..crossentropy.solver import solve as solve_limit
from .crossentropy_result import RegularizedCESolution
from .solver import position_of
from .reduced_crossentropy import CEPoint, RegularizedCE, typical_singular_value

PROOF_RTOL = 1e-7  # depth 1: a duality gap below this (relative) proves the answer
DEFAULT_RESTARTS = 4  # random starts besides the two limits and the origin


def solve_ce(problem: Problem, restarts: int | None = None, seed: int = 0
             ) -> RegularizedCESolution:
    """Best minimizer of the CE model with the bias penalty ``lambda_b/2 ||b||^2``.

    Starts: the free-bias answer and the bias-free answer of
    :func:`ncsolve.solvers.crossentropy.solve` (the two limits of lambda_b), the origin
    with its optimal bias, and ``restarts`` random factor-form points.

    Parameters
    ----------
    problem : Problem
        ``bias == "regularized"``.
    restarts : int, optional
        Random starts of the local search (default 4); also passed to the two
        limit solves.
    seed : int

    Returns
    -------
    RegularizedCESolution
    """
    restarts = DEFAULT_RESTARTS if restarts is None else int(restarts)
    rce = RegularizedCE(problem)
    width = min(problem.rank_cap, problem.K)
    with threadpool_limits(limits=1, user_api="blas"):  # K x K arrays: threads only cost
        limits = {}
        for bias in ("free", "none"):
            limit = solve_limit(dataclasses.replace(problem, bias=bias, lambda_b=None),
                                restarts=restarts, seed=seed)
            limits[bias] = limit
        points = [rce.origin()]  # first: _best relies on it
        if problem.K > 1:
            points += _searches(rce, limits, width, restarts, seed)
    return _assemble(rce, _best(rce, points), points, limits, restarts)


def _best(rce: RegularizedCE, points: list[CEPoint]) -> CEPoint:
    """The lowest loss; the origin when it is proved optimal; lower rank on rounding ties."""
    if rce.problem.lbar >= rce.origin_proof_decay():
        return points[0]  # the origin
    low = min(p.loss for p in points)
    ties = [p for p in points if p.loss <= low + TIE_RTOL * abs(low)]
    return min(ties, key=lambda p: (p.rank, p.loss))


def _searches(rce: RegularizedCE, limits: dict, width: int, restarts: int,
              seed: int) -> list[CEPoint]:
    rng = np.random.default_rng(seed)
    starts = [(f"{name} (lambda_b -> {'0' if bias == 'free' else 'inf'})",
               rce.balanced_start(limits[bias].logits, width, rng))
              for bias, name in (("free", "free-bias answer"), ("none", "bias-free answer"))]
    points = rce.descend(starts, width)
    scale = typical_singular_value(points, rce.red.root_n)
    starts = [(f"random start {i}",
               rce.random_start(rng, width, scale * (1.0 if i % 2 == 0 else 1e-2)))
              for i in range(restarts)]
    return points + (rce.descend(starts, width) if starts else [])


def _assemble(rce: RegularizedCE, best: CEPoint, points: list[CEPoint], limits: dict,
              restarts: int) -> RegularizedCESolution:
    problem = rce.problem
    certainty, gap, notes = _certainty(rce, best, points, restarts)
    # Gram shapes up to a power of two: finite even where decays far apart put the Grams
    # themselves outside float64
    limit_grams = tuple(feature_shape(problem, limits[bias].logits, limits[bias].rank)
                        for bias in ("free", "none"))
    return RegularizedCESolution(
        problem=problem, loss=best.loss, logits=best.X, bias_value=best.b, rank=best.rank,
        ce_loss=float(rce.red.ce(best.X, best.b)[0]),
        bias_penalty=0.5 * rce.lambda_b * float(best.b @ best.b),
        class_loss=rce.red.class_losses(best.X, best.b), certainty=certainty,
        notes=tuple(notes), duality_gap=gap,
        runs=tuple(RunSummary(p.start, p.loss, p.rank, p.iterations)
                   for p in sorted(points, key=lambda p: p.loss)),
        limit_losses=(float(limits["free"].loss), float(limits["none"].loss)),
        toward_bias_free=position_of(feature_shape(problem, best.X, best.rank), *limit_grams),
        origin_decay_proved=rce.origin_proof_decay())


def _certainty(rce: RegularizedCE, best: CEPoint, points: list[CEPoint],
               restarts: int) -> tuple[str, float | None, list[str]]:
    """How certain the best point is, the depth-1 duality gap (or None), and the notes."""
    problem = rce.problem
    notes = []
    gap = None
    certainty = BEST_FOUND
    origin_decay = rce.origin_proof_decay()
    if problem.K == 1:
        certainty = PROVED
        notes.append("a single class: cross-entropy is 0, so only the penalties count and the "
                     "origin (bias 0) is the unique global minimizer")
    elif best.rank == 0 and problem.lbar >= origin_decay:
        certainty = PROVED
        notes.append(f"the origin is a global minimizer: lbar = {problem.lbar:.6g} >= "
                     f"{origin_decay:.6g} (convexity of the data term minimized over the bias, "
                     "and sum sigma^q >= (sum sigma)^q)")
    if problem.depth == 1 and problem.K > 1:
        gap = best.loss - rce.dual_bound(best.X, best.b)
        if abs(gap) <= PROOF_RTOL * abs(best.loss):
            certainty = PROVED
        notes.append(f"depth 1 is jointly convex in the logits and the bias (Hong & Ling): "
                     f"duality gap {gap:.3g} ({gap / best.loss:.2g} relative)")
    if certainty == BEST_FOUND:
        hits = sum(abs(p.loss - best.loss) <= SAME_MINIMUM_RTOL * abs(best.loss) for p in points)
        notes.append(f"best found: local searches from {len(points)} starts (the origin, the "
                     f"free-bias and bias-free answers, {restarts} random); {hits} reached the "
                     "reported loss; depth >= 2 is not convex, so this is not a proof")
    if problem.rank_cap < problem.K:
        notes.append(f"rank capped at {problem.rank_cap} by the layer widths")
    return certainty, gap, notes
