"""Hypothesis profiles: the default run is derandomized and short; ``long`` is random
and unbounded, for a run of hours with a wall-clock limit (docs/testing notes in
docs/cli.md):

    timeout 1800 python -m pytest tests/test_fuzz.py tests/test_fuzz_files.py \
        -p no:cacheprovider -m "slow or not slow" --hypothesis-profile=long -x

With NCSOLVE_FUZZ_LOG=PATH every fuzz example appends one line to PATH, so a run
stopped by its time limit still says how many examples it tried. With
NCSOLVE_FUZZ_SECONDS=S each fuzz test stops after S seconds of examples (reported
as skipped: "time budget reached"), so one run under one time limit reaches every
test instead of spending it all on the first.
"""

from __future__ import annotations

import os
import time

import pytest

from hypothesis import HealthCheck, Phase, settings

LONG_EXAMPLES = 10**7  # more than any run reaches: the time limit ends a long run

settings.register_profile(
    "long", max_examples=LONG_EXAMPLES, deadline=None, derandomize=False, database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck))


def long_profile() -> bool:
    """Whether ``--hypothesis-profile=long`` is loaded."""
    return settings.default.max_examples == LONG_EXAMPLES


def count_example(kind: str) -> None:
    """One line in NCSOLVE_FUZZ_LOG per example tried (when set)."""
    path = os.environ.get("NCSOLVE_FUZZ_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(kind + "\n")
    _stop_at_budget()


_STARTED: dict[str, float] = {}


def _stop_at_budget() -> None:
    """Skip the rest of this test once NCSOLVE_FUZZ_SECONDS have passed (long runs)."""
    budget = os.environ.get("NCSOLVE_FUZZ_SECONDS")
    if not budget or not long_profile():
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    started = _STARTED.setdefault(test, time.monotonic())
    if time.monotonic() - started > float(budget):
        pytest.skip(f"time budget of {budget} s reached")


@pytest.fixture
def torch_one_thread():
    """PyTorch on one thread for the test (tiny models: threads only add overhead)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
