"""solve(problem): the MSE minimizer with a regularized bias, and how certain it is."""

from __future__ import annotations

import dataclasses

import numpy as np
from threadpoolctl import threadpool_limits

from ...core import readoff, scalar
from ...core.balance import layer_parts
from ...core.constants import BEST_FOUND, PROVED
from ...inputs.problem import Problem
from ..mse import solve as solve_mse
from . import certificate
from .outer import START_FRACTIONS, BalancedBias, OuterRun, balanced_bias, distinct_minima, search
from .result import RegularizedSolution
from .target import FixedBias, solve_fixed_bias

PROOF_RTOL = 1e-10  # depth 1: a duality gap below this (relative to the loss) proves the answer
DEPTH1_STARTS = (1.0, 0.0)  # a convex outer problem: both limits as starts, as a cross-check


def solve(problem: Problem) -> RegularizedSolution:
    """Minimizer of the MSE model with the bias penalty ``lambda_b/2 ||b||^2``.

    Parameters
    ----------
    problem : Problem
        ``bias == "regularized"`` with its ``lambda_b``; ``loss`` is taken as MSE.

    Returns
    -------
    RegularizedSolution
    """
    # K x K matrices: a multi-threaded SVD spends more time waking threads than
    # computing (20 times slower for K = 100 on a busy two-core machine)
    with threadpool_limits(limits=1, user_api="blas"):
        return _solve(problem)


def _solve(problem: Problem) -> RegularizedSolution:
    notes: list[str] = []
    runs: tuple[OuterRun, ...] = ()
    critical = None
    point = None
    if problem.balanced:
        balanced = balanced_bias(problem)
        candidate = solve_fixed_bias(problem, np.full(problem.K, balanced.beta))
        if not candidate.cap_notes:  # the cap set no nonzero direction to 0
            critical = readoff.direction_decays(_balanced_critical_decay(problem, balanced),
                                                candidate.code)
            point = candidate
            notes += _balanced_notes(problem, balanced)
    if point is None:
        runs = tuple(search(problem, DEPTH1_STARTS if problem.depth == 1 else START_FRACTIONS))
        point = runs[0].point
    gap = None
    if problem.depth == 1:
        gap = point.loss - certificate.dual_bound(problem, point)
        notes.append(f"depth 1 is jointly convex in the class-mean outputs and the bias: "
                     f"duality gap {gap:.3g} (the loss is within it of the global minimum "
                     "of the full model)")
    tolerance = PROOF_RTOL * max(abs(point.loss), 1e-300)
    proved = (problem.balanced and not runs) or (gap is not None and abs(gap) <= tolerance)
    if runs and not proved:
        notes.append(_search_note(runs))
    notes += _point_notes(point)
    return RegularizedSolution(
        problem=problem, loss=point.loss, bias_value=point.b, U=point.U, V=point.V,
        sigma=point.sigma, z=point.z, z_local=point.z_local, direction_state=point.state,
        certainty=PROVED if proved else BEST_FOUND, notes=tuple(notes), duality_gap=gap,
        runs=tuple(run.record() for run in runs),
        toward_bias_free=position(problem, point), direction_critical_decay=critical)


def _balanced_critical_decay(problem: Problem, balanced: BalancedBias) -> np.ndarray:
    """K - 1 directions with sigma = sqrt(n) and N; the all-ones one (last) with N_eff."""
    root = np.sqrt(float(problem.n[0]))
    decay = np.full(problem.K, scalar.critical_decay(np.array([root]), problem.N, problem.L)[0])
    decay[-1] = 2.0 * scalar.phase_boundary(np.array([root]), problem.q)[0] / (
        balanced.effective_n * problem.L)
    return decay


def _balanced_notes(problem: Problem, balanced: BalancedBias) -> list[str]:
    notes = [f"balanced classes: the bias is beta 1 with beta = {balanced.beta:.10g} at the "
             "global minimum, and the all-ones direction is the scalar problem with N "
             f"replaced by N (1 + lambda_b) / lambda_b = {balanced.effective_n:.6g} (exact)"]
    if balanced.minima.state[0] == scalar.TIE:
        notes.append("non-unique: the all-ones direction sits on its phase boundary; the "
                     "bias with that direction collapsed and the one with it active give the "
                     "same loss (the collapsed one is reported)")
    return notes


def _search_note(runs: tuple[OuterRun, ...]) -> str:
    starts = ", ".join(run.start for run in sorted(runs, key=lambda r: r.start_bias.sum(),
                                                   reverse=True))
    count = distinct_minima(list(runs))
    reached = "one local minimum" if count == 1 else f"{count} distinct local minima"
    return (f"best found: the bias is searched by L-BFGS over b from {len(runs)} starts "
            f"({starts}), which reached {reached}; the best is reported, and for that bias "
            "the rest is exact")


def _point_notes(point: FixedBias) -> list[str]:
    ties = readoff.tie_notes(point.code, point.z_local, "{:.17g}".format, " at this bias")
    return list(ties + point.cap_notes)


def position(problem: Problem, point: FixedBias) -> float | None:
    """Where the class-mean geometry sits between the two limits, in [0, 1]
    (:func:`position_of`, with the free-bias and bias-free MSE answers as the limits).

    The three Grams of H are formed from the mantissas of its singular values: they
    share the power of two of the problem's feature scale, which the position does
    not depend on, and decays far apart would put it outside float64.
    """

    scaled_v = point.V / np.sqrt(problem.n.astype(float))[:, None]
    m_h = layer_parts(problem, point.z, layers=slice(0, 1))[0][:, 0]
    limits = [_feature_shape(solve_mse(dataclasses.replace(problem, bias=bias, lambda_b=None)))
              for bias in ("free", "none")]
    return position_of((scaled_v * m_h**2) @ scaled_v.T, *limits)


def _feature_shape(solution) -> np.ndarray:
    """``gram_features()`` of an MSE answer times the power of two ``2^(-2 e)`` of its scale."""
    m_h = layer_parts(solution.problem, solution.z, layers=slice(0, 1))[0][:, 0]
    inv_n = 1.0 / solution.problem.n
    return solution.spectrum.matrix((solution.sigma * m_h) ** 2) * inv_n[:, None] * inv_n[None, :]


def position_of(gram: np.ndarray, free: np.ndarray, none: np.ndarray) -> float | None:
    """``d_free / (d_free + d_none)`` for class-mean Grams scaled to unit Frobenius norm.

    ``d_free = ||G - G_free||_F`` and ``d_none = ||G - G_none||_F``: 0 is the
    free-bias geometry (lambda_b -> 0), 1 the bias-free one (lambda_b -> infinity).
    None when a Gram is zero or the two limits coincide.
    """
    grams = [gram, free, none]
    norms = [float(np.linalg.norm(g)) for g in grams]
    if min(norms) == 0.0:
        return None
    unit = [g / s for g, s in zip(grams, norms)]
    d_free, d_none = (float(np.linalg.norm(unit[0] - g)) for g in unit[1:])
    if d_free + d_none <= 1e-12:
        return None
    return d_free / (d_free + d_none)
