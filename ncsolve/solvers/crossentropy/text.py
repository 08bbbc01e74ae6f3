"""Text of a cross-entropy answer (``ncsolve predict --loss ce``, ``str(CESolution)``).

The header, summary, class table and notes are the base's
(:class:`ncsolve.results.base.Result`); this module adds what only a searched
answer has: its certainty, the search, the thresholds and the candidates.
"""

from __future__ import annotations

from ...results.table import fmt, table

__all__ = ["CLASS_DIGITS", "body_lines", "format_ce"]

CANDIDATE_ROWS = 10  # candidates shown
CLASS_DIGITS = 6  # significant digits of per-class values: what the search resolves
INDENT = "  "


def _indent(lines: list[str]) -> list[str]:
    return [INDENT + line for line in lines]


def _candidate_table(sol) -> list[str]:
    rows: list[list[str] | None] = []
    for cand in sol.candidates[:CANDIDATE_ROWS]:
        mark = "*" if abs(cand.loss - sol.loss) <= 1e-7 * sol.loss else ""
        rows.append([cand.name + mark, str(cand.rank), fmt(cand.loss, 12),
                     fmt(cand.scale, CLASS_DIGITS) if cand.scale > 0 else "-"])
    if len(sol.candidates) > CANDIDATE_ROWS:
        rows.append(None)
    return _indent(table(["candidate", "rank", "loss", "scale"], rows, len(sol.candidates)))


def _search_line(sol) -> str:
    runs = len(sol.runs)
    if not runs:
        return "search: none"
    ranks = sorted({r.rank for r in sol.runs})
    seeded = sum(r.start.startswith("candidate") for r in sol.runs)
    hops = sum(r.start.startswith("hop") for r in sol.runs)
    swaps = sum(r.start.startswith("exchange") for r in sol.runs)
    batches = "; ".join(f"batch {b.batch}: best {b.loss:.10g}, {b.hits} of {b.runs} runs there"
                        for b in sol.batches)
    return (f"search: {runs} local minimizations ({seeded} from candidates, {sol.restarts} "
            f"random starts, {hops} basin hops, {swaps} class exchanges); {sol.hits} reached "
            f"the reported loss; ranks reached: {', '.join(map(str, ranks))}"
            + (f"\n  independent batches: {batches}" if batches else ""))


def _certainty_lines(sol) -> list[str]:
    lines = [f"certainty {sol.certainty}: {sol.certainty_reason}"]
    if sol.runner_up is not None:
        lines.append(f"runner-up: {sol.runner_up.label} (rank {sol.runner_up.rank}), loss "
                     f"{fmt(sol.runner_up.loss, 12)}, gap {fmt(sol.gap, 6)}")
    return lines


def _threshold_lines(sol) -> list[str]:
    """The ETF and the origin thresholds (nothing to compare with a single class)."""
    p = sol.problem
    return [
        (f"simplex ETF: rho = {fmt(sol.etf_scale, 10)}, loss {fmt(sol.etf_loss, 12)};"
         f" the origin beats it for lbar > {fmt(sol.origin_decay_etf, 6)}"),
        (f"origin (loss {fmt(sol.origin_loss, 10)}): best found above lbar = "
         f"{fmt(sol.origin_decay_best, 6)}, proved above lbar = "
         f"{fmt(sol.origin_decay_proved, 6)} (lbar now {p.lbar:.6g})"),
    ]


def body_lines(sol, class_table: list[str]) -> list[str]:
    """Everything between the summary line and the notes of a cross-entropy answer."""
    lines = [(f"loss = cross-entropy {sol.ce_loss:.10g} + penalty {sol.penalty:.10g}; "
              "rank is the rank of the logit matrix"), *_certainty_lines(sol)]
    if sol.problem.K == 1:
        return lines + ["no simplex ETF, search or thresholds: with one class there is "
                        "nothing to separate, and the origin is optimal for every decay"]
    return [
        *lines,
        _search_line(sol),
        *_threshold_lines(sol),
        "",
        ("per class (feature_norm = ||class-mean feature||, classifier_norm = ||row of "
         f"W_M...W_1||, output = own-label logit; {CLASS_DIGITS} significant digits, the "
         "precision of the search):"),
        *class_table,
        "",
        "candidates (* = attains the reported loss):",
        *_candidate_table(sol),
    ]


def format_ce(sol) -> str:
    """Readable report: objective, certainty, geometry, per-class table, candidates.

    Parameters
    ----------
    sol : CESolution
        The answer of :func:`ncsolve.solvers.crossentropy.solve`.

    Returns
    -------
    str
        Multi-line text without a trailing newline (``str(sol)``).
    """
    return str(sol)
