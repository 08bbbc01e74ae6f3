"""Memory and time guards before allocation, and unknown keywords (issue 24).

Each refusal runs as a real subprocess and must end in under 2 s with one line on
stderr; each failed on ae9e37d (by running out of memory or time, or by a wrong
message). The commands are in the tests.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ncsolve import ProblemError, predict

ROOT = Path(__file__).resolve().parents[1]
REFUSAL_SECONDS = 2.0


def _cli(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ncsolve", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - start


def _refused_quickly(*args, words=()):
    done, seconds = _cli(*args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-800:]
    for word in words:
        assert word in done.stderr, done.stderr
    assert seconds < REFUSAL_SECONDS + 1.0  # +1: the interpreter's start on a busy machine
    return done.stderr


def test_predict_n_at_file_of_too_many_classes_is_refused_before_parsing(tmp_path):
    # ncsolve predict --n @ones.txt   (240 MB of '1 ': OOM-killed at ~200 bytes a class)
    path = tmp_path / "ones.txt"
    path.write_bytes(b"1 " * 12_500_000)
    _refused_quickly("predict", "--n", f"@{path}", words=("10,000,000",))


def test_sweep_tables_beyond_memory_are_refused(tmp_path):
    # ncsolve sweep --profile exp --ratio 1:100:1000 --decay 1e-5:1e-1:1000  (MemoryError)
    out = tmp_path / "t.csv"
    _refused_quickly("sweep", "--profile", "exp", "--ratio", "1:100:1000", "--decay",
                     "1e-5:1e-1:1000", "--output", out, words=("rows", "GB"))
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ["phase", "--profile", "exp", "--classes", "1000000"],
    ["phase", "--profile", "exp", "--classes", "20000", "--bias", "free"],
])
def test_phase_maps_beyond_memory_or_minutes_are_refused(args):
    # ncsolve phase --profile exp --classes 1000000   (12.7 GB after 60 s)
    _refused_quickly(*args, words=("classes",))


def test_verify_counts_the_k_by_n_outputs(tmp_path):
    # ncsolve verify --n @k2000.txt  (K = 2000, N = 2e5: MemoryError traceback)
    path = tmp_path / "k2000.txt"
    path.write_text(",".join(["100"] * 2000))
    _refused_quickly("verify", "--n", f"@{path}", words=("outputs", "GB"))


def test_free_bias_distinct_sizes_limit_is_seconds_not_minutes(tmp_path):
    # ncsolve predict --n @sizes.txt --bias free with 50,000 distinct sizes (minutes)
    path = tmp_path / "sizes.txt"
    path.write_text(",".join(map(str, range(1, 50_001))))
    _refused_quickly("predict", "--n", f"@{path}", "--bias", "free", words=("distinct",))


@pytest.mark.parametrize("command", [["equation"], ["predict", "--precision", "20"]])
def test_high_precision_with_a_free_bias_is_estimated_before_it_starts(tmp_path, command):
    # ncsolve equation --n @sizes.txt --depth 200 --bias free, 1000 classes of distinct
    # sizes: 103 s (5556752; the secular roots cost S^2 multiple-precision terms)
    path = tmp_path / "sizes.txt"
    path.write_text(",".join(str(37 * k) for k in range(1, 1001)))
    _refused_quickly(*command, "--n", f"@{path}", "--depth", "200", "--bias", "free",
                     words=("1000 distinct class sizes", "fewer digits"))


@pytest.mark.parametrize("keyword, near", [("lamda_w", "lambda_w"),
                                           ("feature_decays", "feature_decay"),
                                           ("batch_sise", "batch_size")])
def test_an_unknown_keyword_is_named_with_the_nearest_known_one(keyword, near):
    # predict(n=[5, 3], depth=2, lamda_w=1e-3) said "the training conventions need ..."
    with pytest.raises(ProblemError) as caught:
        predict(n=[5, 3], depth=2, **{keyword: 1e-3})
    message = str(caught.value)
    assert keyword in message and f"{near}=" in message, message


def test_training_keywords_still_work():
    result = predict(n=[5, 3], depth=2, weight_decay=5e-4, feature_decay=5e-4)
    assert result.loss > 0


def test_predict_json_is_the_same_text_written_piece_by_piece(tmp_path):
    sizes = ",".join(str(1 + (i % 7)) for i in range(9000))
    done, _ = _cli("predict", "--n", sizes, "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert done.stdout == json.dumps(data, allow_nan=False) + "\n"


@pytest.mark.parametrize("n, settings", [
    ([500, 100, 50], dict(depth=3)),
    ([3] * 5000 + [5], {}),
    ([5, 3, 2], dict(loss="ce", depth=2)),
    (list(range(1, 5000)), dict(depth=2, precision=30)),
    ([50, 3, 3], dict(bias="regularized", lambda_b=1e-3)),
    ([50, 3, 3], dict(bias="free", depth=2, weight_decay=5e-4, feature_decay=5e-4)),
])
def test_streamed_rows_give_the_text_of_the_whole_dict(n, settings):
    # --json reads the per-class rows a slice at a time (to_dict(lazy=True)); the text
    # must be json.dumps of the ordinary dict, whatever the answer's type
    from ncsolve.cli.jsonout import write_json
    result = predict(n=n, **settings)
    whole = result.to_dict()
    parts = []
    write_json(result.to_dict(lazy=True), parts.append)
    assert "".join(parts) == json.dumps(whole, allow_nan=False) + "\n"
    rows = result.to_dict(lazy=True)["classes"]
    assert len(rows) == len(n) and rows[-1] == whole["classes"][-1] == rows[len(n) - 1]


@pytest.mark.slow
def test_predict_json_at_a_million_classes_stays_in_bounded_memory(tmp_path):
    # ncsolve predict --n @ones1m.txt --json   (3.1 GB RSS building 412 MB of text; still
    # 1.6 GB at 5556752, which built the per-class records whole)
    path = tmp_path / "ones.txt"
    path.write_bytes(b"1 " * 1_000_000)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(tmp_path / "out.json", "wb") as out:
        done = subprocess.run([sys.executable, "-m", "ncsolve", "predict", "--n", f"@{path}",
                               "--json"], cwd=ROOT, env=env, stdout=out, timeout=1800)
    assert done.returncode == 0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert max(peak, before) * 1024 < 0.6e9  # 0.32 GB measured; predict alone 0.27 GB
