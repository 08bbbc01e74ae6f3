"""Network waits time out; SIGTERM and Ctrl-C end every executor's workers with one line
on stderr (issue 24). Each test failed on ae9e37d; the commands are in the tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from processes import alive, descendants
from ncsolve.cli import main

ROOT = Path(__file__).resolve().parents[1]


class _Server:
    """A real TCP server on localhost that accepts and then stays silent, or answers
    whatever it is sent with HTTP."""

    def __init__(self, mode: str):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.mode, self.conns = mode, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.mode == "http":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)

    def close(self):
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("mode", ["silent", "http"])
def test_a_scheduler_port_that_does_not_speak_dask_is_refused_quickly(mode, capsys):
    # ncsolve sweep --n 5,3 --loss ce --scheduler tcp://HOST:PORT   (hung / 3 EiB traceback)
    server = _Server(mode)
    try:
        start = time.monotonic()
        status = main(["sweep", "--n", "5,3", "--loss", "ce", "--decay", "1e-2",
                       "--scheduler", f"tcp://127.0.0.1:{server.port}"])
        elapsed = time.monotonic() - start
    finally:
        server.close()
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "scheduler" in err, err
    assert elapsed < 2.0


CE_SWEEP = ["sweep", "--n", "50,30,20,10,5", "--loss", "ce", "--decay", "1e-3:1e-1:30",
            "--workers", "2", "--quiet"]


def _signal_during_sweep(tmp_path, executor: str, sig: int, group: bool):
    out = tmp_path / "t.csv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "ncsolve", *CE_SWEEP, "--executor",
                                executor, "--output", str(out)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
            len(descendants(process.pid)) >= 2 and out.exists() and out.stat().st_size > 300):
        time.sleep(0.05)
    workers = descendants(process.pid)
    assert len(workers) >= 2
    if group:  # Ctrl-C in a terminal reaches the whole foreground process group
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    time.sleep(0.5)
    assert [pid for pid in workers if alive(pid)] == []
    return process.returncode, err, out


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "dask"])
def test_sigterm_ends_the_workers_with_one_line(tmp_path, executor):
    # ncsolve sweep ... --executor process --output t.csv & kill -TERM $!   (workers left alive)
    status, err, out = _signal_during_sweep(tmp_path, executor, signal.SIGTERM, group=False)
    assert status == 128 + signal.SIGTERM and err.count("\n") == 1, err
    lines = out.read_text().splitlines()
    assert lines[0].startswith("point,") and all(
        len(line.split(",")) == len(lines[0].split(",")) for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "dask"])
def test_ctrl_c_ends_the_workers_with_one_line(tmp_path, executor):
    # ncsolve sweep ... --executor dask, then Ctrl-C   (about 70 lines and 4 tracebacks)
    status, err, out = _signal_during_sweep(tmp_path, executor, signal.SIGINT, group=True)
    assert status == 130 and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("which", ["SIGINT", "SIGTERM"])
def test_a_signal_in_a_finalizer_stops_the_run_without_a_traceback(which):
    # the long fuzz: sweep --executor process, SIGINT at once: "Exception ignored in
    # sys.unraisablehook: <function _redeliver ...> Traceback ... KeyboardInterrupt"
    # (the signal was sent again from inside the hook, and its handler ran there)
    script = (
        "import os, signal, time\n"
        "from ncsolve.cli import _catch_sigterm\n"
        "_catch_sigterm()\n"
        "class Finalized:\n"
        "    def __del__(self):\n"
        f"        os.kill(os.getpid(), signal.{which})\n"
        "        time.sleep(0.05)  # the handler runs here, where Python ignores it\n"
        "try:\n"
        "    Finalized()\n"
        "    time.sleep(5)\n"
        "    print('not stopped')\n"
        "except KeyboardInterrupt as error:\n"
        "    print('stopped by', type(error).__name__)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    expected = "_Terminated" if which == "SIGTERM" else "KeyboardInterrupt"
    assert done.stdout.strip() == f"stopped by {expected}" and done.stderr == "", done.stderr
