"""The problem specification: validated inputs and the constants derived from them.

Every other module receives a :class:`Problem`; none of them re-validates input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from numbers import Integral, Real
from typing import Sequence

import numpy as np

BIAS_MODES = ("none", "free", "regularized")
LOSSES = ("mse", "ce")
DEFAULT_DECAY = 5e-4  # the paper's synthetic setting (lambda_W = lambda_H = 5e-4)
MAX_SAMPLES = 2**53  # class sizes and N are exact in float64 up to here
MAX_DEPTH = 1000


class ProblemError(ValueError):
    """Invalid input. The message names the parameter and what is allowed."""


def _fail(param: str, message: str) -> ProblemError:
    flag = "--" + param.replace("_", "-")
    return ProblemError(f"{param} ({flag}): {message}")


def _read_list(path: str, param: str) -> str:
    """The numbers in a text file (separated by commas, spaces or newlines)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise _fail(param, f"cannot read {path!r} ({error.strerror or error}); "
                    "give numbers, or @FILE with numbers separated by commas or spaces") from None
    return ",".join(text.replace(",", " ").split())


def _split(value, param: str) -> list:
    """Accept a sequence, a comma-separated string (as typed on the command line),
    or ``@FILE`` naming a text file of numbers."""
    if isinstance(value, str) and value.startswith("@"):
        value = _read_list(value[1:], param)
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not value.strip() or any(p == "" for p in parts):
            raise _fail(param, f"expected a comma-separated list of numbers, got {value!r}")
        return parts
    if isinstance(value, (Real, np.number)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise _fail(param, f"expected a number or a list of numbers, got {value!r}") from None


def whole_number(item, param: str, what: str, low: int = 1, high: int | None = None) -> int:
    """An integer in [low, high] given as a number or as text ("3", "3.0", "1e3").

    Raises
    ------
    ProblemError
        Naming ``param`` and the allowed range.
    """
    subject = f"{what} " if what else ""
    kind = "a positive integer" if low == 1 else f"an integer >= {low}"
    if high is not None:
        kind = f"an integer from {low} to {high}"
    if isinstance(item, str):
        try:
            number = float(item) if any(c in item for c in ".eE") else int(item)
        except ValueError:
            raise _fail(param, f"{subject}must be {kind}, got {item!r}") from None
    elif isinstance(item, (Real, np.number)) and not isinstance(item, (bool, np.bool_)):
        number = item
    else:
        raise _fail(param, f"{subject}must be {kind}, got {item!r}")
    if isinstance(number, (Integral, np.integer)):
        result = int(number)
    elif math.isfinite(float(number)) and float(number).is_integer():
        result = int(float(number))
    else:
        raise _fail(param, f"{subject}must be {kind}, got {item!r}")
    if result < low or (high is not None and result > high):
        raise _fail(param, f"{subject}must be {kind}, got {result}")
    return result


def _class_sizes(n) -> np.ndarray:
    """Validated class sizes as a read-only int64 array (vectorized for numeric arrays).

    Sizes and their total must stay below 2^53, where float64 counts exactly."""
    array = None if isinstance(n, str) else np.asarray(n) if not np.isscalar(n) else None
    if array is not None and array.ndim == 1 and array.dtype.kind in "iuf" and array.size:
        values = array.astype(np.float64)
        ok = np.isfinite(values) & (values >= 1) & (values <= MAX_SAMPLES)
        if np.all(ok & (values == np.round(values))):
            return _with_total_checked(array.astype(np.int64))
    sizes = [whole_number(v, "n", "every class size", high=MAX_SAMPLES) for v in _split(n, "n")]
    if not sizes:
        raise _fail("n", "give at least one class size, e.g. 500,100,50")
    return _with_total_checked(np.asarray(sizes, dtype=np.int64))


def _with_total_checked(counts: np.ndarray) -> np.ndarray:
    if sum(counts.tolist()) > MAX_SAMPLES:
        raise _fail("n", f"the total number of samples must be at most 2^53 = {MAX_SAMPLES} "
                    "(where float64 counts exactly)")
    counts.setflags(write=False)
    return counts


def _positive_float(item, param: str) -> float:
    try:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError
        value = float(item)
    except (TypeError, ValueError):
        raise _fail(param, f"must be a positive finite number, got {item!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise _fail(param, f"must be a positive finite number, got {item!r}")
    return value


def _bias_decay(value, bias: str) -> float | None:
    """lambda_b: required (positive, finite) with a regularized bias, refused otherwise."""
    if bias != "regularized":
        if value is not None:
            raise _fail("lambda_b", "is the decay of a regularized bias; add --bias "
                        "regularized (Python: bias='regularized') or leave it out")
        return None
    if value is None:
        raise _fail("lambda_b", "a regularized bias needs its decay, e.g. --lambda-b 5e-4 "
                    "(the weight decay when it is applied to every parameter)")
    return _positive_float(value, "lambda_b")


def _choice(value, param: str, allowed: Sequence[str]) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise _fail(param, f"must be one of {', '.join(allowed)}; got {value!r}")
    return text


@dataclass(frozen=True, eq=False)
class Problem:
    """A deep linear unconstrained feature model.

    Parameters
    ----------
    n : array of int, shape (K,)
        Samples per class, in the user's order.
    depth : int
        Number of linear layers M >= 1 (depth 1 is the plain UFM).
    lambda_w : tuple of float, length M
        Weight decay of each layer W_1 .. W_M (layer 1 acts on the features).
    lambda_h : float
        Decay of the free features H.
    bias : {"none", "free", "regularized"}
        Bias-free model, an unregularized learned bias, or a learned bias with
        the penalty lambda_b/2 ||b||^2.
    loss : {"mse", "ce"}
        Mean squared error or softmax cross-entropy.
    widths : tuple of int or None
        Feature widths d_1 .. d_M (d_1 is the width of H); None means wide enough.
    lambda_b : float or None
        Decay of the bias (bias "regularized" only; None otherwise).

    Build instances with :meth:`Problem.build`, which validates every field.
    """

    n: np.ndarray
    depth: int
    lambda_w: tuple[float, ...]
    lambda_h: float
    bias: str = "none"
    loss: str = "mse"
    widths: tuple[int, ...] | None = None
    lambda_b: float | None = None

    @classmethod
    def build(
        cls,
        n,
        depth=1,
        lambda_w=DEFAULT_DECAY,
        lambda_h=DEFAULT_DECAY,
        bias="none",
        loss="mse",
        widths=None,
        lambda_b=None,
    ) -> "Problem":
        """Validate raw input (numbers, sequences or comma-separated strings).

        Raises
        ------
        ProblemError
            With a message naming the parameter and what is allowed.
        """
        counts = _class_sizes(n)
        m = whole_number(depth, "depth", "the depth (number of layers)", high=MAX_DEPTH)
        decays = [_positive_float(v, "lambda_w") for v in _split(lambda_w, "lambda_w")]
        if len(decays) == 1:
            decays = decays * m
        elif len(decays) != m:
            raise _fail(
                "lambda_w",
                f"give one value or exactly depth={m} values (layer 1 first), got {len(decays)}",
            )
        h_decay = _positive_float(lambda_h, "lambda_h")
        width_list = None
        if widths is not None:
            width_list = [whole_number(v, "widths", "every width")
                          for v in _split(widths, "widths")]
            if len(width_list) != m:
                raise _fail(
                    "widths",
                    f"give exactly depth={m} widths d_1,...,d_M (d_1 is the feature width), "
                    f"got {len(width_list)}",
                )
        bias_mode = _choice(bias, "bias", BIAS_MODES)
        return cls(
            n=counts,
            depth=m,
            lambda_w=tuple(decays),
            lambda_h=h_decay,
            bias=bias_mode,
            loss=_choice(loss, "loss", LOSSES),
            widths=None if width_list is None else tuple(width_list),
            lambda_b=_bias_decay(lambda_b, bias_mode),
        )

    # ---- derived constants (THEORY.md section 1 shorthand) -------------------------

    @property
    def K(self) -> int:
        """Number of classes."""
        return int(self.n.size)

    @cached_property
    def N(self) -> int:
        """Total number of samples."""
        return int(self.n.sum())

    @property
    def L(self) -> int:
        """Number of factors in the product W_M ... W_1 H (depth + 1)."""
        return self.depth + 1

    @property
    def q(self) -> float:
        """Exponent of the balanced penalty, 2 / L."""
        return 2.0 / self.L

    @cached_property
    def lbar(self) -> float:
        """Geometric mean of all L decays (lambda_H and every lambda_W)."""
        # mantissas and binary exponents apart, so that decays such as 1e-300 give
        # their geometric mean to rounding, with no underflow of the product
        parts = [math.frexp(x) for x in (self.lambda_h, *self.lambda_w)]
        mantissa = math.prod(m for m, _ in parts)  # >= 2^-L: no underflow for L <= 1001
        whole, remainder = divmod(sum(e for _, e in parts), self.L)
        return math.ldexp(mantissa ** (1.0 / self.L) * 2.0 ** (remainder / self.L), whole)

    @property
    def c(self) -> float:
        """Coefficient of sum_i z_i^q in the reduced objective, (L / 2) * lbar."""
        return 0.5 * self.L * self.lbar

    @property
    def rank_cap(self) -> int:
        """Largest rank the product can have: min(K, d_1, ..., d_M)."""
        return min((self.K, *self.widths)) if self.widths else self.K

    @cached_property
    def balanced(self) -> bool:
        """True when every class has the same number of samples."""
        return bool(np.all(self.n == self.n[0]))

    def to_dict(self) -> dict:
        """JSON-ready description of the inputs."""
        return {
            "n": [int(v) for v in self.n],
            "depth": self.depth,
            "lambda_w": list(self.lambda_w),
            "lambda_h": self.lambda_h,
            "bias": self.bias,
            "loss": self.loss,
            "widths": None if self.widths is None else list(self.widths),
            "lambda_b": self.lambda_b,
        }
