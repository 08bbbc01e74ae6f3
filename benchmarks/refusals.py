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
        **magnitude_cases(folder),
    }


def magnitude_cases(folder: Path) -> dict[str, list[str]]:
    """measure at magnitudes past float64's reach, labels past the class limit, an
    @FILE that is not sizes (issue 24, the rest)."""
    import numpy as np

    rng = np.random.default_rng(0)
    X, W, y = rng.normal(size=(20, 5)), rng.normal(size=(3, 5)), np.repeat(np.arange(3), 7)[:20]
    files = {"features": (X * 1e155, y, W), "weights": (X, y, W * 1e300),
             "plain": (X, y, W), "labels": (X[:2], np.array([0, 2**63], np.uint64), W)}
    for name, (features, labels, weight) in files.items():
        np.savez(folder / f"{name}.npz", features=features, labels=labels, W1=weight)
    rc = folder / "bashrc"
    rc.write_text('export PATH=/secret/bin:$PATH\n')
    return {
        "measure features x 1e155": ["measure", str(folder / "features.npz"),
                                     "--lambda-w", "1e-3"],
        "measure weights x 1e300": ["measure", str(folder / "weights.npz"), "--lambda-w",
                                    "1e-3", "--lambda-h", "1e-3"],
        "measure --lambda-w 1e200": ["measure", str(folder / "plain.npz"), "--lambda-w",
                                     "1e200"],
        "measure uint64 label 2^63": ["measure", str(folder / "labels.npz")],
        "predict --n @bashrc": ["predict", "--n", f"@{rc}"],
        "predict --lambda-w @bashrc": ["predict", "--n", "5,3", "--lambda-w", f"@{rc}"],
        "equation, free bias, 1000 distinct sizes, depth 200": [
            "equation", "--n", ",".join(str(37 * k) for k in range(1, 1001)), "--depth", "200",
            "--bias", "free"],
    }


def dynamics_cases(folder: Path) -> dict[str, list[str]]:
    """The flow's time bounds (issue 24: the long fuzz's hang, docs/dynamics.md)."""
    big = ["dynamics", "--n", "12570,4396,4396,55096", "--depth", "2"]
    return {
        "dynamics --lambda-h 1e-320 --init-scale 1e-300 (fuzz hang)":
            [*big, "--lambda-h", "1e-320", "--init-scale", "1e-300", "--json"],
        "dynamics, decays 1e-20 and 5e-4 (thresholds)": [*big, "--lambda-h", "1e-20"],
        "dynamics --lambda-h 1e300 --init-scale 0.5 (stiff flow)":
            ["dynamics", "--n", "5,3", "--depth", "2", "--lambda-w", "1e-3", "--lambda-h",
             "1e300", "--init-scale", "0.5"],
    }


def main() -> None:
    only = {"--magnitudes": magnitude_cases, "--dynamics": dynamics_cases}
    pick = only.get(sys.argv[1]) if sys.argv[1:] else None  # one issue's rows alone
    with tempfile.TemporaryDirectory() as name:
        print("| refusal | exit | seconds | peak RSS (MB) |")
        print("|---|---|---|---|")
        table = pick(Path(name)) if pick else {**cases(Path(name)),
                                               **dynamics_cases(Path(name))}
        for label, argv in table.items():
            seconds, mb, code, _ = _measure(argv)
            print(f"| {label} | {code} | {seconds:.2f} | {mb:.0f} |")


if __name__ == "__main__":
    main()
