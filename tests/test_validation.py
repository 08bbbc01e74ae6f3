"""Validation as data: the one message formatter, the constraints, and a scan of the
package that refuses any other place writing the "param (--flag): " prefix."""

from __future__ import annotations

import ast
import math
import pathlib
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import ncsolve
from ncsolve.core.descent import descend
from ncsolve.inputs import conventions
from ncsolve.inputs.problem import Problem
from ncsolve.inputs.profiles import profile
from ncsolve.inputs.validation import (Interval, Options, ProblemError, WholeNumber, check,
                                       flag_of, invalid, show)

PACKAGE = pathlib.Path(ncsolve.__file__).parent
FORMATTER = PACKAGE / "inputs" / "validation.py"


# ---- the formatter ----------------------------------------------------------------------

def test_one_parameter_is_named_with_its_flag():
    error = invalid("lambda_w", "must be positive")
    assert isinstance(error, ProblemError) and isinstance(error, ValueError)
    assert str(error) == "lambda_w (--lambda-w): must be positive"
    assert str(invalid("n", "give the sizes")) == "n (--n): give the sizes"
    assert flag_of("feature_decay_scope") == "--feature-decay-scope"


def test_parameters_refused_together_are_each_named():
    error = invalid(("lambda_w", "lambda_h"), "too far apart")
    assert str(error) == "lambda_w (--lambda-w), lambda_h (--lambda-h): too far apart"


def test_a_flag_that_is_not_the_name_is_given_as_written():
    assert str(invalid("grams", "needs --json", "--no-grams")) == "grams (--no-grams): needs --json"
    assert str(invalid(("a_b", "c"), "x", ("--no-a", None))) == "a_b (--no-a), c (--c): x"


def test_a_python_only_parameter_has_no_flag():
    assert str(invalid("tracker", "nothing recorded", flag="")) == "tracker: nothing recorded"


def test_one_flag_per_parameter_or_one_for_all():
    with pytest.raises(ValueError):
        invalid(("a", "b", "c"), "x", ("--a", "--b"))


def test_the_package_error_is_the_formatters():
    assert ncsolve.ProblemError is ProblemError
    from ncsolve.inputs.problem import ProblemError as from_problem

    assert from_problem is ProblemError


def test_values_are_shown_as_written_and_short():
    assert show(np.float64(1e300)) == "1e+300"
    assert show(np.int64(7)) == "7"
    assert show(np.array([1, 2])) == "[1, 2]"
    assert show("abc") == "'abc'"
    long = show(list(range(100)))
    assert len(long) == 40 and long.endswith(" ...")


# ---- Interval -----------------------------------------------------------------------------

def refusal(value, constraint, param="x", **kwargs) -> str:
    with pytest.raises(ProblemError) as caught:
        check(value, constraint, param, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize("closed, low_in, high_in", [
    ("both", True, True), ("left", True, False), ("right", False, True),
    ("neither", False, False)])
def test_interval_bounds_open_and_closed(closed, low_in, high_in):
    interval = Interval(-1.5, 2.0, closed=closed)
    for value, inside in ((-1.5, low_in), (2.0, high_in), (np.nextafter(-1.5, 0), True),
                          (np.nextafter(2.0, 0), True), (np.nextafter(-1.5, -9), False),
                          (np.nextafter(2.0, 9), False), (0.0, True)):
        if inside:
            assert check(value, interval, "x") == value
        else:
            refusal(value, interval)


@pytest.mark.parametrize("interval, words", [
    (Interval(0, 1), "a number from 0 to 1"),
    (Interval(0, 1, closed="left"), "a number in [0, 1)"),
    (Interval(0, 1, closed="right"), "a number in (0, 1]"),
    (Interval(0, 1, closed="neither"), "a number in (0, 1)"),
    (Interval(0, None, closed="neither"), "a positive finite number"),
    (Interval(0, None), "a finite number >= 0"),
    (Interval(2.5, None, closed="right"), "a finite number > 2.5"),
    (Interval(None, 3), "a finite number <= 3"),
    (Interval(None, 3, closed="left"), "a finite number < 3"),
    (Interval(), "a finite number"),
    (Interval(1, 1e15), "a number from 1 to 1e+15"),
])
def test_interval_says_what_it_accepts(interval, words):
    assert refusal(math.nan, interval, "lr") == f"lr (--lr): must be {words}, got nan"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan"),
                                   np.float64("inf"), "nan", "inf", "-inf", "1e999",
                                   10**400])
def test_interval_refuses_non_finite_numbers_even_without_bounds(value):
    refusal(value, Interval())


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1j, np.complex128(1),
                                   b"1", None, [1.0], "one", "", object()])
def test_interval_refuses_what_is_not_one_real_number(value):
    refusal(value, Interval())


@pytest.mark.parametrize("value, number", [
    (0.25, 0.25), (3, 3.0), ("5e-4", 5e-4), (" 2.5 ", 2.5), (np.float32(0.5), 0.5),
    (np.int64(4), 4.0), (np.array(0.75), 0.75), (Fraction(1, 4), 0.25),
    (Decimal("0.125"), 0.125)])
def test_interval_reads_numbers_given_in_any_form(value, number):
    out = check(value, Interval(), "x")
    assert out == number and type(out) is float


def test_interval_rejects_an_unknown_closedness():
    with pytest.raises(ValueError):
        Interval(0, 1, closed="open")


# ---- WholeNumber --------------------------------------------------------------------------

@pytest.mark.parametrize("value, number", [
    (3, 3), ("3", 3), (" 3.0", 3), ("1e3", 1000), ("1_000", 1000), (np.int64(5), 5),
    (np.float64(2.0), 2), (np.array(6), 6), (2.0**60, 2**60),
    ("9007199254740993", 9007199254740993)])
def test_whole_number_reads_integers_in_any_spelling(value, number):
    out = check(value, WholeNumber(1, None), "depth")
    assert out == number and type(out) is int


@pytest.mark.parametrize("value", [2.5, "2.5", "x", "", True, np.bool_(False), math.nan,
                                   math.inf, "inf", None, 1j, "9007199254740993.5"])
def test_whole_number_refuses_what_is_not_an_integer(value):
    assert refusal(value, WholeNumber(), "depth").startswith(
        "depth (--depth): must be a positive integer, got ")


@pytest.mark.parametrize("constraint, words", [
    (WholeNumber(), "a positive integer"), (WholeNumber(0), "a non-negative integer"),
    (WholeNumber(2), "an integer >= 2"), (WholeNumber(1, 10), "an integer from 1 to 10")])
def test_whole_number_says_its_range(constraint, words):
    assert refusal(-5, constraint, "k") == f"k (--k): must be {words}, got -5"


def test_whole_number_bounds_are_included():
    rule = WholeNumber(2, 4)
    assert [check(v, rule, "k") for v in (2, 3, 4)] == [2, 3, 4]
    assert refusal(1, rule, "k").endswith("got 1") and refusal(5, rule, "k").endswith("got 5")


def test_a_huge_integer_is_quoted_as_given():
    assert refusal("1e40", WholeNumber(1, 10), "k").endswith("got '1e40'")
    assert refusal(np.int64(-3), WholeNumber(), "k").endswith("got -3")


# ---- Options and the message around a constraint -------------------------------------------

def test_options_ignore_case_and_spaces_unless_told():
    rule = Options(("none", "free"))
    assert check(" FrEe ", rule, "bias") == "free"
    assert refusal("maybe", rule, "bias") == "bias (--bias): must be one of none, free; got 'maybe'"
    assert refusal(None, rule, "bias").endswith("got None")
    assert refusal(1, rule, "bias").endswith("got 1")
    exact = Options(("rank",), ignore_case=False)
    assert check("rank", exact, "plot_value") == "rank"
    refusal("Rank", exact, "plot_value")


def test_subject_hint_and_flag_of_a_refusal():
    message = refusal(0, WholeNumber(), "n", what="every class size", hint="samples")
    assert message == "n (--n): every class size must be a positive integer (samples), got 0"
    assert refusal(-1, Interval(0, None), "x", flag="--why") == (
        "x (--why): must be a finite number >= 0, got -1")


# ---- the messages users see, through the public functions -----------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: Problem.build([0, 1]),
     "n (--n): every class size must be an integer from 1 to 9007199254740992, got 0"),
    (lambda: Problem.build([5, 3], lambda_w=-1e-3),
     "lambda_w (--lambda-w): must be a positive finite number (float64: at most 1.8e308), "
     "got -0.001"),
    (lambda: Problem.build([5, 3], bias="maybe"),
     "bias (--bias): must be one of none, free, regularized; got 'maybe'"),
    (lambda: Problem.build([5, 3], depth=0),
     "depth (--depth): the depth (number of layers) must be an integer from 1 to 1000, got 0"),
    (lambda: profile("zipf"), "profile (--profile): must be one of step, exp, scaled; got 'zipf'"),
    (lambda: ncsolve.predict(n=profile("exp"), ratio=0.5),
     "ratio (--ratio): must be a number from 1 to 1e+15 (largest over smallest class size; "
     "1 is balanced), got 0.5"),
    (lambda: descend(Problem.build([3, 2]), (2,), method="gd", lr=math.inf),
     "lr (--lr): must be a positive finite number, got inf"),
    (lambda: descend(Problem.build([3, 2]), (2,), method="momentum", momentum=1.0),
     "momentum (--momentum): must be a number in [0, 1), got 1.0"),
    (lambda: descend(Problem.build([3, 2]), (2,), method="gd", steps=math.nan),
     "steps (--steps): must be a non-negative integer, got nan"),
    (lambda: descend(Problem.build([3, 2]), (2,), restarts="x"),
     "restarts (--restarts): must be a positive integer, got 'x'"),
    (lambda: conventions.check_names("hinge", "mean"),
     "loss (--loss): must be one of mse, ce; got 'hinge'"),
    (lambda: conventions.training_decays(num_classes=3, num_samples=30, depth=1,
                                         weight_decay=True),
     "weight_decay (--weight-decay): must be a finite number >= 0, got True"),
])
def test_public_functions_refuse_with_the_formatted_message(call, message):
    with pytest.raises(ProblemError) as caught:
        call()
    assert str(caught.value) == message


# ---- nothing else writes the prefix --------------------------------------------------------

PREFIX = re.compile(r"^(?:\{\}|[A-Za-z_]\w*)(?:, \S+ \(\S+\))* \((?:--|\{\}\):)")


def _template(node: ast.JoinedStr) -> str:
    """The text of an f-string with every replacement field written as {}."""
    return "".join(part.value if isinstance(part, ast.Constant) else "{}"
                   for part in node.values)


def hand_formatted(source: str) -> list[int]:
    """Lines of ``source`` holding a string that starts like "name (--flag)" or
    "{name} ({flag}):", the prefix :func:`ncsolve.inputs.validation.invalid` writes."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            text = _template(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if PREFIX.match(text):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("copy", [
    'def _fail(param, message):\n'
    '    return ProblemError(f"{param} (--{param.replace(\'_\', \'-\')}): {message}")\n',
    'def _fail(param, message):\n'
    '    flag = "--" + param.replace("_", "-")\n'
    '    return ProblemError(f"{param} ({flag}): {message}")\n',
    'raise ProblemError(f"lr (--lr): must be a positive number, got {lr!r}")\n',
    'raise ProblemError("lambda_w (--lambda-w), lambda_h (--lambda-h): too far apart")\n',
    'raise ProblemError(f"{name} (--{name}): only used by the search")\n',
    'raise ProblemError(f"grams ({flag}): chooses the Gram matrices")\n',
    'raise ProblemError("format (--format): must be one of "\n                   "csv, json")\n',
])
def test_the_scan_finds_a_reintroduced_copy(copy):
    assert hand_formatted(copy)


@pytest.mark.parametrize("fine", [
    'raise invalid("lr", f"must be positive, got {lr!r}")\n',
    'raise invalid(name, "only used by the cross-entropy search (--loss ce)")\n',
    'help = "regularized when its decay is known (--lambda-b, or --weight-decay)"\n',
    'raise ProblemError(f"{name}: no such file")\n',
])
def test_the_scan_leaves_other_strings_alone(fine):
    assert not hand_formatted(fine)


def test_no_module_but_the_formatter_writes_the_prefix():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert FORMATTER in modules and len(modules) > 50
    found = [f"{path.relative_to(PACKAGE)}:{line}" for path in modules if path != FORMATTER
             for line in hand_formatted(path.read_text(encoding="utf-8"))]
    assert found == [], "use ncsolve.inputs.validation.invalid or check: " + ", ".join(found)
