"""``verify --spectral-start``: the flow's prediction against descent, aligned and random.

verify's random starts draw every entry N(0, s^2) (bias 0). The flow of docs/dynamics.md
reads such a start as the spectral start whose factor j has singular value
``s sqrt(rows_j)`` in every direction (:func:`ncsolve.verify.dynamics.gains`). This
module runs plain gradient descent from exactly that spectral start, compares each
direction's path with the flow (end, end value, value after the run's steps, time to
halfway), and compares the classes each random run learned with the flow's prediction.
The aligned comparison tests a theorem (descent is the flow's Euler scheme); the random
one a heuristic, reported as a rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.scalar import WINDOW
from ..inputs.validation import invalid
from ..results.table import column
from ..solvers.dynamics.solver import solve_dynamics
from .dynamics import descend_aligned, gains

RECORDS = 4000  # about this many recorded steps of the aligned run (time resolution)
LEARNED = 0.5  # a direction is learned when it holds at least this fraction of z_local


@dataclass(frozen=True, eq=False)
class SpectralCheck:
    """The flow from a spectral start against descent from it and from random starts.

    Attributes
    ----------
    scales : ndarray (L,)
        Singular values of the spectral start, H first (the gains of ``init_scale``).
    lr : float
    steps : int
    predicted : DynamicsSolution
        The flow's answer from ``scales`` (``flow.end``, ``end_z``, ``time_to_half``,
        ``z_after_steps``).
    z_last : ndarray (K,)
        Per direction, the aligned run's value at its last step.
    observed_end : ndarray of str (K,)
        ``zero`` below half of ``z_local``, else ``global``/``local`` as the flow names it.
    observed_time : ndarray (K,)
        Time (step x lr) at which the aligned run is first halfway from its start to its
        last value, interpolated between recorded steps (nan if it does not move).
    record_every : int
    random_observed : ndarray of bool (runs, K)
        Per random run of the report, the directions it learned.
    """

    scales: np.ndarray
    lr: float
    steps: int
    predicted: object
    z_last: np.ndarray
    observed_end: np.ndarray
    observed_time: np.ndarray
    record_every: int
    random_observed: np.ndarray | None = None

    @property
    def predicted_learned(self) -> np.ndarray:
        return self.predicted.flow.end != "zero"

    @property
    def ends_agree(self) -> bool:
        return bool(np.all(self.observed_end == self.predicted.flow.end))

    @property
    def random_rate(self) -> float:
        """Fraction of random runs whose learned directions are exactly the predicted ones."""
        if self.random_observed is None or not len(self.random_observed):
            return float("nan")
        return float(np.mean(np.all(self.random_observed == self.predicted_learned, axis=1)))

    def with_random(self, runs) -> "SpectralCheck":
        """The check with the learned directions of verify's runs (their ``z_run``)."""
        z_plus = np.nan_to_num(self.predicted.z_local, nan=np.inf)
        rows = [np.asarray(r.z_run) >= LEARNED * z_plus for r in runs]
        observed = np.array(rows, dtype=bool).reshape(len(rows), z_plus.size)
        return SpectralCheck(**{**self.__dict__, "random_observed": observed})

    def to_dict(self) -> dict:
        """The ``spectral_start`` key of ``verify --json``."""
        f = self.predicted.flow
        directions = []
        for i in range(self.z_last.size):
            directions.append({
                "direction": i, "sigma": float(self.predicted.sigma[i]),
                "init_threshold": float(f.init_threshold[i]),
                "predicted_end": str(f.end[i]), "end": str(self.observed_end[i]),
                "predicted_end_z": float(f.end_z[i]),
                "predicted_z_after_steps": float(f.z_after_steps[i]),
                "z_last": float(self.z_last[i]),
                "predicted_time_to_half": float(f.time_to_half[i]),
                "time_to_half": float(self.observed_time[i]),
            })
        learned = self.random_observed
        return {
            "scales": column(self.scales), "lr": self.lr, "steps": self.steps,
            "record_every": self.record_every,
            "ends_agree": self.ends_agree, "directions": directions,
            "random": {
                "predicted_learned": [int(i) for i in np.flatnonzero(self.predicted_learned)],
                "observed_learned": [] if learned is None else
                [[int(i) for i in np.flatnonzero(row)] for row in learned],
                "rate": self.random_rate,
            },
        }

    def lines(self) -> list[str]:
        """The text section of ``ncsolve verify`` (after the runs)."""
        f = self.predicted.flow
        scales = ", ".join(f"{s:.4g}" for s in self.scales)
        out = ["", f"spectral start {scales} (H, W_1, ..., W_M; the random starts read as "
                   f"spectral), gradient descent lr {self.lr:g}, {self.steps} steps:",
               f"{'direction':>9} {'threshold':>10} {'end':>7} {'observed':>8} "
               f"{'z(flow)':>10} {'z(run)':>10} {'t_half':>9} {'observed':>9}"]
        for i in range(self.z_last.size):
            out.append(f"{i:>9} {f.init_threshold[i]:>10.4g} {f.end[i]:>7} "
                       f"{self.observed_end[i]:>8} {f.z_after_steps[i]:>10.5g} "
                       f"{self.z_last[i]:>10.5g} {f.time_to_half[i]:>9.4g} "
                       f"{self.observed_time[i]:>9.4g}")
        out.append(f"ends of the aligned run as the flow predicts: "
                   f"{'yes' if self.ends_agree else 'no'} (times: step x lr, interpolated between "
                   f"steps {self.record_every} apart)")
        if self.random_observed is not None:
            learned = ", ".join(str(i) for i in np.flatnonzero(self.predicted_learned))
            right = int(np.sum(np.all(self.random_observed == self.predicted_learned, axis=1)))
            out.append(f"random starts learning exactly the predicted directions "
                       f"({learned or 'none'}): {right} of {len(self.random_observed)} "
                       "(a prediction, not a theorem)")
        return out


def check_spectral(problem, widths, method: str) -> None:
    """Refuse ``--spectral-start`` where it cannot run (before any training)."""
    if problem.loss != "mse" or problem.bias == "regularized":
        raise invalid("spectral_start", "the flow is compared for the squared loss with "
                      "bias none or free; leave --spectral-start out")
    if method != "gd":
        raise invalid("spectral_start", "compares times in plain gradient descent steps "
                      "(the flow's Euler scheme); add --method gd")
    if problem.features != "unconstrained" or problem.target is not None:
        raise invalid("spectral_start", "the flow is solved for one-hot targets and "
                      "unconstrained features; leave the target and --features out")
    if min(widths) < problem.K:
        raise invalid("spectral_start", f"the spectral start needs every width >= K = "
                      f"{problem.K}; give a larger --width")


def spectral_check(objective, init_scale: float, lr: float, steps: int,
                   progress=None) -> SpectralCheck:
    """The flow's prediction from the spectral start read off N(0, init_scale^2), and
    plain gradient descent on the full model from exactly that start."""
    problem = objective.problem
    scales = gains(problem, objective.widths, init_scale)
    predicted = solve_dynamics(problem, scales, lr=lr, steps=steps)
    every = max(1, steps // RECORDS)
    times, z = descend_aligned(predicted, scales, lr, steps, every, objective.widths,
                               progress=progress)
    z_last = z[-1]
    learned = z_last >= LEARNED * np.nan_to_num(predicted.z_local, nan=np.inf)
    word = np.where(predicted.direction_state == WINDOW, "local", "global")
    observed_end = np.where(learned, word, "zero")
    return SpectralCheck(scales, lr, steps, predicted, z_last, observed_end,
                         halfway_times(times, z), every)


def halfway_times(times: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per column, the first time z is halfway from its first to its last value (linear
    interpolation between the recorded steps around the crossing)."""
    out = np.full(z.shape[1], np.nan)
    for i in range(z.shape[1]):
        start, last = z[0, i], z[-1, i]
        if last == start:
            continue
        middle = 0.5 * (start + last)
        crossed = (z[:, i] >= middle) if last > start else (z[:, i] <= middle)
        k = int(np.argmax(crossed))
        if k == 0:
            out[i] = times[0]
            continue
        before, after = z[k - 1, i], z[k, i]
        out[i] = times[k - 1] + (times[k] - times[k - 1]) * (middle - before) / (after - before)
    return out
