"""Plain text of ``ncsolve predict --precision DIGITS``.

The renderer lives in the package (:mod:`ncsolve.solvers.precise.text`) so that
``str()`` of a precise result needs no command-line code; this module only
re-exports it for the CLI.
"""

from __future__ import annotations

from ..solvers.precise.text import TABLE_DIGITS, format_precise

__all__ = ["TABLE_DIGITS", "format_precise"]
