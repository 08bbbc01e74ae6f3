"""--output and --plot never destroy what ncsolve did not write (issue 24).

Every test here failed on ae9e37d. Commands are given in each test; run them all with
``python -m pytest tests/test_output_safety.py -q``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ncsolve.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["sweep", "--n", "5,3", "--decay", "1e-4:1e-1:3", "--quiet"]


def _cli(args, timeout=60, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "ncsolve", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def _refused(capsys, *words) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("name, content", [
    ("notes.csv", "my notes"),
    ("results.json", json.dumps({"points": 3, "rows": []}, indent=2)),
    ("other.jsonl", '{"a": 1}\n{"a": 2}\n'),
])
def test_an_unrelated_file_is_refused_unless_force(tmp_path, capsys, name, content):
    # printf 'my notes' > notes.csv; ncsolve sweep --n 5,3 --decay 1e-4:1e-1:3 --output notes.csv
    path = tmp_path / name
    path.write_text(content)
    assert main([*SMALL, "--output", str(path)]) == 2
    _refused(capsys, "--force", name)
    assert path.read_text() == content
    assert main([*SMALL, "--output", str(path), "--force"]) == 0
    assert path.read_text() != content and "feature_norm" in path.read_text()


def _null_device(folder: Path) -> Path:
    """A character device like /dev/null, made in the test's folder: the test must not
    put the real /dev/null at risk (as root, ae9e37d replaced it by a regular file)."""
    path = folder / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device needs root")
    return path


def test_a_character_device_and_a_folder_are_refused(tmp_path, capsys):
    # ncsolve sweep --n 5,3 --decay 1e-4:1e-1:3 --output /dev/null  (as root: replaced it)
    device = _null_device(tmp_path)
    assert main([*SMALL, "--output", str(device)]) == 2
    _refused(capsys, "device")
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert main([*SMALL, "--output", str(tmp_path)]) == 2
    _refused(capsys, "folder")


def test_a_fifo_is_refused_at_once(tmp_path):
    # mkfifo f.csv; ncsolve sweep --n 5,3 --output f.csv   (hung forever)
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    for args in ([*SMALL, "--output", str(fifo)],
                 ["phase", "--profile", "exp", "--classes", "4", "--output", str(fifo)],
                 [*SMALL, "--plot", str(tmp_path / "p.png"), "--output", str(fifo)]):
        done = _cli(args, timeout=60)
        assert done.returncode == 2 and "FIFO" in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_followed_not_replaced(tmp_path):
    # ln -s real.csv link.csv; ncsolve sweep ... --output link.csv
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    link.symlink_to(real)
    assert main([*SMALL, "--output", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("point,")
    assert main([*SMALL, "--output", str(link)]) == 0  # resumed through the link
    assert link.is_symlink()


def test_the_final_file_has_the_umask_mode_and_keeps_its_own(tmp_path):
    # umask 022; ncsolve sweep ... --output t.csv  (was 0600); a 0640 file stays 0640 on resume
    old = os.umask(0o022)
    try:
        path = tmp_path / "t.csv"
        assert main([*SMALL, "--output", str(path)]) == 0
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        path.chmod(0o640)
        assert main([*SMALL, "--output", str(path)]) == 0
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        os.umask(0o027)
        phase = tmp_path / "phase.csv"
        assert main(["phase", "--profile", "exp", "--classes", "4", "--format", "csv",
                     "--output", str(phase)]) == 0
        assert stat.S_IMODE(phase.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_an_existing_parquet_file_is_checked(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    import pandas as pd

    # ncsolve sweep ... --output t.parquet over someone else's Parquet file
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    before = path.read_bytes()
    assert main([*SMALL, "--output", str(path)]) == 2
    _refused(capsys, "--force")
    assert path.read_bytes() == before
    assert main([*SMALL, "--output", str(path), "--force"]) == 0
    assert main([*SMALL, "--output", str(path)]) == 0  # this sweep's own table: rewritten


def test_phase_output_and_plots_refuse_what_they_did_not_write(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    notes = tmp_path / "notes.csv"
    notes.write_text("keep me")
    assert main(["phase", "--profile", "exp", "--classes", "4", "--output", str(notes)]) == 2
    _refused(capsys, "--force")
    figure = tmp_path / "holiday.png"
    figure.write_bytes(b"\x89PNG my photo")
    assert main([*SMALL, "--plot", str(figure)]) == 2
    _refused(capsys, "--force")
    assert notes.read_text() == "keep me" and figure.read_bytes() == b"\x89PNG my photo"


@pytest.mark.parametrize("folder", ["missing/sub", "missing"])
def test_missing_folders_are_one_line(tmp_path, capsys, folder):
    # ncsolve sweep|phase ... --output missing/t.csv; measure m.npz --plot missing/m.png
    target = tmp_path / folder / "t.csv"
    assert main([*SMALL, "--output", str(target)]) == 2
    _refused(capsys, "does not exist")
    assert main(["phase", "--profile", "exp", "--output", str(target)]) == 2
    _refused(capsys, "does not exist")


def _first_data_line(path: Path, fmt: str) -> int:
    return 2 if fmt == "csv" else 1


@pytest.mark.parametrize("fmt, edit, line", [
    ("csv", lambda lines: lines[:1] + [lines[1].replace(",1,", ",2.5,", 1)] + lines[2:], 2),
    ("csv", lambda lines: lines + ["9," + lines[1].split(",", 1)[1]], None),
    ("jsonl", lambda lines: lines[:2] + ["5"] + lines[2:], 3),
])
def test_resumed_rows_that_do_not_parse_are_refused_with_the_line(tmp_path, capsys, fmt,
                                                                  edit, line):
    # sed -i '2s/,1,/,2.5,/' t.csv; ncsolve sweep ... --output t.csv   (traceback)
    path = tmp_path / f"t.{fmt}"
    args = [*SMALL, "--decay", "1e-4:1e-1:6", "--output", str(path)]
    assert main(args) == 0
    lines = path.read_text().splitlines()
    lines = edit(lines)
    path.write_text("\n".join(lines) + "\n")
    before = path.read_text()
    assert main(args) == 2
    err = _refused(capsys, "line ")
    if line is not None:
        assert f"line {line} " in err
    assert path.read_text() == before


def test_a_bool_cell_that_is_not_true_or_false_is_refused(tmp_path, capsys):
    # a 'collapsed' cell changed to 'maybe' was kept silently
    path = tmp_path / "t.csv"
    args = [*SMALL, "--output", str(path)]
    assert main(args) == 0
    text = path.read_text()
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("collapsed")] = "maybe"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    assert main(args) == 2
    _refused(capsys, "line 4 ", "collapsed")


def test_a_binary_csv_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    args = [*SMALL, "--output", str(path)]
    assert main(args) == 0
    path.write_bytes(path.read_bytes()[:60] + b"\xff\xfe\x00binary\n")
    assert main(args) == 2
    _refused(capsys)


def test_a_torn_tail_is_dropped_before_appending(tmp_path):
    path = tmp_path / "t.csv"
    args = [*SMALL, "--decay", "1e-4:1e-1:4", "--output", str(path)]
    assert main(args) == 0
    clean = path.read_text()
    lines = clean.splitlines()
    path.write_text("\n".join(lines[:4]) + "\n" + lines[4][:7])  # killed mid-write
    assert main(args) == 0
    assert path.read_text() == clean


CE = ["sweep", "--n", "5,3,2", "--loss", "ce", "--restarts", "4", "--executor", "serial",
      "--quiet"]


@pytest.mark.slow
def test_two_runs_on_one_output_do_not_both_write(tmp_path):
    # two CE sweeps with different grids on one --output, started together: one grid lost
    from ncsolve.inputs.outfile import lock_path

    path = tmp_path / "ce.csv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen([sys.executable, "-m", "ncsolve", *CE, "--decay",
                              "1e-3:1e-1:40", "--output", str(path)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(lock_path(path)) and time.monotonic() < deadline:
        time.sleep(0.01)
    second = _cli([*CE, "--decay", "1e-2:1e-1:3", "--output", str(path)])
    assert second.returncode == 2 and "another ncsolve run" in second.stderr, second.stderr
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert len(path.read_text().splitlines()) == 1 + 40 * 3
    assert not os.path.exists(lock_path(path))
