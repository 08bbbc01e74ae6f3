"""Imbalance profiles: class sizes as a function of the imbalance ratio rho.

Three profiles from the literature, each a family of class sizes indexed by
``rho = n_max / n_min >= 1``:

``step``
    Two groups (Fang et al. 2021, "Exploring deep neural networks via
    layer-peeled model: minority collapse in imbalanced training"):
    ``classes - minority`` majority classes of ``largest`` samples and
    ``minority`` minority classes of ``largest / rho``.
``exp``
    Long-tailed exponential (Cao et al. 2019, LDAM; the CIFAR-10/100-LT
    construction): ``n_k = largest * rho^(-k / (classes - 1))``, k = 0..K-1.
``scaled``
    Explicit sizes ``base`` whose imbalance is raised (or lowered) to ``rho``
    with their shape kept in log scale:
    ``n_k = n_max (n_k / n_max)^(ln rho / ln rho_0)``, rho_0 = max/min of ``base``;
    rho = rho_0 gives ``base`` back, rho = 1 makes it balanced.

Sizes are real numbers along a continuous profile (the phase curves use them);
:meth:`Profile.sizes` with ``integer=True`` rounds them down, as the CIFAR-LT
construction does: these are the sizes ``predict`` and ``sweep`` use. A ratio at
which the smallest class would have less than one sample is refused (rounding it
up would solve another imbalance ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .problem import MAX_SAMPLES, _class_sizes, whole_number
from .validation import Interval, Options, check, invalid

PROFILES = ("step", "exp", "scaled")
DEFAULT_LARGEST = 5000  # CIFAR-10 has 5000 training images per class
DEFAULT_CLASSES = 10
MAX_RATIO = 1e15
RATIO = Interval(1, MAX_RATIO)
_FLOOR_SLACK = 1e-9  # relative: 49.99999999997 counts as 50 when rounding down


def check_ratio(value, param: str = "ratio") -> float:
    """A validated imbalance ratio (a number from 1 to :data:`MAX_RATIO`)."""
    return check(value, RATIO, param, hint="largest over smallest class size; 1 is balanced")


def _check_whole_sizes(kind: str, ratios: np.ndarray, sizes: np.ndarray) -> None:
    """Refuse ratios at which the smallest class has under one sample: rounding it up
    would solve a different imbalance ratio than the one asked for."""
    short = sizes.min(axis=1) * (1.0 + _FLOOR_SLACK) < 1.0
    if np.any(short):
        ratio = float(ratios[np.argmax(short)])
        raise invalid("ratio", f"at ratio {ratio:g} the smallest class of the {kind} profile "
                      f"has {float(sizes[np.argmax(short)].min()):.3g} samples, under one; the "
                      f"largest class needs at least {math.ceil(ratio)} samples (--largest, or "
                      "larger --n for scaled) or the ratio must be lower")


@dataclass(frozen=True)
class Profile:
    """A family of class sizes indexed by the imbalance ratio.

    Build with :func:`profile`, which validates the fields.

    Attributes
    ----------
    kind : {"step", "exp", "scaled"}
    classes : int
        Number of classes K.
    minority : int
        ``step`` only: number of minority classes (0 otherwise).
    largest : float
        Size of the largest class (``step``, ``exp``); for ``scaled`` the largest
        of ``base``.
    base : tuple of int
        ``scaled`` only: the explicit sizes whose imbalance is rescaled.
    """

    kind: str
    classes: int
    minority: int = 0
    largest: float = DEFAULT_LARGEST
    base: tuple[int, ...] = ()

    # ---- sizes ---------------------------------------------------------------------

    def sizes(self, ratio, integer: bool = False) -> np.ndarray:
        """Class sizes at ``ratio`` (a number: shape (K,); an array: shape (P, K)).

        With ``integer`` the sizes are rounded down to whole samples, as ``predict``
        and ``sweep`` use them; a ratio that leaves a class under one sample is refused.
        """
        r = np.asarray(ratio, dtype=float)
        shape = r.shape
        r = r.reshape(-1, 1)
        if self.kind == "step":
            k = np.arange(self.classes)
            out = np.where(k < self.classes - self.minority, self.largest, self.largest / r)
        elif self.kind == "exp":
            k = np.arange(self.classes) / (self.classes - 1)
            out = self.largest * r ** (-k)
        else:
            base = np.asarray(self.base, dtype=float)
            exponent = np.log(r) / math.log(base.max() / base.min())
            out = base.max() * (base / base.max()) ** exponent
        if integer:
            _check_whole_sizes(self.kind, r[:, 0], out)
            out = np.floor(out * (1.0 + _FLOOR_SLACK))
        return out.reshape(*shape, self.classes)

    def groups(self) -> list[np.ndarray]:
        """Classes that have equal sizes at every ratio (the profile's class groups),
        largest first."""
        if self.kind == "step":
            cut = self.classes - self.minority
            return [g for g in (np.arange(cut), np.arange(cut, self.classes)) if g.size]
        if self.kind == "exp":
            return [np.array([k]) for k in range(self.classes)]
        base = np.asarray(self.base)
        return [np.flatnonzero(base == v) for v in np.unique(base)[::-1]]

    def group_names(self) -> list[str]:
        """Readable names of :meth:`groups` ("majority", "minority", "class 3", ...)."""
        if self.kind == "step":
            names = ["majority", "minority"]
            return names if self.minority and self.minority < self.classes else \
                ["all classes"]
        return [_class_list(g) for g in self.groups()]

    def to_dict(self) -> dict:
        out = {"profile": self.kind, "classes": self.classes}
        if self.kind == "step":
            out["minority"] = self.minority
        if self.kind in ("step", "exp"):
            out["largest"] = self.largest
        else:
            out["base"] = list(self.base)
        return out

    def describe(self) -> str:
        if self.kind == "step":
            return (f"two-group step profile: {self.classes - self.minority} majority "
                    f"classes of {self.largest:g}, {self.minority} minority classes of "
                    f"{self.largest:g}/rho")
        if self.kind == "exp":
            return (f"exponential long-tailed profile: {self.classes} classes, "
                    f"n_k = {self.largest:g} rho^(-k/{self.classes - 1})")
        return (f"explicit sizes {','.join(map(str, self.base))} with their imbalance "
                "rescaled to rho (log-shape kept)")


def _class_list(members: np.ndarray) -> str:
    if members.size == 1:
        return f"class {int(members[0])}"
    return "classes " + ",".join(str(int(m)) for m in members)


def profile(kind: str = "exp", *, classes=None, minority=None, largest=None,
            n=None) -> Profile:
    """A validated imbalance profile.

    Parameters
    ----------
    kind : {"step", "exp", "scaled"}
        See the module docstring.
    classes : int, optional
        Number of classes K (``step``, ``exp``; default 10).
    minority : int, optional
        ``step``: number of minority classes, 1..K-1 (default K // 2).
    largest : int, optional
        Size of the largest class (``step``, ``exp``; default 5000).
    n : sequence of int or str, optional
        ``scaled``: the explicit sizes (imbalanced) whose ratio is rescaled.

    Raises
    ------
    ProblemError
        For an unknown profile or invalid fields, naming the parameter.
    """
    text = check(kind, Options(PROFILES), "profile")
    if text == "scaled":
        return _scaled(classes, minority, largest, n)
    if n is not None:
        raise invalid("n", f"the {text} profile sets the class sizes; leave out --n "
                      "(or use --profile scaled to rescale explicit sizes)")
    K = DEFAULT_CLASSES if classes is None else whole_number(classes, "classes", "", low=2,
                                                             high=10**7)
    size = float(DEFAULT_LARGEST if largest is None else
                 whole_number(largest, "largest", "", high=MAX_SAMPLES // K))
    if text == "exp":
        if minority is not None:
            raise invalid("minority", "only used by --profile step")
        return Profile("exp", K, 0, size)
    low = K // 2 if minority is None else whole_number(minority, "minority", "", high=K - 1)
    return Profile("step", K, low, size)


def _scaled(classes, minority, largest, n) -> Profile:

    if n is None:
        raise invalid("n", "--profile scaled rescales explicit sizes: give them with --n, "
                      "e.g. --n 500,100,50")
    for name, value in (("classes", classes), ("minority", minority), ("largest", largest)):
        if value is not None:
            raise invalid(name, "not used by --profile scaled (the sizes come from --n)")
    base = tuple(int(v) for v in _class_sizes(n))
    if max(base) == min(base):
        raise invalid("n", "--profile scaled needs imbalanced sizes (their ratio is rescaled); "
                      f"got all equal to {base[0]}")
    return Profile("scaled", len(base), 0, float(max(base)), base)


def profile_sizes(family, ratio) -> np.ndarray:
    """Integer class sizes of ``family`` (a :class:`Profile`) at ``ratio``.

    Raises
    ------
    ProblemError
        When ``ratio`` is missing or invalid, or ``family`` is not a profile.
    """
    if not isinstance(family, Profile):
        raise invalid("ratio", "only used with an imbalance profile (--profile; Python: "
                      "n=ncsolve.sweep.profile(...)); leave it out with explicit sizes")
    if ratio is None:
        raise invalid("ratio", f"the {family.kind} profile needs an imbalance ratio "
                      "n_max/n_min >= 1, e.g. --ratio 100")
    return family.sizes(check_ratio(ratio), integer=True).astype(np.int64)
