"""Plain text of a :class:`~ncsolve.solvers.precise.PreciseSolution`.

What ``str(predict(..., precision=D))`` and ``ncsolve predict --precision D``
print. No mathematics and no sympy: the result object carries mpmath numbers.
The command-line layer re-exports :func:`format_precise`; nothing here imports it.
"""

from __future__ import annotations

import mpmath

from ..results.table import header_lines, summary_line

__all__ = ["decimal_string", "format_precise"]

TABLE_DIGITS = 24  # up to this precision values fit a table; above, one value per line


def decimal_string(value, digits: int) -> str:
    """``value`` rounded to ``digits`` significant digits, as a plain decimal string."""
    if value == 0:
        return "0"
    text = mpmath.nstr(value, digits, min_fixed=-6, max_fixed=digits + 1, strip_zeros=True)
    return text.removesuffix(".0")


def format_precise(result) -> str:
    """A table per class and per direction, and one summary line.

    Indices start at 0, as in ``ncsolve predict`` and its notes.

    Parameters
    ----------
    result : ncsolve.symbolic.PreciseSolution

    Returns
    -------
    str
    """
    d = result.precision

    def num(x) -> str:
        return "-" if x is None else decimal_string(x, d)

    p = result.problem
    class_rows = [
        [str(k), str(int(p.n[k])), num(result.feature_norm[k]), num(result.classifier_norm[k]),
         num(result.output[k]), num(result.critical_decay[k]), result.state[k],
         "yes" if result.collapsed[k] else "no"]
        for k in range(p.K)
    ]
    direction_rows = [
        [str(i), num(result.sigma[i]), num(result.z[i]), num(result.z_local[i]),
         result.direction_state[i], num(result.direction_critical_decay[i])]
        for i in range(len(result.sigma))
    ]
    out = [*header_lines(p, "MSE"), summary_line(result, num(result.loss)).replace(
        "certainty: exact", f"certainty: exact ({d} significant digits, high-precision route)"),
        "", "classes"]
    out += _block(["class", "n", "feature_norm", "classifier_norm", "output", "critical_decay",
                   "state", "collapsed"], class_rows, d)
    out += ["", "directions (decreasing target singular value sigma)"]
    out += _block(["direction", "sigma", "z", "z_local", "state", "critical_decay"],
                  direction_rows, d)
    layers = ["H"] + [f"W_{j}" for j in range(1, p.depth + 1)]
    out += ["", "singular values per direction: " + ", ".join(layers)]
    for i, values in enumerate(result.singular_values):
        out.append(f"  {i}: " + ", ".join(num(v) for v in values))
    out += [f"note: {note}" for note in result.notes]
    return "\n".join(out)


def _block(header: list[str], rows: list[list[str]], digits: int) -> list[str]:
    """An aligned table for short numbers, else one ``name = value`` line per entry."""
    if digits <= TABLE_DIGITS:
        widths = [max(len(h), *(len(r[j]) for r in rows)) if rows else len(h)
                  for j, h in enumerate(header)]
        line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
        body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return ["  " + line.rstrip(), *("  " + b for b in body)]
    out = []
    for r in rows:
        out.append(f"  {header[0]} {r[0]}:")
        out += [f"    {h} = {c}" for h, c in zip(header[1:], r[1:])]
    return out
