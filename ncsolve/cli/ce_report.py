"""Text report of a cross-entropy answer (``ncsolve predict --loss ce``)."""

from __future__ import annotations

import math

__all__ = ["format_ce"]

TABLE_ROWS = 12  # classes shown at each end of a long table
CANDIDATE_ROWS = 10  # candidates shown


def _g(x: float, digits: int = 10) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def _table(header: list[str], rows: list[list[str] | None]) -> list[str]:
    shown = [r for r in rows if r is not None]
    widths = [max([len(h)] + [len(r[j]) for r in shown]) for j, h in enumerate(header)]
    lines = ["  " + "  ".join(h.rjust(w) for h, w in zip(header, widths))]
    for row in rows:
        if row is None:
            lines.append("  ...")
        else:
            lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return lines


def _class_rows(sol) -> list[list[str] | None]:
    K = sol.problem.K
    index = list(range(K))
    if K > 2 * TABLE_ROWS + 1:
        index = [*range(TABLE_ROWS), None, *range(K - TABLE_ROWS, K)]
    shared = sol.shared_logits()
    rows: list[list[str] | None] = []
    for k in index:
        if k is None:
            rows.append(None)
            continue
        rows.append([
            str(k), str(int(sol.problem.n[k])), _g(sol.feature_norm[k], 8),
            _g(sol.classifier_norm[k], 8), _g(sol.class_loss[k], 8), _g(sol.margin[k], 8),
            "yes" if sol.collapsed[k] else "no",
            ",".join(str(j) for j in shared[k]) or "-",
        ])
    return rows


def _candidate_lines(sol) -> list[str]:
    rows = []
    for cand in sol.candidates[:CANDIDATE_ROWS]:
        mark = "*" if abs(cand.objective - sol.objective) <= 1e-7 * max(1.0, sol.objective) else ""
        rows.append([cand.name + mark, str(cand.rank), _g(cand.objective, 12),
                     _g(cand.scale, 8) if cand.scale > 0 else "-"])
    lines = _table(["candidate", "rank", "objective", "scale"], rows)
    more = len(sol.candidates) - CANDIDATE_ROWS
    if more > 0:
        lines.append(f"  ... {more} more (use --json for all)")
    return lines


def _search_line(sol) -> str:
    runs = len(sol.runs)
    if not runs:
        return "search: none (one class)"
    ranks = sorted({r.rank for r in sol.runs})
    seeded = sum(r.start.startswith("candidate") for r in sol.runs)
    hops = sum(r.start.startswith("hop") for r in sol.runs)
    return (f"search: {runs} local minimizations ({seeded} from candidates, {sol.restarts} "
            f"random starts, {hops} basin hops); {sol.hits} reached the reported "
            f"objective; ranks reached: {', '.join(map(str, ranks))}")


def _certainty_lines(sol) -> list[str]:
    lines = [f"certainty: {sol.certainty} -- {sol.certainty_reason}"]
    if sol.runner_up is not None:
        name = getattr(sol.runner_up, "name", None) or sol.runner_up.start
        lines.append(f"runner-up: {name} (rank {sol.runner_up.rank}), objective "
                     f"{_g(sol.runner_up.objective, 12)}, gap {_g(sol.gap, 6)}")
    return lines


def _origin_objective(sol) -> float:
    return next(c.objective for c in sol.candidates if c.rank == 0)


def format_ce(sol) -> str:
    """Readable report: objective, certainty, geometry, per-class table, candidates.

    Parameters
    ----------
    sol : CESolution
        The answer of :func:`ncsolve.crossentropy.solve`.

    Returns
    -------
    str
        Multi-line text without a trailing newline.
    """
    p = sol.problem
    decays = ", ".join(f"{v:g}" for v in p.lambda_w)
    lines = [
        f"cross-entropy, K={p.K} classes, N={p.N}, depth={p.depth}, bias={p.bias}, "
        f"lambda_W=({decays}), lambda_H={p.lambda_h:g}"
        + (f", widths={','.join(map(str, p.widths))}" if p.widths else ""),
        (f"objective (loss): {sol.objective:.15g}   (cross-entropy {sol.ce_loss:.10g} + "
         f"penalty {sol.penalty:.10g})"),
        f"geometry: {sol.geometry}; logit rank {sol.logit_rank} (cap {p.rank_cap})",
        *_certainty_lines(sol),
        _search_line(sol),
        (f"simplex ETF: rho = {_g(sol.etf_scale, 10)}, objective {_g(sol.etf_objective, 12)};"
         f" the origin beats it for lbar > {_g(sol.origin_decay_etf, 6)}"),
        (f"origin (objective {_g(_origin_objective(sol), 10)}): best found above lbar = "
         f"{_g(sol.origin_decay_best, 6)}, proved above lbar = "
         f"{_g(sol.origin_decay_proved, 6)} (lbar now {p.lbar:.6g})"),
        "",
        "per class (feature = ||class-mean feature||, classifier = row of W_M...W_1):",
        *_table(["class", "n", "feature", "classifier", "CE", "margin", "collapsed",
                 "same logits as"], _class_rows(sol)),
        "",
        "candidates (* = attains the reported objective):",
        *_candidate_lines(sol),
    ]
    if sol.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in sol.notes]
    return "\n".join(lines)
