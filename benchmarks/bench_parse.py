"""Parsing class sizes (``--n A,B,...`` and ``--n @FILE``): one vectorized pass against
the per-token validator, timed in the same run (not part of the tests).

    python benchmarks/bench_parse.py

Baselines measured here: the per-token path (``whole_number`` on every token, what
parsing did before, and what now only builds the message of bad input) and a
single numpy pass over the same bytes (``frombuffer`` plus one comparison), the
floor of any vectorized parser. CPU seconds, best of three.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ncsolve.inputs.problem import Problem, _split, whole_number  # noqa: E402


def best(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def per_token(text: str) -> np.ndarray:
    return np.asarray([whole_number(v, "n", "", high=2**53) for v in _split(text, "n")])


def one_pass(text: str) -> int:
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return int(np.count_nonzero((raw >= 48) & (raw <= 57)))


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.2f}; CPU s, best of 3")
    print(f"{'case':<24} {'ncsolve':>9} {'per token':>10} {'one pass':>9} {'speed-up':>9} "
          f"{'vs pass':>8}")
    for K in (50_000, 1_000_000):
        sizes = rng.zipf(1.5, K).clip(1, 10**6)
        text = ",".join(map(str, sizes))
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write("\n".join(map(str, sizes)))
        for label, argument in ((f"--n, K = {K}", text), (f"@FILE, K = {K}", "@" + handle.name)):
            assert np.array_equal(Problem.build(argument).n, sizes)
            new = best(lambda: Problem.build(argument))
            old = best(lambda: per_token(argument), repeats=1)
            floor = best(lambda: one_pass(text))
            print(f"{label:<24} {new:9.3f} {old:10.3f} {floor:9.4f} {old / new:8.1f}x "
                  f"{new / floor:7.1f}x")
        os.unlink(handle.name)


if __name__ == "__main__":
    main()
