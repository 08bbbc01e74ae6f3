"""L-BFGS on a stack of independent starts, one objective call per step for all of them.

The one L-BFGS of the solvers (cross-entropy search, the regularized bias's
outer problem and its cross-entropy form); a single start is a stack of one
(:func:`minimize`).  The reduced problems are small (K x K logits, K biases),
so a scalar L-BFGS spends nearly all its time in per-call overhead: of numpy
on tiny arrays and of a driver.  Here S starts of the same shape advance
together: the objective receives an (S', n) array of the starts still running
and returns S' values and an (S', n) gradient, so its cost is amortized over
the stack.  Each start keeps its own history, step length and stopping state;
every row of the result is what a run from that start alone gives, up to
rounding: numpy multiplies the small pair matrices of a stack of one with BLAS
and those of a larger stack (stack axis innermost) with its own loop.

The method is the L-BFGS recursion (compact form) with a backtracking Armijo
line search (quadratic interpolation, safeguarded); a correction pair is stored
only when its curvature s.y is positive, so concave kinks of the objective are
stepped over rather than stored.  Tolerances are relative: the objective of
each start is divided by min(1, |its starting value|), so objectives of order
1e-297 (decay 1e-300) are minimized as carefully as objectives of order 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BatchObjective", "StackResult", "minimize", "minimize_stack", "row_by_row"]

BatchObjective = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]

ARMIJO = 1e-4  # sufficient-decrease constant
MAX_BACKTRACKS = 40  # step halvings (at least) before a start is declared stuck
ROUNDING = 4 * np.finfo(float).eps  # relative change of f that rounding can hide
FTOL = 1e-16  # stop when the relative decrease of one step is below this (as scipy's ftol)

# why a start stopped (StackResult.stop)
GRADIENT = "gradient"  # the gradient test holds: converged
DECREASE = "decrease"  # ``patience`` steps in a row lowered f by at most ftol (relative)
LINE_SEARCH = "line search"  # no step along the search direction lowers f beyond rounding
ITERATIONS = "iterations"  # the iteration budget ran out
NOT_FINITE = "not finite"  # the starting value is not finite: not run
_STOPS = (GRADIENT, DECREASE, LINE_SEARCH, ITERATIONS, NOT_FINITE)


@dataclass(frozen=True, eq=False)
class StackResult:
    """End of :func:`minimize_stack`, one row per start (in the order of ``x0``).

    Attributes
    ----------
    x : ndarray, shape (S, n)
        End points.
    value : ndarray, shape (S,)
        Objective values there.
    gradient : ndarray, shape (S,)
        Largest entry of the gradient there (free entries only), in the
        objective's own units.
    iterations : ndarray of int, shape (S,)
        Accepted steps.
    converged : ndarray of bool, shape (S,)
        Whether the gradient test holds at the end point:
        ``gradient <= gtol * min(1, |starting value|)``.
    stop : tuple of str
        Why each start stopped: "gradient", "decrease", "line search",
        "iterations" or "not finite".
    """

    x: np.ndarray
    value: np.ndarray
    gradient: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    stop: tuple[str, ...]


def row_by_row(fun: Objective | Sequence[Objective]) -> Callable:
    """A stacked objective from a single-point one, ``fun(x) -> (value, gradient)``,
    called once per row (for objectives that cannot be vectorized).

    Given a sequence, one function per start (each with its own state, such as a
    warm start), the stacked objective is ``batch(x, rows)``, row i of x going to
    ``fun[rows[i]]``: run it with ``minimize_stack(..., indexed=True)``.
    """
    if callable(fun):
        return lambda x: _rows(x, [fun] * x.shape[0])
    return lambda x, rows: _rows(x, [fun[r] for r in rows])


def _rows(x: np.ndarray, funs: list[Objective]) -> tuple[np.ndarray, np.ndarray]:
    values, grads = np.empty(x.shape[0]), np.empty(x.shape)
    for i, (row, one) in enumerate(zip(x, funs)):
        values[i], grads[i] = one(row)
    return values, grads


def minimize(fun: Objective, x0: np.ndarray, maxiter: int, gtol: float,
             **options) -> StackResult:
    """Minimize ``fun(x) -> (value, gradient)`` from one start: a stack of one.

    Options and the result are those of :func:`minimize_stack` (one row).
    """
    start = np.array(x0, dtype=float).reshape(1, -1)
    return minimize_stack(row_by_row(fun), start, maxiter, gtol, **options)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def minimize_stack(fun: BatchObjective, x0: np.ndarray, maxiter: int, gtol: float,
                   maxcor: int = 8, mask: np.ndarray | None = None, ftol: float = FTOL,
                   patience: int = 1, indexed: bool = False, first_step: float | None = None,
                   interpolate: bool = True) -> StackResult:
    """Minimize ``fun`` from every row of ``x0``.

    Parameters
    ----------
    fun : callable
        ``fun(x)`` with x of shape (S', n) returns values (S',) and gradients (S', n);
        rows are independent problems of the same form.
    x0 : ndarray, shape (S, n)
        Starting points.
    maxiter : int
        Iteration budget of each start.
    gtol : float
        A start stops when its largest gradient entry, relative to min(1, |its
        starting objective|), is at most this.
    maxcor : int
        Stored correction pairs.
    mask : ndarray, shape (S, n), optional
        1 for the free entries of each start, 0 for entries held at their
        starting value (their gradient is ignored), so starts of different
        sizes can share one stack as zero-padded embeddings.
    ftol : float
        A step lowering the relative objective by at most ``ftol max(1, |f|)``
        counts as stalled (as scipy's ftol) ...
    patience : int
        ... and a start stops after this many stalled steps in a row.
    indexed : bool
        Call ``fun(x, rows)`` with the indices into ``x0`` of the rows of x (for
        objectives that keep a state per start, see :func:`row_by_row`).
    first_step : float, optional
        Length of a step taken without stored pairs (the first, and after a
        restart); by default the gradient step of the relative objective, at
        most of unit multiplier.
    interpolate : bool
        Shrink a rejected step by quadratic interpolation (default) or by halving.
        Halving suits objectives with concave kinks, where the interpolated
        minimum along the line is not one of the function's.

    Returns
    -------
    StackResult
    """
    x_out = np.array(x0, dtype=float, ndmin=2)
    S, n = x_out.shape
    f, g = fun(x_out, np.arange(S)) if indexed else fun(x_out)
    f, g = np.array(f, dtype=float), np.array(g, dtype=float)
    if mask is not None:
        g *= mask
    ok = np.isfinite(f)
    unit = np.where(ok & (f != 0), np.minimum(1.0, np.abs(f)), 1.0)
    out = _Output(x_out, f.copy(), np.abs(g).max(axis=1, initial=0.0), unit, gtol)
    out.stop[~ok] = _STOPS.index(NOT_FINITE)
    live = np.flatnonzero(ok & (out.gradient / unit > gtol))
    if live.size == 0 or maxiter <= 0:
        out.stop[live] = _STOPS.index(ITERATIONS)
        return out.result()
    # state of the running starts only; rows are dropped as starts finish
    st = _State(x_out[live], f[live] / unit[live], g[live] / unit[live, None], unit[live],
                live, maxcor, None if mask is None else mask[live])
    for it in range(maxiter):
        d = _direction(st.g, st.s_hist, st.y_hist, st.rho, st.gamma, st.slot, st.pairs,
                       st.sy, st.yy)
        d *= -1.0
        gd = _dot(st.g, d)
        bad = ~(gd < 0)
        if bad.any():  # not a descent direction: steepest descent, history dropped
            d[bad] = -st.g[bad]
            gd[bad] = -_dot(st.g[bad], st.g[bad])
            st.forget(bad)
        fresh = (first_step / np.sqrt(-gd) if first_step is not None
                 else np.minimum(1.0, 1.0 / np.sqrt(-gd)))
        t = np.where(st.pairs == 0, fresh, 1.0)
        done, f_new, g_new, t = _line_search(fun, st.x, st.f, gd, d, t, st.unit,
                                             st.ids if indexed else None, interpolate)
        if st.mask is not None:
            g_new *= st.mask
        step = d
        step *= t[:, None]
        y = g_new
        y -= st.g
        if not done.all():
            step[~done] = 0.0
            y[~done] = 0.0
            f_new[~done] = st.f[~done]
        st.x += step
        st.g += y  # the new gradient where a step was taken, the old one elsewhere
        sy, yy = _dot(step, y), _dot(y, y)
        good = sy > 1e-10 * yy  # False where no step was taken (sy = yy = 0)
        st.store(step, y, good, sy, yy)
        decrease = st.f - f_new
        scale = np.maximum(np.maximum(np.abs(st.f), np.abs(f_new)), 1.0)
        st.f = f_new
        stalled = decrease <= ftol * scale
        if patience > 1:
            st.stalls = (st.stalls + 1) * stalled
            stalled = st.stalls >= patience
        small = np.abs(st.g).max(axis=1) <= gtol
        out.iterations[st.ids[done]] = it + 1
        finished = ~done | small | stalled
        if it + 1 == maxiter:
            finished[:] = True
        if finished.any():
            out.finish(st, finished, _stop_reasons(done[finished], small[finished],
                                                   stalled[finished]))
            if finished.all():
                break
            st.keep(~finished)
    return out.result()


def _stop_reasons(done, small_gradient, stalled) -> np.ndarray:
    """Index into _STOPS of why each finishing start stops (the budget if nothing else)."""
    stop = np.full(done.shape, _STOPS.index(ITERATIONS))
    stop[stalled] = _STOPS.index(DECREASE)
    stop[small_gradient] = _STOPS.index(GRADIENT)
    stop[~done] = _STOPS.index(LINE_SEARCH)
    return stop


class _Output:
    """The result arrays of :func:`minimize_stack`, filled as starts finish."""

    def __init__(self, x, f, gradient, unit, gtol):
        self.x, self.f, self.gradient, self.unit, self.gtol = x, f, gradient, unit, gtol
        self.iterations = np.zeros(x.shape[0], dtype=int)
        self.stop = np.full(x.shape[0], _STOPS.index(GRADIENT))

    def finish(self, st: _State, rows: np.ndarray, stop: np.ndarray) -> None:
        """Copy the end points of the running starts selected by ``rows``."""
        ids = st.ids[rows]
        self.x[ids] = st.x[rows]
        self.f[ids] = st.f[rows] * st.unit[rows]
        self.gradient[ids] = np.abs(st.g[rows]).max(axis=1) * st.unit[rows]
        self.stop[ids] = stop

    def result(self) -> StackResult:
        return StackResult(
            x=self.x, value=self.f, gradient=self.gradient, iterations=self.iterations,
            converged=self.gradient <= self.gtol * self.unit,
            stop=tuple(_STOPS[i] for i in self.stop))


class _State:
    """Arrays of the running starts of :func:`minimize_stack`."""

    def __init__(self, x, f, g, unit, ids, maxcor, mask):
        S, n = x.shape
        self.x, self.f, self.g, self.unit, self.ids, self.mask = x, f, g, unit, ids, mask
        self.s_hist = np.zeros((S, maxcor, n))
        self.y_hist = np.zeros((S, maxcor, n))
        self.rho = np.zeros((S, maxcor))
        self.sy = np.zeros((S, maxcor, maxcor))  # s_i . y_j of the stored pairs, slot order
        self.yy = np.zeros((S, maxcor, maxcor))  # y_i . y_j
        self.gamma = np.ones(S)
        self.pairs = np.zeros(S, dtype=int)
        self.stalls = np.zeros(S, dtype=int)  # stalled steps in a row
        self.slot = 0

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is False (finished starts)."""
        for name in ("x", "f", "g", "unit", "ids", "gamma", "pairs", "stalls", "s_hist",
                     "y_hist", "rho", "sy", "yy"):
            setattr(self, name, getattr(self, name)[mask])
        if self.mask is not None:
            self.mask = self.mask[mask]

    def forget(self, rows: np.ndarray) -> None:
        """Drop the history of some starts (zero vectors, rho = 0)."""
        self.rho[rows] = 0.0
        self.s_hist[rows] = 0.0
        self.y_hist[rows] = 0.0
        self.sy[rows] = 0.0
        self.yy[rows] = 0.0
        self.pairs[rows] = 0

    def store(self, step, y, good, sy, yy) -> None:
        """Write the new pair into the current slot (zeros where it is rejected)."""
        j = self.slot
        if good.all():
            self.s_hist[:, j] = step
            self.y_hist[:, j] = y
            self.rho[:, j] = 1.0 / sy
            self.gamma = sy / yy
        else:
            self.s_hist[:, j] = step * good[:, None]
            self.y_hist[:, j] = y * good[:, None]
            self.rho[:, j] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
            self.gamma = np.where(good, sy / np.where(good, yy, 1.0), self.gamma)
        self.pairs += good
        self._update_products(j)
        self.slot = (j + 1) % self.rho.shape[1]

    def _update_products(self, j: int) -> None:
        """Row and column j of the pair products after slot j was written: O(m n), not
        the O(m^2 n) of forming them anew at every step."""
        s_new, y_new = self.s_hist[:, j, :, None], self.y_hist[:, j, :, None]
        self.sy[:, :, j] = np.matmul(self.s_hist, y_new)[..., 0]  # s_i . y_new
        self.sy[:, j, :] = np.matmul(self.y_hist, s_new)[..., 0]  # s_new . y_i
        self.yy[:, :, j] = self.yy[:, j, :] = np.matmul(self.y_hist, y_new)[..., 0]


def _direction(g, s_hist, y_hist, rho, gamma, slot, pairs, sy=None, yy=None) -> np.ndarray:
    """H g for every start, from the compact form of the L-BFGS matrix.

    With the stored pairs oldest first as rows of S and Y (m x n), R the upper
    triangle of S Y^T (diagonal included), D its diagonal and H0 = gamma I
    (Nocedal & Wright, eq. 7.24):

        H g = gamma g + S^T p - gamma Y^T x,   x = R^-1 S g,
        p = R^-T ((D + gamma Y Y^T) x - gamma Y g).

    A few stacked matrix products and one small inverse replace the 4m vector
    operations of the two-loop recursion.  Empty or rejected slots hold zero
    vectors; their diagonal entry of R is set to 1, which decouples them.
    History arrays are (S, maxcor, n) and (S, maxcor) in slot order; only the
    small m x m quantities are put in time order.  ``sy`` and ``yy``, the products
    S Y^T and Y Y^T in slot order, are formed here unless the caller keeps them.
    """
    if not pairs.any():
        return gamma[:, None] * g
    m = rho.shape[1]
    order = (slot + np.arange(m)) % m  # slot is the next one written: the oldest pair
    valid = rho[:, order] != 0
    a = np.matmul(s_hist, g[:, :, None])[:, order]
    c = np.matmul(y_hist, g[:, :, None])[:, order]
    if sy is None:
        yt = y_hist.transpose(0, 2, 1)
        sy, yy = np.matmul(s_hist, yt), np.matmul(y_hist, yt)
    SY = sy[:, order][:, :, order]
    YY = yy[:, order][:, :, order]
    diag = SY.diagonal(axis1=1, axis2=2) * valid
    R = SY * _upper(m)
    R.reshape(-1, m * m)[:, :: m + 1] = np.where(valid, diag, 1.0)
    Rinv = np.linalg.inv(R)
    x = np.matmul(Rinv, a)
    inner = diag[..., None] * x + gamma[:, None, None] * (np.matmul(YY, x) - c)
    p = np.matmul(Rinv.transpose(0, 2, 1), inner)
    coef = np.empty((g.shape[0], 2, m))
    coef[:, 0, order] = p[..., 0]
    coef[:, 1, order] = x[..., 0] * -gamma[:, None]
    out = np.matmul(coef[:, :1], s_hist)[:, 0]
    out += np.matmul(coef[:, 1:], y_hist)[:, 0]
    out += gamma[:, None] * g
    return out


_UPPER: dict[int, np.ndarray] = {}


def _upper(m: int) -> np.ndarray:
    """The m x m upper-triangular mask (diagonal included), cached."""
    if m not in _UPPER:
        _UPPER[m] = np.triu(np.ones((m, m)))
    return _UPPER[m]


def _line_search(fun, x, f, gd, d, t, unit, ids=None, interpolate=True):
    """Backtracking Armijo search along d for every row; returns acceptance and the new state.

    With ``ids`` (the rows' indices into the stack) ``fun(x, ids)`` is called, else ``fun(x)``.

    The first trial is the full step t for every row; rows that fail shrink
    their step by quadratic interpolation (kept in [0.1 t, 0.5 t]), or by half
    without ``interpolate``, and try again.  A row whose value or slope is not finite
    (a penalty of 1e300 times a step) compares False and is rejected: nan is expected
    here, and not warned about.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return _backtrack(fun, x, f, gd, d, t, unit, ids, interpolate)


def _backtrack(fun, x, f, gd, d, t, unit, ids, interpolate):
    """The steps of :func:`_line_search`."""
    ft, gt = _evaluate(fun, x + t[:, None] * d, ids)
    ft = ft / unit
    accept = ft <= f + ARMIJO * t * gd  # False for nan
    g_new = gt / unit[:, None]
    if accept.all():
        return accept, ft, g_new, t
    f_new = ft
    todo = np.flatnonzero(~accept)
    failed = ft[todo]  # the last rejected value of each row still searching
    done = np.ones(x.shape[0], dtype=bool)
    for _ in range(MAX_BACKTRACKS):
        tt = t[todo]
        curv = failed - f[todo] - tt * gd[todo]
        with np.errstate(divide="ignore"):
            trial = -gd[todo] * tt ** 2 / (2.0 * curv)
        trial = np.where(np.isfinite(trial), trial, 0.1 * tt)
        tt = np.clip(trial, 0.1 * tt, 0.5 * tt) if interpolate else 0.5 * tt
        t[todo] = tt
        ft, gt = _evaluate(fun, x[todo] + tt[:, None] * d[todo],
                           None if ids is None else ids[todo])
        ft = ft / unit[todo]
        accept = ft <= f[todo] + ARMIJO * tt * gd[todo]
        hit = todo[accept]
        f_new[hit] = ft[accept]
        g_new[hit] = gt[accept] / unit[hit, None]
        # a row whose predicted decrease is below the rounding of f is stuck for good
        hopeless = ~accept & (-0.5 * tt * gd[todo] <= ROUNDING * np.abs(f[todo]))
        done[todo[hopeless]] = False
        going = ~accept & ~hopeless
        todo, failed = todo[going], ft[going]
        if todo.size == 0:
            break
    done[todo] = False
    return done, f_new, g_new, t


def _evaluate(fun, x, ids):
    return fun(x) if ids is None else fun(x, ids)
