"""Gradient descent on the full model from a spectral start, read per direction.

The start of docs/dynamics.md: with the target's directions ``a_i`` (class space) and
``v_i`` (sample space, ``Yt^T a_i = sigma_i v_i``), H = sum_i s_0 e_i v_i^T,
W_j = sum_i s_j e_i e_i^T and W_M = sum_i s_M a_i e_i^T (every width at least the
number of directions started), and a free bias at its optimum n/N. A direction with
sigma = 0 gets a sample vector orthogonal to the others and to the all-ones vector.
The reading of a run is the product's value ``a_i^T W_M ... W_1 H v_i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.descent import gradient_descent
from ..core.objective import FullObjective
from ..inputs.problem import Problem
from ..inputs.validation import invalid

DEFAULT_STEPS = 20000  # steps of a descent run drawn over the predicted curves


@dataclass(frozen=True)
class AlignedStart:
    """A spectral start of the full model and the directions to read it in."""

    objective: FullObjective
    x0: np.ndarray
    A: np.ndarray  # (K, K): column i is a_i
    V: np.ndarray  # (N, K): column i is v_i

    def read(self, x: np.ndarray) -> np.ndarray:
        """Per direction, ``a_i^T W_M ... W_1 H v_i``."""
        p = self.objective.split(x)
        product = p.product() @ (p.H @ self.V)  # (K, K)
        return np.einsum("ki,ki->i", self.A, product)


def sample_directions(problem: Problem, A: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The sample-space directions v_i (N x K) of the target of ``problem``."""
    labels = np.repeat(np.arange(problem.K), problem.n)
    Y = np.zeros((problem.K, problem.N))
    Y[labels, np.arange(problem.N)] = 1.0
    if problem.bias == "free":
        Y = Y - problem.n[:, None] / problem.N
    V = np.zeros((problem.N, problem.K))
    positive = sigma > 0
    V[:, positive] = (Y.T @ A[:, positive]) / sigma[positive]
    for i in np.flatnonzero(~positive):
        basis = np.column_stack([np.ones(problem.N), V[:, :i], V[:, i + 1:]])
        q, _ = np.linalg.qr(np.column_stack([basis, np.eye(problem.N)[:, : problem.K + 2]]))
        V[:, i] = q[:, basis.shape[1]]
    return V


def aligned_start(solution, scales, widths=None) -> AlignedStart:
    """The spectral start with singular values ``scales`` (H, W_1, ..., W_M)."""
    problem = solution.problem
    objective = FullObjective(problem, widths)
    started = min(problem.K, *objective.widths)
    if started < problem.K:
        raise invalid("widths", f"the spectral start needs every width >= K = {problem.K}")
    A = solution.directions()
    V = sample_directions(problem, A, solution.sigma)
    scales = np.asarray(scales, dtype=float)
    d = objective.widths
    H = np.zeros((d[0], problem.N))
    H[: problem.K] = scales[0] * V.T
    weights = []
    for j in range(problem.depth - 1):
        W = np.zeros((d[j + 1], d[j]))
        W[np.arange(problem.K), np.arange(problem.K)] = scales[j + 1]
        weights.append(W)
    top = np.zeros((problem.K, d[-1]))
    top[:, : problem.K] = scales[-1] * A
    weights.append(top)
    b = problem.n / problem.N if problem.bias == "free" else None
    return AlignedStart(objective, objective.pack(H, weights, b), A, V)


def descend_aligned(solution, scales, lr: float, steps: int, record_every: int = 1,
                    widths=None, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Plain gradient descent on the full objective from the spectral start.

    Returns
    -------
    times : ndarray (T,)
        ``step * lr``, the flow's time of each recorded step.
    z : ndarray (T, K)
        Per recorded step, each direction's value.
    """
    start = aligned_start(solution, scales, widths)
    run = gradient_descent(start.objective, lr=lr, steps=steps, x0=start.x0,
                           record_every=record_every, recorder=start.read, progress=progress)
    times = np.array([snap.step for snap in run.trajectory], dtype=float) * lr
    return times, np.array([snap.data for snap in run.trajectory])


def gains(problem: Problem, widths, std) -> np.ndarray:
    """The spectral scale that a random start with entries N(0, std_j^2) is read as.

    Factor j (rows r_j: d_1 for H, d_{j+1} for W_j, K for W_M) maps a unit vector to one
    of length about ``std_j sqrt(r_j)`` (its root-mean-square gain), so the start is
    compared with the spectral start of these singular values. A prediction, not a
    theorem: docs/dynamics.md reports how often it names the learned classes.
    """
    std = np.broadcast_to(np.asarray(std, dtype=float), (problem.depth + 1,))
    rows = np.array([*widths, problem.K], dtype=float)
    return std * np.sqrt(rows)


def learned_directions(solution, objective: FullObjective, x: np.ndarray,
                       A: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Per direction, whether a run's product holds at least half of ``z_local`` there."""
    p = objective.split(x)
    z = np.einsum("ki,ki->i", A, p.product() @ (p.H @ V))
    z_plus = np.nan_to_num(solution.z_local, nan=np.inf)
    return z >= 0.5 * z_plus


@dataclass(frozen=True)
class RandomStarts:
    """How often the spectral prediction names the learned directions of random starts.

    Attributes
    ----------
    predicted : ndarray of bool (K,)
        Directions the flow from the equivalent spectral start (:func:`gains`) learns.
    observed : ndarray of bool (runs, K)
        Per run, the directions holding at least half of ``z_local`` at its end.
    """

    predicted: np.ndarray
    observed: np.ndarray

    @property
    def rate(self) -> float:
        """Fraction of runs whose learned set is exactly the predicted one."""
        return float(np.mean(np.all(self.observed == self.predicted, axis=1)))


def random_starts(solution, predicted: np.ndarray, std, widths, seeds, lr: float,
                  steps: int, progress=None) -> RandomStarts:
    """Gradient descent on the full model from i.i.d. N(0, std_j^2) starts (bias 0)."""
    problem = solution.problem
    objective = FullObjective(problem, widths)
    A = solution.directions()
    V = sample_directions(problem, A, solution.sigma)
    std = np.broadcast_to(np.asarray(std, dtype=float), (problem.depth + 1,))
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        blocks = [s * rng.standard_normal(r * c) for s, (r, c) in zip(std, objective.shapes)]
        if objective.has_bias:
            blocks.append(np.zeros(problem.K))
        run = gradient_descent(objective, lr=lr, steps=steps, x0=np.concatenate(blocks),
                               gtol=1e-7, progress=progress)
        rows.append(learned_directions(solution, objective, run.x, A, V))
    return RandomStarts(np.asarray(predicted, dtype=bool), np.array(rows))
