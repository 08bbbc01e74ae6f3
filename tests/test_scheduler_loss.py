"""A Dask scheduler that dies or hangs mid-sweep (issue 24): the waits on its futures
had no timeout and a lost connection ended in about 50 lines of distributed's logs and
a CancelledError traceback (15d405a).  Now: one line naming --scheduler, exit 2, and the
output keeps the finished points, so the same sweep resumes to the clean run's file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed")

CLUSTER = """
import logging, time
from distributed import LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None,
                       silence_logs=logging.CRITICAL)
print(cluster.scheduler_address, flush=True)
time.sleep(600)
"""
GRID = ["sweep", "--n", "5,3", "--loss", "ce", "--decay", "1e-4:1e-1:400"]


def _ncsolve(*argv, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "ncsolve", *argv], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _lines(path) -> int:
    return sum(1 for _ in path.open()) if path.exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])  # dies, or hangs with its port open
def test_a_scheduler_lost_mid_run_is_one_line_and_the_sweep_resumes(tmp_path, how):
    # python -c "$CLUSTER" & ncsolve sweep ... --scheduler ADDRESS; kill -9 (or -STOP) it
    cluster = subprocess.Popen([sys.executable, "-c", CLUSTER], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://")
        output = tmp_path / "s.csv"
        sweep = _ncsolve(*GRID, "--output", output, "--scheduler", address)
        deadline = time.monotonic() + 120
        while _lines(output) < 6 and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(cluster.pid, getattr(signal, how))
        _, err = sweep.communicate(timeout=60)  # hung forever before
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(10)
    assert sweep.returncode == 2, err
    assert err.count("\n") == 1 and "--scheduler" in err and "resume" in err, err
    kept = _lines(output)
    assert 1 < kept < 401  # the finished points, not the whole grid
    resumed = _ncsolve(*GRID, "--output", output, "--executor", "serial")
    assert resumed.wait(300) == 0, resumed.stderr.read()
    clean = tmp_path / "clean.csv"
    assert _ncsolve(*GRID, "--output", clean, "--executor", "serial").wait(300) == 0
    assert output.read_bytes() == clean.read_bytes()
