"""Peak RSS and wall time of every refusal of issue 24 (docs/cli.md, "Limits").

    PYTHONPATH=. python benchmarks/refusals.py

Each command runs as its own process under /usr/bin/time; the table is printed in
Markdown. Files (a zip bomb, a FIFO, a device, a 240 MB list) are made in a temporary
folder, and a silent TCP server stands in for a scheduler that never answers.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _measure(argv: list[str]) -> tuple[float, float, int, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "ncsolve",
                           *argv], env=env, capture_output=True, text=True, timeout=600)
    *lines, timing = done.stderr.strip().splitlines()
    seconds, kb = timing.split()
    return float(seconds), int(kb) / 1024, done.returncode, (lines[-1] if lines else "")


def _silent_server() -> int:
    server = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in iter(int, 1)],
                     daemon=True).start()
    return server.getsockname()[1]


def cases(folder: Path) -> dict[str, list[str]]:
    from test_file_safety import BOMB, _deflated_zeros, _npy_header, _zip

    notes = folder / "notes.csv"
    notes.write_text("my notes")
    fifo = folder / "f.csv"
    os.mkfifo(fifo)
    device = folder / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    bad = folder / "bad.csv"
    subprocess.run([sys.executable, "-m", "ncsolve", "sweep", "--n", "5,3", "--decay",
                    "1e-4:1e-1:3", "--quiet", "--output", str(bad)],
                   env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    lines = bad.read_text().splitlines()
    lines[2] = lines[2].replace(",2,", ",2.5,")
    bad.write_text("\n".join(lines) + "\n")
    rows = BOMB // 64
    data, crc = _deflated_zeros(_npy_header((rows, 8)), BOMB)
    bomb = folder / "bomb.npz"
    _zip(bomb, [("features.npy", data, crc, len(_npy_header((rows, 8))) + BOMB, 8)])
    ones = folder / "ones.txt"
    ones.write_bytes(b"1 " * 120_000_000)
    k2000 = folder / "k2000.txt"
    k2000.write_text(",".join(["100"] * 2000))
    distinct = folder / "distinct.txt"
    distinct.write_text(",".join(map(str, range(1, 50_001))))
    small = ["sweep", "--n", "5,3", "--decay", "1e-4:1e-1:3"]
    return {
        "sweep --output notes.csv (not ours)": [*small, "--output", str(notes)],
        "sweep --output FIFO": [*small, "--output", str(fifo)],
        "sweep --output character device": [*small, "--output", str(device)],
        "sweep --output folder": [*small, "--output", str(folder)],
        "sweep resume, rank cell 2.5": [*small, "--output", str(bad)],
        "sweep --scheduler silent port": [*small, "--loss", "ce", "--scheduler",
                                          f"tcp://127.0.0.1:{_silent_server()}"],
        "sweep 10^6 points x 10 classes": ["sweep", "--profile", "exp", "--ratio",
                                           "1:100:1000", "--decay", "1e-5:1e-1:1000"],
        "measure 1.2 MB zip bomb (1.125 GiB)": ["measure", str(bomb)],
        "measure FIFO": ["measure", str(fifo)],
        "predict --n @240 MB of ones": ["predict", "--n", f"@{ones}"],
        "predict free bias, 50,000 distinct sizes": ["predict", "--n", f"@{distinct}",
                                                     "--bias", "free"],
        "phase --classes 10^6": ["phase", "--profile", "exp", "--classes", "1000000"],
        "phase --bias free --classes 20000": ["phase", "--profile", "exp", "--classes",
                                              "20000", "--bias", "free"],
        "verify K = 2000, N = 2e5": ["verify", "--n", f"@{k2000}"],
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        print("| refusal | exit | seconds | peak RSS (MB) |")
        print("|---|---|---|---|")
        for label, argv in cases(Path(name)).items():
            seconds, mb, code, _ = _measure(argv)
            print(f"| {label} | {code} | {seconds:.2f} | {mb:.0f} |")


if __name__ == "__main__":
    main()
