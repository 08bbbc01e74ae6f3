"""Cross-entropy from a simplex-ETF-aligned spectral start, balanced classes only.

With K classes of n samples each (N = nK), the centred target ``Y - 11^T/K`` has K - 1
equal singular values ``sigma = sqrt(n)``. A start putting every factor at singular
value ``s_j`` in all K - 1 of its directions (as the MSE flow does) gives logits
``Z = (z / sqrt(n)) (Y - 11^T/K)``, ``z = prod_j s_j``: every sample has margin
``c = z / sqrt(n)`` over every other class. Then ``softmax(Z) - Y`` is a multiple of the
centred target (the symmetry of balanced classes), so every factor's gradient is again
aligned, the alignment is kept and the flow is, per factor,

    d s_j / dt = z / (sqrt(n) s_j (e^(z/sqrt(n)) + K - 1)) - lambda_j s_j.

docs/dynamics.md derives it and says what is proved. The ODE has the MSE flow's
structure with ``(sigma - z) / N`` replaced by ``1 / (sqrt(n) (e^c + K - 1))``, so the
machinery of :mod:`.flow` (integration in log s, decided ends) is reused as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...inputs.problem import Problem
from ...inputs.validation import invalid
from . import flow


@dataclass(frozen=True)
class CEDirection(flow.Direction):
    """One ETF direction of the balanced cross-entropy flow (``sigma = sqrt(n)``, N = nK).

    ``zero_radius`` and ``plus_point`` of :class:`flow.Direction` hold unchanged: the rate
    ``1/(sqrt(n)(e^c + K - 1))`` is at most ``sigma / N``, and at a stationary point
    ``lambda_j s_j^2 = lbar z^(2/L)`` as for the squared loss.
    """

    K: int = 2

    @property
    def energy_decides(self) -> bool:
        """No: the ends are decided by the origin's cube and z_plus (the energy decision
        of :class:`flow.Direction` is the squared loss's)."""
        return False

    @property
    def saddle_log_z(self) -> float:
        if not np.isfinite(self.z_plus) or self.L <= 2:
            return np.nan
        return float(np.log(roots(self.sigma, self.K, self.L, self.lbar)[0]))

    def log_rate(self, log_z):
        """log of ``z / (sqrt(n) (e^c + K - 1))``, c = z / sqrt(n)."""
        with np.errstate(over="ignore"):
            c = np.exp(log_z) / self.sigma
        return log_z - np.log(self.sigma) - np.logaddexp(c, np.log(self.K - 1.0))

    def rhs(self, t, y):
        """d(log s_j)/dt."""
        return np.exp(self.log_rate(float(np.sum(y))) - 2.0 * y) - self.decays

    def objective(self, s: np.ndarray) -> float:
        """The full objective at the aligned point with singular values ``s``."""
        return ce_objective(float(np.prod(s)), s, self.sigma, self.K, self.decays)


def ce_objective(z: float, s, sigma: float, K: int, decays) -> float:
    """Cross-entropy ``log(1 + (K-1) e^(-z/sigma))`` plus the K - 1 directions' decay."""
    loss = float(np.logaddexp(0.0, np.log(K - 1.0) - z / sigma))
    return loss + 0.5 * (K - 1) * float(np.sum(np.asarray(decays) * np.asarray(s) ** 2))


def _g(u: float, sigma: float, K: int, L: int) -> float:
    """log of ``z^(1 - 2/L) / (sqrt(n) (e^c + K - 1))`` at z = e^u (stationary: = log lbar)."""
    return (1.0 - 2.0 / L) * u - np.log(sigma) - float(np.logaddexp(np.exp(u) / sigma,
                                                                     np.log(K - 1.0)))


def roots(sigma: float, K: int, L: int, lbar: float) -> tuple[float, float]:
    """``(z_low, z_plus)``: the nonzero stationary values of the balanced flow.

    Depth 1 (L = 2): z_low = 0 and ``z_plus = sigma log(1/(sigma lbar) - K + 1)`` when
    ``lbar < 1/(sigma K)`` (nan otherwise). Depth >= 2: the two roots of ``g = log lbar``,
    g concave in log z with one maximum (nan, nan when the maximum is below).
    """
    from scipy.optimize import brentq

    target = np.log(lbar)
    if L == 2:
        gap = 1.0 / (sigma * lbar) - (K - 1.0)
        return (0.0, sigma * np.log(gap)) if gap > 1.0 else (0.0, np.nan)
    a = 1.0 - 2.0 / L

    def slope(u):
        z = np.exp(u)
        return a - z / sigma / (1.0 + (K - 1.0) * np.exp(-z / sigma))

    top = brentq(slope, np.log(sigma) - 50.0, np.log(sigma) + np.log(a) + 1.0, xtol=1e-14)
    if _g(top, sigma, K, L) <= target:
        return np.nan, np.nan
    low, high = top - 1.0, top + 1.0
    while _g(low, sigma, K, L) > target:
        low -= 2.0 * (top - low)
    while _g(high, sigma, K, L) > target:
        high += 2.0 * (high - top)

    def excess(u):
        return _g(u, sigma, K, L) - target

    z_low = np.exp(brentq(excess, low, top, xtol=1e-15, rtol=1e-15))
    z_plus = np.exp(brentq(excess, top, high, xtol=1e-15, rtol=1e-15))
    return float(z_low), float(z_plus)


def check_balanced(problem: Problem) -> None:
    """Refuse the cross-entropy flow where it is not derived (say what is and is not)."""
    if len(set(int(k) for k in problem.n)) != 1:
        raise invalid("n", "the cross-entropy flow is derived for balanced classes only "
                      "(equal class sizes keep a simplex-ETF-aligned start aligned); with "
                      "unequal sizes the softmax couples the directions and nothing is proved "
                      "here: give equal sizes, or use --loss mse")
    if problem.target is not None or problem.features != "unconstrained":
        raise invalid("loss", "the cross-entropy flow is solved for one-hot targets and "
                      "unconstrained features; leave the target and --features out")
    if problem.widths is not None and min(problem.widths) < problem.K - 1:
        raise invalid("widths", f"the simplex-ETF start needs every width >= K - 1 = "
                      f"{problem.K - 1}")


def direction_of(problem: Problem) -> CEDirection:
    """The ETF direction of a balanced problem (all K - 1 directions share it)."""
    sigma = float(np.sqrt(problem.n[0]))
    decays = np.array((problem.lambda_h, *problem.lambda_w), dtype=float)
    lbar = float(np.exp(np.mean(np.log(decays))))
    _, z_plus = roots(sigma, problem.K, decays.size, lbar)
    return CEDirection(sigma, problem.N, decays, z_plus, problem.K)


def threshold_of(direction: CEDirection, equal_decays: bool) -> tuple[float, bool]:
    """The balanced scale below which the flow ends at zero, and whether it is closed form."""
    if not np.isfinite(direction.z_plus):
        return np.inf, True
    if direction.L == 2:
        return 0.0, True
    if equal_decays:
        z_low, _ = roots(direction.sigma, direction.K, direction.L, direction.lbar)
        return z_low ** (1.0 / direction.L), True
    return flow.balanced_threshold(direction), False


def end_loss(direction: CEDirection, end: str) -> float:
    """The full objective where the flow ends: the balanced point at z_plus, or log K."""
    if end == flow.ZERO:
        return float(np.log(direction.K))
    s = np.exp(direction.plus_point())
    return ce_objective(direction.z_plus, s, direction.sigma, direction.K, direction.decays)
