"""One vocabulary on the command line: a flag shared by several commands reads the same
in each ``--help`` (docs/cli.md), but where its meaning really differs."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import pytest

from ncsolve.cli import SUBCOMMANDS, build_parser, main

# Where a shared flag means something else, written out by hand (not read from the table).
MEANING_DIFFERS = {
    "--depth": {"measure"},  # the head layers of a file
    "--bias": {"equation", "phase"},  # none|free only; phase draws curves per group
    "--lambda-w": {"sweep"},  # one value for every layer, or a fixed vector X1/X2/...
    "--seed": {"verify"},  # seed of descent, not of the cross-entropy search
    "--restarts": {"verify"},  # descent runs
    "--precision": {"predict"},  # opts into the high-precision route
    "--json": {"phase"},  # an alias of --format json
    "--quiet": {"sweep"},  # also silences the summary line
    "--plot": set(SUBCOMMANDS),  # each command draws its own figure
    "--format": set(SUBCOMMANDS),  # phase's text|json|csv, sweep's table formats
    "--init-scale": {"verify"},  # the standard deviation of a random start
    "--lr": {"verify"},  # the step size of descent runs (dynamics: time per step)
    "--steps": {"verify"},  # descent steps (dynamics: where to read the flow)
}


def _options(command: str) -> dict[str, argparse.Action]:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.option_strings[-1]: a for a in sub.choices[command]._actions if a.option_strings}


def _split(text: str) -> tuple[str, str]:
    """The help and its closing note in parentheses (the default, where it applies)."""
    depth = 0
    for i in range(len(text) - 1, -1, -1) if text.endswith(")") else ():
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            return text[:i].rstrip(), text[i + 1:-1]
    return text, ""


def _body(text: str) -> str:
    return _split(text)[0]


def _note(text: str) -> str:
    return _split(text)[1]


@pytest.fixture(scope="module")
def helps() -> dict[str, dict[str, str]]:
    """flag -> command -> help text."""
    table: dict[str, dict[str, str]] = defaultdict(dict)
    for command in SUBCOMMANDS:
        for flag, action in _options(command).items():
            table[flag][command] = action.help
    return table


def test_a_shared_flag_reads_the_same_in_every_command(helps):
    shared = {flag: by for flag, by in helps.items() if len(by) > 1 and flag != "--help"}
    assert {"--n", "--depth", "--lambda-w", "--lambda-h", "--lambda-b", "--bias", "--loss",
            "--widths", "--seed", "--restarts", "--json", "--plot"} <= set(shared)
    for flag, by in shared.items():
        bodies = {_body(text) for command, text in by.items()
                  if command not in MEANING_DIFFERS.get(flag, set())}
        assert len(bodies) <= 1, (flag, bodies)


def test_every_figure_names_its_formats_alike(helps):
    notes = {_note(text) for text in helps["--plot"].values()}
    assert len(helps["--plot"]) == 5 and len(notes) == 1
    assert ".png (200 dpi), .pdf or .svg" in notes.pop()


@pytest.mark.parametrize("command,flag,default", [
    ("predict", "--lambda-h", "0.0005"), ("verify", "--lambda-w", "0.0005"),
    ("sweep", "--lambda-h", "0.0005"), ("equation", "--precision", "20"),
    ("phase", "--depth", "3"), ("verify", "--restarts", "1"),
])
def test_the_help_names_the_default(command, flag, default, helps):
    assert f"default {default}" in helps[flag][command]


def test_the_decay_a_help_names_is_the_default_of_verify(capsys):
    """verify without decays trains the same model as with the default written out."""
    argv = ["verify", "--n", "3,2", "--depth", "2", "--width", "3", "--steps", "300", "--json"]
    assert main(argv) in (0, 1)
    implicit = _timeless(json.loads(capsys.readouterr().out))
    assert main(argv + ["--lambda-w", "0.0005", "--lambda-h", "0.0005"]) in (0, 1)
    assert _timeless(json.loads(capsys.readouterr().out)) == implicit


def _timeless(value):
    """A report without its wall-clock times."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if "elapsed" not in k}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value
