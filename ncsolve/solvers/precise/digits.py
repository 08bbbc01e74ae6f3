"""How many digits the high-precision route works to, and the decimals it starts from.

Decays are taken as the decimal numbers they print as (``0.0095`` is
19/2000, not the nearest binary double); class sizes are exact integers.
"""

from __future__ import annotations

from mpmath import mpf

from ...inputs.validation import invalid, show

__all__ = ["GUARD_DIGITS", "MAX_DIGITS", "MIN_DIGITS", "check_precision", "exact_decimal"]

MIN_DIGITS = 15
MAX_DIGITS = 1000
GUARD_DIGITS = 12  # working precision = requested digits + guard


def check_precision(digits) -> int:
    """Validate a number of significant digits (15..1000).

    Raises
    ------
    ProblemError
        When ``digits`` is not an integer in range.
    """
    allowed = f"give a whole number of digits from {MIN_DIGITS} to {MAX_DIGITS}"
    try:
        if isinstance(digits, bool):
            raise TypeError
        value = int(str(digits).strip()) if isinstance(digits, str) else int(digits)
        if not isinstance(digits, str) and value != digits:
            raise ValueError
    except (TypeError, ValueError):
        raise invalid("precision", f"{allowed}, got {show(digits)}") from None
    if not MIN_DIGITS <= value <= MAX_DIGITS:
        hint = "; for float64 results omit --precision" if value < MIN_DIGITS else ""
        raise invalid("precision", f"{allowed}, got {value}{hint}")
    return value


def exact_decimal(value: float) -> mpf:
    """The decimal a float prints as, at the current working precision."""
    return mpf(repr(float(value)))
