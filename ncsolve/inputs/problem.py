"""The problem specification: validated inputs and the constants derived from them.

Every other module receives a :class:`Problem`; none of them re-validates input.
"""

from __future__ import annotations

import ast
import math
import os
import re
from dataclasses import dataclass
from functools import cached_property
from numbers import Real
from typing import Sequence

import numpy as np

from .targets import Targets, target_of
from .validation import POSITIVE, Options, check, invalid, show, whole_number
from .validation import ProblemError  # noqa: F401  (ncsolve.inputs.problem.ProblemError)

BIAS_MODES = ("none", "free", "regularized")
LOSSES = ("mse", "ce")
FEATURES = ("unconstrained", "nonnegative")  # nonnegative: H >= 0, features after a ReLU
DEFAULT_DECAY = 5e-4  # the paper's synthetic setting (lambda_W = lambda_H = 5e-4)
MAX_SAMPLES = 2**53  # class sizes and N are exact in float64 up to here
MAX_DEPTH = 1000
MAX_SEARCH_RESTARTS = 100_000  # random starts of a cross-entropy search (each a minimization)


MAX_FILE_BYTES = 1 << 28  # @FILE: 256 MiB of text, some 30 million class sizes
MAX_CLASSES = 10**7  # predict holds about 250 bytes per class: 2.5 GB here (docs/cli.md)
_UNORDERED = (set, frozenset, dict)


def _read_list(path: str, param: str) -> str:
    """The text of an @FILE (UTF-8; numbers separated by commas, spaces or newlines)."""
    how = "give numbers, or @FILE: a text file of numbers separated by commas or spaces"
    if os.path.isdir(path):
        raise invalid(param, f"{path!r} is a folder, not a file; {how}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise invalid(param, f"cannot read {path!r} ({error.strerror or error}); {how}") from None
    if len(data) > MAX_FILE_BYTES:
        raise invalid(param, f"{path!r} holds more than {MAX_FILE_BYTES >> 20} MiB; {how}")
    _check_class_count(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise invalid(param, f"{path!r} is not a text file (byte {error.start} is not UTF-8); "
                      f"{how}") from None


def _refuse_kind(value, param: str) -> None:
    """Inputs whose meaning would be a guess: bytes, complex numbers, unordered collections,
    masked arrays with masked entries."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise invalid(param, f"has {int(np.ma.count_masked(value))} masked entries, which "
                      "would be read as if present; fill them (.filled(x)) or leave them out "
                      "(.compressed())")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise invalid(param, f"got bytes {show(bytes(value))}; decode them first "
                      "(b'...'.decode()) or give numbers")
    if isinstance(value, (complex, np.complexfloating)) or (
            isinstance(value, np.ndarray) and value.dtype.kind == "c"):
        raise invalid(param, f"complex numbers are not allowed, got {show(value)}; "
                      "give real numbers")
    if isinstance(value, _UNORDERED):
        raise invalid(param, f"a {type(value).__name__} has no order, got {show(value)}; give a "
                      "list (entry k belongs to class or layer k)")


def _split(value, param: str) -> list:
    """Accept a sequence, a comma-separated string (as typed on the command line),
    or ``@FILE`` naming a text file of numbers."""
    _refuse_kind(value, param)
    if isinstance(value, str) and value.startswith("@"):
        value = " ".join(_read_list(value[1:], param).replace(",", " ").split())
        if not value:
            raise invalid(param, "the file holds no numbers")
        return value.split(" ")
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not value.strip() or any(p == "" for p in parts):
            raise invalid(param, f"expected a comma-separated list of numbers, got {show(value)}")
        return parts
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return [value.item()]
    if isinstance(value, (Real, np.number)):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise invalid(param, f"expected a number or a list of numbers, got {show(value)}") from None
    for item in items:
        _refuse_kind(item, param)
    return items


def parse_each(value, param: str, parse) -> list:
    """``parse(item)`` for every item of ``value`` (as :func:`_split` reads it).

    An entry of an ``@FILE`` that ``parse`` refuses is named by its position and
    line, never by its text: the file may be anything (a shell start-up file, say),
    and its content is not shown.
    """
    items = _split(value, param)
    if not (isinstance(value, str) and value.startswith("@")):
        return [parse(item) for item in items]
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except ProblemError as error:
            raise _file_entry_error(value[1:], param, index, str(error)) from None
    return parsed


def _file_entry_error(path: str, param: str, index: int, message: str) -> ProblemError:
    """The refusal of entry ``index`` of an @FILE: the rule it breaks, its place, no text."""
    rule = re.sub(r"[,;] got .*$", "", message.split(": ", 1)[-1], flags=re.S)
    text = _read_list(path, param)
    place = next((m for i, m in enumerate(re.finditer(r"[^,\s]+", text)) if i == index), None)
    line = text.count("\n", 0, place.start()) + 1 if place else 1
    return invalid(param, f"entry {index + 1} (line {line}) of {path!r}: {rule}; the file's "
                   "content is not shown")


_BYTE_KIND = np.zeros(256, dtype=np.uint8)  # 0: other, 1: digit, 2: separator
_BYTE_KIND[np.frombuffer(b"0123456789", dtype=np.uint8)] = 1
_BYTE_KIND[np.frombuffer(b", \t\r\n", dtype=np.uint8)] = 2
_DIGIT_LIMIT = 16  # digits of a plain integer parsed in bulk (2^53 has 16)
_POWERS_OF_TEN = 10 ** np.arange(_DIGIT_LIMIT, dtype=np.int64)


def _plain_integers(tokens_text: str, comma_separated: bool) -> np.ndarray | None:
    """Integers written with the digits 0-9 only, parsed in one vectorized pass.

    ``tokens_text`` holds the numbers separated by commas and white space (exactly
    one comma between neighbours when ``comma_separated``). None for anything
    else, which the exact parser reads (and names in its message when it is bad).
    """
    try:
        raw = np.frombuffer(tokens_text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None
    kind = _BYTE_KIND[raw]
    digit = kind == 1
    if raw.size == 0 or not kind.all():
        return None
    starts = np.flatnonzero(digit & ~np.r_[False, digit[:-1]])
    ends = np.flatnonzero(digit & ~np.r_[digit[1:], False]) + 1
    lengths = ends - starts
    if starts.size == 0 or lengths.max() > _DIGIT_LIMIT:
        return None
    if comma_separated:
        commas = np.cumsum(raw == 44, dtype=np.int32)
        between = commas[starts[1:] - 1] - commas[ends[:-1] - 1]
        if np.any(between != 1) or commas[-1] != starts.size - 1:
            return None
    places = np.flatnonzero(digit)
    power = np.repeat(ends - 1, lengths) - places  # of ten, for each digit
    values = (raw[places] - 48) * _POWERS_OF_TEN[power]
    return np.add.reduceat(values, np.r_[0, np.cumsum(lengths)[:-1]])


def _class_sizes(n) -> np.ndarray:
    """Validated class sizes; an @FILE that is not a list of sizes is named by position."""
    if isinstance(n, str) and n.startswith("@"):
        return _sizes_from_file(n[1:])
    return _parsed_sizes(n)


def _parsed_sizes(n) -> np.ndarray:
    """Validated class sizes as a read-only int64 array, in one vectorized pass for
    numeric arrays and for text of plain integers; the parser of single values only
    builds the message of bad input (or reads unusual spellings such as "1e3").

    Sizes and their total must stay below 2^53, where float64 counts exactly."""
    n = _plain_array(n)
    _refuse_kind(n, "n")
    if isinstance(n, str):
        text, comma = (_read_list(n[1:], "n"), False) if n.startswith("@") else (n, True)
        _check_class_count(text)
        counts = _plain_integers(text, comma)
        if counts is not None:
            bad = np.flatnonzero((counts < 1) | (counts > MAX_SAMPLES))
            if bad.size == 0:
                return _with_total_checked(counts)
            whole_number(int(counts[bad[0]]), "n", "every class size", high=MAX_SAMPLES)
        _check_suspect_token(text)
        if n.startswith("@"):
            n = " ".join(text.replace(",", " ").split())
            if not n:
                raise invalid("n", "the file holds no numbers")
            n = n.replace(" ", ",")
    elif not isinstance(n, (Real, np.number)):
        try:
            array = np.asarray(n)
        except (ValueError, TypeError):  # ragged nesting: the loop below names the entry
            array = None
        flags = isinstance(n, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in n)
        if array is not None and array.size > MAX_CLASSES:
            raise invalid("n", f"{array.size:,} classes; give at most {MAX_CLASSES:,} class "
                          "sizes (about 250 bytes each in memory)")
        if not flags and array is not None and array.ndim == 1 and array.dtype.kind in "iuf" \
                and array.size:
            values = array.astype(np.float64)
            ok = np.isfinite(values) & (values >= 1) & (values <= MAX_SAMPLES)
            if np.all(ok & (values == np.round(values))):
                return _with_total_checked(array.astype(np.int64))
    sizes = [whole_number(v, "n", "every class size", high=MAX_SAMPLES) for v in _split(n, "n")]
    if not sizes:
        raise invalid("n", "give at least one class size, e.g. 500,100,50")
    return _with_total_checked(np.asarray(sizes, dtype=np.int64))


_SCAN = 1 << 24  # characters counted at a time


def _check_class_count(text: str | bytes) -> None:
    """Refuse more than MAX_CLASSES entries before parsing them (counted in slices, and
    stopped as soon as the limit is passed: a 240 MB file is refused after 20 MB)."""
    if len(text) <= 2 * MAX_CLASSES:  # too short to hold more
        return
    count, previous = 0, True  # token starts: a non-separator after a separator
    for start in range(0, len(text), _SCAN):
        piece = text[start: start + _SCAN]
        raw = np.frombuffer(piece if isinstance(piece, bytes) else
                            piece.encode("utf-8", "replace"), np.uint8)
        separator = _BYTE_KIND[raw] == 2
        count += int(np.count_nonzero(~separator & np.r_[previous, separator[:-1]]))
        previous = bool(separator[-1])
        if count > MAX_CLASSES:
            raise invalid("n", f"more than {MAX_CLASSES:,} classes; at about 250 bytes per "
                          f"class the answer would not fit in memory; give at most "
                          f"{MAX_CLASSES:,} class sizes")


def _plain_array(value):
    """A torch tensor (with or without grad, any float dtype) as a numpy array; times and
    dates refused (np.asarray of them is not a count)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
        value = (value.double() if value.is_floating_point() else value).numpy()
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "mM":
        raise invalid("n", f"got {value.dtype} values (times or dates); give class sizes as "
                      "whole numbers")
    return value


def _sizes_from_file(path: str) -> np.ndarray:
    """Class sizes from an @FILE.  A file that is not a list of sizes (a shell start-up
    file, say) is refused by entry and line number, never by echoing its content: only
    an entry of digits alone (a size out of range) is shown."""
    try:
        return _parsed_sizes("@" + path)
    except ProblemError as error:
        bad = re.search(r"got ('.*')$", str(error))
        if bad is None:  # unreadable, too large, empty, a number out of range
            raise
    text = _read_list(path, "n")
    token = ast.literal_eval(bad.group(1)) if not bad.group(1).endswith("...") else ""
    where = re.search(rf"(?<![^,\s]){re.escape(token)}(?![^,\s])", text) if token else None
    where = where or re.search(r"[^0-9,\s]", text)
    start = where.start() if where else 0
    entry = sum(1 for _ in re.finditer(r"[^,\s]+", text[:start])) + 1
    if start and text[start - 1] not in ", \t\r\n":
        entry -= 1
    line = text.count("\n", 0, start) + 1
    raise invalid("n", f"{path!r} is not a list of class sizes: entry {entry} (line {line}) "
                  "is not a whole number; give whole numbers 1..2^53 separated by commas, "
                  "spaces or newlines (the file's content is not shown)") from None


def _check_suspect_token(text: str) -> None:
    """Validate first the entry holding the first character that is neither a digit
    nor a separator: a bad entry is then named at once, however long the list."""
    match = re.search(r"[^0-9,\s]", text)
    if match is None:
        return
    start = max(text.rfind(sep, 0, match.start()) for sep in ", \t\r\n") + 1
    ends = [i for i in (text.find(sep, match.start()) for sep in ", \t\r\n") if i >= 0]
    whole_number(text[start:min(ends, default=len(text))].strip(), "n", "every class size",
                 high=MAX_SAMPLES)


def _with_total_checked(counts: np.ndarray) -> np.ndarray:
    if counts.size and int(counts.max()) * counts.size > MAX_SAMPLES and (
            sum(counts.tolist()) > MAX_SAMPLES):
        raise invalid("n", f"the total number of samples must be at most 2^53 = {MAX_SAMPLES} "
                      "(where float64 counts exactly)")
    counts.setflags(write=False)
    return counts


def _positive_float(item, param: str) -> float:
    if isinstance(item, np.ndarray) and item.ndim == 0:
        item = item.item()
    _refuse_kind(item, param)
    return check(item, POSITIVE, param, hint="float64: at most 1.8e308")


def _bias_decay(value, bias: str) -> float | None:
    """lambda_b: required (positive, finite) with a regularized bias, refused otherwise."""
    if bias != "regularized":
        if value is not None:
            raise invalid("lambda_b", "is the decay of a regularized bias; add --bias "
                          "regularized (Python: bias='regularized') or leave it out")
        return None
    if value is None:
        raise invalid("lambda_b", "a regularized bias needs its decay, e.g. --lambda-b 5e-4 "
                      "(equal to lambda_w when the weight decay is applied to every "
                      "parameter; or give --weight-decay, which maps both)")
    return _positive_float(value, "lambda_b")


def _choice(value, param: str, allowed: Sequence[str]) -> str:
    """One of ``allowed`` (case and surrounding spaces ignored); None means the first."""
    return allowed[0] if value is None else check(value, Options(tuple(allowed)), param)


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
    features : {"unconstrained", "nonnegative"}
        Free features, or features constrained to H >= 0 elementwise (what a
        head after a ReLU sees; docs/nonnegative.md).
    target : Targets or None
        A target other than one-hot labels (label smoothing, soft labels, per-sample
        targets; :mod:`ncsolve.inputs.targets`); None is one-hot. With per-sample
        targets ``n`` is the single count N.

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
    features: str = "unconstrained"
    target: Targets | None = None

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
        features=None,
        *,
        label_smoothing=None,
        soft_labels=None,
        targets=None,
    ) -> "Problem":
        """Validate raw input (numbers, sequences or comma-separated strings).

        None stands for the default of every parameter that has one (depth 1,
        decays 5e-4, bias none, loss mse, wide layers, no bias decay).

        Raises
        ------
        ProblemError
            With a message naming the parameter and what is allowed.
        """
        samples = None
        if targets is not None:
            samples = target_of(None, n, label_smoothing, soft_labels, targets)
            n = samples.moments.count
        if n is None:
            raise invalid("n", "give the class sizes, e.g. 500,100,50")
        depth = 1 if depth is None else depth
        lambda_w = DEFAULT_DECAY if lambda_w is None else lambda_w
        lambda_h = DEFAULT_DECAY if lambda_h is None else lambda_h
        m = whole_number(depth, "depth", "the depth (number of layers)", high=MAX_DEPTH)
        counts = _class_sizes(n)
        decays = parse_each(lambda_w, "lambda_w", lambda v: _positive_float(v, "lambda_w"))
        if len(decays) == 1:
            decays = decays * m
        elif len(decays) != m:
            raise invalid(
                "lambda_w",
                f"give one value or exactly depth={m} values (layer 1 first), got {len(decays)}",
            )
        h_decay = _positive_float(lambda_h, "lambda_h")
        width_list = None
        if widths is not None:
            width_list = parse_each(widths, "widths",
                                    lambda v: whole_number(v, "widths", "every width"))
            if len(width_list) != m:
                raise invalid(
                    "widths",
                    f"give exactly depth={m} widths d_1,...,d_M (d_1 is the feature width), "
                    f"got {len(width_list)}",
                )
        bias_mode = _choice(bias, "bias", BIAS_MODES)
        target = samples or target_of(counts.size, None, label_smoothing, soft_labels, None)
        return cls(
            n=counts,
            depth=m,
            lambda_w=tuple(decays),
            lambda_h=h_decay,
            bias=bias_mode,
            loss=_choice(loss, "loss", LOSSES),
            widths=None if width_list is None else tuple(width_list),
            lambda_b=_bias_decay(lambda_b, bias_mode),
            features=_choice(features, "features", FEATURES),
            target=target,
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
        """Largest rank the product can have: min(K, d_1, ..., d_M) (K: the number of
        target directions when the target is not one-hot)."""
        directions = self.K if self.target is None else self.target.directions(self.K)
        return min((directions, *self.widths)) if self.widths else directions

    @cached_property
    def balanced(self) -> bool:
        """True when every class has the same number of samples."""
        return bool(np.all(self.n == self.n[0]))

    def to_dict(self) -> dict:
        """JSON-ready description of the inputs (``features`` only when constrained and
        ``target`` only when not one-hot, so that the default JSON reads as before)."""
        data = {
            "n": [int(v) for v in self.n],
            "depth": self.depth,
            "lambda_w": list(self.lambda_w),
            "lambda_h": self.lambda_h,
            "bias": self.bias,
            "loss": self.loss,
            "widths": None if self.widths is None else list(self.widths),
            "lambda_b": self.lambda_b,
        }
        if self.features != FEATURES[0]:
            data["features"] = self.features
        if self.target is not None:
            data["target"] = self.target.to_dict()
        return data
