"""A sweep's grid: which predict parameters vary, their values, and each point's inputs.

Every parameter of ``predict`` that takes one number or choice can be an axis
(``depth``, ``lambda_w``, ``lambda_h``, ``lambda_b``, ``bias``, ``loss``,
``seed``, ``restarts``, ``label_smoothing``), and so can the profile's (``ratio``, ``classes``,
``minority``, ``largest``); ``decay`` sets ``lambda_h`` and every ``lambda_w``
together (then lbar equals it). Values are a comma list or ``START:STOP:COUNT``
(log-spaced for decays and ratios, linear otherwise). ``features`` (unconstrained or
nonnegative) is fixed for the whole sweep, like ``widths``. A per-layer decay vector,
fixed for the whole sweep, is written with ``/`` (``1e-3/2e-3/5e-3``) because a
comma separates grid values. Points are numbered in row-major order of the axes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..inputs.grid import check_size, parse_choices, parse_values
from ..inputs.problem import BIAS_MODES, DEFAULT_DECAY, FEATURES, LOSSES, Problem
from ..inputs.profiles import PROFILES, check_ratio
from ..inputs.profiles import profile as make_profile
from ..inputs.validation import Options, ProblemError, check, invalid
from ..solvers.nonnegative.search import DEFAULT_RESTARTS
from ..inputs.targets import smoothed_target

# name: (scale, integer, low)
NUMERIC = {
    "ratio": ("log", False, 1.0),
    "classes": ("linear", True, 2),
    "minority": ("linear", True, 1),
    "largest": ("linear", True, 1),
    "depth": ("linear", True, 1),
    "decay": ("log", False, None),
    "lambda_w": ("log", False, None),
    "lambda_h": ("log", False, None),
    "lambda_b": ("log", False, None),
    "seed": ("linear", True, 0),
    "restarts": ("linear", True, 0),
    "label_smoothing": ("linear", False, 0.0),
}
CHOICES = {"bias": BIAS_MODES, "loss": LOSSES}
AXES = ("ratio", "classes", "minority", "largest", "depth", "decay", "lambda_w", "lambda_h",
        "lambda_b", "bias", "loss", "seed", "restarts", "label_smoothing")
PROFILE_AXES = ("ratio", "classes", "minority", "largest")
CE_ONLY = ("seed", "restarts")
LOSS_COLUMN = "loss_function"  # the loss parameter; "loss" is the objective value


@dataclass(frozen=True)
class Grid:
    """The validated grid of a sweep.

    Attributes
    ----------
    axes : tuple of (name, tuple of values)
        In row-major order; an axis of one value is a fixed parameter.
    profile : str or None
        Profile kind, or None for the fixed sizes ``n``.
    n : tuple of int or None
        Fixed class sizes (without a profile) or the base sizes of ``scaled``.
    widths : tuple of int or None
    lambda_w_vector : tuple of float or None
        A fixed per-layer decay vector (given with ``/``).
    features : {"unconstrained", "nonnegative"}
        Fixed for the sweep; nonnegative points are solved one by one (no vectorized
        route), each with the solver's default search where it searches.
    """

    axes: tuple[tuple[str, tuple], ...]
    profile: str | None
    n: tuple[int, ...] | None
    widths: tuple[int, ...] | None
    lambda_w_vector: tuple[float, ...] | None = None
    features: str = FEATURES[0]

    @property
    def size(self) -> int:
        return math.prod(len(v) for _, v in self.axes)

    @property
    def swept(self) -> tuple[str, ...]:
        """Names of the axes with more than one value."""
        return tuple(name for name, values in self.axes if len(values) > 1)

    def values(self, name: str) -> tuple:
        return dict(self.axes)[name]

    def point(self, index: int) -> dict:
        """Parameter values of point ``index`` (row-major)."""
        out = {}
        for name, values in reversed(self.axes):
            index, i = divmod(index, len(values))
            out[name] = values[i]
        return {name: out[name] for name, _ in self.axes}

    def points(self):
        names = [name for name, _ in self.axes]
        for combo in itertools.product(*(values for _, values in self.axes)):
            yield dict(zip(names, combo))

    # ---- a point's inputs -------------------------------------------------------------

    def sizes(self, params: dict) -> np.ndarray:
        if self.profile is None:
            return np.asarray(self.n, dtype=np.int64)
        return _profile_sizes(self.profile, self.n, params.get("classes"),
                              params.get("minority"), params.get("largest"), params["ratio"])

    def predict_kwargs(self, params: dict) -> dict:
        """Keyword arguments of ``predict`` for one point."""
        decay = params.get("decay")
        lambda_w = decay if decay is not None else (
            list(self.lambda_w_vector) if self.lambda_w_vector else params["lambda_w"])
        kwargs = {
            "n": self.sizes(params), "depth": int(params["depth"]), "lambda_w": lambda_w,
            "lambda_h": decay if decay is not None else params["lambda_h"],
            "bias": params["bias"], "loss": params["loss"], "widths": self.widths,
        }
        if params["bias"] == "regularized":
            kwargs["lambda_b"] = params.get("lambda_b")
        if params.get("label_smoothing") is not None:
            kwargs["label_smoothing"] = float(params["label_smoothing"])
        if self.features != FEATURES[0]:
            kwargs["features"] = self.features
            return kwargs  # no seed or restarts (refused by build_grid)
        if params["loss"] == "ce":
            kwargs["seed"] = int(params["seed"])
            if params.get("restarts") is not None:
                kwargs["restarts"] = int(params["restarts"])
        return kwargs

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.axes)

    def axis_values(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Per axis, its value at each of ``points`` (vectorized :meth:`point`)."""
        indices = np.unravel_index(np.asarray(points, dtype=np.int64), self.shape)
        return {name: _array(values)[i] for (name, values), i in zip(self.axes, indices)}

    def param_block(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """The parameter columns (predict names; the loss parameter is
        :data:`LOSS_COLUMN`) at each of ``points``, as arrays."""
        ax = self.axis_values(points)
        P = len(points)
        out = {}
        if self.profile is not None:
            out["profile"] = np.full(P, self.profile, dtype=object)
            out.update({name: ax[name] for name in PROFILE_AXES if name in ax})
        out["depth"] = ax["depth"]
        if "decay" in ax:
            out["lambda_w"] = out["lambda_h"] = ax["decay"]
        else:
            out["lambda_w"] = ax["lambda_w"] if self.lambda_w_vector is None else np.full(
                P, "/".join(repr(v) for v in self.lambda_w_vector), dtype=object)
            out["lambda_h"] = ax["lambda_h"]
        if "lambda_b" in ax:
            out["lambda_b"] = np.where(ax["bias"] == "regularized", ax["lambda_b"], None)
        out["bias"] = ax["bias"]
        out[LOSS_COLUMN] = ax["loss"]
        if "label_smoothing" in ax:
            out["label_smoothing"] = ax["label_smoothing"]
        if self.widths is not None:
            out["widths"] = np.full(P, ",".join(map(str, self.widths)), dtype=object)
        if self.features != FEATURES[0]:
            out["features"] = np.full(P, self.features, dtype=object)
        for name in CE_ONLY:
            if name in ax:
                out[name] = np.where(ax["loss"] == "ce", ax[name].astype(object), None)
        return out

    def classes(self, points: np.ndarray) -> np.ndarray:
        """Number of classes at each of ``points``."""
        if self.profile is not None and "classes" in dict(self.axes):
            return self.axis_values(points)["classes"].astype(np.int64)
        return np.full(len(points), self.sizes(self.point(0)).size, dtype=np.int64)

    def param_columns(self) -> list[str]:
        return list(self.param_block(np.array([0])))


MAX_ROWS = 1_500_000  # the table is held in memory: about 1.8 kB a row here (docs/cli.md)
ROW_BYTES = 1800
DEFAULT_CLASSES = 10  # of a profile without --classes


def _check_rows(values: dict, base) -> None:
    """Refuse a table of more than MAX_ROWS rows (points times classes) before any work."""
    points = math.prod(len(v) for v in values.values())
    if "classes" in values:
        rows = points // len(values["classes"]) * sum(int(k) for k in values["classes"])
    else:
        rows = points * (len(base) if base is not None else DEFAULT_CLASSES)
    if rows > MAX_ROWS:
        raise ProblemError(f"grid: {points:,} points of {rows // points:,} classes are "
                           f"{rows:,} rows, about {rows * ROW_BYTES / 1e9:.1f} GB in memory; "
                           f"at most {MAX_ROWS:,} rows: split the sweep into smaller grids")


def _array(values: tuple) -> np.ndarray:
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    return np.array(values)


@lru_cache(maxsize=4096)
def _profile_family(kind, base, classes, minority, largest):
    return make_profile(kind, classes=classes, minority=minority, largest=largest,
                        n=None if base is None else list(base))


def _profile_sizes(kind, base, classes, minority, largest, ratio) -> np.ndarray:
    family = _profile_family(kind, base, classes, minority, largest)
    return family.sizes(float(ratio), integer=True).astype(np.int64)


def build_grid(*, profile=None, n=None, widths=None, yes: bool = False, features=None,
               **specs) -> Grid:
    """Validate a sweep's parameters and return its :class:`Grid`.

    Parameters
    ----------
    profile : {"step", "exp", "scaled"}, optional
        Class sizes from a profile (then ``ratio`` is required); otherwise ``n``.
    n : sequence of int or str, optional
        Fixed class sizes, or the base sizes of the ``scaled`` profile.
    widths : sequence of int, optional
    yes : bool
        Allow grids of more than 10^7 points.
    features : {"unconstrained", "nonnegative"}, optional
        Fixed for the sweep (default unconstrained); with nonnegative features the
        points are ``predict(..., features="nonnegative")`` (docs/nonnegative.md).
    **specs
        Any of :data:`AXES`: a number, a choice, a comma list, ``START:STOP:COUNT``
        or a sequence of values.

    Raises
    ------
    ProblemError
        Naming the parameter: unknown names, bad ranges, a grid too large, a
        point that predict would refuse.
    """
    unknown = sorted(set(specs) - set(AXES))
    if unknown:
        raise invalid(unknown[0], f"not a sweep parameter; choose from {', '.join(AXES)}, "
                      "profile, n, widths")
    specs = {k: v for k, v in specs.items() if v is not None}
    features = check(str(features or FEATURES[0]), Options(FEATURES), "features")
    if features != FEATURES[0] and set(CE_ONLY) & set(specs):
        raise invalid(sorted(set(CE_ONLY) & set(specs))[0], "not used with --features "
                      "nonnegative: each point is a closed form or the solver's default "
                      f"search ({DEFAULT_RESTARTS} random starts, seed 0); leave it out")
    vector = _lambda_w_vector(specs)
    if "decay" in specs and ({"lambda_w", "lambda_h"} & set(specs) or vector):
        raise invalid("decay", "sets lambda_h and every lambda_w together; leave out "
                      "--lambda-w and --lambda-h")
    kind = _profile_kind(profile, specs, n)
    defaults = {"depth": 1, "bias": "none", "loss": "mse"}
    if "decay" not in specs:
        defaults.update(lambda_w=DEFAULT_DECAY, lambda_h=DEFAULT_DECAY)
        if vector:
            defaults.pop("lambda_w")
    values = {}
    for name in AXES:
        if name in specs or name in defaults:
            values[name] = _axis(name, specs.get(name, defaults.get(name)))
    check_size([len(v) for v in values.values()], yes)
    losses = set(values["loss"])
    if "ce" in losses and features == FEATURES[0]:
        values.setdefault("seed", (0,))
    elif set(CE_ONLY) & set(specs):
        name = sorted(set(CE_ONLY) & set(specs))[0]
        raise invalid(name, "only used by the cross-entropy search; add --loss ce")
    if "regularized" in values["bias"] and "lambda_b" not in values:
        raise invalid("lambda_b", "a regularized bias needs its decay, e.g. --lambda-b 5e-4")
    if "label_smoothing" in values and "ce" in losses and any(values["label_smoothing"]):
        raise invalid("label_smoothing", "smoothed targets are solved for the squared error "
                      "only; sweep --loss mse")
    if "lambda_b" in values and "regularized" not in values["bias"]:
        raise invalid("lambda_b", "is the decay of a regularized bias; add --bias regularized")
    base = None if n is None else tuple(int(v) for v in Problem.build(n).n)
    _check_rows(values, base)
    grid = Grid(tuple((name, tuple(v)) for name, v in values.items()), kind,
                base, None if widths is None else tuple(Problem.build(
                    [1], depth=len(_list(widths)), widths=widths).widths), vector, features)
    _check_points(grid)
    return grid


def _list(value) -> list:
    return value.split(",") if isinstance(value, str) else list(value)


def _lambda_w_vector(specs) -> tuple[float, ...] | None:
    value = specs.get("lambda_w")
    if isinstance(value, str) and "/" in value:
        specs.pop("lambda_w")
        parts = value.split("/")
        return tuple(float(parse_values(p, "lambda_w", positive=True)[0]) for p in parts)
    return None


def _profile_kind(profile, specs, n) -> str | None:
    if profile is None:
        used = [name for name in PROFILE_AXES if name in specs]
        if used:
            raise invalid(used[0], "only used with --profile step|exp|scaled")
        if n is None:
            raise invalid("n", "give the class sizes, e.g. --n 500,100,50, or --profile")
        return None
    kind = str(profile).strip().lower()
    if kind not in PROFILES:
        make_profile(kind)  # raises the profile error
    if "ratio" not in specs:
        raise invalid("ratio", f"the {kind} profile needs --ratio (a value, a list or "
                      "START:STOP:COUNT)")
    if kind != "scaled" and n is not None:
        raise invalid("n", f"the {kind} profile sets the class sizes; leave out --n")
    return kind


def _axis(name: str, spec) -> list:
    if name in CHOICES:
        return parse_choices(spec, name, CHOICES[name])
    scale, integer, low = NUMERIC[name]
    positive = name in ("decay", "lambda_w", "lambda_h", "lambda_b")
    values = parse_values(spec, name, scale=scale, integer=integer, low=low,
                          positive=positive)
    if name == "ratio":

        for v in values:
            check_ratio(v)
    if name == "label_smoothing":
        for v in values:
            smoothed_target(v, 2)  # refuses values outside [0, 1) by name
    if integer:
        return [int(v) for v in values]
    return [float(v) for v in values]


def _check_points(grid: Grid) -> None:
    """Build the Problem of every distinct combination of the parameters that can make
    a point invalid, so that a point predict would refuse stops the sweep before
    anything is computed or written."""
    # decays, seeds and restarts are checked value by value when parsed; the ratio only
    # moves profile sizes, whose smallest class is smallest at the largest ratio
    first = {name: values[0] for name, values in grid.axes}
    ratios = dict(grid.axes).get("ratio")
    if ratios is not None and len(ratios):
        grid.predict_kwargs(dict(first, ratio=max(ratios)))  # refuses sizes under one
    varying = [name for name, _ in grid.axes if name not in (
        "ratio", "decay", "lambda_w", "lambda_h", "lambda_b", "seed", "restarts")]
    seen = 0
    for combo in itertools.product(*(grid.values(name) for name in varying)):
        params = dict(first, **dict(zip(varying, combo)))
        kw = grid.predict_kwargs(params)
        Problem.build(kw["n"], kw["depth"], kw["lambda_w"], kw["lambda_h"], kw["bias"],
                      kw["loss"], kw["widths"], kw.get("lambda_b"), kw.get("features"))
        seen += 1
        if seen > 100_000:
            break
