"""CSV text of whole columns at once, with every float written exactly as ``repr`` writes it.

A sweep of 400,000 rows spends most of its time turning floats into text.  Here
each column is formatted as a whole:

* a column is reduced to its distinct values first (by bit pattern, so ``-0.0``
  stays apart from ``0.0``); per-point columns repeat every value once per class;
* with pyarrow installed, the distinct floats are cast to text in C++ (the
  shortest digits that read back to the same float64, as ``repr``).  Arrow
  writes some numbers in another notation than Python (``1`` for ``1.0``,
  ``0.00001`` for ``1e-05``, ``3e-7`` for ``3e-07``, ``1e+15`` for
  ``1000000000000000.0``): integer-valued texts gain ``.0``, and every text
  whose notation can differ is rewritten by ``repr`` itself, so the result is
  byte for byte the text of ``repr(float(x))``;
* the rows are joined column by column in C++ as well.

Without pyarrow, the distinct values go through ``repr`` and the rows are joined
in Python: the same text, only slower.  Non-finite floats give an empty cell,
booleans ``true``/``false``, ``None`` an empty cell, as in
:func:`ncsolve.sweep.output.cell`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["csv_rows", "float_texts"]

POSITIONAL = (1e-4, 1e16)  # repr writes |x| in this range without an exponent
SPECIAL = ',"\n\r'  # a text cell holding one of these needs quotes
ARROW_FROM = 1024  # rows; a smaller block (one cross-entropy point) is faster in Python


def _arrow():
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pyarrow is an optional extra
        return None
    return pa, pc


def _repr_texts(values: np.ndarray) -> list[str]:
    return ["" if not math.isfinite(v) else repr(v) for v in values.tolist()]


def _distinct(values: np.ndarray):
    """Distinct float64 values by bit pattern, and the index of each value among them.

    Runs of equal values (a per-point value repeated for every class) are merged
    first, in one pass; the rest is sorted only when that pays.
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64).reshape(-1)
    first = np.concatenate(([True], bits[1:] != bits[:-1]))
    runs = np.cumsum(first) - 1
    heads = bits[first]
    if heads.size > 4096:
        order = np.sort(heads)
        if np.count_nonzero(order[1:] != order[:-1]) + 1 > heads.size // 2:
            return heads.view(np.float64), runs
    keys, inverse = np.unique(heads, return_inverse=True)
    return keys.view(np.float64), inverse.reshape(-1)[runs]


def float_texts(values: np.ndarray) -> list[str]:
    """``repr`` of every float (empty for NaN and infinities), computed per distinct value.

    Examples
    --------
    >>> float_texts(np.array([1.0, 1e-05, 0.1, -0.0, np.nan, 1e16]))
    ['1.0', '1e-05', '0.1', '-0.0', '', '1e+16']
    """
    if values.size == 0:
        return []
    unique, inverse = _distinct(values)
    texts = np.array(_unique_texts(unique), dtype=object)
    return texts[inverse].tolist()


def _unique_texts(unique: np.ndarray) -> list[str]:
    arrow = _arrow()
    if arrow is None or unique.size < 64:
        return _repr_texts(unique)
    return _arrow_texts(unique, *arrow).to_pylist()


def _arrow_texts(unique: np.ndarray, pa, pc):
    """Arrow's shortest round-trip texts in ``repr``'s notation (a pyarrow string array).

    Arrow's text is kept where its notation is certainly ``repr``'s: a positional
    number with a fraction in repr's positional range, or an exponent of at least
    two digits outside it.  Every other value is written by ``repr``.
    """
    finite = np.isfinite(unique)
    texts = pc.cast(pa.array(np.where(finite, unique, 0.0)), pa.string())
    magnitude = np.abs(unique)
    positional = (magnitude < POSITIONAL[1]) & (magnitude >= POSITIONAL[0])
    e_at = pc.find_substring(texts, "e").to_numpy()
    dot_at = pc.find_substring(texts, ".").to_numpy()
    length = pc.binary_length(texts).to_numpy()
    same = np.where(positional, (e_at < 0) & (dot_at >= 0), (e_at >= 0) & (length - e_at >= 4))
    redo = np.flatnonzero(~(same & finite))
    if redo.size == 0:
        return texts
    mask = np.zeros(unique.size, dtype=bool)
    mask[redo] = True
    return pc.replace_with_mask(texts, pa.array(mask),
                                pa.array(_repr_texts(unique[redo]), type=pa.string()))


def _object_texts(values: np.ndarray, cell) -> list[str] | None:
    """Cells of a text column through ``cell`` once per distinct value, quoted as csv does."""
    out = []
    memo: dict = {}
    for v in values.tolist():
        key = (type(v), v)
        text = memo.get(key)
        if text is None:
            text = memo[key] = _quoted(cell(v))
        out.append(text)
    return out


def _quoted(text: str) -> str:
    if any(ch in text for ch in SPECIAL):
        return '"' + text.replace('"', '""') + '"'
    return text


def column_texts(values: np.ndarray, cell) -> list[str]:
    """The CSV cells of one column, as :func:`ncsolve.sweep.output.cell` writes them."""
    if values.size == 0:
        return []
    kind = values.dtype.kind
    if kind == "f":
        return float_texts(values)
    if kind in "iu":
        return values.astype(str).tolist()
    if kind == "b":
        return np.where(values, "true", "false").tolist()
    if kind == "U":
        distinct, inverse = np.unique(values, return_inverse=True)
        cells = np.array([_quoted(str(v)) for v in distinct.tolist()], dtype=object)
        return cells[inverse.reshape(-1)].tolist()
    return _object_texts(values, cell)


def _arrow_column(values: np.ndarray | None, size: int, cell, pa, pc):
    """One column as a pyarrow string array of its CSV cells (None: an empty column)."""
    if values is None:
        return pa.array(np.full(size, "", dtype=object), type=pa.string())
    kind = values.dtype.kind
    if kind == "f":
        unique, inverse = _distinct(values)
        texts = (_arrow_texts(unique, pa, pc) if unique.size >= 64
                 else pa.array(_repr_texts(unique), type=pa.string()))
        return texts.take(pa.array(inverse))
    if kind in "iu":
        return pc.cast(pa.array(values), pa.string())
    if kind == "b":
        return pc.if_else(pa.array(values), "true", "false")
    if kind in "UO":
        first = np.concatenate(([True], values[1:] != values[:-1]))  # runs of one value
        try:
            heads = pa.array(values[first], type=pa.string(), from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            heads = None
        if heads is not None and heads.null_count == 0:
            codes = pc.dictionary_encode(heads)
            words = [_quoted(w) for w in codes.dictionary.to_pylist()]
            index = codes.indices.to_numpy()[np.cumsum(first) - 1]
            return pa.array(words, pa.string()).take(pa.array(index))
    return pa.array(column_texts(values, cell), type=pa.string())


def csv_rows(arrays: list[np.ndarray | None], cell) -> str:
    """CSV lines (each ending in a newline) of equal-length columns (see :func:`csv_bytes`)."""
    return csv_bytes(arrays, cell).decode("utf-8")


def csv_bytes(arrays: list[np.ndarray | None], cell) -> bytes:
    """CSV lines (each ending in a newline) of equal-length columns, UTF-8 encoded.

    Parameters
    ----------
    arrays : list of ndarray or None
        The columns, in order; None for a column left empty.
    cell : callable
        The one-value formatter for columns that are neither numeric nor boolean
        (:func:`ncsolve.sweep.output.cell`).
    """
    size = next((len(a) for a in arrays if a is not None), 0)
    if size == 0:
        return b""
    arrow = _arrow() if size >= ARROW_FROM else None
    if arrow is not None:
        pa, pc = arrow
        columns = [_arrow_column(a, size, cell, pa, pc) for a in arrays]
        try:
            return _arrow_csv(columns, pa)
        except pa.ArrowInvalid:  # a text cell that needs quotes: csv_rows' own joining
            pass
    columns = [[""] * size if a is None else column_texts(a, cell) for a in arrays]
    return "".join(",".join(row) + "\n" for row in zip(*columns)).encode("utf-8")


def _arrow_csv(columns, pa) -> bytes:
    """Arrow's CSV writer on columns that are already cell texts (nothing quoted)."""
    import io

    import pyarrow.csv as pcsv

    buffer = io.BytesIO()
    table = pa.table(columns, names=[f"c{i}" for i in range(len(columns))])
    pcsv.write_csv(table, buffer, pcsv.WriteOptions(include_header=False,
                                                   quoting_style="none"))
    return buffer.getvalue()
