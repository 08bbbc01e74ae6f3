"""Text report of a cross-entropy answer; the renderer lives in the package.

Kept so that ``from ncsolve.cli.ce_report import format_ce`` keeps working: the
CLI only prints what :func:`ncsolve.solvers.crossentropy.text.format_ce` renders.
"""

from ..solvers.crossentropy.text import format_ce

__all__ = ["format_ce"]
