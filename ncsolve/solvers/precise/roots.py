"""The stationary points of one direction, to any number of digits (mpmath).

The scalar problem of a direction with target singular value ``sigma`` is
``g(z) = (z - sigma)^2 / (2N) + c z^q``. Its positive stationary points solve
``z^(1-q) (sigma - z) = N c q = N lbar``; with ``z = t^L`` this is the polynomial

    p(t) = t^(2L-2) - sigma t^(L-2) + N lbar = 0,

which is monotone on each side of the peak ``t_m`` of the left-hand side, so
each of its (at most two) positive roots is found by bracketed Newton steps.

The gap ``sigma - z`` of a root is never formed by subtraction: at tiny decays
z equals sigma to the working precision and the difference would cancel (to
0 at decay 1e-300). The equation itself gives it to the relative precision of
z, ``sigma - z = N lbar / z^(1-q)``; the fit term ``(sigma - z)^2 / (2N)`` of g
and of the loss, and the paper's ``x = (z / (sigma - z))^(1/M)``, use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
from mpmath import mpf

from .newton import bracketed_newton

__all__ = [
    "DirectionRoots",
    "critical_decay",
    "existence_threshold",
    "global_threshold",
    "reduced_value",
    "stationary_points",
]


@dataclass(frozen=True)
class DirectionRoots:
    """Stationary points and global minimizer of ``g(z)`` for one direction.

    Attributes
    ----------
    sigma : mpf
        Singular value of the target in this direction.
    roots : tuple of mpf
        Positive stationary points, increasing (0, 1 or 2 of them).
    z : mpf
        The global minimizer (0 when the direction collapses; 0 as well at a
        tie, where ``z_local`` is equally optimal, as in the float route).
    z_local : mpf or None
        The nonzero local minimum (the largest root), None when there is none.
    tie : bool
        True when 0 and the nonzero root are both global (the phase boundary).
    values : tuple of mpf
        ``g`` at each root, in the order of ``roots``.
    g0 : mpf
        ``g(0) = sigma^2 / (2N)``.
    gaps : tuple of mpf
        ``sigma - root`` for each root, computed without cancellation.
    """

    sigma: mpf
    roots: tuple
    z: mpf
    z_local: mpf | None
    tie: bool
    values: tuple
    g0: mpf
    gaps: tuple = ()

    @property
    def residual(self) -> mpf:
        """``sigma - z`` at the global minimizer, without cancellation."""
        return self.gaps[-1] if self.z != 0 else self.sigma

    @property
    def state(self) -> str:
        """As in :mod:`ncsolve.core.scalar`: active, window, tie, collapsed or empty."""
        if self.sigma == 0:
            return "empty"
        if self.tie:
            return "tie"
        if self.z != 0:
            return "active"
        return "window" if self.z_local is not None else "collapsed"


def reduced_value(z, sigma, N, lbar, L, gap=None):
    """``g(z) = (z - sigma)^2/(2N) + (L/2) lbar z^(2/L)``.

    ``gap``, when given, is ``sigma - z`` computed without cancellation and is
    used for the fit term instead of the difference.
    """
    penalty = 0 if z == 0 else (mpf(L) / 2) * lbar * z ** (mpf(2) / L)
    gap = sigma - z if gap is None else gap
    return gap**2 / (2 * N) + penalty


def existence_threshold(sigma, N, L):
    """Largest ``N c`` for which a positive stationary point exists (``c = (L/2) lbar``).

    At depth 1 (L = 2) the root exists only strictly below this bound."""
    if L == 2:
        return mpf(sigma)
    q = mpf(2) / L
    return ((1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / ((2 - q) * q)


def global_threshold(sigma, N, L):
    """``N c`` below which the nonzero root is the global minimizer."""
    if L == 2:
        return mpf(sigma)
    q = mpf(2) / L
    return (2 * (1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / (2 - q)


def critical_decay(sigma, N, L):
    """The value of lbar above which the direction collapses (None when sigma = 0)."""
    if sigma == 0:
        return None
    return 2 * global_threshold(sigma, N, L) / (L * N)


def stationary_points(sigma, N, lbar, L: int) -> DirectionRoots:
    """All positive stationary points of one direction and its global minimizer.

    Works at the caller's ``mpmath.mp`` precision; arguments may be mpf, int or
    decimal strings.

    Parameters
    ----------
    sigma : number
        Singular value of the target in this direction (>= 0).
    N : number
        Number of samples.
    lbar : number
        Geometric mean of all L decays.
    L : int
        Number of factors, depth + 1.
    """
    sigma, N, lbar = mpf(sigma), mpf(N), mpf(lbar)
    g0 = sigma**2 / (2 * N)
    pairs = _positive_roots(sigma, N, lbar, L)
    roots = tuple(r for r, _ in pairs)
    gaps = tuple(gap for _, gap in pairs)
    values = tuple(reduced_value(r, sigma, N, lbar, L, gap) for r, gap in pairs)
    z_local = roots[-1] if roots else None
    z, tie = mpf(0), False
    if z_local is not None:
        nc = N * (mpf(L) / 2) * lbar
        bound = global_threshold(sigma, N, L)
        gap = bound - nc
        tie = L > 2 and abs(gap) <= 10 * mpmath.mp.eps * bound
        if gap > 0 and not tie:
            z = z_local
    return DirectionRoots(sigma, roots, z, z_local, tie, values, g0, gaps)


def _positive_roots(sigma, N, lbar, L) -> tuple:
    """Pairs ``(root, sigma - root)`` of the positive stationary points, increasing."""
    rhs = N * lbar  # N c q
    if sigma <= 0:
        return ()
    if L == 2:  # soft threshold: sigma - z = N lbar
        z = sigma - rhs
        return ((z, rhs),) if z > 0 else ()
    q = mpf(2) / L
    z_peak = (1 - q) * sigma / (2 - q)
    peak = z_peak ** (1 - q) * (sigma - z_peak)
    if peak < rhs:
        return ()
    if peak == rhs:
        return ((z_peak, sigma / (2 - q)),)
    return tuple((z, _gap(z, rhs, q)) for z in _polynomial_roots(sigma, rhs, z_peak, L))


def _gap(z, rhs, q):
    """``sigma - z`` of a root, from the equation itself: ``z^(1-q) (sigma - z) = N lbar``.

    Near sigma (tiny decays) the subtraction would cancel, down to 0 when z
    equals sigma to the working precision; the quotient keeps the relative
    precision of z."""
    return rhs / z ** (1 - q)


def _polynomial_roots(sigma, rhs, z_peak, L) -> tuple:
    """Both roots z of ``p(t) = t^(L-2) (t^L - sigma) + N lbar``, ``z = t^L``, one on each
    side of the peak (p decreases before it and increases after it)."""

    def p(t):
        return t ** (L - 2) * (t**L - sigma) + rhs

    def dp(t):
        return t ** (L - 3) * ((2 * L - 2) * t**L - (L - 2) * sigma)

    t_peak = z_peak ** (mpf(1) / L)
    t_top = sigma ** (mpf(1) / L)
    large = bracketed_newton(p, dp, t_peak, t_top, increasing=True)
    small = bracketed_newton(p, dp, mpf(0), t_peak, increasing=False, start=t_peak / 2)
    return (small**L, large**L)
