"""ncsolve sweep: the vectorized MSE engine against predict, grids, tables on disk,
executors (local processes, a real Dask LocalCluster), kill and resume, bad input,
and the cross-entropy minority-collapse picture run through an executor."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ncsolve import ProblemError, predict
from ncsolve.cli import main
from ncsolve.sweep.run import sweep
from ncsolve.sweep.spec import build_grid

ROOT = Path(__file__).resolve().parents[1]
PER_CLASS = ("feature_norm", "classifier_norm", "output", "critical_decay")


def _predict_rows(table):
    """predict at every point of the table's grid (the loop the sweep replaces)."""
    grid = table.grid
    for i in range(grid.size):
        kw = grid.predict_kwargs(grid.point(i))
        yield i, predict(**kw)


@pytest.mark.parametrize("case", [
    dict(n="50,20,20,7,3", depth="1,2,3", decay="1e-4:5e-2:9", bias="none,free"),
    dict(n="50,20,20,7,3", depth=2, lambda_w="1e-3,3e-2", lambda_h="1e-4:1e-1:5",
         widths="2,3"),
    dict(profile="step", classes=5, minority=2, largest=60, ratio="1:40:6", depth=3,
         lambda_w="1e-3/4e-3/2e-2", lambda_h="2e-4:2e-2:4", bias="free"),
    dict(profile="exp", classes=4, largest=80, ratio="1,8,30", depth=4, decay="1e-3:3e-2:5"),
])
def test_vectorized_mse_equals_predict_at_every_point(case):
    table = sweep(**case)
    data = table.data
    assert len(table) == sum(r.problem.K for _, r in _predict_rows(table))
    for i, result in _predict_rows(table):
        rows = data["point"] == i
        assert np.array_equal(data["class"][rows], np.arange(result.problem.K))
        assert np.array_equal(data["n"][rows], result.problem.n)
        for name in PER_CLASS:
            assert np.allclose(data[name][rows].astype(float), getattr(result, name),
                               rtol=1e-12, atol=0), (name, i)
        assert np.array_equal(data["collapsed"][rows].astype(bool), result.collapsed)
        assert list(data["state"][rows]) == list(result.state)
        assert data["loss"][rows][0] == pytest.approx(result.loss, rel=1e-13)
        assert data["rank"][rows][0] == result.rank
        assert bool(data["unique"][rows][0]) == result.unique
        assert data["certainty"][rows][0] == "exact"


def test_grid_values_and_point_order():
    grid = build_grid(n="5,3", depth="1:3:3", decay="1e-4:1e-2:3", bias="none,free")
    assert grid.values("depth") == (1, 2, 3)
    assert np.allclose(grid.values("decay"), [1e-4, 1e-3, 1e-2], rtol=1e-15)
    assert grid.size == 18 and grid.swept == ("depth", "decay", "bias")
    assert grid.point(0) == {"depth": 1, "decay": 1e-4, "bias": "none", "loss": "mse"}
    assert grid.point(17)["depth"] == 3 and grid.point(1)["bias"] == "free"  # row-major
    assert build_grid(n="5,3", restarts="0:8:3", loss="ce").values("restarts") == (0, 4, 8)


@pytest.mark.parametrize("specs, param", [
    (dict(n="5,3", bogus=3), "bogus"),
    (dict(n="5,3", depth="3:1:3"), "depth"),
    (dict(n="5,3", decay="1e-3:1e-3:4"), "decay"),
    (dict(n="5,3", decay="1e-3:1e-2:0"), "decay"),
    (dict(n="5,3", decay="0:1e-2:4"), "decay"),
    (dict(n="5,3", depth="1:2:5"), "depth"),
    (dict(n="5,3", lambda_w=""), "lambda_w"),
    (dict(profile="zipf", ratio=3), "profile"),
    (dict(profile="exp", ratio="0.5,2"), "ratio"),
    (dict(profile="exp"), "ratio"),
    (dict(n="5,3", ratio=3), "ratio"),
    (dict(n="5,3", seed=2), "seed"),
    (dict(n="5,3", bias="regularized"), "lambda_b"),
    (dict(n="5,3", decay="1e-3", lambda_w="1e-2"), "decay"),
    (dict(n="5,3", depth="1,2", lambda_w="1e-3/2e-3"), "lambda_w"),
    (dict(n="5,3", depth="1:100000:100000", decay="1e-5:1:1000"), "grid"),
])
def test_bad_grids_name_the_parameter(specs, param):
    with pytest.raises(ProblemError, match=rf"^{param}\b"):
        build_grid(**specs)


@pytest.mark.parametrize("extra", [
    ["--decay", "1e-2:1e-4:5"], ["--decay", "1e-4:1e-2:0"], ["--decay", "1e-3:1e-3:3"],
    ["--decay", ""], ["--ratio", "0.5:10:4"], ["--profile", "zipf"], ["--bias", "sometimes"],
    ["--depth", "1:100000:100000", "--decay", "1e-5:1:1000"], ["--format", "xlsx"],
    ["--plot", "g.gif"], ["--executor", "cloud"],
    ["--loss", "ce", "--scheduler", "tcp://127.0.0.1:9"],
])
def test_cli_bad_input_is_one_line_exit_2_and_no_file(extra, tmp_path, capsys):
    out = tmp_path / "table.csv"
    args = ["sweep", "--profile", "step", "--classes", "3", "--largest", "20", "--ratio",
            "1:10:3", "--output", str(out), "--quiet"]
    start = time.monotonic()
    assert main(args + extra) == 2
    assert time.monotonic() - start < 15  # an unreachable scheduler: a few seconds, no hang
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_table_on_stdout_and_files(tmp_path, capsys):
    args = ["sweep", "--n", "6,3,2", "--depth", "2", "--decay", "1e-3:1e-1:4"]
    assert main(args) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 12 and rows[0]["lambda_w"] == rows[0]["lambda_h"] == "0.001"
    assert {"point", "depth", "lambda_w", "lambda_h", "bias", "loss_function", "class", "n",
            "loss", "feature_norm", "classifier_norm", "collapsed", "state"} <= set(rows[0])
    jsonl = tmp_path / "t.jsonl"
    plot = tmp_path / "t.svg"
    assert main(args + ["--output", str(jsonl), "--plot", str(plot)]) == 0
    assert "sweep: 4 points (4 computed), 12 rows" in capsys.readouterr().err
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["class"] for r in lines] == [0, 1, 2] * 4
    assert float(rows[5]["loss"]) == lines[5]["loss"]
    assert plot.read_text().lstrip().startswith("<?xml")


def test_parquet_and_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    table = sweep(n="6,3,2", depth="1,3", decay="1e-3:1e-1:3", output=str(path))
    frame = pd.read_parquet(path)
    assert frame.shape[0] == len(table) == 18
    assert np.allclose(frame["feature_norm"], table.frame()["feature_norm"], rtol=0)


# ---- cross-entropy through executors -----------------------------------------------------

CE_GRID = dict(profile="step", classes=4, largest=200, ratio="1,10,50,100", decay=5e-3,
               loss="ce", restarts=6)


def test_minority_collapse_in_cross_entropy_through_processes():
    """Fang et al.'s minority collapse with ncsolve's own numbers: the two minority
    classifier rows become parallel as the ratio grows (depth 1: every point proved)."""
    table = sweep(**CE_GRID, executor="process", workers=2)
    data = table.data
    cos = data["classifier_max_cosine"].astype(float).reshape(4, 4)  # (ratio, class)
    assert set(data["certainty"]) == {"proved"}
    minority = cos[:, 2:]
    assert minority[0, 0] < minority[1, 0] < minority[2, 0]  # rises with the ratio
    assert np.all(minority[0] < 0)  # balanced: the simplex ETF, cosines -1/3
    assert np.all(minority[2:] > 1 - 1e-6)  # ratio 50 and 100: parallel rows
    assert np.all(cos[:, :2] < 0)  # the majority rows stay apart
    assert np.all(data["collapsed"] == False)  # noqa: E712 - features are not zero


def _same_rows(a, b):
    assert a.columns == b.columns
    for name in a.columns:
        x, y = a.data[name], b.data[name]
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            assert np.array_equal(x.astype(float), y.astype(float), equal_nan=True), name
        else:
            assert list(x) == list(y), name


def test_dask_local_cluster_of_two_workers_gives_the_serial_rows():
    distributed = pytest.importorskip("distributed")
    grid = dict(CE_GRID, ratio="1,20", depth="1,2", restarts=4)
    serial = sweep(**grid, executor="serial")
    # thread workers (processes=False): process workers start and import numpy and
    # scipy each, several seconds of CPU here; the slow variant below uses processes
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        pooled = sweep(**grid, executor=client.get_executor())
    _same_rows(serial, pooled)


@pytest.mark.slow
def test_dask_process_workers_and_a_scheduler_address_give_the_serial_rows():
    distributed = pytest.importorskip("distributed")
    grid = dict(CE_GRID, ratio="1,5,20,60", depth="1,2", restarts=4)
    serial = sweep(**grid, executor="serial")
    _same_rows(serial, sweep(**grid, executor="dask", workers=2))  # our own LocalCluster
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        _same_rows(serial, sweep(**grid, scheduler=cluster.scheduler_address))
    _same_rows(serial, sweep(**grid, executor="process", workers=2))


def _run_cli(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "ncsolve", "sweep", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def _points_in(path: Path) -> list[int]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[1:]
    return sorted({int(line.split(",")[0]) for line in lines if line})


KILL_ARGS = ["--profile", "step", "--classes", "3", "--minority", "1", "--largest", "60",
             "--ratio", "1:30:6", "--decay", "8e-3", "--depth", "2", "--loss", "ce",
             "--restarts", "6", "--executor", "serial"]


def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    killed = tmp_path / "killed.csv"
    process = _run_cli(KILL_ARGS + ["--quiet", "--output", str(killed)])
    deadline = time.monotonic() + 240  # generous: the shared machine may be loaded
    while len(_points_in(killed)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # a crash: no handler runs
    process.wait()
    finished = _points_in(killed)
    assert 2 <= len(finished) < 6, finished
    rows = list(csv.reader(killed.read_text().splitlines()))
    assert all(len(r) == len(rows[0]) for r in rows if r)  # whole rows (a torn tail dropped)
    resumed = _run_cli(KILL_ARGS + ["--output", str(killed)])
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    done = len(finished)
    assert f"({done} done earlier, {6 - done} computed)" in err  # finished points not redone
    clean = tmp_path / "clean.csv"
    assert main(["sweep", *KILL_ARGS, "--quiet", "--output", str(clean)]) == 0
    assert killed.read_text() == clean.read_text()


def test_resume_refuses_a_file_of_another_sweep(tmp_path, capsys):
    path = tmp_path / "t.csv"
    assert main(["sweep", "--n", "6,3,2", "--decay", "1e-3:1e-1:3", "--output", str(path),
                 "--quiet"]) == 0
    before = path.read_text()
    assert main(["sweep", "--n", "6,3,2", "--decay", "1e-3:1e-1:4", "--output", str(path),
                 "--quiet"]) == 2
    assert "holds another sweep" in capsys.readouterr().err
    assert path.read_text() == before


def test_lambda_b_is_swept_through_the_executor_and_matches_predict():
    table = sweep(n="6,3,2", depth=1, decay=1e-2, bias="regularized", lambda_b="1e-3,1e-1",
                  executor="serial")
    assert list(table.column("lambda_b")) == [1e-3] * 3 + [1e-1] * 3
    for i, result in _predict_rows(table):
        rows = table.data["point"] == i
        assert np.allclose(table.data["feature_norm"][rows].astype(float),
                           result.feature_norm, rtol=1e-12)
        assert table.data["loss"][rows][0] == result.loss
        assert table.data["certainty"][rows][0] == result.certainty
