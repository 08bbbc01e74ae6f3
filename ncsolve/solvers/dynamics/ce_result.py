"""The answer of :func:`solve_ce_dynamics`: the balanced cross-entropy flow from an ETF start.

All K - 1 directions of the simplex ETF share one flow, so every per-direction record
is the same; the JSON still lists them (``directions``), as for the squared loss, and
lists every class (``classes``: all learned or all collapsed together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...results.table import json_ready
from . import flow

PROVED = ("from a simplex-ETF-aligned start (every factor at one singular value in all K - 1 "
          "directions) with equal class sizes the flow stays aligned and is the ODE per factor "
          "of docs/dynamics.md (exact); the threshold is a closed form with equal decays")
NOT_PROVED = ("unequal class sizes, starts not aligned with the ETF or unequal across its "
              "directions, and whether the ETF end is the global minimizer at depth >= 2 "
              "(ncsolve's cross-entropy answer is a search there)")


@dataclass(frozen=True, eq=False)
class CEDynamics:
    """Balanced cross-entropy: where gradient flow from an ETF-aligned start goes.

    Attributes
    ----------
    problem : Problem
    direction : CEDirection
        sigma = sqrt(n), z_plus (the ETF stationary point; nan: none exists).
    z_low : float
        The saddle's value (the threshold is ``z_low^(1/L)`` with equal decays).
    init_threshold : float
        0: every positive start learns (depth 1); inf: none does; else the balanced scale.
    threshold_exact : bool
    init_scale : ndarray (L,) or None
    lr, steps
    answer : CESolution
        ncsolve's cross-entropy answer for the same problem (its ``certainty``).
    plus_loss : float
        The objective at the ETF stationary point (nan without one).
    end : {"zero", "plus"} or None; end_z, time_to_half, end_loss : float
    at_global : bool or None
        The end's objective is at most the answer's (to 1e-9 relative).
    z_after_steps : float or None; times, paths : ndarray or None
    """

    problem: object
    direction: object
    z_low: float
    init_threshold: float
    threshold_exact: bool
    init_scale: np.ndarray | None
    lr: float | None
    steps: int | None
    answer: object
    plus_loss: float
    end: str | None = None
    end_z: float | None = None
    time_to_half: float | None = None
    end_loss: float | None = None
    at_global: bool | None = None
    z_after_steps: float | None = None
    times: np.ndarray | None = None
    paths: np.ndarray | None = None

    @property
    def end_word(self) -> str | None:
        """``zero``, ``global`` (the end is the answer's objective) or ``local``."""
        if self.end is None:
            return None
        if self.end == flow.ZERO:
            return "zero"
        return "global" if self.at_global else "local"

    @property
    def steps_to_half(self) -> int | None:
        if self.lr is None or self.time_to_half is None or not np.isfinite(self.time_to_half):
            return None
        return int(math.ceil(self.time_to_half / self.lr))

    def _direction_dict(self, i: int) -> dict:
        d = self.direction
        out = {"direction": i, "sigma": d.sigma, "z_local": d.z_plus, "z_low": self.z_low,
               "init_threshold": self.init_threshold}
        if self.end is not None:
            out.update(end=self.end_word, end_z=self.end_z, end_loss=self.end_loss,
                       at_global=self.at_global, time_to_half=self.time_to_half)
            if self.lr is not None:
                out["steps_to_half"] = self.steps_to_half
            if self.z_after_steps is not None:
                out["z_after_steps"] = self.z_after_steps
            if self.paths is not None:
                out["trajectory"] = np.prod(self.paths, axis=1)
        return out

    def to_dict(self) -> dict:
        """The JSON of ``ncsolve dynamics --loss ce --json``."""
        K = self.problem.K
        learned = None if self.end is None else self.end != flow.ZERO
        summary = {"loss": "ce", "threshold": "closed form" if self.threshold_exact
                   else "bisection of the flow", "proved": PROVED, "not_proved": NOT_PROVED,
                   "etf_loss": self.plus_loss, "origin_loss": float(np.log(K)),
                   "answer_loss": float(self.answer.loss),
                   "answer_certainty": str(self.answer.certainty)}
        if learned is not None:
            summary["learning_order"] = list(range(K)) if learned else []
            summary["reaches_global"] = self.at_global
        if self.times is not None:
            summary["times"] = self.times
        out = {"problem": self.problem.to_dict(), "init_scale": self.init_scale,
               "lr": self.lr, "steps": self.steps,
               "directions": [self._direction_dict(i) for i in range(K - 1)],
               "classes": [{"class": k, "learned": learned} for k in range(K)],
               "dynamics": summary}
        return json_ready(out)

    def __str__(self) -> str:
        p, d = self.problem, self.direction
        lines = [f"cross-entropy, depth {p.depth}, K = {p.K} balanced classes of "
                 f"{int(p.n[0])}, bias {p.bias}; gradient flow from a simplex-ETF start",
                 f"ETF stationary point z = {d.z_plus:.6g} (objective {self.plus_loss:.10g}); "
                 f"origin {np.log(p.K):.10g}; ncsolve's answer {float(self.answer.loss):.10g} "
                 f"({self.answer.certainty})",
                 f"init_threshold {self._threshold_text()} "
                 f"({'closed form' if self.threshold_exact else 'bisection of the flow'})"]
        if self.end is not None:
            scale = ", ".join(f"{s:.4g}" for s in self.init_scale)
            lines.append(f"start {scale} (H, W_1, ..., W_M): end {self.end_word}, "
                         f"z {self.end_z:.6g}, objective {self.end_loss:.10g}, time to half "
                         f"{self.time_to_half:.6g}"
                         + (f" ({self.steps_to_half} steps)" if self.lr else ""))
            if self.z_after_steps is not None:
                lines.append(f"z after {self.steps} steps: {self.z_after_steps:.6g}")
        lines += [f"proved: {PROVED}", f"not proved: {NOT_PROVED}"]
        return "\n".join(lines)

    def _threshold_text(self) -> str:
        if np.isinf(self.init_threshold):
            return "never (no nonzero stationary point)"
        return f"{self.init_threshold:.6g}"
