"""Golden outputs: every recorded command line gives the same answer as when recorded.

tests/data/golden.json.xz holds the outputs of the cases of tests/golden_cases.py,
recorded through the public command line (``ncsolve.cli.main``) and a few
``ncsolve.predict(...).to_dict()`` calls, before the package was restructured.
Each case reruns the same call and compares (tests/golden_cases.py, ``compare``):

* exact (MSE closed forms of every bias mode, proved regularized answers,
  --precision, phase, sweep, equation): the whole JSON structure and texts equal,
  every number within 1e-12 relative (numbers inside strings are compared as
  decimals, so 30- or 200-digit strings are held to 1e-12 too, at any exponent);
* search (cross-entropy, and regularized answers that are "best found"): the
  problem and the set of fields equal, the loss not higher than recorded (1e-12
  relative) and the certainty no weaker (exact > proved > best found);
* verify (seeded gradient methods): the structure and exit status equal, numbers
  within 1e-9 relative (or 1e-13 absolute, for residual-level numbers such as
  Gram errors of 1e-10 and gradient norms of 1e-11), wall-clock ``elapsed`` ignored.
  Given a seed the descent is bitwise repeatable on one machine (two reruns
  agreed exactly apart from ``elapsed``), so this leaves a wide margin for
  reordered but equivalent arithmetic while still catching a changed descent;
* bad input: exit status 2 and the stderr line exactly.

The default run checks every bad-input case and one in eight of the others, spread
over every group (the order of the cases interleaves the groups' variants); the
rest, and the slow ones (most cross-entropy, verify and numeric equation cases),
run with ``pytest -m slow``. Rerecord (only for an intended change of behaviour) with
``PYTHONPATH=. python tests/golden_cases.py --record``.
"""

from __future__ import annotations

import pytest

import golden_cases

RECORD = golden_cases.load()
CASES = RECORD["cases"]


def test_record_matches_the_generator():
    """The recorded cases are the generator's cases (same ids, command lines, order)."""
    recorded = [(c["id"], c.get("argv"), c.get("kwargs"), c["output"], c["slow"])
                for c in CASES]
    generated = [(c["id"], c.get("argv"), c.get("kwargs"), c["output"], c["slow"])
                 for c in golden_cases.cases()]
    assert recorded == generated


DEFAULT_SHARE = 8  # the default run checks one case in this many of each group; -m slow all


def _param(case, index):
    sampled = index % DEFAULT_SHARE == 0 or case["mode"] == "error"
    marks = [pytest.mark.slow] if case["slow"] or not sampled else []
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", [_param(c, i) for i, c in enumerate(CASES)])
def test_golden(case):
    new = golden_cases.run_case(case)
    why = golden_cases.compare(case, case, new)
    call = " ".join(case["argv"]) if "argv" in case else f"predict(**{case['kwargs']!r})"
    assert why is None, f"{case['id']} ({case['mode']}): {call}\n{why}"


@pytest.mark.parametrize("old, new, equal", [
    (1.0, 1.0 + 1e-13, True), (1.0, 1.0 + 1e-11, False), (0.0, 0.0, True), (0.0, 1e-300, False),
    ("z = 0.10526735709768156 (x2)", "z = 0.10526735709768157 (x2)", True),
    ("z = 0.105267357097681563599", "z = 0.105267357098681563599", False),
    ("1.00000000000000000000e-400", "1.00000000000000000001e-400", True),
    ("1.0e-400", "1.1e-400", False), ("loss 3", "cost 3", False),
    ({"a": [1, 2.0]}, {"a": [1, 2.0]}, True), ({"a": [1, 2.0]}, {"a": [1.0, 2.0]}, False),
    ({"a": 1}, {"a": 1, "b": 2}, False), ([True], [1], False),
])
def test_comparison_itself(old, new, equal):
    assert (golden_cases.compare_values(old, new, golden_cases.RTOL) is None) is equal


def test_search_comparison():
    old = {"problem": {"n": [2, 1]}, "loss": 0.5, "certainty": "proved"}
    case = {"status": 0, "mode": "search", "stdout": old}
    better = {**old, "loss": 0.4, "certainty": "exact"}
    assert golden_cases.compare(case, case, {"status": 0, "stdout": better}) is None
    worse = {**old, "loss": 0.5 * (1 + 1e-10)}
    assert golden_cases.compare(case, case, {"status": 0, "stdout": worse}) is not None
    weaker = {**old, "certainty": "best found"}
    assert golden_cases.compare(case, case, {"status": 0, "stdout": weaker}) is not None
