"""Golden outputs of the public command line, recorded before a restructuring.

``cases()`` is a deterministic list of command lines (a seeded numpy RNG and
literal constants; nothing from ncsolve's internals). ``run_case(case)`` runs one
through ``ncsolve.cli.main(argv)`` in-process (or, for a few, ``ncsolve.predict(...)
.to_dict()``), capturing stdout, stderr and the exit status. ``compare(record,
new)`` says how a rerun differs from the record (tests/test_golden.py).

    PYTHONPATH=. python tests/golden_cases.py --record   # rewrite tests/data/golden.json.xz

Only the CLI entry point and ``ncsolve.predict`` are used, so the record stays
valid when the modules behind them move.
"""

from __future__ import annotations

import contextlib
import decimal
import io
import json
import lzma
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

SEED = 20250101
DATA = Path(__file__).parent / "data" / "golden.json.xz"

RTOL = 1e-12  # closed forms, high precision, phase, sweep, equation
VERIFY_RTOL = 1e-9  # seeded gradient descent (bitwise repeatable; see test_golden.py)
VERIFY_ATOL = 1e-13  # ... for its residual-level numbers (errors ~1e-10, gradient norms)
VOLATILE_KEYS = {"elapsed"}  # wall-clock seconds in verify's JSON
# certainty words, strongest first (ncsolve/result.py: {"exact", "proved", "best found"})
CERTAINTY = ("exact", "proved", "best found")


# ---- the cases -------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return repr(float(x))


def _decays(values) -> str:
    return ",".join(_fmt(v) for v in values)


# critical decays (geometric mean lbar) printed by ncsolve at commit 3817405, used only to
# place decays next to the phase boundaries: (n, depth, bias, [critical decay per direction])
THRESHOLDS = [
    ([500, 100, 50], 1, "none", [0.034401045807689073, 0.015384615384615385,
                                 0.010878565864408423]),
    ([500, 100, 50], 3, "none", [0.0442738472497667, 0.013240968704982621,
                                 0.007873127096746849]),
    ([500, 100, 50], 6, "none", [0.04632124471294788, 0.01165904757273363,
                                 0.006436316082239659]),
    ([100, 100, 100, 100], 3, "free", [0.02151657414559676]),
    ([200, 100, 50, 50], 2, "free", [0.027023302296610274, 0.01690680756115695,
                                     0.013465216812699273]),
    ([200, 100, 50, 50], 2, "none", [0.03393022020743634, 0.021374699333458716,
                                     0.013465216812699273]),
    ([1000, 10], 4, "none", [0.05231851311773513, 0.0013141816321719487]),
    ([60, 30, 30, 5, 5], 5, "free", [0.03190518568435003, 0.022563909384445177,
                                     0.007197079402087855, 0.005069381453667895]),
]
PROBE_FACTORS = (0.999, 1 - 1e-9, 1.0, 1 + 1e-9, 1.001, 1.2, 1.4, 2.0)


def _sizes(rng, K: int, kind: str) -> list[int]:
    if kind == "balanced":
        return [int(rng.integers(1, 1000))] * K
    if kind == "step":
        big, small = int(rng.integers(50, 2000)), int(rng.integers(1, 50))
        minority = int(rng.integers(1, K)) if K > 1 else 0
        return [big] * (K - minority) + [small] * minority
    if kind == "exp":
        ratio = float(np.exp(rng.uniform(0, np.log(1000))))
        top = int(rng.integers(100, 5000))
        return [max(1, int(top * ratio ** (-k / max(K - 1, 1)))) for k in range(K)]
    return [int(v) for v in rng.integers(1, 1000, size=K)]  # random


def _mse_predict_cases(rng, add) -> None:
    # the README and help examples
    add("predict", ["predict", "--n", "500,100,50", "--depth", "3"], output="text")
    add("predict", ["predict", "--n", "500,100,50", "--depth", "3", "--json"])
    add("predict", ["predict", "--n", "500,100,50", "--depth", "3", "--lambda-w", "0.0095",
                    "--lambda-h", "0.0095"], output="text")
    add("predict", ["predict", "--n", "500,100,50", "--depth", "3", "--lambda-w", "0.0095",
                    "--lambda-h", "0.0095", "--json"])
    add("predict", ["predict", "--n", "100,100,100,100", "--depth", "3", "--bias", "free",
                    "--json"])
    add("predict", ["predict", "--n", "500,100,50", "--depth", "3", "--widths", "2,2,2"],
        output="text")
    add("predict", ["predict", "--n", "500,100,50", "--depth", "3", "--widths", "2,2,2",
                    "--json"])
    add("predict", ["predict", "--n", "100,100,100,100", "--depth", "3", "--bias",
                    "regularized", "--lambda-b", "0.03", "--json"])
    add("predict", ["predict", "--n", "100,100,100,100", "--depth", "3", "--bias",
                    "regularized", "--lambda-b", "5e-4"], output="text")
    add("predict", ["predict", "--profile", "exp", "--classes", "10", "--ratio", "100",
                    "--depth", "3", "--json"])
    add("predict", ["predict", "--profile", "exp", "--classes", "10", "--ratio", "100",
                    "--depth", "3"], output="text")
    add("predict", ["predict", "--n", "500,100,50", "--depth", "3", "--bias", "free"],
        output="text")

    # random problems: K 2..12, depth 1..6, bias none/free, scalar or per-layer decays
    kinds = ("balanced", "step", "exp", "random")
    for i in range(260):
        K = int(rng.integers(2, 13))
        depth = int(rng.integers(1, 7))
        n = _sizes(rng, K, kinds[i % 4])
        bias = ("none", "free")[int(rng.integers(0, 2))]
        lbar = float(10 ** rng.uniform(-5, -1))
        argv = ["predict", "--n", ",".join(map(str, n)), "--depth", str(depth), "--bias", bias]
        style = i % 5
        if style == 0:  # equal decays
            argv += ["--lambda-w", _fmt(lbar), "--lambda-h", _fmt(lbar)]
        elif style == 1:  # per-layer decays
            lw = [lbar * float(10 ** rng.uniform(-1.5, 1.5)) for _ in range(depth)]
            argv += ["--lambda-w", _decays(lw), "--lambda-h", _fmt(lbar)]
        elif style == 2:  # unequal lambda_h
            argv += ["--lambda-w", _fmt(lbar),
                     "--lambda-h", _fmt(lbar * float(10 ** rng.uniform(-3, 3)))]
        elif style == 3:  # the default decays
            pass
        else:  # narrow widths
            widths = [int(rng.integers(1, K + 2)) for _ in range(depth)]
            argv += ["--lambda-w", _fmt(lbar), "--lambda-h", _fmt(lbar),
                     "--widths", ",".join(map(str, widths))]
        add("predict", argv + ["--json"])

    # decays next to the phase boundaries (critical decay, window, beyond)
    for n, depth, bias, criticals in THRESHOLDS:
        for c in criticals:
            for f in PROBE_FACTORS:
                lbar = c * f
                add("predict", ["predict", "--n", ",".join(map(str, n)), "--depth", str(depth),
                                "--bias", bias, "--lambda-w", _fmt(lbar), "--lambda-h",
                                _fmt(lbar), "--json"])

    # extreme decays
    extremes = [("1e-300", "1e300"), ("1e300", "1e-300"), ("1e-300,1e300,1", "1"),
                ("10", "10"), ("1e-300", "1e-300"), ("5e-324", "1"), ("1e308", "1e-308"),
                ("1e-200,1e-100,1e-50", "1e100"), ("1e-12", "1e-12"), ("1e3", "1e-9")]
    for lw, lh in extremes:
        for bias in ("none", "free"):
            layers = lw.count(",") + 1
            add("predict", ["predict", "--n", "500,100,50", "--depth", str(max(3, layers)),
                            "--lambda-w", lw, "--lambda-h", lh, "--bias", bias, "--json"])
    for depth in (1, 2, 6):
        add("predict", ["predict", "--n", "9,7,3,1", "--depth", str(depth), "--lambda-w",
                        "1e-300", "--lambda-h", "1e300", "--json"])

    # a single class, large K
    add("predict", ["predict", "--n", "7", "--depth", "2", "--json"])
    add("predict", ["predict", "--n", "7", "--depth", "2", "--bias", "free", "--json"])
    add("predict", ["predict", "--n", ",".join(["40"] * 200), "--depth", "3", "--json"])
    add("predict", ["predict", "--n", ",".join(["40"] * 200), "--depth", "3", "--bias", "free",
                    "--no-grams", "--json"])
    big = [int(v) for v in rng.integers(1, 1000, size=200)]
    for depth, bias in ((1, "none"), (4, "none"), (2, "free")):
        add("predict", ["predict", "--n", ",".join(map(str, big)), "--depth", str(depth),
                        "--bias", bias, "--no-grams", "--json"])
    big = [int(v) for v in rng.integers(1, 100, size=1000)]
    add("predict", ["predict", "--n", ",".join(map(str, big)), "--depth", "3", "--bias", "free",
                    "--json"])
    add("predict", ["predict", "--n", "30,20,10", "--depth", "2", "--grams", "--json"])

    # imbalance profiles and training conventions
    for prof in (["--profile", "step", "--classes", "6", "--minority", "2", "--largest", "800",
                  "--ratio", "40"],
                 ["--profile", "exp", "--classes", "5", "--ratio", "10"],
                 ["--profile", "scaled", "--n", "300,120,40", "--ratio", "50"],
                 ["--profile", "step", "--ratio", "1"]):
        for depth, bias in ((2, "none"), (4, "free")):
            add("predict", ["predict", *prof, "--depth", str(depth), "--bias", bias, "--json"])
    for conv in (["--weight-decay", "5e-4"],
                 ["--weight-decay", "1e-3", "--feature-decay", "1e-3", "--loss-reduction",
                  "sum"],
                 ["--weight-decay", "5e-4", "--feature-decay", "1e-4", "--loss-reduction",
                  "half-mean"],
                 ["--weight-decay", "5e-4", "--feature-decay", "5e-4", "--batch-size", "64"],
                 ["--weight-decay", "1e-4,2e-4,3e-4", "--feature-decay", "1e-4", "--optimizer",
                  "adam"]):
        add("predict", ["predict", "--n", "500,100,50", "--depth", "3", *conv, "--json"])


def _precision_cases(rng, add) -> None:
    add("precision", ["predict", "--n", "500,100,50", "--depth", "3", "--precision", "30",
                      "--json"])
    add("precision", ["predict", "--n", "500,100,50", "--depth", "3", "--precision", "30"],
        output="text")
    add("precision", ["predict", "--n", "500,100,50", "--depth", "3", "--precision", "50",
                      "--lambda-w", "1e-300", "--lambda-h", "1e300", "--json"])
    add("precision", ["predict", "--n", "500,100,50", "--depth", "3", "--precision", "200",
                      "--lambda-w", "0.0095", "--lambda-h", "0.0095", "--json"])
    for n, depth, bias, criticals in THRESHOLDS[:4]:
        c = criticals[-1]
        for f in (1 - 1e-9, 1.0, 1.2):
            add("precision", ["predict", "--n", ",".join(map(str, n)), "--depth", str(depth),
                              "--bias", bias, "--lambda-w", _fmt(c * f), "--lambda-h",
                              _fmt(c * f), "--precision", "30", "--json"])
    for i in range(32):
        K = int(rng.integers(2, 8))
        depth = int(rng.integers(1, 6))
        n = _sizes(rng, K, ("random", "step")[i % 2])
        lbar = float(10 ** rng.uniform(-4, -1))
        argv = ["predict", "--n", ",".join(map(str, n)), "--depth", str(depth),
                "--bias", ("none", "free")[i % 2 if i < 16 else (i // 2) % 2],
                "--precision", ("30", "50")[int(i % 3 == 0)]]
        if i % 4 == 1:
            lw = [lbar * float(10 ** rng.uniform(-1, 1)) for _ in range(depth)]
            argv += ["--lambda-w", _decays(lw), "--lambda-h", _fmt(lbar)]
        elif i % 4 == 2:
            argv += ["--lambda-w", _fmt(lbar), "--lambda-h", _fmt(lbar),
                     "--widths", ",".join(str(int(rng.integers(1, K + 1))) for _ in range(depth))]
        else:
            argv += ["--lambda-w", _fmt(lbar), "--lambda-h", _fmt(lbar)]
        add("precision", argv + ["--json"])


def _regularized_cases(rng, add) -> None:
    for i in range(44):
        K = int(rng.integers(2, 9))
        depth = int(rng.integers(1, 5))
        n = _sizes(rng, K, ("balanced", "random", "step", "balanced")[i % 4])
        lbar = float(10 ** rng.uniform(-4, -1.5))
        lb = float(10 ** rng.uniform(-5, 0))
        argv = ["predict", "--n", ",".join(map(str, n)), "--depth", str(depth), "--bias",
                "regularized", "--lambda-b", _fmt(lb), "--lambda-w", _fmt(lbar), "--lambda-h",
                _fmt(lbar)]
        add("regularized", argv + ["--json"])
    for lb in ("1e-300", "1e300", "0.0005"):
        add("regularized", ["predict", "--n", "500,100,50", "--depth", "3", "--bias",
                            "regularized", "--lambda-b", lb, "--json"])


def _ce_cases(rng, add) -> None:
    add("ce", ["predict", "--n", "200,100,50,50", "--depth", "3", "--loss", "ce", "--json"],
        slow=True)
    i = 0
    for depth in (1, 2, 3):
        for bias in ("none", "free"):
            for _ in range(4 if depth < 3 else 3):
                K = int(rng.integers(2, 6))
                n = _sizes(rng, K, ("random", "balanced", "step")[i % 3])
                n = [max(1, v // 20) for v in n]
                lbar = float(10 ** rng.uniform(-3.5, -1.5))
                argv = ["predict", "--n", ",".join(map(str, n)), "--depth", str(depth),
                        "--bias", bias, "--loss", "ce", "--lambda-w", _fmt(lbar),
                        "--lambda-h", _fmt(lbar)]
                if i % 4 == 3:
                    argv += ["--seed", str(int(rng.integers(0, 100))), "--restarts", "6"]
                add("ce", argv + ["--json"], slow=i >= 6)
                i += 1
    for depth, n in ((1, "20,10,5"), (2, "10,10,10"), (2, "20,10,5")):
        add("ce", ["predict", "--n", n, "--depth", str(depth), "--loss", "ce", "--bias",
                   "regularized", "--lambda-b", "0.01", "--json"], slow=True)


def _phase_cases(rng, add) -> None:
    add("phase", ["phase", "--profile", "step", "--classes", "4", "--largest", "500",
                  "--depth", "3", "--ratio", "1:1000:30", "--json"])
    add("phase", ["phase", "--profile", "exp", "--classes", "10", "--ratio", "1:1000:20",
                  "--depth", "1,2,3,4", "--bias", "free", "--json"])
    add("phase", ["phase", "--profile", "exp", "--ratio", "100", "--depth", "1:8:8", "--json"])
    add("phase", ["phase", "--profile", "step", "--ratio", "1:100:6", "--format", "csv"],
        output="text")
    add("phase", ["phase", "--profile", "step", "--ratio", "1:100:6"], output="text")
    add("phase", ["phase", "--profile", "scaled", "--n", "500,100,50", "--ratio", "1,10,100",
                  "--depth", "1,3", "--json"])
    for i in range(24):
        prof = ("step", "exp", "scaled")[i % 3]
        argv = ["phase", "--profile", prof]
        if prof == "scaled":
            argv += ["--n", ",".join(map(str, _sizes(rng, int(rng.integers(2, 7)), "random")))]
        else:
            argv += ["--classes", str(int(rng.integers(2, 13))),
                     "--largest", str(int(rng.integers(10, 5000)))]
            if prof == "step" and i % 2:
                argv += ["--minority", "1"]
        hi = float(10 ** rng.uniform(0.5, 3.5))
        argv += ["--ratio", f"1:{hi:.6g}:{int(rng.integers(2, 12))}"]
        depths = sorted({int(d) for d in rng.integers(1, 7, size=int(rng.integers(1, 4)))})
        argv += ["--depth", ",".join(map(str, depths)), "--bias", ("none", "free")[(i // 3) % 2]]
        if i % 4 == 0:
            argv.append("--integer-sizes")
        add("phase", argv + ["--json"])


def _sweep_cases(rng, add) -> None:
    q = ["--quiet", "--format", "jsonl"]
    add("sweep", ["sweep", "--n", "500,100,50", "--depth", "1,2,3,4", "--lambda-w",
                  "1e-4:1e-1:12", *q], output="jsonl")
    add("sweep", ["sweep", "--profile", "exp", "--classes", "10", "--ratio", "1:1000:5",
                  "--decay", "1e-5:1e-1:6", "--depth", "3", *q], output="jsonl")
    add("sweep", ["sweep", "--n", "500,100,50", "--depth", "3", "--decay", "1e-4:1e-1:5",
                  "--quiet"], output="text")  # csv on stdout
    add("sweep", ["sweep", "--n", "500,100,50", "--depth", "3", "--lambda-w",
                  "1e-3/2e-3/5e-3", "--lambda-h", "1e-4:1e-1:7", *q], output="jsonl")
    add("sweep", ["sweep", "--n", "500,100,50", "--depth", "3", "--widths", "2,3,2",
                  "--decay", "1e-4:1e-1:7", "--bias", "none,free", *q], output="jsonl")
    add("sweep", ["sweep", "--profile", "step", "--classes", "4", "--largest", "200",
                  "--ratio", "1:200:5", "--decay", "1e-3,5e-3,2e-2", "--depth", "1:3:3", *q],
        output="jsonl")
    for i in range(20):
        K = int(rng.integers(2, 8))
        n = _sizes(rng, K, ("random", "step", "exp", "balanced")[i % 4])
        argv = ["sweep", "--n", ",".join(map(str, n))]
        argv += ["--depth", ",".join(str(d) for d in sorted({int(x) for x in
                                                             rng.integers(1, 7, size=2)}))]
        lo = float(10 ** rng.uniform(-6, -3))
        hi = float(10 ** rng.uniform(-2, 0))
        argv += ["--decay", f"{lo:.4g}:{hi:.4g}:{int(rng.integers(2, 9))}"]
        argv += ["--bias", ("none", "free", "none,free")[i % 3]]
        add("sweep", argv + q, output="jsonl")
    add("sweep", ["sweep", "--n", "50,20", "--depth", "1,2", "--decay", "1e-3,1e-2",
                  "--bias", "regularized", "--lambda-b", "1e-3,1e-1", "--executor", "serial",
                  *q], output="jsonl")
    add("sweep", ["sweep", "--n", "30,30,30", "--depth", "2", "--decay", "1e-3,1e-2",
                  "--bias", "regularized", "--lambda-b", "1e-2", "--executor", "serial", *q],
        output="jsonl")
    add("sweep", ["sweep", "--n", "20,10", "--depth", "1", "--decay", "1e-3,1e-2", "--loss",
                  "ce", "--executor", "serial", *q], output="jsonl", slow=True)
    add("sweep", ["sweep", "--n", "10,10,5", "--depth", "1,2", "--decay", "1e-3", "--loss",
                  "mse,ce", "--seed", "0,1", "--executor", "serial", *q], output="jsonl",
        slow=True)


def _equation_cases(rng, add) -> None:
    for depth in range(1, 7):
        for bias in ("none", "free"):
            add("equation", ["equation", "--depth", str(depth), "--bias", bias, "--json"],
                slow=depth > 3)
    add("equation", ["equation", "--depth", "3", "--latex"], output="text")
    add("equation", ["equation", "--depth", "3"], output="text")
    add("equation", ["equation", "--depth", "3", "--n", "500,100,50", "--lambda-w", "0.0095",
                     "--lambda-h", "0.0095"], output="text", slow=True)
    add("equation", ["equation", "--depth", "2", "--n", "4,2", "--precision", "60", "--json"],
        slow=True)
    add("equation", ["equation", "--depth", "3", "--n", "500,100,50", "--json"])
    add("equation", ["equation", "--depth", "3", "--bias", "free", "--n", "50,20,10",
                     "--json"])
    add("equation", ["equation", "--depth", "2", "--lambda-w", "1e-3", "--json"])
    add("equation", ["equation", "--depth", "4", "--lambda-h", "1e-2", "--bias", "free",
                     "--json"], slow=True)
    for i in range(10):
        K = int(rng.integers(2, 5))
        depth = int(rng.integers(1, 5))
        n = _sizes(rng, K, ("random", "step")[i % 2])
        lbar = float(10 ** rng.uniform(-4, -1))
        argv = ["equation", "--depth", str(depth), "--n", ",".join(map(str, n)),
                "--bias", ("none", "free")[i % 2], "--lambda-w", f"{lbar:.3g}",
                "--lambda-h", f"{lbar:.3g}"]
        if i % 3 == 0:
            argv += ["--precision", "30"]
        add("equation", argv + ["--json"], slow=True)


def _verify_cases(rng, add) -> None:
    add("verify", ["verify", "--n", "20,10,5", "--depth", "2", "--width", "8", "--steps", "200",
                   "--seed", "3", "--json", "--quiet"])
    add("verify", ["verify", "--n", "20,10,5", "--depth", "2", "--width", "8", "--steps", "300",
                   "--method", "gd", "--seed", "3", "--json", "--quiet"])
    add("verify", ["verify", "--n", "10,10,5", "--depth", "2", "--width", "6", "--steps", "200",
                   "--loss", "ce", "--seed", "1", "--json", "--quiet"])
    add("verify", ["verify", "--n", "20,20,20,20", "--depth", "3", "--width", "8", "--bias",
                   "free", "--restarts", "2", "--steps", "300", "--seed", "5", "--json",
                   "--quiet"], slow=True)
    add("verify", ["verify", "--n", "20,10,5,5", "--depth", "3", "--width", "6", "--method",
                   "momentum", "--steps", "400", "--lr", "0.05", "--seed", "2", "--json",
                   "--quiet"], slow=True)
    add("verify", ["verify", "--n", "10,10,10", "--depth", "2", "--width", "5", "--bias",
                   "regularized", "--lambda-b", "0.01", "--steps", "300", "--seed", "4",
                   "--json", "--quiet"], slow=True)
    add("verify", ["verify", "--n", "20,10,5", "--depth", "3", "--lambda-w", "0.0095",
                   "--lambda-h", "0.0095", "--width", "6", "--steps", "300", "--seed", "0",
                   "--restarts", "3", "--json", "--quiet"], slow=True)
    for i in range(6):
        K = int(rng.integers(2, 5))
        n = [max(1, v // 50) for v in _sizes(rng, K, "random")]
        depth = int(rng.integers(1, 4))
        argv = ["verify", "--n", ",".join(map(str, n)), "--depth", str(depth), "--width",
                str(int(rng.integers(K, 10))), "--bias", ("none", "free")[i % 2],
                "--steps", "200", "--seed", str(int(rng.integers(0, 1000)))]
        if i == 4:
            argv += ["--loss", "ce"]
        add("verify", argv + ["--json", "--quiet"], slow=True)


def _error_cases(add) -> None:
    for argv in (["predict", "--n", "0,1", "--json"],
                 ["predict", "--n", "500,100,50", "--lambda-w", "-1e-3"],
                 ["predict", "--n", "500,100,50", "--lambda-w", "0"],
                 ["predict", "--n", "500,100,50", "--bias", "maybe"],
                 ["predict", "--n", "500,100,50", "--depth", "0"],
                 ["predict", "--n", "500,100,50", "--depth", "3", "--widths", "2,2"],
                 ["predict", "--n", "500,100,50", "--precision", "10"],
                 ["predict", "--n", "500,100,50", "--lambda-b", "0.1"],
                 ["predict", "--n", "500,100,50", "--grams"],
                 ["predict", "--depth", "3"],
                 ["predict", "--n", "500,100,50", "--frobnicate"],
                 ["frobnicate"],
                 ["equation", "--depth", "3", "--bias", "regularized"],
                 ["phase", "--depth", "3"],
                 ["sweep", "--n", "500,100,50", "--decay", "1:2:x"],
                 ["verify", "--n", "5,5", "--lr", "0.1"]):
        add("error", argv, output="text")


def _api_cases(add) -> None:
    for kwargs in ({"n": [500, 100, 50], "depth": 3},
                   {"n": "500,100,50", "depth": 2, "bias": "free"},
                   {"n": [300, 30, 3], "depth": 4, "lambda_w": [1e-3, 2e-4, 5e-3, 1e-4],
                    "lambda_h": 1e-3},
                   {"n": [100, 100, 100, 100], "depth": 3, "bias": "regularized",
                    "lambda_b": 0.03},
                   {"n": [500, 100, 50], "depth": 3, "precision": 40},
                   {"n": [500, 100, 50], "depth": 3, "widths": [3, 1, 3]},
                   {"n": [500, 100, 50], "depth": 3, "weight_decay": 5e-4, "feature_decay": 5e-4},
                   {"n": [500, 100, 50], "depth": 3, "weight_decay": 5e-4},
                   {"n": [20, 10, 5], "depth": 2, "loss": "ce", "seed": 3}):
        add("api", kwargs, output="api", slow=kwargs.get("loss") == "ce")


def cases() -> list[dict]:
    """Every case: id, group, argv (or kwargs for group 'api'), output kind, slow."""
    rng = np.random.default_rng(SEED)
    out: list[dict] = []

    def add(group, argv, *, output="json", slow=False):
        case_id = f"{group}-{sum(c['group'] == group for c in out):03d}"
        key = "kwargs" if group == "api" else "argv"
        out.append({"id": case_id, "group": group, key: argv, "output": output, "slow": slow})

    _mse_predict_cases(rng, add)
    _precision_cases(rng, add)
    _regularized_cases(rng, add)
    _ce_cases(rng, add)
    _phase_cases(rng, add)
    _sweep_cases(rng, add)
    _equation_cases(rng, add)
    _verify_cases(rng, add)
    _error_cases(add)
    _api_cases(add)
    return out


# ---- running one case ------------------------------------------------------------------


def _parse(kind: str, text: str):
    if kind == "json":
        return json.loads(text) if text.strip() else None
    if kind == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return text


def run_case(case: dict) -> dict:
    """Run one case in-process; returns status, parsed stdout and stderr."""
    if case["group"] == "api":
        import ncsolve

        try:
            return {"status": 0, "stdout": ncsolve.predict(**case["kwargs"]).to_dict(),
                    "stderr": ""}
        except ncsolve.ProblemError as error:  # bad input: the message, as status 2
            return {"status": 2, "stdout": None, "stderr": str(error)}
    from ncsolve.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(case["argv"]))
        except SystemExit as exit_:  # argparse usage errors (2), --help/--version (0)
            status = exit_.code if isinstance(exit_.code, int) else 1
    text = out.getvalue()
    return {"status": int(status),
            "stdout": _parse(case["output"], text) if status in (0, 1) else text,
            "stderr": err.getvalue()}


def _certainties(value) -> list[str]:
    """The certainty words of an output: predict's JSON, or each row of a sweep."""
    if isinstance(value, dict):
        return [value["certainty"]] if isinstance(value.get("certainty"), str) else []
    if isinstance(value, list):
        return [w for item in value for w in _certainties(item)]
    return []


def mode_of(case: dict, result: dict) -> str:
    """How a rerun is compared: exact, search (loss not higher, certainty no weaker),
    verify (seeded descent, looser numbers) or error (status and stderr)."""
    if result["status"] == 2:
        return "error"
    if case["group"] == "verify":
        return "verify"
    words = _certainties(result["stdout"])
    argv = list(case.get("argv") or [])
    loss = argv[argv.index("--loss") + 1] if "--loss" in argv[:-1] else ""
    searched = "ce" in loss.split(",") or case.get("kwargs", {}).get("loss") == "ce"
    if searched or "best found" in words:
        return "search"
    return "exact"


# ---- comparing a rerun with the record -------------------------------------------------

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_CTX = decimal.Context(prec=2000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _close_float(a: float, b: float, rtol: float, atol: float = 0.0) -> bool:
    if a == b:
        return True
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(rtol * max(abs(a), abs(b)), atol)


def _close_decimal(a: str, b: str, rtol: float, atol: float) -> bool:
    x, y = _CTX.create_decimal(a), _CTX.create_decimal(b)
    if x == y:
        return True
    diff = _CTX.subtract(x, y).copy_abs()
    scale = max(x.copy_abs(), y.copy_abs())
    return diff <= max(_CTX.multiply(_CTX.create_decimal(repr(rtol)), scale),
                       _CTX.create_decimal(repr(atol)))


def compare_text(old: str, new: str, rtol: float, atol: float = 0.0) -> str | None:
    """None when the texts agree outside numbers and their numbers agree to rtol."""
    if old == new:
        return None
    if NUMBER.split(old) != NUMBER.split(new):
        return f"text differs: {old[:200]!r} != {new[:200]!r}"
    a, b = NUMBER.findall(old), NUMBER.findall(new)
    for x, y in zip(a, b):
        if not _close_decimal(x, y, rtol, atol):
            return f"number {x} != {y} in text {old[:120]!r}"
    return None


def compare_values(old, new, rtol: float, atol: float = 0.0, path: str = "$",
                   ignore: frozenset = frozenset()) -> str | None:
    """The first difference between two JSON values, or None."""
    if type(old) is not type(new):
        return f"{path}: type {type(old).__name__} != {type(new).__name__} ({old!r:.80} vs {new!r:.80})"
    if isinstance(old, dict):
        if set(old) != set(new):
            return f"{path}: keys differ: {sorted(set(old) ^ set(new))}"
        for key in old:
            if key in ignore:
                continue
            why = compare_values(old[key], new[key], rtol, atol, f"{path}.{key}", ignore)
            if why:
                return why
        return None
    if isinstance(old, list):
        if len(old) != len(new):
            return f"{path}: length {len(old)} != {len(new)}"
        for i, (a, b) in enumerate(zip(old, new)):
            why = compare_values(a, b, rtol, atol, f"{path}[{i}]", ignore)
            if why:
                return why
        return None
    if isinstance(old, float):
        return None if _close_float(old, new, rtol, atol) else f"{path}: {old!r} != {new!r}"
    if isinstance(old, str):
        why = compare_text(old, new, rtol, atol)
        return None if why is None else f"{path}: {why}"
    return None if old == new else f"{path}: {old!r} != {new!r}"  # int, bool, None


def _rank(word) -> int:
    return CERTAINTY.index(word) if word in CERTAINTY else len(CERTAINTY)


def _no_worse(old: dict, new: dict, path: str) -> str | None:
    """A searched answer: loss not higher (1e-12 relative), certainty no weaker."""
    a, b = old.get("loss"), new.get("loss")
    if not isinstance(b, (int, float)) or b > a + RTOL * abs(a):
        return f"{path}.loss: {b!r} is higher than the recorded {a!r}"
    if _rank(new.get("certainty")) > _rank(old.get("certainty")):
        return f"{path}.certainty: {new.get('certainty')!r} weaker than {old.get('certainty')!r}"
    return None


def compare(case: dict, record: dict, new: dict) -> str | None:
    """The first way a rerun differs from its record, or None."""
    if new["status"] != record["status"]:
        return f"exit status {new['status']} != recorded {record['status']}: {new['stderr']!r}"
    mode = record["mode"]
    if mode == "error":
        return None if new["stderr"] == record["stderr"] else (
            f"stderr {new['stderr']!r} != recorded {record['stderr']!r}")
    old_out, new_out = record["stdout"], new["stdout"]
    if mode == "exact":
        return compare_values(old_out, new_out, RTOL)
    if mode == "verify":
        return compare_values(old_out, new_out, VERIFY_RTOL, VERIFY_ATOL,
                              ignore=frozenset(VOLATILE_KEYS))
    # search
    if isinstance(old_out, dict):  # predict --json / api
        if set(old_out) != set(new_out):
            return f"$: keys differ: {sorted(set(old_out) ^ set(new_out))}"
        why = compare_values(old_out.get("problem"), new_out.get("problem"), RTOL,
                             path="$.problem")
        return why or _no_worse(old_out, new_out, "$")
    if len(old_out) != len(new_out):  # sweep rows
        return f"$: {len(old_out)} rows != {len(new_out)}"
    for i, (a, b) in enumerate(zip(old_out, new_out)):
        if set(a) != set(b):
            return f"$[{i}]: keys differ: {sorted(set(a) ^ set(b))}"
        keys = list(a)
        fixed = {k: a[k] for k in keys[:keys.index("n") + 1]}
        why = compare_values(fixed, {k: b[k] for k in fixed}, RTOL, path=f"$[{i}]")
        if a.get("certainty") == "exact":  # an MSE row among CE rows: closed form
            why = why or compare_values(a, b, RTOL, path=f"$[{i}]")
        why = why or _no_worse(a, b, f"$[{i}]")
        if why:
            return why
    return None


# ---- recording -------------------------------------------------------------------------


def load() -> dict:
    with lzma.open(DATA, "rt", encoding="utf-8") as f:
        return json.load(f)


def record() -> int:
    import ncsolve

    root = Path(__file__).resolve().parents[1]
    where = Path(ncsolve.__file__).resolve()
    print(f"ncsolve from {where}")
    if root not in where.parents:
        print(f"refusing: ncsolve is not imported from this checkout ({root}); "
              f"run with PYTHONPATH={root}", file=sys.stderr)
        return 1
    records, times, counts = [], {}, {}
    for case in cases():
        started = time.process_time()
        result = run_case(case)
        spent = time.process_time() - started
        key = case["group"] + (" (slow)" if case["slow"] else "")
        times[key] = times.get(key, 0.0) + spent
        counts[key] = counts.get(key, 0) + 1
        records.append({**case, **result, "mode": mode_of(case, result),
                        "seconds": round(spent, 4)})
    DATA.parent.mkdir(parents=True, exist_ok=True)
    payload = {"seed": SEED, "ncsolve": ncsolve.__version__, "cases": records}
    with lzma.open(DATA, "wt", encoding="utf-8", preset=9) as f:
        json.dump(payload, f, separators=(",", ":"), allow_nan=True)
    for key in sorted(times):
        print(f"{key:22s} {counts[key]:4d} cases {times[key]:8.2f} s CPU")
    modes = {}
    for r in records:
        modes[r["mode"]] = modes.get(r["mode"], 0) + 1
    print(f"total {len(records)} cases, {sum(times.values()):.2f} s CPU; modes {modes}; "
          f"{DATA.stat().st_size / 1e6:.2f} MB written to {DATA}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(record())
