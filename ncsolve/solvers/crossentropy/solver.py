"""solve(problem): candidates, search, certificate, read-off -> CESolution."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from threadpoolctl import ThreadpoolController

from ...core.constants import BEST_FOUND, PROVED, SAME_MINIMUM_RTOL, TIE_RTOL
from ...inputs.problem import Problem
from ...inputs.validation import WholeNumber, check, invalid, show
from ..mse import solve as solve_mse
from . import certificate
from .budget import check_memory
from .effort import budget
from .candidates import (
    Candidate,
    _normalize,
    fit_scale,
    origin_candidate,
    origin_decay,
    origin_decays,
    simplex_pattern,
    structured_candidates,
)
from .local_runs import (EXPLORE_GTOL, REFINE_GTOL, REFINE_MAXITER, LocalMinimum, Start,
                         factor_form, refine_leaders, run_starts)
from .newton import warm_run
from .reduced import ReducedCE
from .result import BatchSummary, CandidateSummary, CESolution, RunSummary, read_off
from .search import EXPLORE_MAXITER, REFINE_BEST, global_search, two_batches

__all__ = ["PROOF_RTOL", "SAME_RTOL", "default_restarts", "solve"]

SAME_RTOL = SAME_MINIMUM_RTOL  # objectives this close (relative) count as the same minimum
HIT_RTOL = 1e-9  # a refined run this close to the reported objective reached it
PROOF_RTOL = 1e-7  # depth 1: a duality gap below this (relative) makes the answer "proved"
PROOF_ATOL = 1e3 * np.finfo(float).tiny  # absolute floor of that tolerance, far below any objective
NEGATIVE_GAP_ULPS = 4  # a duality gap below -this many ulps of the objective is inconsistent
MAX_RESTARTS_ALLOWED = 100_000  # larger restart counts would run for days
RESTART_BUDGET = 480  # default random starts of each batch ~ RESTART_BUDGET / K ...
MAX_RESTARTS = 24  # ... at most this many
THRESHOLD_LEADERS = 5  # origin thresholds are computed for this many leading candidates
ETF_NAME = "simplex ETF"


def default_restarts(K: int) -> int:
    """Random starts of each of the two batches by default: 24 up to K = 20, 8 from K = 60 on."""
    return int(min(MAX_RESTARTS, max(8, RESTART_BUDGET // max(K, 1))))


def solve(problem: Problem, restarts: int | None = None, seeds: int | None = None,
          seed: int = 0, start=None, effort: str | None = None) -> CESolution:
    """Best minimizer of the deep linear UFM with cross-entropy, and how certain it is.

    Parameters
    ----------
    problem : Problem
        A validated problem (any loss field; cross-entropy is solved).
    restarts : int, optional
        Random starts of each of the two independent batches of the global
        search of the reduced K x K problem; default :func:`default_restarts`
        (24 up to K = 20, 8 for K >= 60) times the effort's factor.  The budget
        of the search: more restarts, more certainty.
    seeds : int, optional
        Number of structured candidates that also start a local search (default:
        the effort's, 3 by default).
    seed : int
        Seed of the random starts (the answer is deterministic for a given seed).
    start : CESolution, optional
        The answer of a nearby problem with the same classes (a neighbouring
        decay).  At depth 1 one local run from its logits is tried first and
        kept when the dual certificate proves it (the answer then lists only the
        origin among its candidates); otherwise, and at any depth, it is one
        more start of the search.
    effort : {"quick", "default", "thorough"}, optional
        The search budget (:mod:`.effort`): about a third of the default search,
        the default, or about three times as much.

    Returns
    -------
    CESolution

    Raises
    ------
    ProblemError
        For invalid ``restarts`` or ``seeds``, or a search that would need more
        memory than :data:`~ncsolve.solvers.crossentropy.budget.LIMIT_BYTES`
        (named parameter ``n``).
    """
    plan = budget(effort)
    if restarts is None:
        restarts = max(2, round(plan.restart_factor * default_restarts(problem.K)))
    restarts, seeds = _check_counts(restarts, plan.seeds if seeds is None else seeds)
    red = ReducedCE(problem)
    check_memory(red.K, red.L, red.rank_cap)
    if problem.K == 1 or certificate.origin_is_proved(red):  # nothing left to search
        return _assemble(red, [origin_candidate(red)], [], int(restarts))
    # small arrays: BLAS threads only add overhead and compete with other work
    with _one_blas_thread():
        warm = () if start is None else (_warm_start(red, start),)
        if warm and red.L == 2:
            origin = [origin_candidate(red)]
            runs = newton_runs(red, start)
            if runs is None:
                runs = convex_runs(red, origin, 0, warm, gtol=REFINE_GTOL)
            if runs is not None:
                return _assemble(red, origin, runs, int(restarts))
        structured = structured_candidates(red)
        if red.L == 2:  # convex: a certified local answer needs no search
            near = nearby_candidates(red, int(restarts), int(seeds), seed, search=False)
            runs = convex_runs(red, structured + near, int(seeds), _starts(red, near) + warm)
            if runs is not None:
                return _assemble(red, structured + near, runs, int(restarts))
        candidates = structured + nearby_candidates(red, int(restarts), int(seeds), seed)
        runs = two_batches(red, candidates, int(restarts), int(seeds), seed,
                           _starts(red, candidates) + warm, swap_rounds=plan.swap_rounds,
                           swap_centres=plan.swap_centres, continue_decays=plan.continuation)
        return _assemble(red, candidates, runs, int(restarts))


WARM_LABEL = "warm start: the answer of a nearby problem"


def _warm_start(red: ReducedCE, start) -> Start:
    """A full-width start at the logits (and bias) of another answer with the same classes."""
    X = np.asarray(getattr(start, "logits", np.zeros(0)), dtype=float)
    if X.shape != (red.K, red.K) or not np.all(np.isfinite(X)):
        raise invalid("start", f"a cross-entropy answer with {red.K} classes (its logits, "
                      f"{red.K} x {red.K}); got {type(start).__name__}", "")
    b = getattr(start, "bias_value", None)
    b = None if not red.bias else (np.zeros(red.K) if b is None else np.asarray(b, float))
    fo = factor_form(red, red.rank_cap)
    return Start(WARM_LABEL, fo.width, fo.balanced_point(X - X.mean(axis=0), b))


def newton_runs(red: ReducedCE, start) -> list[LocalMinimum] | None:
    """Depth 1: Newton steps from a nearby answer (:func:`.newton.warm_run`), kept only
    when the dual certificate proves them (never less certainty than a cold solve)."""
    run = warm_run(red, start, WARM_LABEL)
    if run is None:
        return None
    best = _best(red, [origin_candidate(red)], [run])
    proved = _certainty(red, best.X, best.b, red.value(best.X, best.b))[0] == PROVED
    return [run] if proved else None


def _starts(red: ReducedCE, candidates: list[Candidate]) -> tuple[Start, ...]:
    """Full-width starts at the answers of nearby problems among the candidates."""
    return tuple(_start_from(red, c) for c in candidates if c.name in NEARBY)


def convex_runs(red: ReducedCE, candidates: list[Candidate], seeds: int,
                extra: tuple[Start, ...], gtol: float = EXPLORE_GTOL
                ) -> list[LocalMinimum] | None:
    """Depth 1: local runs from the leading candidates and nearby answers, or None.

    At depth 1 the reduced problem is convex, so a local minimum is global: when
    the best point of these few runs is proved by the dual certificate (the
    duality gap of :func:`_certainty`), random restarts cannot improve it and are
    skipped.  When it is not proved (a rank cap that binds makes the problem
    non-convex, or the gap is not small), the caller runs the full search.
    ``gtol`` is the gradient tolerance of the first runs (a warm start next to the
    answer goes to the tight tolerance at once, and is not refined again: the
    certificate decides either way).
    """
    fo = factor_form(red, red.rank_cap)
    starts = [Start(f"candidate: {c.name}", fo.width, fo.balanced_point(c.X, c.b))
              for c in _leading(candidates, seeds)] + list(extra)
    if not starts:
        return None
    tight = gtol <= REFINE_GTOL  # already at the refined tolerance: no second pass
    runs = run_starts(red, starts, REFINE_MAXITER if tight else EXPLORE_MAXITER, gtol)
    if not tight:
        runs = refine_leaders(red, runs, REFINE_BEST, REFINE_MAXITER)
    runs = [dataclasses.replace(r, batch=1) for r in runs]
    best = _best(red, candidates, runs)
    value = red.value(best.X, best.b)
    certainty = _certainty(red, best.X, best.b, value)[0]
    return runs if certainty == PROVED else None


def _leading(candidates: list[Candidate], count: int) -> list[Candidate]:
    """The ``count`` best non-origin candidates (not the nearby answers, started anyway)."""
    own = [c for c in candidates if c.scale > 0 and c.name not in NEARBY]
    return sorted(own, key=lambda c: c.objective)[:count]


_CONTROLLER: list[ThreadpoolController] = []  # found once: scanning the libraries costs ms


def _one_blas_thread():
    """A context with BLAS on one thread (the controller is built on the first call)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


NEARBY = ("MSE answer, rescaled", "bias-free answer")


def nearby_candidates(red: ReducedCE, restarts: int, seeds: int, seed: int,
                      search: bool = True) -> list[Candidate]:
    """Answers of nearby problems, as candidates of this one.

    * The squared-loss answer of the same problem (its outputs W Hbar, centred),
      at its best scale: it knows which classes collapse under the same decays.
    * With a free bias and ``search``, the bias-free answer (a bias-free search
      with half the random starts), with its optimal bias: every bias-free point
      is feasible, so the free-bias answer is never above it.
    """


    out = []
    mse = solve_mse(dataclasses.replace(red.problem, loss="mse"))
    G = mse.gram_outputs()
    G = G - G.mean(axis=0, keepdims=True)
    if np.any(G):
        G = _normalize(G)
        scale, value, b = fit_scale(red, G)
        if scale > 0:
            out.append(Candidate(NEARBY[0], red.rank(G), value, scale, scale * G, b))
    if red.bias and search:
        none = ReducedCE(dataclasses.replace(red.problem, bias="none"))
        runs = global_search(none, structured_candidates(none), restarts=max(restarts // 2, 4),
                             seeds=seeds, seed=(seed, 3))
        top = min(runs, key=lambda r: r.objective)
        if top.rank > 0:
            b = red.best_bias(top.X)
            out.append(Candidate(NEARBY[1], top.rank, red.value(top.X, b), 1.0, top.X, b))
    return out


def _start_from(red: ReducedCE, cand: Candidate) -> Start:
    """A full-width start at a candidate (balanced factors)."""
    fo = factor_form(red, red.rank_cap)
    return Start(f"candidate: {cand.name}", fo.width, fo.balanced_point(cand.X, cand.b))


def _check_counts(restarts, seeds) -> tuple[int, int]:
    """Both as integers; ProblemError unless non-negative integers of a sensible size."""
    rule = WholeNumber(0)
    counts = check(restarts, rule, "restarts"), check(seeds, rule, "seeds")
    for name, value in zip(("restarts", "seeds"), counts):
        if value > MAX_RESTARTS_ALLOWED:
            raise invalid(name, f"at most {MAX_RESTARTS_ALLOWED} (each one is a local "
                          f"minimization), got {show(value)}")
    return counts


def _assemble(red: ReducedCE, candidates: list[Candidate], runs: list[LocalMinimum],
              restarts: int) -> CESolution:
    problem = red.problem
    best = _best(red, candidates, runs)
    X, b = best.X, best.b
    value = red.value(X, b)
    tol = SAME_RTOL * abs(value)
    rank = red.rank(X)
    cand_summaries, answer_decay = _candidate_summaries(red, candidates, X)
    run_summaries = tuple(RunSummary(r.start, r.objective, r.rank, r.iterations, r.batch)
                          for r in runs)
    runner = _runner_up(value, tol, cand_summaries, run_summaries)
    batches = _batches(runs, value)
    certainty, reason, dual_gap = _certainty(red, X, b, value, batches)
    geometry = _geometry(red, X, rank, best, candidates, value, tol)
    etf = next((c for c in candidates if c.name == ETF_NAME), None)
    best_decay = max([c.origin_decay for c in cand_summaries if c.origin_decay >= 0]
                     + [answer_decay])
    ce_value = red.ce(X, b)[0]
    return CESolution(
        problem=problem, loss=value, ce_loss=ce_value, penalty=value - ce_value,
        logits=X, bias_value=b, rank=rank, certainty=certainty, certainty_reason=reason,
        restarts=restarts, hits=sum(_hit(r.objective, value) for r in runs),
        runner_up=runner, gap=None if runner is None else runner.loss - value,
        duality_gap=dual_gap, geometry=geometry, unique=_unique(red, X, rank),
        candidates=cand_summaries, runs=run_summaries,
        etf_scale=math.nan if etf is None else etf.scale,
        etf_loss=math.nan if etf is None else etf.objective,
        origin_decay_etf=_etf_decay(red, cand_summaries),
        origin_decay_best=best_decay,
        origin_decay_proved=certificate.origin_proof_decay(red),
        layers=read_off(problem, X, rank),
        class_loss=red.class_losses(X, b), margin=_margins(X, b),
        notes=_notes(red, X, b, rank, certainty, batches), batches=batches,
    )


def _hit(objective: float, value: float) -> bool:
    return abs(objective - value) <= HIT_RTOL * abs(value)


def _batches(runs: list[LocalMinimum], value: float) -> tuple[BatchSummary, ...]:
    """Best objective and hits of each independent batch (1 and 2) of the search."""
    out = []
    for k in (1, 2):
        mine = [r for r in runs if r.batch == k]
        if mine:
            out.append(BatchSummary(k, min(r.objective for r in mine),
                                    sum(_hit(r.objective, value) for r in mine), len(mine)))
    return tuple(out)


# ---- choosing and ranking -------------------------------------------------------------


def _best(red: ReducedCE, candidates: list[Candidate], runs: list[LocalMinimum]):
    """Lowest objective; the origin when it is proved optimal; lower rank on rounding ties."""
    if certificate.origin_is_proved(red):
        return next(c for c in candidates if c.rank == 0)
    pool = list(candidates) + list(runs)
    low = min(item.objective for item in pool)
    ties = [item for item in pool if item.objective <= low + TIE_RTOL * abs(low)]
    return min(ties, key=lambda item: (item.rank, item.objective))


def _candidate_summaries(red: ReducedCE, candidates: list[Candidate], X: np.ndarray):
    """Summaries, best first, and the origin threshold of the answer X.

    Origin thresholds are computed (together) for the ETF and the leading
    candidates only.
    """
    ordered = sorted(candidates, key=lambda c: c.objective)
    wanted = [i for i, c in enumerate(ordered)
              if c.scale > 0 and (i < THRESHOLD_LEADERS or c.name == ETF_NAME)]
    # without the ETF among them, its threshold (a field of the answer) joins the stack
    etf = [] if red.K < 2 or any(ordered[i].name == ETF_NAME for i in wanted) else \
        [simplex_pattern(red.K)]
    decays = origin_decays(red, np.stack([ordered[i].X for i in wanted] + etf + [X]))
    by_index = dict(zip(wanted, decays))
    out = tuple(CandidateSummary(c.name, c.rank, c.objective, c.scale,
                                 float(by_index.get(i, math.nan)))
                for i, c in enumerate(ordered))
    red.__dict__["_etf_decay"] = float(decays[-2]) if etf else None
    return out, float(decays[-1])


def _runner_up(value, tol, candidates, runs):
    """Best candidate or run whose objective is strictly above the reported one."""
    above = [item for item in (*candidates, *runs) if item.loss > value + tol]
    return min(above, key=lambda item: item.loss) if above else None


def _certainty(red: ReducedCE, X, b, value, batches=()) -> tuple[str, str, float | None]:
    if red.K == 1:
        return PROVED, SINGLE_CLASS_REASON, None
    if red.rank(X) == 0 and certificate.origin_is_proved(red):
        bound = certificate.origin_proof_decay(red)
        reason = (f"the origin is a global minimizer: lbar = {red.lbar:.6g} >= {bound:.6g} "
                  "(bound from convexity of cross-entropy and sum sigma^q >= (sum sigma)^q)")
        return PROVED, reason, None
    if red.L == 2:
        memo = red.__dict__.get("_proof")  # the same point is proved before it is assembled
        if memo is not None and memo[0] is X and memo[1] is b and memo[2] == value:
            return memo[3]
        gap = value - certificate.dual_bound(red, X, b)
        verdict = (*_gap_verdict(gap, value), gap)
        red.__dict__["_proof"] = (X, b, value, verdict)
        return verdict
    reason = (f"depth {red.problem.depth} >= 2: the reduced problem is not convex; the best "
              "of the structured candidates and the numerical search is reported. "
              + _batch_verdict(batches, value))
    return BEST_FOUND, reason, None


def _batch_verdict(batches, value: float) -> str:
    """What the two independent batches of starts say about the reported point."""
    if len(batches) < 2:
        return ""
    parts = [f"batch {s.batch}: {s.hits} of {s.runs} runs reached it" for s in batches]
    text = "Two independent batches of starts (" + "; ".join(parts) + ")"
    missed = [s for s in batches if not _hit(s.loss, value)]
    if not missed:
        return text + " both found this point."
    worse = "; ".join(f"batch {s.batch} ended at best {s.loss:.10g} "
                      f"({(s.loss - value) / abs(value):.2g} relative above)" for s in missed)
    return (text + f" disagree: {worse}. The lower point is reported; more restarts "
            "(--restarts) may find a lower one still.")


SINGLE_CLASS_REASON = ("a single class: cross-entropy is 0 for any logits, so only the "
                       "penalty counts and the origin (all parameters zero, objective 0) is "
                       "the unique global minimizer")


def _gap_verdict(gap: float, value: float) -> tuple[str, str]:
    """Certainty and reason from a depth-1 duality gap (primal minus a safe dual bound).

    The proof tolerance is relative to the objective (with a floor far below any
    attainable objective), so it means the same at every decay.  A gap below
    minus a few ulps of the objective cannot happen for an exact primal value: it
    signals a numerical inconsistency and proves nothing.
    """
    if gap < -NEGATIVE_GAP_ULPS * np.spacing(abs(value)):
        return BEST_FOUND, (f"depth 1 is convex, but the duality gap {gap:.3g} is negative "
                              "beyond rounding: a numerical inconsistency, so nothing is proved")
    if gap <= PROOF_RTOL * abs(value) + PROOF_ATOL:
        return PROVED, ("depth 1: the reduced problem is convex (cross-entropy is convex in "
                          "the logits, the penalty is c times the nuclear norm of X D^(1/2)); "
                          "a dual-feasible point certifies the objective to within "
                          f"{max(gap, 0.0):.2g} ({max(gap, 0.0) / abs(value):.2g} relative)")
    return BEST_FOUND, (f"depth 1 is convex but the duality gap {gap:.3g} is not small "
                          "(solver tolerance, or a rank cap that binds)")


def _geometry(red, X, rank, best, candidates, value, tol) -> str:
    K = red.K
    if rank == 0:
        return "collapsed to the origin (all logits zero)"
    for cand in candidates:
        if cand.name in NEARBY:
            continue
        if cand.scale > 0 and abs(cand.objective - value) <= tol and cand.rank == rank:
            return cand.name
    start = getattr(best, "start", "")
    if start.startswith("candidate: "):
        name = start[len("candidate: "):]
        source = next((c for c in candidates if c.name == name), None)
        if source is not None and source.rank == rank:
            return f"{name}, adjusted to the class sizes" if not red.problem.balanced else \
                f"{name}, deformed"
    if rank == K - 1:
        if not red.problem.balanced:
            return f"full-rank ({rank}) frame: the simplex ETF adjusted to the class sizes"
        return f"rank {rank} (full) logit frame found by search"
    return f"rank-{rank} logit structure found by search (no named pattern matches)"


def _unique(red: ReducedCE, X, rank) -> bool | None:
    """False when a class permutation of a balanced minimizer gives another minimizer."""
    if rank == 0:
        return True
    if not red.problem.balanced:
        return None
    K = red.K
    off = X[~np.eye(K, dtype=bool)]
    symmetric = np.allclose(np.diag(X), X[0, 0], rtol=1e-6, atol=1e-9) and np.allclose(
        off, off[0], rtol=1e-6, atol=1e-9)
    return None if symmetric else False


def _etf_decay(red, summaries) -> float:
    etf = next((c for c in summaries if c.name == ETF_NAME), None)
    if etf is not None and etf.origin_decay > 0:
        return etf.origin_decay
    if red.__dict__.get("_etf_decay") is not None:  # computed with the candidates' thresholds
        return red.__dict__["_etf_decay"]

    return origin_decay(red, simplex_pattern(red.K)) if red.K > 1 else math.nan


def _margins(X: np.ndarray, b) -> np.ndarray:
    Z = X if b is None else X + b[:, None]
    K = Z.shape[0]
    own = np.diag(Z)
    other = np.where(np.eye(K, dtype=bool), -np.inf, Z).max(axis=0) if K > 1 else own
    return own - other


# ---- notes -------------------------------------------------------------------------------


def _notes(red: ReducedCE, X, b, rank, certainty, batches=()) -> tuple[str, ...]:
    notes = []
    if red.bias:
        gain = red.ce(X, None)[0] - red.ce(X, b)[0]
        text = ("free bias: cross-entropy is unchanged when the same constant is added to "
                "every logit, so only the bias modulo the all-ones vector matters (it is "
                "reported with mean zero) and the logits X are centred. ")
        if gain > 1e-12 * red.value(X, b):
            text += (f"The rest of the bias is a real degree of freedom: at this minimizer "
                     f"setting it to zero would raise the objective by {gain:.6g}.")
        else:
            text += ("Here the optimal bias is zero (up to that constant), so the free bias "
                     "changes nothing.")
        notes.append(text)
    else:
        notes.append("bias-free model: logits X are centred (a common shift of a class's "
                     "logits does not change cross-entropy and can only raise the penalty)")
    if red.rank_cap < red.K:
        notes.append(f"rank capped at {red.rank_cap} by the layer widths")
    if _unique(red, X, rank) is False:
        notes.append("not unique: permuting the classes gives other minimizers with the same "
                     "objective (the structure is not symmetric under all class permutations)")
    value = red.value(X, b)
    if certainty != PROVED and any(not _hit(s.loss, value) for s in batches):
        notes.append("the two independent batches of the search disagree (see certainty): "
                     "the answer is the better of them, and a larger --restarts may improve it")
    if certainty != PROVED and red.problem.depth >= 2:
        notes.append("depth >= 2: lower-rank logit structures can beat the simplex ETF "
                     "(Garrod & Keating, NeurIPS 2025; Sukenik et al. 2024); the answer is the "
                     "best of the candidates and the search, not a proof")
    return tuple(notes)
