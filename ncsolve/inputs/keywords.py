"""Unknown keyword arguments named, with the nearest known one (driven by the declared
parameters, so a new keyword is known as soon as a function declares it)."""

from __future__ import annotations

import difflib
import inspect
from typing import Callable, Iterable

from .validation import ProblemError


def declared(*functions: Callable, leave_out: Iterable[str] = ()) -> set[str]:
    """The named parameters of ``functions`` (not ``*args``/``**kwargs``), less ``leave_out``."""
    names = set()
    for function in functions:
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                names.add(parameter.name)
    return names - set(leave_out)


def check_keywords(given: Iterable[str], known: set[str], where: str) -> None:
    """Refuse a keyword of ``given`` that is not in ``known``, naming the nearest known one."""
    for name in given:
        if name in known:
            continue
        near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}=?" if near else \
            f"known keywords: {', '.join(sorted(known))}"
        raise ProblemError(f"{name}: {where}() got an unknown keyword {name!r}; {hint}")
