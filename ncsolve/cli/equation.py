"""The symbolic view: reduced objective, stationarity equation, thresholds and roots.

Without class sizes everything stays symbolic (sigma, N and any decay not
given). With --n, each class (bias-free) or direction (free bias) gets its own
equation, all positive stationary points, the global one chosen by the phase
rule, the output singular value z and the class-mean length, to --precision
significant digits (default 20). Decays not given then take predict's default.

examples:
  ncsolve equation --depth 3
  ncsolve equation --depth 3 --latex
  ncsolve equation --depth 3 --n 500,100,50 --lambda-w 0.0095 --lambda-h 0.0095
  ncsolve equation --depth 2 --n 4,2 --precision 60 --json
"""

from __future__ import annotations

import argparse
import json

from ..inputs.problem import Problem
from ..inputs.validation import invalid
from .options import Option, add_options, option

DEFAULT_DIGITS = 20
MAX_CLASSES = 1000  # one block of text (or LaTeX rows) per class
MAX_NUMERIC_DEPTH = 200  # exact rationals to the power M/(M+1): sympy fails near depth 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ncsolve equation`` (names as in predict)."""
    symbolic = "symbolic when omitted without --n"
    add_options(parser, option("n", note="without it the equations stay symbolic"),
                option("depth", default=None, required=True, note=""),
                option("lambda_w", note=symbolic), option("lambda_h", note=symbolic),
                option("bias", metavar="none|free", help="bias-free model or a learned "
                       "unregularized bias", note="default none; a regularized bias: "
                       "ncsolve predict"),
                option("precision", default=str(DEFAULT_DIGITS), note=f"default {DEFAULT_DIGITS}"))
    add_options(parser.add_mutually_exclusive_group(),
                Option("--latex", default=False, action="store_true",
                       help="print LaTeX ready for a paper"), "json")


def _check(args: argparse.Namespace, digits: int) -> None:
    """What can be checked before sympy is imported (which takes seconds)."""
    if str(args.bias).strip().lower() == "regularized":
        raise invalid("bias", "equation has the closed forms of --bias none and free; ncsolve "
                      "predict --bias regularized --lambda-b X solves a regularized bias")
    problem = Problem.build([1] if args.n is None else args.n, args.depth, args.lambda_w,
                            args.lambda_h, args.bias)
    numbers = any(v is not None for v in (args.n, args.lambda_w, args.lambda_h))
    if numbers and problem.depth > MAX_NUMERIC_DEPTH:
        raise invalid("depth", f"with numbers, equation works in exact arithmetic, where decays "
                      f"raised to the power M/(M+1) outgrow sympy; at most depth "
                      f"{MAX_NUMERIC_DEPTH} with --n or decays (without them any depth up to "
                      f"1000), got {problem.depth}; predict --precision D gives the digits")
    if args.n is not None and problem.K > MAX_CLASSES:
        raise invalid("n", f"equation writes the equations of every class; at most {MAX_CLASSES} "
                      f"classes, got {problem.K} (ncsolve predict solves any K)")
    if args.n is not None:
        from ..solvers.precise import check_work

        check_work(problem, digits)


def run(args: argparse.Namespace) -> int:
    """Build the report and print it; bad input raises ProblemError (exit status 2)."""
    from ..solvers.precise import check_precision

    digits = check_precision(args.precision)
    _check(args, digits)
    from ..symbolic.equation import equation_report

    report = equation_report(args.depth, args.n, args.lambda_w, args.lambda_h, args.bias, digits)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif args.latex:
        print(format_latex(report))
    else:
        print(format_text(report))
    return 0


# ---- plain text -----------------------------------------------------------------------


def format_text(report) -> str:
    """Readable plain text; every expression is valid sympy input."""
    import sympy as sp

    m, lines = report.model, []
    lines.append(
        f"depth M = {m.depth} (L = {m.L} factors W_{m.depth} ... W_1 H, q = 2/L = {m.q}), "
        f"bias {m.bias}, MSE"
    )
    if m.values:
        given = ", ".join(f"{k} = {v}" for k, v in m.values.items())
        lines.append(f"numbers: {given}")
    lines += [
        "",
        ("reduced objective of one direction (z: singular value of the product, "
        "sigma: of the target, N_total: number of samples)"),
        f"  g(z) = {report.objective}",
        "stationarity g'(z) = 0",
        f"  g'(z) = {report.derivative}",
        f"  <=> {_equation(report.stationarity)}",
        f"polynomial form (z = t**{m.L})",
        f"  {sp.sstr(report.polynomial, order='rev-lex')} = 0",
    ]
    if m.reduction != 1:
        lines.append(f"  in w = t**{m.reduction}: "
                     f"{sp.sstr(report.polynomial_w, order='rev-lex')} = 0 "
                     f"(degree {sp.degree(report.polynomial_w, sp.Symbol('w', positive=True))})")
    lines += ["root structure", "  " + _structure(report)]
    t = report.thresholds
    lines += [
        "thresholds",
        f"  nonzero stationary point exists iff {t['existence']}   ({t['existence_decay']})",
        f"  it is the global minimizer iff      {t['global']}   ({t['global_decay']})",
    ]
    if report.paper is not None:
        p = report.paper
        lines += [
            "the paper's parametrization (equal decays; derived from the per-class objective)",
            f"  {_equation(p['equation_display'])},  b = {p['b_display']}",
            f"  z = {p['z_of_x']},  ||hbar_k||**2 = {p['feature_norm_sq']}",
            "  equivalent to the z form: "
            + ("yes (checked by sympy)" if p["equivalent"] else "NOT CONFIRMED"),
        ]
    if report.symbolic_roots is not None:
        lines.append("exact roots in z (all branches; "
                     "which are real and positive depends on sigma)")
        lines += [f"  z = {r}" for r in report.symbolic_roots]
    if report.rows:
        lines += ["", *_rows_text(report)]
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def _equation(eq) -> str:
    return f"{eq.lhs} = {eq.rhs}"


def _structure(report) -> str:
    m = report.model
    if m.depth == 1:
        return ("g is convex: one root z = sigma - N*c when positive (soft threshold), "
                "otherwise the minimizer is z = 0")
    return (f"z**(1-q)*(sigma - z) peaks at z_m = {report.peak}; a root in (z_m, sigma) is a local "
            f"minimum, one in (0, z_m) a local maximum, and z = 0 is always a local minimum; "
            f"the nonzero root is global iff it exceeds z_c = {report.crossing}")


def _rows_text(report) -> list[str]:
    import sympy as sp

    from ..solvers.precise import decimal_string

    d = report.precision

    def num(x):
        return decimal_string(x, d)

    lines = []
    for row in report.rows:
        head = f"{row.label}: "
        head += (f"n = {row.n}, sigma = {num(row.sigma)}" if row.n is not None
                 else f"sigma = {num(row.sigma)}")
        lines.append(head)
        lines.append(f"  stationarity: {_equation(row.stationarity)}")
        if row.exact is not None and sum(len(str(e)) for e in row.exact) <= 600:
            note = ("  (real; the imaginary parts cancel)"
                    if any(e.has(sp.I) for e in row.exact) else "")
            for e in row.exact:
                lines.append(f"  exact root: z = {e}{note}")
        if row.roots:
            parts = [f"{num(r)} ({kind})" for r, kind in zip(row.roots, row.kinds)]
            lines.append("  positive stationary points z: " + ", ".join(parts))
        else:
            lines.append("  no positive stationary point")
        lines.append("  " + _verdict(row, num))
        if row.paper_x:
            lines.append("  paper's x at these roots: " + ", ".join(num(x) for x in row.paper_x)
                         + ("  (its largest root is NOT the global minimizer here)"
                            if row.phase == "window" else ""))
    if report.classes:
        lines.append("class-mean lengths: " + ", ".join(
            f"n = {n}: {num(f)}" for n, f in report.classes))
    return lines


def _verdict(row, num) -> str:
    if row.phase == "active":
        text = (f"global minimizer z = {num(row.z)} "
                f"(g = {num(row.values[-1])} < g(0) = {num(row.g0)})")
    elif row.phase == "tie":
        text = f"phase boundary: z = 0 and z = {num(row.roots[-1])} are both global (not unique)"
    elif row.phase == "window":
        text = (f"collapsed: z = 0 is global (g(0) = {num(row.g0)} < g = {num(row.values[-1])} "
                "at the nonzero local minimum)")
    elif row.phase == "empty":
        text = "sigma = 0: nothing to fit in this direction, z = 0"
    else:
        text = "collapsed: z = 0 is the only minimizer"
    if row.feature_norm is not None:
        text += f"; ||hbar_k|| = {num(row.feature_norm)}"
    if row.critical_decay is not None:
        text += f"; critical decay lbar = {num(row.critical_decay)}"
    return text


# ---- LaTeX ----------------------------------------------------------------------------


def format_latex(report) -> str:
    """An ``align*`` block (and a table with numbers) ready to paste into a paper."""
    import sympy as sp

    m = report.model
    from ..symbolic.expressions import SYMBOLS

    names = {SYMBOLS["lbar"]: r"\bar{\lambda}", SYMBOLS["N"]: "N"}

    def tex(expr) -> str:
        return sp.latex(expr, symbol_names=names)

    t = report.thresholds
    rows = [
        rf"g(z) &= {tex(report.objective)}",
        rf"g'(z) &= {tex(report.derivative)} = 0",
        rf"\iff\quad {tex(report.stationarity.lhs)} &= {tex(report.stationarity.rhs)}",
        (rf"z = t^{{{m.L}}}:\quad "
         rf"{sp.latex(report.polynomial, order='rev-lex', symbol_names=names)} &= 0"),
        (rf"\text{{nonzero stationary point}} &\iff {tex(t['existence'])}"
        rf"\quad\left({tex(t['existence_decay'])}\right)"),
        (rf"\text{{nonzero root global}} &\iff {tex(t['global'])}"
        rf"\quad\left({tex(t['global_decay'])}\right)"),
    ]
    if m.depth > 1:
        rows.insert(4, rf"z_m = {tex(report.peak)},\quad z_c &= {tex(report.crossing)}")
    if report.paper is not None:
        p = report.paper
        rows.append(rf"{tex(p['equation_display'].lhs)} &= {tex(p['equation_display'].rhs)},"
                    rf"\quad b = {tex(p['b_display'])},\quad z = {tex(p['z_of_x'])}")
    header = (f"% ncsolve equation: depth M = {m.depth}, L = {m.L}, q = {m.q}, bias {m.bias}; "
              "z: singular value of W_M...W_1 H, sigma: of the target")
    out = [header, r"\begin{align*}", " \\\\\n".join(rows), r"\end{align*}"]
    if report.symbolic_roots is not None and m.depth == 1:
        out += [r"\[", rf"z = {tex(report.symbolic_roots[0])}", r"\]"]
    if report.rows:
        out += _latex_table(report, tex)
    return "\n".join(out)


def _latex_table(report, tex) -> list[str]:
    from ..solvers.precise import decimal_string

    d = report.precision
    free = report.model.bias == "free"
    first = r"\sigma" if free else "n_k"
    out = [r"\begin{tabular}{rllll}", r"\hline",
           rf"${first}$ & stationarity & positive roots $z$ & global $z$ & "
           + (r"phase \\" if free else r"$\|\bar h_k\|$ \\"), r"\hline"]
    for row in report.rows:
        lead = decimal_string(row.sigma, min(d, 8)) if free else str(row.n)
        roots = ", ".join(decimal_string(r, d) for r in row.roots) or "none"
        last = row.phase if free else decimal_string(row.feature_norm, d)
        eq = rf"${tex(row.stationarity.lhs)} = {tex(row.stationarity.rhs)}$"
        out.append(rf"{lead} & {eq} & {roots} & {decimal_string(row.z, d)} & {last} \\")
    out += [r"\hline", r"\end{tabular}"]
    return out
