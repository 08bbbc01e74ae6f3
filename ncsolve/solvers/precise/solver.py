"""The global minimizer of an MSE problem to any number of digits: :func:`solve_precise`.

This is an independent route to the numbers of :func:`ncsolve.predict`:
the target spectrum, the scalar problem of every direction and the read-off of
layers, Grams and norms are recomputed here in multiple-precision arithmetic.
No float64 arithmetic is shared with the float64 solver: only the validated
:class:`~ncsolve.inputs.problem.Problem` and the read-off logic of
:mod:`ncsolve.core.readoff` (rank cap, ties, notes, leading directions,
geometry), which compares and counts the mpmath numbers handed to it in object
arrays.
"""

from __future__ import annotations

import itertools
import operator

import mpmath
import numpy as np
from mpmath import mpf

from ...core import readoff, scalar
from ...core.balance import precise_scales
from ...inputs.problem import Problem
from ...inputs.validation import invalid
from .digits import GUARD_DIGITS, check_precision, exact_decimal
from .roots import critical_decay, stationary_points
from .solution import PreciseSolution
from .sparse import sparse_diag
from .spectrum import target_directions

__all__ = ["solve_precise"]


def solve_precise(problem: Problem, precision: int) -> PreciseSolution:
    """The global minimizer of an MSE problem to ``precision`` significant digits.

    Parameters
    ----------
    problem : Problem
        A validated problem with ``loss == "mse"``.
    precision : int
        Significant digits, 15..1000.

    Returns
    -------
    PreciseSolution

    Raises
    ------
    ProblemError
        For a precision out of range or a cross-entropy problem.
    """
    digits = check_precision(precision)
    if problem.loss != "mse":
        raise invalid("precision", "the high-precision route covers --loss mse only")
    check_work(problem, digits)
    with mpmath.workdps(digits + GUARD_DIGITS):
        return _solve(problem, digits)


MAX_SECONDS = 30.0  # estimated CPU seconds of one answer (this machine, docs/cli.md)


def estimated_seconds(problem: Problem, digits: int) -> float:
    """CPU seconds of :func:`solve_precise`, estimated before any work (fitted on this
    machine at 20-1000 digits).

    With a free bias the S - 1 secular roots each sum over the S distinct sizes and
    their vectors span all K classes: S^2 + S K multiple-precision terms. Every
    distinct singular value then gets its own stationary points, whose cost grows
    with the depth. Longer mantissas multiply both.
    """
    sizes = np.unique(np.asarray(problem.n))
    S, K = sizes.size, problem.K
    longer = max(1.0, digits / 100)
    secular = (60e-6 * S * S + 20e-6 * S * K) * longer ** 0.93 if problem.bias == "free" else 0.0
    values = 2 * S if problem.bias == "free" else S
    roots = values * (1e-4 + 1.3e-5 * problem.depth) * longer ** 1.2
    return secular + roots


def check_work(problem: Problem, digits: int) -> None:
    """Refuse an answer estimated to take more than MAX_SECONDS, naming what drives it."""
    seconds = estimated_seconds(problem, digits)
    if seconds <= MAX_SECONDS:
        return
    S = np.unique(np.asarray(problem.n)).size
    what = (f"{S} distinct class sizes with a free bias (work grows as their square)"
            if problem.bias == "free" else f"{S} distinct class sizes at depth {problem.depth}")
    raise invalid(("n", "precision"), f"the high-precision answer would take about "
                  f"{seconds:.0f} s for {what} at {digits} digits; at most about "
                  f"{MAX_SECONDS:.0f} s: give fewer distinct sizes or fewer digits (predict "
                  "without --precision answers in float64, for any K)")


def _solve(problem: Problem, digits: int) -> PreciseSolution:
    """The answer, at the working precision the caller has set."""
    L = problem.L
    n = [int(v) for v in problem.n]
    N = mpf(sum(n))
    lbar, scales = precise_scales(exact_decimal(problem.lambda_h),
                                  [exact_decimal(v) for v in problem.lambda_w])
    pairs = target_directions(n, problem.bias)
    sigma = [p[0] for p in pairs]
    solved = [stationary_points(s, N, lbar, L) for s in sigma]
    z, residual, code, notes = _read_off(problem, sigma, solved)
    singular = _factor_singular_values(z, scales, L)
    vectors = tuple(p[1] for p in pairs)
    classes = _class_norms(problem, sigma, z, singular, vectors)
    collapsed = readoff.collapsed(np.array(classes["feature_norm"], dtype=object),
                                  rtol=mpf(10) ** (-digits), floor=mpf(0))
    decay = readoff.direction_decays(np.array([critical_decay(s, N, L) for s in sigma],
                                              dtype=object), code, zero=mpf(0))
    return PreciseSolution(
        problem=problem,
        precision=digits,
        sigma=tuple(sigma),
        z=tuple(z),
        z_local=tuple(r.z_local for r in solved),
        residual=tuple(residual),
        roots=tuple(r.roots for r in solved),
        direction_state=tuple(scalar.state_names(code).tolist()),
        singular_values=tuple(singular),
        direction_critical_decay=tuple(decay),
        vectors=vectors,
        collapsed=tuple(collapsed.tolist()),
        loss=_loss(z, residual, N, lbar, L),
        notes=tuple(notes),
        **classes,
    )


def _factor_singular_values(z: list, scales: list, L: int) -> list:
    """Per direction, the singular values of H, W_1, ..., W_M: the balanced factors
    of ``z``, ``z^(1/L)`` times each layer's scale."""
    root_l = [v ** (mpf(1) / L) if v > 0 else mpf(0) for v in z]
    return [tuple(r * sc for sc in scales) for r in root_l]


def _class_norms(problem: Problem, sigma: list, z: list, singular: list, vectors: tuple) -> dict:
    """The per-class fields of :class:`PreciseSolution`: feature norms after every layer,
    classifier row norms and outputs, from the sparse direction vectors."""
    K = problem.K
    n = [int(v) for v in problem.n]
    layers = [list(itertools.accumulate(sv, operator.mul)) for sv in singular]
    layer_norms = tuple(
        tuple(mpmath.sqrt(max(d, 0)) / n[k] for k, d in
              enumerate(sparse_diag(vectors,
                                    [(s * lv[j]) ** 2 for s, lv in zip(sigma, layers)], K)))
        for j in range(problem.depth + 1)
    )
    classifier = sparse_diag(vectors, [mpmath.fprod(sv[1:]) ** 2 for sv in singular], K)
    outputs = sparse_diag(vectors, [v * s for v, s in zip(z, sigma)], K)
    return {
        "feature_norm": layer_norms[0],
        "classifier_norm": tuple(mpmath.sqrt(max(d, 0)) for d in classifier),
        "output": tuple(d / n[k] for k, d in enumerate(outputs)),
        "layer_feature_norms": layer_norms,
    }


def _read_off(problem: Problem, sigma: list, solved: list) -> tuple:
    """Per direction ``z``, ``residual`` (lists) and the int8 state ``code`` after the rank
    cap, and the notes: the read-off of :mod:`ncsolve.core.readoff` on mpmath numbers."""
    z = np.array([r.z for r in solved], dtype=object)
    residual = np.array([r.residual for r in solved], dtype=object)
    code = np.array([scalar.CODE[r.state] for r in solved], dtype=np.int8)
    cap = problem.rank_cap
    capping = readoff.cap_rank(cap, np.array(sigma, dtype=object), z, residual, code,
                               rtol=10 * mpmath.mp.eps, zero=mpf(0))
    notes = (readoff.tie_notes(code, [r.z_local for r in solved], lambda v: mpmath.nstr(v, 20))
             + readoff.window_summary(code)
             + readoff.cap_notes(cap, int(capping.cut), bool(capping.equal)))
    return z.tolist(), residual.tolist(), code, notes


def _loss(z: list, residual: list, N, lbar, L: int):
    """``sum_i residual_i^2 / (2N) + (L/2) lbar sum_i z_i^(2/L)`` (no cancelling difference)."""
    fit = mpmath.fsum(r**2 for r in residual) / (2 * N)
    q = mpf(2) / L
    return fit + (mpf(L) / 2) * lbar * mpmath.fsum(v**q for v in z if v > 0)
