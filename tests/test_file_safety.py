"""Model files read by measure: no memory map, a decompression budget, every torch tensor
kind, and special files named as such (issue 24). Each test failed on ae9e37d.
"""

from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from ncsolve.cli import main

ROOT = Path(__file__).resolve().parents[1]
BOMB = 9 * (1 << 27)  # 1.125 GiB of zeros, past the 1 GiB budget of a file
ZEROS = 1 << 24


def _deflated_zeros(prefix: bytes, count: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` and ``count`` zero bytes (count a multiple of
    ZEROS), built from one compressed block repeated, and its CRC-32."""
    head = zlib.compressobj(1, zlib.DEFLATED, -15)
    start = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    body = zlib.compressobj(1, zlib.DEFLATED, -15)
    block = body.compress(bytes(ZEROS)) + body.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    chunk = bytes(ZEROS)
    for _ in range(count // ZEROS):
        crc = zlib.crc32(chunk, crc)
    return start + block * (count // ZEROS) + b"\x03\x00", crc


def _zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> None:
    """A zip of (name, data, crc, size, method) members, data already compressed."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, crc, size, method in members:
        offset, encoded = out.tell(), name.encode()
        fields = (20, 0, method, 0, 0, crc, len(data), size, len(encoded), 0)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + encoded + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0,
                                  offset) + encoded)
    directory = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                      len(directory), out.tell(), 0)
    path.write_bytes(out.getvalue() + directory + end)


def _npy_header(shape) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue()


def _measure_cli(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ncsolve", "measure", *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return done, elapsed, max(peak, before) * 1024


def test_an_npz_zip_bomb_is_refused_while_decompressing(tmp_path):
    # a 1.2 MB .npz whose 'features' inflate to 1.125 GiB: ncsolve measure bomb.npz
    rows = BOMB // 64
    data, crc = _deflated_zeros(_npy_header((rows, 8)), BOMB)
    labels = io.BytesIO()
    np.lib.format.write_array(labels, np.zeros(4, dtype=np.int64))
    raw = labels.getvalue()
    path = tmp_path / "bomb.npz"
    _zip(path, [("features.npy", data, crc, len(_npy_header((rows, 8))) + BOMB, 8),
                ("labels.npy", raw, zlib.crc32(raw), len(raw), 0)])
    assert path.stat().st_size < 20 << 20
    done, elapsed, _ = _measure_cli(path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "MiB" in done.stderr and elapsed < 2.0


@pytest.mark.slow
def test_a_compressed_pt_bomb_is_refused_before_torch_reads_it(tmp_path):
    torch = pytest.importorskip("torch")
    # a torch.save file whose storage record is re-deflated to 1.125 GiB of zeros
    small = tmp_path / "small.pt"
    torch.save({"features": torch.zeros(2, 2), "labels": torch.tensor([0, 1])}, small)
    members = []
    with zipfile.ZipFile(small) as archive:
        for info in archive.infolist():
            body = archive.read(info)
            if info.filename.endswith("/data/0"):
                data, crc = _deflated_zeros(b"", BOMB)
                members.append((info.filename, data, crc, BOMB, 8))
            else:
                members.append((info.filename, body, zlib.crc32(body), len(body), 0))
    path = tmp_path / "bomb.pt"
    _zip(path, members)
    done, elapsed, _ = _measure_cli(path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "MiB" in done.stderr and elapsed < 2.0


def _torch_file(tmp_path, features):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"features": features, "labels": torch.tensor([0, 0, 1, 1]),
                "W1": torch.ones(2, 3)}, path)
    return path


@pytest.mark.parametrize("kind", ["bfloat16", "sparse", "quantized"])
def test_torch_tensor_kinds_are_read(tmp_path, capsys, kind):
    torch = pytest.importorskip("torch")
    # ncsolve measure model.pt with bfloat16 / sparse / quantized features: traceback
    dense = torch.tensor([[1.0, 0.0, 0.5], [1.0, 0.0, 0.25], [0.0, 1.0, 0.5],
                          [0.0, 1.0, 0.75]])
    features = {"bfloat16": dense.to(torch.bfloat16), "sparse": dense.to_sparse(),
                "quantized": torch.quantize_per_tensor(dense, 0.25, 0, torch.qint8)}[kind]
    path = _torch_file(tmp_path, features)
    assert main(["measure", str(path), "--lambda-w", "1e-3", "--json"]) == 0
    assert '"status"' in capsys.readouterr().out


def test_a_meta_tensor_is_one_line(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    path = _torch_file(tmp_path, torch.empty(4, 3, device="meta"))
    assert main(["measure", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "meta tensor" in err, err


def test_a_bfloat16_safetensors_is_read(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file({
        "features": torch.tensor([[1.0, 0.0], [1.0, 0.5], [0.0, 1.0], [0.5, 1.0]],
                                 dtype=torch.bfloat16),
        "labels": torch.tensor([0, 0, 1, 1]), "W1": torch.ones(2, 2)}, str(path))
    assert main(["measure", str(path), "--lambda-w", "1e-3", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"status"' in out


def test_a_folder_or_fifo_given_to_measure_is_named(tmp_path, capsys):
    # ncsolve measure dir.npz / fifo.npz: was "no such file" (a FIFO could also block)
    folder = tmp_path / "dir.npz"
    folder.mkdir()
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    assert main(["measure", str(folder)]) == 2
    assert "folder" in capsys.readouterr().err
    assert main(["measure", str(fifo)]) == 2
    assert "FIFO" in capsys.readouterr().err


@pytest.mark.slow
def test_a_safetensors_file_rewritten_while_read_never_kills_measure(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    # measure on a .safetensors being rewritten: SIGBUS (exit 135) in 5 of 20 runs
    rng = np.random.default_rng(0)
    arrays = {"features": rng.standard_normal((400_000, 32)),
              "labels": np.repeat(np.arange(4), 100_000), "W1": rng.standard_normal((4, 32))}
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(arrays, str(path))
    full = path.read_bytes()
    stop = threading.Event()

    def rewrite():
        while not stop.is_set():
            with open(path, "r+b") as handle:
                handle.truncate(len(full) // 3)
                time.sleep(0.002)
                handle.seek(0)
                handle.write(full)
            time.sleep(0.002)

    writer = threading.Thread(target=rewrite, daemon=True)
    writer.start()
    try:
        codes = [_measure_cli(path, "--lambda-w", "1e-3")[0].returncode for _ in range(12)]
    finally:
        stop.set()
        writer.join()
    assert all(code in (0, 2) for code in codes), codes
