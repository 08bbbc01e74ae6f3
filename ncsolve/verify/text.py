"""The readable verify report: ``str(report)`` and what ``ncsolve verify`` prints."""

from __future__ import annotations

import math

import numpy as np


def _join(values) -> str:
    return ",".join(str(v) for v in values) if len(values) else "none"


def _fmt(x: float, spec: str = ".3g") -> str:
    """A number, or "-" where there is none (nan: no such point)."""
    return "-" if x is None or not math.isfinite(x) else format(x, spec)


def _number(x: float, spec: str) -> str:
    """A number of the best run, or what a non-finite one means (a diverged run)."""
    return format(x, spec) if x is not None and math.isfinite(x) else "not finite (diverged)"


def _run_lines(best, converged: str) -> list[str]:
    """The loss and gradient lines of the best run."""
    gap = _number(best.gap, "+.2e") if math.isfinite(best.loss) else "-"
    return [f"  loss             {_number(best.loss, '.15g')}   relative gap {gap}",
            (f"  gradient norm    {_number(best.grad_norm, '.2e')} ({converged}) after "
             f"{best.steps} steps, {best.elapsed:.2f} s")]


def _fmt_nc1(x: float) -> str:
    """NC1 is nan where it is undefined (the class means do not spread)."""
    return "undefined" if x is None or math.isnan(x) else _fmt(x)


def _setting_lines(report) -> list[str]:
    """The problem and the descent settings (the first lines of either report)."""
    p = report.problem
    decays = ",".join(f"{v:g}" for v in p.lambda_w)
    options = ", ".join(f"{k} {v:g}" for k, v in report.options.items())
    bias = p.bias if p.lambda_b is None else f"{p.bias} (lambda_b {p.lambda_b:g})"
    return [(f"problem: n = {_join(list(p.n))}, depth {p.depth}, widths {_join(report.widths)}, "
             f"bias {bias}, lambda_w {decays}, lambda_h {p.lambda_h:g}, loss {p.loss}"),
            f"descent: {report.method}, {len(report.runs)} run(s), {options}"]


def _matched_line(best) -> str:
    if best.diverged:
        return "  matched point    none (the run diverged)"
    matched = "the global minimizer" if best.candidate_global else "another critical point"
    return f"  matched point    {best.candidate_loss:.15g}   ({matched})"


def format_report(report) -> str:
    """The human-readable report of ``ncsolve verify``."""
    p, best, sol = report.problem, report.best_run, report.solution
    runs = report.runs
    unique = "" if sol.unique else "  (not unique)"
    converged = "converged" if best.converged else "not converged"
    classes = f"  (collapsed classes: {_join(best.collapsed)})"
    lines = [
        *_setting_lines(report),
        "",
        f"theory:  global minimum loss {sol.loss:.15g}{unique}",
        f"best run (seed {best.seed}): {best.status.upper()}",
        *_run_lines(best, converged)[:1],
        _matched_line(best),
        *_run_lines(best, converged)[1:],
        f"  zero directions  {_join(best.zero_directions)}{classes}",
        "",
        "  direction      sigma   z theory    z_local      z run",
    ]
    for i, values in enumerate(zip(sol.sigma, sol.z, sol.z_local, best.z_run)):
        lines.append(f"  {i:9d}  " + "  ".join(f"{_fmt(v, '.4g'):>9}" for v in values))
    lines += _layer_table(best, p.depth, "distance to the matched point (normalized Frobenius), "
                                         "NC1, by layer")
    if len(runs) > 1:
        lines += _runs_table(report, "zero directions", lambda r: _join(r.zero_directions),
                             lambda row: f"zero directions: {_join(row['zero_directions'])}")
    lines += [f"note: {text}" for text in best.notes]
    return "\n".join(lines)


def _runs_table(report, last_column: str, last, outcome) -> list[str]:
    """Every run (seed, status, loss, gap and ``last(run)``), then how many ended how.

    ``outcome(row)`` describes a row of ``report.summary()``.
    """
    lines = ["", "runs:", f"  seed  status          loss                 gap        {last_column}"]
    for r in report.runs:
        lines.append(f"  {r.seed!s:>4}  {r.status:<14}  {_fmt(r.loss, '.12g'):<15}  "
                     f"{_fmt(r.gap, '+.2e'):>9}  {last(r)}")
    lines.append("summary: " + "; ".join(
        f"{row['count']} x {row['status']} ({outcome(row)})" for row in report.summary()))
    return lines


def _rank_and_mark(run) -> str:
    mark = "  below ncsolve's answer" if run.beats_theory else ""
    return f"{run.rank}{mark}"


def _layer_table(best, depth: int, title: str) -> list[str]:
    lines = ["", f"  {title}", "  layer   features   classifier   NC1"]
    errs = best.layer_errors
    for j in range(depth):
        nc1 = best.nc1[j] if j < len(best.nc1) else float("nan")
        lines.append(f"  {j:5d}   {_fmt(errs['features'][j]):>8}   "
                     f"{_fmt(errs['classifier'][j]):>10}"
                     f"   {'-' if not math.isfinite(best.loss) else _fmt_nc1(nc1)}")
    lines.append(f"  outputs: {_fmt(best.errors['outputs'])}")
    return lines


def _ce_theory_line(sol) -> str:
    unique = "; not unique (class relabelings)" if sol.unique is False else ""
    return (f"theory:  {sol.certainty} loss {sol.loss:.15g}  ({sol.geometry}, rank "
            f"{sol.rank}{unique})")


def _reason_lines(reason: str) -> list[str]:
    """Why the answer is as certain as it says (nothing when nothing is to be said)."""
    return [f"         {reason}"] if reason else []


def format_ce_report(report) -> str:
    """The human-readable report of ``ncsolve verify --loss ce``."""
    p, best, sol = report.problem, report.best_run, report.solution
    converged = "converged" if best.converged else "not converged"
    verdict = best.status.upper() + ("  (BELOW ncsolve's answer)" if best.beats_theory else "")
    lines = [
        *_setting_lines(report),
        "",
        _ce_theory_line(sol),
        *_reason_lines(sol.search_record().reason),
        f"best run (seed {best.seed}): {verdict}",
        *_run_lines(best, converged),
        f"  rank             {best.rank}   (theory {sol.rank})",
        (f"  collapsed        {_join(best.collapsed)}   "
         f"(theory {_join(list(np.flatnonzero(sol.collapsed)))})"),
    ]
    if best.matched:
        lines.append(f"  same loss as {best.matched}")
    lines += _layer_table(best, p.depth, "distance to ncsolve's answer (normalized Frobenius), "
                                         "NC1, by layer")
    lines.append(f"  comparison: {report.comparison}")
    if best.permutation is not None and best.permutation != sorted(best.permutation):
        lines.append(f"  run class k compared with theory class: {_join(best.permutation)}")
    if len(report.runs) > 1:
        lines += _runs_table(report, "rank", _rank_and_mark,
                             lambda row: f"loss {_fmt(row['loss'], '.7g')}, rank {row['rank']}")
    lines += [f"note: {text}" for text in report.notes()]
    return "\n".join(lines)
