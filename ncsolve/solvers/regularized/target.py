"""The MSE problem for a fixed bias: a bias-free problem with the shifted target T_b.

With NC1 the features of a class equal their mean, and with ``Z = Zbar D^(1/2)``
(``Zbar`` the K x K class-mean outputs, ``D = diag(n)``) the MSE objective with
a regularized bias is

    (1/2N) ||Z - T_b||_F^2 + c sum_i sigma_i(Z)^q + lambda_b/2 ||b||^2,
    T_b = (I - b 1^T) D^(1/2) = D^(1/2) - b s^T,   s = sqrt(n).

For a fixed ``b`` the first two terms are the bias-free problem with target
``T_b``: Z shares the singular vectors of ``T_b = U diag(sigma) V^T`` and each
singular value is solved alone by :func:`ncsolve.core.scalar.minimize`. The value
as a function of ``b`` is differentiable wherever no direction sits on its
phase boundary, with gradient ``-(1/N) U diag(sigma - z) V^T s + lambda_b b``
(the mean residual of the outputs, as for any bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core import readoff, scalar
from ...inputs.problem import Problem


@dataclass(frozen=True, eq=False)
class FixedBias:
    """The exact minimizer over everything but the bias, for one bias vector.

    Attributes
    ----------
    b : ndarray, shape (K,)
    U, V : ndarray, shape (K, K)
        Left (output space) and right (class space) singular vectors of ``T_b``;
        column i is direction i.
    sigma, z, z_local, residual, code : ndarray, shape (K,)
        Per direction, as in :class:`ncsolve.core.scalar.DirectionMinima`, after the
        rank cap (:func:`ncsolve.core.readoff.cap_rank`: a direction beyond it has
        state ``capped``).
    loss : float
        Objective value, bias penalty included.
    grad : ndarray, shape (K,)
        Gradient of ``loss`` in ``b`` (envelope theorem).
    cap_notes : tuple of str
        The rank cap's notes; empty when it set no nonzero direction to 0.
    """

    b: np.ndarray
    U: np.ndarray
    V: np.ndarray
    sigma: np.ndarray
    z: np.ndarray
    z_local: np.ndarray
    residual: np.ndarray
    code: np.ndarray
    loss: float
    grad: np.ndarray
    cap_notes: tuple[str, ...] = ()

    @property
    def state(self) -> np.ndarray:
        """Per direction, the state named from ``code``."""
        return scalar.state_names(self.code)


def shifted_target(problem: Problem, b: np.ndarray) -> np.ndarray:
    """``T_b = D^(1/2) - b s^T`` (K x K); column k is ``sqrt(n_k) (e_k - b)``."""
    root_n = np.sqrt(problem.n.astype(float))
    return np.diag(root_n) - np.outer(b, root_n)


def solve_fixed_bias(problem: Problem, b: np.ndarray) -> FixedBias:
    """Exact minimizer of the regularized-bias MSE problem for the bias ``b``."""
    b = np.asarray(b, dtype=float)
    U, sigma, Vt = np.linalg.svd(shifted_target(problem, b))
    N = float(problem.N)
    minima = scalar.minimize(sigma, N, problem.c, problem.q)
    z, residual, code = minima.z.copy(), minima.residual.copy(), minima.code.copy()
    capping = readoff.cap_rank(problem.rank_cap, sigma, z, residual, code)
    lam = problem.lambda_b
    loss = (float(residual @ residual) / (2.0 * N) + problem.c * float(np.sum(z**problem.q))
            + 0.5 * lam * float(b @ b))
    root_n = np.sqrt(problem.n.astype(float))
    grad = -(U @ (residual * (Vt @ root_n))) / N + lam * b
    return FixedBias(b=b, U=U, V=Vt.T, sigma=sigma, z=z, z_local=minima.z_local,
                     residual=residual, code=code, loss=loss, grad=grad,
                     cap_notes=readoff.cap_notes(problem.rank_cap, int(capping.cut),
                                                 bool(capping.equal)))
