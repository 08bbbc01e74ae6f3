"""Text report of a cross-entropy answer (``ncsolve predict --loss ce``, ``str(CESolution)``).

The table and number helpers are those of the squared-loss report
(:mod:`ncsolve.results.table`), so both reports look alike.
"""

from __future__ import annotations

from ...results.table import _g, _rows, _table, header_lines, summary_line

__all__ = ["CLASS_DIGITS", "format_ce"]

CANDIDATE_ROWS = 10  # candidates shown
CLASS_DIGITS = 6  # significant digits of per-class values: what the search resolves
INDENT = "  "


def _indent(lines: list[str]) -> list[str]:
    return [INDENT + line for line in lines]


def _class_table(sol) -> list[str]:
    """Per-class table; values rounded to ``CLASS_DIGITS`` digits (the search's precision)."""
    K = sol.problem.K
    shared = sol.shared_logits()
    rows: list[list[str] | None] = []
    for k in _rows(K):
        if k is None:
            rows.append(None)
            continue
        values = (sol.feature_norm[k], sol.classifier_norm[k], sol.output[k],
                  sol.class_loss[k], sol.margin[k])
        rows.append([str(k), str(int(sol.problem.n[k])),
                     *(_g(float(v), CLASS_DIGITS) for v in values),
                     "yes" if sol.collapsed[k] else "no",
                     ",".join(str(j) for j in shared[k]) or "-"])
    header = ["class", "n", "feature_norm", "classifier_norm", "output", "class_loss",
              "margin", "collapsed", "shares_logits_with"]
    return _indent(_table(header, rows, K))


def _candidate_table(sol) -> list[str]:
    rows: list[list[str] | None] = []
    for cand in sol.candidates[:CANDIDATE_ROWS]:
        mark = "*" if abs(cand.loss - sol.loss) <= 1e-7 * sol.loss else ""
        rows.append([cand.name + mark, str(cand.rank), _g(cand.loss, 12),
                     _g(cand.scale, CLASS_DIGITS) if cand.scale > 0 else "-"])
    if len(sol.candidates) > CANDIDATE_ROWS:
        rows.append(None)
    return _indent(_table(["candidate", "rank", "loss", "scale"], rows,
                          len(sol.candidates)))


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
        name = getattr(sol.runner_up, "name", None) or sol.runner_up.start
        lines.append(f"runner-up: {name} (rank {sol.runner_up.rank}), loss "
                     f"{_g(sol.runner_up.loss, 12)}, gap {_g(sol.gap, 6)}")
    return lines


def _origin_loss(sol) -> float:
    return next(c.loss for c in sol.candidates if c.rank == 0)


def _threshold_lines(sol) -> list[str]:
    """The ETF and the origin thresholds (nothing to compare with a single class)."""
    p = sol.problem
    return [
        (f"simplex ETF: rho = {_g(sol.etf_scale, 10)}, loss {_g(sol.etf_loss, 12)};"
         f" the origin beats it for lbar > {_g(sol.origin_decay_etf, 6)}"),
        (f"origin (loss {_g(_origin_loss(sol), 10)}): best found above lbar = "
         f"{_g(sol.origin_decay_best, 6)}, proved above lbar = "
         f"{_g(sol.origin_decay_proved, 6)} (lbar now {p.lbar:.6g})"),
    ]


def _header(sol) -> list[str]:
    p = sol.problem
    return [
        *header_lines(p, "cross-entropy"),
        summary_line(sol),
        (f"loss = cross-entropy {sol.ce_loss:.10g} + penalty {sol.penalty:.10g}; "
         "rank is the rank of the logit matrix"),
        *_certainty_lines(sol),
    ]


def _single_class(sol) -> str:
    lines = [*_header(sol), ("no simplex ETF, search or thresholds: with one class there is "
                             "nothing to separate, and the origin is optimal for every decay")]
    return "\n".join(lines)


def format_ce(sol) -> str:
    """Readable report: objective, certainty, geometry, per-class table, candidates.

    Parameters
    ----------
    sol : CESolution
        The answer of :func:`ncsolve.solvers.crossentropy.solve`.

    Returns
    -------
    str
        Multi-line text without a trailing newline.
    """
    if sol.problem.K == 1:
        return _single_class(sol)
    lines = [
        *_header(sol),
        _search_line(sol),
        *_threshold_lines(sol),
        "",
        ("per class (feature_norm = ||class-mean feature||, classifier_norm = ||row of "
         f"W_M...W_1||, output = own-label logit; {CLASS_DIGITS} significant digits, the "
         "precision of the search):"),
        *_class_table(sol),
        "",
        "candidates (* = attains the reported loss):",
        *_candidate_table(sol),
    ]
    if sol.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in sol.notes]
    return "\n".join(lines)
