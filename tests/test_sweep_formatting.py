"""Whole-column CSV formatting (ncsolve.sweep.formatting): byte for byte what ``repr`` and
Python's csv module write, on random floats of every magnitude and on a real sweep file."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from ncsolve.sweep.formatting import column_texts, csv_bytes, float_texts
from ncsolve.sweep.output import cell
from ncsolve.sweep.run import sweep


def _random_floats(size: int, seed: int = 0) -> np.ndarray:
    """Random bit patterns (every exponent, subnormals, both signs) and decimal-looking values."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**63 - 2**52, size, dtype=np.int64)  # below the inf/nan exponent
    raw = bits.view(np.float64) * rng.choice([-1.0, 1.0], size)
    decimal = np.round(rng.standard_normal(size) * 10.0 ** rng.integers(-6, 18, size), 3)
    powers = 10.0 ** rng.integers(-320, 308, size)
    specials = np.array([0.0, -0.0, 1.0, 1e-4, 9.999999999999999e-05, 1e-05, 1e15, 1e16,
                         9999999999999998.0, 123456789.0, np.nan, np.inf, -np.inf, 5e-324])
    return np.concatenate([raw, decimal, powers, specials])


def test_float_texts_are_repr():
    values = _random_floats(60_000)
    expected = ["" if not np.isfinite(v) else repr(v) for v in values.tolist()]
    assert float_texts(values) == expected
    repeated = np.repeat(values[:500], 7)  # runs of equal values, as per-point columns
    assert float_texts(repeated) == [t for t in expected[:500] for _ in range(7)]


def test_the_fallback_path_gives_the_same_cells():
    values = _random_floats(3000, seed=1)
    assert column_texts(values, cell) == float_texts(values)


def _reference(arrays: list, columns: int) -> bytes:
    """Python's csv module over ``cell`` of every value: the writer before this module."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows = zip(*[[None] * len(arrays[0]) if a is None else a.tolist() for a in arrays])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


@pytest.mark.parametrize("size", [10, 2000])  # below and above ARROW_FROM
@pytest.mark.parametrize("texts", [["a", "b"], ["plain", 'say "hi", then'], ["x,y", "z"]])
def test_rows_match_the_csv_module(texts, size):
    rng = np.random.default_rng(2)
    arrays = [np.arange(size), rng.standard_normal(size) * 1e-5,
              np.array([texts[i % len(texts)] for i in range(size)], dtype=object),
              rng.random(size) < 0.5, None, np.full(size, "exact"),
              np.where(rng.random(size) < 0.1, np.nan, rng.random(size))]
    assert csv_bytes(arrays, cell) == _reference(arrays, len(arrays))


def test_a_sweep_file_is_what_the_csv_module_writes(tmp_path):
    path = tmp_path / "grid.csv"
    table = sweep(profile="exp", classes=6, ratio="1:100:9", decay="1e-5:1e-1:11", depth=2,
                  bias="none,free", output=str(path))
    columns = list(table.columns)
    expected = (",".join(columns) + "\n").encode() + _reference(
        [np.asarray(table.column(c)) for c in columns], len(columns))
    assert path.read_bytes() == expected
