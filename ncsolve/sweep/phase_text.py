"""Text reports of phase maps (what ``ncsolve phase`` prints without --json)."""

from __future__ import annotations

import numpy as np

from ..results.table import fmt as _g

TEXT_RATIOS = 9  # ratios shown in the text table (the JSON and CSV have all)


def phase_text(pm) -> str:
    """Header, the curves at a few ratios per depth, and the notes."""
    samples = f"{pm.ratios.size} sample" + ("s" if pm.ratios.size > 1 else "")
    nonnegative = pm.features == "nonnegative"
    kind = f"{pm.loss.upper()} phase map" + (", features nonnegative" if nonnegative else "")
    lines = [
        f"{kind}, bias {pm.bias}: {pm.profile.describe()}",
        f"ratios {_g(pm.ratios.min())} .. {_g(pm.ratios.max())} ({samples}), "
        f"depth {', '.join(map(str, pm.depths))}; decay = lbar (geometric mean of all "
        f"decays); certainty: {pm.certainty}",
        "a curve's group is zero at the global minimum above critical_decay; its nonzero "
        "stationary point exists up to existence_decay (between them: the window)",
    ]
    shown = np.unique(np.linspace(0, pm.ratios.size - 1, min(TEXT_RATIOS, pm.ratios.size))
                      .round().astype(int))
    names = [c.name for c in pm.curves]
    width = max(len("curve"), *(len(n) for n in names))
    for d, depth in enumerate(pm.depths):
        lines += ["", f"depth {depth}:",
                  f"{'ratio':>10}  {'curve':<{width}}  {'sigma':>10}  {'critical_decay':>14}  "
                  f"{'existence_decay':>15}"]
        for p in shown:
            for i, c in enumerate(pm.curves):
                ratio = _g(pm.ratios[p]) if i == 0 else ""
                lines.append(f"{ratio:>10}  {c.name:<{width}}  {_g(c.sigma[p]):>10}  "
                             f"{_g(c.critical_decay[d, p]):>14}  "
                             f"{_g(c.existence_decay[d, p]):>15}")
    if pm.notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in pm.notes]
    return "\n".join(lines)
