"""The answer of :func:`solve_dynamics`: the MSE global minimizer plus the flow per direction.

``DynamicsSolution`` is a :class:`~ncsolve.solvers.mse.Solution` (same core fields, same
JSON and text) whose direction records gain ``init_threshold``, ``end``, ``end_z``,
``at_global`` and ``time_to_half`` (``steps_to_half``, ``z_after_steps`` and
``trajectory`` when asked for), whose class records gain the same read off each class's
leading direction, and whose JSON gains a ``dynamics`` summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ...core import readoff, scalar
from ...results.table import column, fmt, table
from ..mse import Solution

ZERO, GLOBAL, LOCAL = "zero", "global", "local"


@dataclass(frozen=True, eq=False)
class FlowTable:
    """Per-direction results of the flow (arrays in direction order) and its settings.

    Attributes
    ----------
    init_scale : ndarray (L,) or None
        The start: singular value of H, W_1, ..., W_M in every direction.
    lr, steps : float or None, int or None
    init_threshold : ndarray (K,)
        Balanced scale below which the direction ends at zero (0: every start learns
        it; inf: none does).
    threshold_exact : bool
        Closed form (equal decays, or depth 1) rather than a search on the flow.
    threshold_method : str
        How the thresholds were found: ``closed form``, ``separatrix of the flow`` (the
        saddle's stable manifold traced backward, two decays) or ``bisection of the flow``.
    end : ndarray of str (K,) or None
        ``zero``, ``global`` (the nonzero minimum that is the global one) or ``local``
        (the phase window's nonzero local minimum).
    end_z, time_to_half : ndarray (K,) or None
    times : ndarray (T,) or None; paths : ndarray (K, T, L) or None
        Sampled trajectory of every factor's singular value.
    z_after_steps : ndarray (K,) or None
        The product's singular value after ``steps`` steps of size ``lr``.
    """

    init_scale: np.ndarray | None
    lr: float | None
    steps: int | None
    init_threshold: np.ndarray
    threshold_exact: bool
    ends_only: bool = False
    end: np.ndarray | None = None
    end_z: np.ndarray | None = None
    time_to_half: np.ndarray | None = None
    times: np.ndarray | None = None
    paths: np.ndarray | None = None
    z_after_steps: np.ndarray | None = None
    threshold_method: str = "bisection of the flow"

    def with_ends(self, end, end_z, time_to_half) -> "FlowTable":
        return replace(self, end=end, end_z=end_z, time_to_half=time_to_half)

    def with_path(self, times, paths, z_after_steps) -> "FlowTable":
        return replace(self, times=times, paths=paths, z_after_steps=z_after_steps)


@dataclass(frozen=True, eq=False, repr=False)
class DynamicsSolution(Solution):
    """An MSE answer with the gradient flow from a spectral start (docs/dynamics.md)."""

    flow: FlowTable = field(default=None, kw_only=True)

    BASE_DIRECTION_KEYS = Solution.DIRECTION_KEYS

    # ---- per direction -------------------------------------------------------------------

    @property
    def at_global(self) -> np.ndarray | None:
        """Per direction: the flow ends where the global minimizer has this direction."""
        if self.flow.end is None:
            return None
        state = self.direction_state
        active = state == scalar.ACTIVE
        tie = state == scalar.TIE
        return np.where(active, self.flow.end == GLOBAL, tie | (self.flow.end == ZERO))

    @property
    def steps_to_half(self) -> np.ndarray | None:
        """time_to_half / lr, rounded up (the flow's time is lr times the steps)."""
        if self.flow.lr is None or self.flow.time_to_half is None:
            return None
        return np.ceil(self.flow.time_to_half / self.flow.lr)

    @property
    def global_scales(self) -> tuple[float, float]:
        """The open interval of balanced scales whose flow reaches the global minimizer in
        every direction: above each active direction's threshold, below each window
        direction's (empty when low >= high)."""
        state, threshold = self.direction_state, self.flow.init_threshold
        active, window = threshold[state == scalar.ACTIVE], threshold[state == scalar.WINDOW]
        return float(np.max(active, initial=0.0)), float(np.min(window, initial=np.inf))

    @property
    def learning_order(self) -> list[int] | None:
        """Classes whose leading direction is learned, in the order their flow gets halfway."""
        if self.flow.end is None:
            return None
        half = readoff.per_class(self.flow.time_to_half, self._leading_direction)
        learned = readoff.per_class(self.flow.end != ZERO, self._leading_direction)
        classes = np.flatnonzero(learned)
        return [int(k) for k in classes[np.argsort(half[classes], kind="stable")]]

    # ---- JSON ----------------------------------------------------------------------------

    @property
    def JSON_KEYS(self):  # noqa: N802 - the base reads this name
        return (*Solution.JSON_KEYS[:-1], "dynamics", Solution.JSON_KEYS[-1])

    @property
    def DIRECTION_KEYS(self):  # noqa: N802
        return (*self.BASE_DIRECTION_KEYS, *self._flow_columns())

    @property
    def CLASS_KEYS(self):  # noqa: N802
        extra = () if self.flow.ends_only or self.flow.end is None else ("end", "time_to_half")
        return (*Solution.CLASS_KEYS, *(() if self.flow.ends_only else ("init_threshold",)),
                *extra)

    def _flow_columns(self) -> dict:
        f = self.flow
        columns = {}
        if not f.ends_only:
            columns["init_threshold"] = column(f.init_threshold)
        if f.end is not None:
            columns.update(end=f.end.tolist(), end_z=column(f.end_z),
                           at_global=self.at_global.tolist())
            if not f.ends_only:
                columns["time_to_half"] = column(f.time_to_half)
        if self.steps_to_half is not None and not f.ends_only:
            columns["steps_to_half"] = column(self.steps_to_half)
        if f.z_after_steps is not None:
            columns["z_after_steps"] = column(f.z_after_steps)
        if f.paths is not None:
            columns["trajectory"] = [column(np.prod(p, axis=1)) for p in f.paths]
        return columns

    def _extra_direction_columns(self) -> dict:
        return self._flow_columns()

    def _extra_class_columns(self) -> dict:
        lead = self._leading_direction
        columns = {"init_threshold": column(readoff.per_class(self.flow.init_threshold, lead))}
        if self.flow.end is not None:
            columns["end"] = readoff.per_class(self.flow.end, lead).tolist()
            columns["time_to_half"] = column(readoff.per_class(self.flow.time_to_half, lead))
        return columns

    def _extra_dict(self, grams: bool) -> dict:
        f = self.flow
        scales = None if f.init_scale is None else f.init_scale.tolist()
        if f.ends_only:
            return {"dynamics": {"init_scale": scales}}
        low, high = self.global_scales
        return {"dynamics": {
            "init_scale": scales, "lr": f.lr, "steps": f.steps,
            "threshold": "closed form" if f.threshold_exact else f.threshold_method,
            "learning_order": self.learning_order,
            "global_scales": {"low": low, "high": None if math.isinf(high) else high},
            "global_reachable": low < high,
            "reaches_global": None if f.end is None else bool(np.all(self.at_global)),
            "times": None if f.times is None else column(f.times),
        }}

    # ---- text ----------------------------------------------------------------------------

    def _body_lines(self) -> list[str]:
        return [*super()._body_lines(), "", *self._flow_lines()]

    def _flow_lines(self) -> list[str]:
        f = self.flow
        start = ("no start given (thresholds only)" if f.init_scale is None else
                 "start: singular value " + ", ".join(fmt(s) for s in _distinct(f.init_scale))
                 + (" in every factor" if np.all(f.init_scale == f.init_scale[0])
                    else " (H, W_1, ..., W_M)"))
        lines = [f"gradient flow from a spectral start; {start}"]
        header = ["direction", "sigma"]
        cells = [list(range(self.problem.K)), [fmt(v) for v in self.sigma]]
        if not f.ends_only:
            header.append("init_threshold")
            cells.append([fmt(v) if np.isfinite(v) else "never" for v in f.init_threshold])
        if f.end is not None:
            header += ["end", "end_z"]
            cells += [list(f.end), [fmt(v) for v in f.end_z]]
            if not f.ends_only:
                header.append("time_to_half")
                cells.append([fmt(v) for v in f.time_to_half])
        if self.steps_to_half is not None and not f.ends_only:
            header.append("steps_to_half")
            cells.append([fmt(v) for v in self.steps_to_half])
        if f.z_after_steps is not None:
            header.append(f"z after {f.steps} steps")
            cells.append([fmt(v) for v in f.z_after_steps])
        rows = [[str(c[i]) for c in cells] for i in range(self.problem.K)]
        lines += table(header, rows, self.problem.K)
        return lines + ([] if f.ends_only else self._summary_lines())

    def _summary_lines(self) -> list[str]:
        f = self.flow
        low, high = self.global_scales
        how = "closed form" if f.threshold_exact else f.threshold_method
        where = (f"above {fmt(low)}" if math.isinf(high) else
                 f"between {fmt(low)} and {fmt(high)}")
        reach = (f"balanced scales reaching the global minimizer in every direction: {where}"
                 if low < high else
                 "no balanced scale reaches the global minimizer in every direction")
        lines = ["", f"thresholds: {how}", reach]
        if f.end is not None:
            order = self.learning_order
            lines.append("classes learned, in order: " + (", ".join(map(str, order))
                                                          if order else "none"))
            lines.append("this start reaches the global minimizer: "
                         + ("yes" if np.all(self.at_global) else "no"))
        return lines


def _distinct(values: np.ndarray) -> list[float]:
    return [float(values[0])] if np.all(values == values[0]) else [float(v) for v in values]
