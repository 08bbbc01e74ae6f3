"""Exact phase boundaries of the MSE model in the (ratio, decay) plane and along depth.

For every class group (bias-free) or direction group (free bias) of a profile,
two curves in the geometric-mean decay ``lbar``:

* ``critical_decay``: above it the group is zero at the global minimum;
* ``existence_decay``: above it its nonzero stationary point no longer exists.

Between the two lies the *window*, where a nonzero local minimum exists but
is not global (the "largest root" answer is wrong there). Both are the
closed-form thresholds of :mod:`ncsolve.core.scalar` (THEORY.md section 3), so the
curves are exact at every sampled ratio; nothing is bisected. The boundary
depends on the decays only through ``lbar``: with per-layer decays held in any
fixed ratio, ``lbar`` is proportional to their common scale.

The thresholds are homogeneous in sigma: ``critical(sigma, N) =
critical(sigma N^(-1/(2-q)), 1)``, which evaluates every ratio in one call.

Label smoothing ``eps`` (docs/targets.md) changes only the spectrum. With a free bias
every direction's sigma is exactly ``(1 - eps)`` times the one-hot one. Without a
bias the directions are those of ``S D S^T`` (``S = (1 - eps) I + eps/K 11^T``): the
contrasts inside a group of m equal classes keep sigma ``(1 - eps) sqrt(n_g)`` (m - 1
of them), and the span of the group indicators holds one direction per group, the
eigenvalues of an S x S matrix (:func:`_smoothed_roots`). ``eps = 0`` is the one-hot
map itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import scalar
from ..core.constants import EXACT
from ..core.spectral import target_spectrum
from ..inputs.grid import parse_values
from ..inputs.problem import FEATURES, LOSSES, MAX_DEPTH, whole_number
from ..inputs.profiles import Profile, check_ratio
from ..inputs.targets import smoothed_target
from ..inputs.validation import Options, check, invalid
from . import phase_nonnegative
from .phase_text import phase_text

KEPT = "all classes kept"
MINORITY = "minority collapsed"
WINDOW = "window"
ALL = "all collapsed"
REGIONS = (KEPT, MINORITY, WINDOW, ALL)


@dataclass(frozen=True, eq=False)
class Curve:
    """One class group (bias-free) or direction group (free bias) along the ratios.

    Attributes
    ----------
    name : str
        "minority", "class 3", "within majority", "between groups", ...
    classes : tuple of int
        Bias-free: the classes of the group. Free bias: the classes the
        directions live on (all classes for a between-group direction).
    directions : tuple of int
        Indices of the directions in predict's order (decreasing sigma) at ratios > 1.
    multiplicity : int
        Number of equal directions in the group.
    sigma : ndarray, shape (P,)
        Target singular value at each ratio.
    critical_decay, existence_decay : ndarray, shape (D, P)
        Per depth (rows) and ratio (columns).
    """

    name: str
    classes: tuple[int, ...]
    directions: tuple[int, ...]
    multiplicity: int
    sigma: np.ndarray
    critical_decay: np.ndarray
    existence_decay: np.ndarray


@dataclass(frozen=True, eq=False)
class Interval:
    """A stretch of decay ``[low, high)`` at one (ratio, depth) with one phase."""

    ratio: float
    depth: int
    low: float
    high: float
    region: str
    active: tuple[str, ...]
    window: tuple[str, ...]
    collapsed: tuple[str, ...]
    upper_boundary: str


@dataclass(frozen=True, eq=False)
class PhaseMap:
    """Exact MSE phase boundaries for a profile, over ratios and depths.

    Attributes
    ----------
    profile : Profile
    bias : {"none", "free"}
    ratios : ndarray, shape (P,)
    depths : tuple of int
    integer : bool
        True when the rounded-down integer sizes were used (as ``predict`` and
        ``sweep`` use them); False for the continuous profile.
    sizes : ndarray, shape (P, K)
        Class sizes at each ratio.
    curves : tuple of Curve
    notes : tuple of str
    loss : {"mse", "ce"}
        "ce" only with nonnegative features (bias-free, depth 1).
    features : {"unconstrained", "nonnegative"}
    certainty : str
        "exact" (MSE) or "proved" (the nonnegative cross-entropy closed form).
    """

    profile: Profile
    bias: str
    ratios: np.ndarray
    depths: tuple[int, ...]
    integer: bool
    sizes: np.ndarray
    curves: tuple[Curve, ...]
    notes: tuple[str, ...] = field(default=())
    loss: str = "mse"
    features: str = "unconstrained"
    certainty: str = EXACT
    label_smoothing: float = 0.0

    def states(self, decay, depth_index: int = 0) -> np.ndarray:
        """Phase of each curve at decays ``decay`` (shape (..., P)): 0 active,
        1 window, 2 collapsed; result shape (C, ..., P)."""
        decay = np.asarray(decay, dtype=float)
        out = []
        for c in self.curves:
            crit, exist = c.critical_decay[depth_index], c.existence_decay[depth_index]
            out.append(np.where(decay < crit, 0, np.where(decay < exist, 1, 2)))
        return np.array(out)

    def region_codes(self, decay, depth_index: int = 0) -> np.ndarray:
        """Index into :data:`REGIONS` at decays ``decay`` (shape (..., P))."""
        return region_of(self.states(decay, depth_index))

    def intervals(self) -> list[Interval]:
        """Every decay interval at every (ratio, depth), lowest decay first."""
        out = []
        for d, depth in enumerate(self.depths):
            for p, ratio in enumerate(self.ratios):
                out += self._column(d, depth, p, float(ratio))
        return out

    def _column(self, d, depth, p, ratio) -> list[Interval]:
        edges = []
        for c in self.curves:
            edges.append((float(c.critical_decay[d, p]), f"critical_decay of {c.name}"))
            if depth > 1:
                edges.append((float(c.existence_decay[d, p]), f"existence_decay of {c.name}"))
        merged: dict[float, list[str]] = {}
        for value, name in sorted(edges):
            merged.setdefault(value, []).append(name)
        bounds = [0.0, *merged, np.inf]
        names = ["; ".join(v) for v in merged.values()] + [""]
        out = []
        for low, high, upper in zip(bounds[:-1], bounds[1:], names):
            if high <= low:
                continue
            probe = np.sqrt(low * high) if low > 0 and np.isfinite(high) else (
                high / 2 if low == 0 else low * 2)
            state = self.states(np.full(self.ratios.size, probe), d)[:, p]
            group = [tuple(c.name for c, s in zip(self.curves, state) if s == k)
                     for k in range(3)]
            out.append(Interval(ratio, depth, low, high, REGIONS[int(region_of(state))],
                                group[0], group[1], group[2], upper))
        return out

    def to_dict(self) -> dict:
        """JSON-ready dictionary (the output of ``ncsolve phase --json``)."""
        return {
            "profile": self.profile.to_dict(),
            "bias": self.bias,
            "loss": self.loss,
            **({"features": self.features} if self.features != FEATURES[0] else {}),
            "certainty": self.certainty,
            "decay": "lbar, the geometric mean of lambda_h and every lambda_w",
            "integer_sizes": self.integer,
            **({"label_smoothing": self.label_smoothing} if self.label_smoothing else {}),
            "ratio": _floats(self.ratios),
            "depth": list(self.depths),
            "curves": [_curve_dict(c, self.depths) for c in self.curves],
            "regions": [_interval_dict(i) for i in self.intervals()],
            "notes": list(self.notes),
        }

    def rows(self) -> list[dict]:
        """The CSV table: one row per decay interval at each (ratio, depth)."""
        extra = {"bias": self.bias}
        if self.features != FEATURES[0]:
            extra.update(loss=self.loss, features=self.features)
        return [_interval_dict(i, flat=True) | extra for i in self.intervals()]

    def __str__(self) -> str:

        return phase_text(self)


def region_of(state: np.ndarray) -> np.ndarray:
    """Region code from curve states (axis 0 over curves)."""
    window = np.any(state == 1, axis=0)
    kept = np.all(state == 0, axis=0)
    gone = np.all(state == 2, axis=0)
    code = np.where(kept, 0, np.where(gone, 3, 1))
    return np.where(window, 2, code)


def _floats(values) -> list:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def _curve_dict(c: Curve, depths) -> dict:
    return {
        "name": c.name, "classes": list(c.classes), "directions": list(c.directions),
        "multiplicity": c.multiplicity, "sigma": _floats(c.sigma),
        "critical_decay": {str(m): _floats(c.critical_decay[i]) for i, m in enumerate(depths)},
        "existence_decay": {str(m): _floats(c.existence_decay[i])
                            for i, m in enumerate(depths)},
    }


def _interval_dict(i: Interval, flat: bool = False) -> dict:
    join = (lambda names: ";".join(names)) if flat else list
    return {
        "ratio": i.ratio, "depth": i.depth, "decay_low": i.low,
        "decay_high": i.high if np.isfinite(i.high) else None,
        "region": i.region, "active": join(i.active), "window": join(i.window),
        "collapsed": join(i.collapsed), "upper_boundary": i.upper_boundary,
    }


# ---- computation ---------------------------------------------------------------------


def check_depths(depths) -> tuple[int, ...]:
    values = [depths] if np.isscalar(depths) or isinstance(depths, str) else list(depths)
    out = tuple(whole_number(v, "depth", "every depth", high=MAX_DEPTH) for v in values)
    if not out:
        raise invalid("depth", "give at least one depth")
    return out


MAX_CLASSES = 100_000  # about 17 kB and 0.4 ms a class here (docs/cli.md)
MAX_FREE_GROUPS = 1000  # free bias: O(S^2) per ratio, about 20 s at this S here


def _check_work(profile: Profile, bias: str) -> None:
    """Refuse a phase map that would not fit in memory or take minutes, before any work."""
    if profile.classes > MAX_CLASSES:
        raise invalid("classes", f"{profile.classes:,} classes; a phase map holds about 17 kB "
                      f"a class: at most {MAX_CLASSES:,} classes (predict and sweep take more)")
    groups = len(profile.groups())
    if bias == "free" and groups > MAX_FREE_GROUPS:
        raise invalid("classes", f"a free bias couples the {groups:,} groups of distinct "
                      f"sizes (O(S^2) work per ratio); at most {MAX_FREE_GROUPS:,}: use fewer "
                      "classes or --bias none")


def phase_map(profile: Profile, ratios, depths=None, bias: str = "none",
              integer: bool = False, loss: str = "mse", features=None,
              label_smoothing=None) -> PhaseMap:
    """Exact MSE phase boundaries of ``profile`` at ``ratios`` and ``depths``.

    With ``features="nonnegative"`` (H >= 0): the same curves for bias-free MSE (the
    constraint does not bind), or with ``loss="ce"`` the proved per-class collapse
    thresholds of bias-free cross-entropy at depth 1; other nonnegative maps are only
    searched and refused (:mod:`ncsolve.sweep.phase_nonnegative`).

    Parameters
    ----------
    profile : Profile
        From :func:`ncsolve.sweep.profile`.
    ratios : array of float, or str
        Imbalance ratios (each >= 1), or the command line's ``"a,b,c"`` or
        ``"START:STOP:COUNT"`` (log-spaced); sample densely for smooth curves.
    depths : int or sequence of int, optional
        Default 3 (1 with ``loss="ce"``).
    bias : {"none", "free"}
    integer : bool
        Use the rounded-down integer class sizes (those ``predict`` sees).
    loss : {"mse", "ce"}
        "ce" needs ``features="nonnegative"``.
    features : {"unconstrained", "nonnegative"}, optional
        Default unconstrained.
    label_smoothing : float, optional
        Targets smoothed by eps in [0, 1) (0 or None: one-hot labels).

    Returns
    -------
    PhaseMap
    """

    if np.size(ratios) == 0:
        raise invalid("ratio", "give at least one ratio")
    ratios = np.array([check_ratio(r) for r in parse_values(ratios, "ratio", scale="log")])
    depths = check_depths((1 if str(loss).strip().lower() == "ce" else 3)
                          if depths is None else depths)
    bias = check(str(bias), Options(("none", "free")), "bias",
                 hint="phase maps are for the closed-form MSE model")
    loss = check(str(loss), Options(LOSSES), "loss")
    features = check(str(features or FEATURES[0]), Options(FEATURES), "features")
    certainty = EXACT
    if features == "nonnegative":
        certainty = phase_nonnegative.check(profile.classes, depths, bias, loss)
    elif loss == "ce":
        raise invalid("loss", "phase maps of cross-entropy are for --features nonnegative "
                      "(bias-free, depth 1: proved per-class thresholds); unconstrained "
                      "cross-entropy has no closed-form boundaries here: use ncsolve sweep "
                      "--loss ce")
    _check_work(profile, bias)
    sizes = profile.sizes(ratios, integer=integer)
    groups = profile.groups()
    group_sizes = np.stack([sizes[:, g[0]] for g in groups], axis=1)  # (P, S)
    counts = np.array([g.size for g in groups])
    N = sizes.sum(axis=1)
    eps = 0.0 if label_smoothing is None else \
        smoothed_target(label_smoothing, profile.classes).epsilon
    if eps and (features == "nonnegative" or loss == "ce"):
        raise invalid("label_smoothing", "smoothed maps are for MSE with unconstrained "
                      "features; leave --label-smoothing out")
    if eps and bias == "none":
        specs = _smoothed_curves(profile, group_sizes, counts, eps)
    elif bias == "none":
        specs = _class_curves(profile, group_sizes)
    else:
        specs = _direction_curves(profile, group_sizes, counts)
        if eps:  # the centred smoothed target is (1 - eps) times the one-hot one
            specs = [(*spec[:4], (1.0 - eps) * spec[4]) for spec in specs]
    if loss == "ce":
        ce = phase_nonnegative.ce_thresholds(group_sizes, N, sizes.shape[1])  # (P, S)
    curves = []
    for g, (name, classes, directions, mult, sigma) in enumerate(specs):
        crit = np.empty((len(depths), ratios.size))
        exist = np.empty_like(crit)
        for i, depth in enumerate(depths):
            if loss == "ce":  # depth 1 only (checked above)
                crit[i] = exist[i] = ce[:, g]
            else:
                crit[i], exist[i] = thresholds(sigma, N, depth + 1)
        curves.append(Curve(name, classes, directions, mult, sigma, crit, exist))
    notes = _notes(profile, bias, integer, loss) + _smoothing_notes(bias, eps)
    if features == "nonnegative":
        notes += phase_nonnegative.notes(loss)
    return PhaseMap(profile, bias, ratios, depths, bool(integer), sizes, tuple(curves), notes,
                    loss, features, certainty, eps)


def thresholds(sigma: np.ndarray, N: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Critical and existence decays (lbar) for singular values ``sigma`` with
    sample totals ``N`` (same shape), from :mod:`ncsolve.core.scalar`'s boundaries."""
    q = 2.0 / L
    scaled = np.asarray(sigma, dtype=float) * np.asarray(N, dtype=float) ** (-1.0 / (2.0 - q))
    critical = scalar.critical_decay(scaled, 1, L)
    existence = 2.0 * scalar.existence_boundary(scaled, q) / L
    existence = np.where(scaled > 0, existence, np.nan)
    return critical, existence


def _class_curves(profile: Profile, group_sizes: np.ndarray):
    """Bias-free: direction i is one class, sigma = sqrt(n_k)."""
    order = 0
    for g, (members, name) in enumerate(zip(profile.groups(), profile.group_names())):
        directions = tuple(range(order, order + members.size))
        order += members.size
        yield name, tuple(int(m) for m in members), directions, int(members.size), \
            np.sqrt(group_sizes[:, g])


def _direction_curves(profile: Profile, group_sizes: np.ndarray, counts: np.ndarray):
    """Free bias: the target ``D - n n^T / N`` has, per class group of m members,
    m - 1 directions inside the group with eigenvalue exactly its size, and one
    secular root per group (the last is 0: the all-ones direction)."""
    groups, names = profile.groups(), profile.group_names()
    roots = _secular_roots(group_sizes, counts)  # (P, S - 1), decreasing
    S = len(groups)
    every = tuple(range(profile.classes))
    index = 0
    for g in range(S):
        if counts[g] > 1:
            mult = int(counts[g]) - 1
            yield (f"within {names[g]}", tuple(int(m) for m in groups[g]),
                   tuple(range(index, index + mult)), mult, np.sqrt(group_sizes[:, g]))
            index += mult
        if g < S - 1:
            name = "between groups" if S == 2 else f"between groups {g + 1}"
            yield name, every, (index,), 1, roots[:, g]
            index += 1


def _smoothed_curves(profile: Profile, group_sizes: np.ndarray, counts: np.ndarray,
                     eps: float):
    """Bias-free, smoothed by eps: per group the m - 1 contrasts inside it (sigma
    ``(1 - eps) sqrt(n_g)``), then one direction per group in the span of the group
    indicators (:func:`_smoothed_roots`), largest first."""
    groups, names = profile.groups(), profile.group_names()
    index = 0
    for g in range(len(groups)):
        if counts[g] > 1:
            mult = int(counts[g]) - 1
            yield (f"within {names[g]}", tuple(int(m) for m in groups[g]),
                   tuple(range(index, index + mult)), mult,
                   (1.0 - eps) * np.sqrt(group_sizes[:, g]))
            index += mult
    roots = _smoothed_roots(group_sizes, counts, eps, profile.classes)
    every = tuple(range(profile.classes))
    for g in range(roots.shape[1]):
        yield f"group direction {g + 1}", every, (index,), 1, roots[:, g]
        index += 1


def _smoothed_roots(group_sizes: np.ndarray, counts: np.ndarray, eps: float,
                    K: int) -> np.ndarray:
    """Singular values of ``S E^T`` on the span of the group indicators, decreasing.

    With ``q_h = 1_h / sqrt(m_h)`` (group h of m_h classes of size n_h), ``Q^T S D S Q =
    V diag(m n) V^T`` where column h of V is ``(1 - eps) e_h / sqrt(m_h) + (eps/K)
    sqrt(m)``; its eigenvalues are sigma^2."""
    m = counts.astype(float)
    V = (1.0 - eps) * np.diag(1.0 / np.sqrt(m)) + (eps / K) * np.sqrt(m)[:, None]
    weights = group_sizes.astype(float) * m[None, :]  # (P, S)
    M = np.einsum("ih,ph,jh->pij", V, weights, V)
    values = np.linalg.eigvalsh(M)[:, ::-1]
    return np.sqrt(np.maximum(values, 0.0))


def _smoothing_notes(bias: str, eps: float) -> tuple[str, ...]:
    if not eps:
        return ()
    if bias == "free":
        return (f"label smoothing {eps:g}: with a free bias every sigma is (1 - eps) times the "
                "one-hot one, so every curve is the one-hot curve times (1 - eps)^(2 - q)",)
    return (f"label smoothing {eps:g} without a bias: curves are direction groups of S D S^T "
            "(contrasts inside a group of equal classes, and one direction per group in the "
            "span of the group indicators), not classes",)


def _secular_roots(group_sizes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Singular values of the S - 1 nonzero secular directions at each ratio, from
    :func:`ncsolve.core.spectral.target_spectrum`. Where the sizes of some groups coincide
    (ratio 1) the spectrum deflates them; the missing roots equal the shared size."""
    P, S = group_sizes.shape
    out = np.empty((P, max(S - 1, 0)))
    for p in range(P):
        d = group_sizes[p]
        spectrum = target_spectrum(np.repeat(d, counts), "free")
        roots = list(spectrum.sigma[spectrum.kind == 0])
        values, shared = np.unique(d, return_counts=True)
        for value, copies in zip(values, shared):
            roots += [np.sqrt(value)] * (int(copies) - 1)
        out[p] = np.sort(roots)[::-1][:-1]
    return out


def _notes(profile: Profile, bias: str, integer: bool, loss: str = "mse") -> tuple[str, ...]:
    notes = [
        "decay is lbar, the geometric mean of lambda_h and every lambda_w; the boundaries "
        "depend on the decays only through it (per-layer decays in any fixed ratio)",
    ]
    if loss == "mse":
        notes.append("exact: closed-form thresholds at every sampled ratio (THEORY.md "
                     "section 3)")
    if not integer:
        notes.append("continuous profile: real-valued class sizes; predict rounds them down "
                     "(use integer sizes to match predict exactly)")
    if bias == "free":
        notes.append("free bias: curves are direction groups of D - n n^T/N, not classes; "
                     "a class is zero only when every direction it lives on is")
    return tuple(notes)
