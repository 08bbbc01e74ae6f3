"""CE sweeps at depth 1: points chained along the decay axis and warm-started in order.

Each row is checked against a cold ``predict`` at the same point (loss not above it
beyond rounding, the same certainty), the rows against another executor, and a sweep
resumed from a file that holds part of a chain against a fresh run, byte for byte.
"""

from __future__ import annotations

import csv

import numpy as np

from ncsolve import predict
from ncsolve.sweep.chains import LINES_PER_CHAIN, chains_of, line_heads
from ncsolve.sweep.run import sweep
from ncsolve.sweep.spec import build_grid

GRID = dict(profile="exp", classes=5, ratio="2,20", decay="1e-4:1e-2:4", depth=1, loss="ce",
            restarts=6)


def test_chains_run_along_the_decay_axis_and_only_for_depth_one_ce():
    grid = build_grid(profile="exp", classes=4, ratio="2,20", decay="1e-3,1e-2,1e-1",
                      depth="1,2", loss="ce,mse", yes=True)
    points = list(range(grid.size))
    chains = chains_of(grid, points[::-1])  # the order given does not matter
    assert sorted(i for c in chains for i in c) == points
    for chain in chains:
        params = [grid.point(i) for i in chain]
        warm = params[0]["loss"] == "ce" and params[0]["depth"] == 1
        assert len(chain) == (6 if warm else 1)  # both ratios' lines in one chain
        heads = line_heads(grid, chain)
        assert heads == ([True, False, False] * 2 if warm else [True])
        starts = [j for j, head in enumerate(heads) if head] + [len(chain)]
        for lo, hi in zip(starts, starts[1:]):
            line = params[lo:hi]
            decays = [p["decay"] for p in line]
            assert decays == sorted(decays)
            for p in line:  # only the decay differs along a line
                assert {k: v for k, v in p.items() if k != "decay"} == \
                    {k: v for k, v in line[0].items() if k != "decay"}
        # lines of one chain differ only in the ratio (the same classes), in ascending order
        ratios = [params[j]["ratio"] for j in starts[:-1]]
        assert ratios == sorted(ratios)
        for p in params:
            assert {k: v for k, v in p.items() if k not in ("decay", "ratio")} == \
                {k: v for k, v in params[0].items() if k not in ("decay", "ratio")}
    assert sum(len(c) == 6 for c in chains) == 1


def test_at_most_a_few_lines_share_a_chain():
    grid = build_grid(profile="exp", classes=3, ratio=f"2:50:{LINES_PER_CHAIN + 3}",
                      decay="1e-3,1e-2", depth=1, loss="ce", yes=True)
    chains = chains_of(grid, list(range(grid.size)))
    assert [len(c) for c in chains] == [2 * LINES_PER_CHAIN, 6]
    assert [sum(line_heads(grid, c)) for c in chains] == [LINES_PER_CHAIN, 3]


def test_warm_started_rows_equal_cold_predict_and_do_not_depend_on_the_executor():
    serial = sweep(**GRID, executor="serial")
    threads = sweep(**GRID, executor="thread", workers=2)
    for name in serial.columns:
        x, y = serial.data[name], threads.data[name]
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert list(x) == list(y), name
    grid = serial.grid
    points = serial.data["point"].astype(int)
    for i in range(grid.size):
        cold = predict(**grid.predict_kwargs(grid.point(i)))
        row = np.flatnonzero(points == i)[0]
        assert serial.data["certainty"][row] == cold.certainty == "proved"
        assert serial.data["loss"][row] <= cold.loss * (1 + 1e-13)
        assert np.allclose(serial.data["feature_norm"][points == i], cold.feature_norm,
                           rtol=1e-6, atol=1e-9)


def test_resuming_inside_a_chain_gives_the_fresh_file(tmp_path):
    fresh = tmp_path / "fresh.csv"
    sweep(**GRID, executor="serial", output=str(fresh))
    lines = fresh.read_text().splitlines(keepends=True)
    rows = list(csv.reader(lines))
    point = rows[0].index("point")
    keep = [line for line, row in zip(lines, rows) if row[point] in ("point", "0", "1", "4")]
    partial = tmp_path / "partial.csv"
    partial.write_text("".join(keep))  # points of both lines of the one chain
    table = sweep(**GRID, executor="serial", output=str(partial))
    assert (table.skipped, table.computed) == (3, 5)
    assert partial.read_text() == fresh.read_text()


def test_free_bias_rows_across_ratios_and_a_collapse_are_not_above_cold_predict():
    # lines at two ratios in one chain; the largest decay collapses the minority classes
    table = sweep(profile="exp", classes=4, ratio="3,12", decay="1e-3:1e-1:3", depth=1,
                  loss="ce", bias="free", executor="serial")
    grid = table.grid
    points = table.data["point"].astype(int)
    ranks = set()
    for i in range(grid.size):
        cold = predict(**grid.predict_kwargs(grid.point(i)))
        row = np.flatnonzero(points == i)[0]
        assert table.data["certainty"][row] == cold.certainty == "proved"
        assert table.data["loss"][row] <= cold.loss * (1 + 1e-13)
        assert table.data["rank"][row] == cold.rank
        ranks.add(cold.rank)
    assert len(ranks) > 1
