"""The paper's parametrization: its variable ``x`` derived from the per-class objective
(equal decays, bias-free) and mapped onto the output singular value ``z``."""

from __future__ import annotations

import sympy as sp

from .expressions import SYMBOLS

__all__ = ["paper_parametrization"]


def paper_parametrization(depth: int) -> dict:
    """Derive the paper's equation for equal decays from the per-class objective.

    For class k (bias-free) with all M weight matrices of singular value s in
    this direction and class-mean feature length a, the objective restricted to
    the direction is

        F(s, a) = n_k/(2N) (s^M a - 1)^2 + M lambda_W s^2 / 2 + lambda_H n_k a^2 / 2.

    Eliminating a (dF/da = 0) gives a = s^M/(s^(2M) + N lambda_H); writing
    s^(2M) = N lambda_H x^M, the condition dF/ds = 0 (s > 0) becomes the paper's
    ``b / n_k = M x^(M-1) / (x^M + 1)^2`` with ``b = M N (N lambda_W^M lambda_H)^(1/M)``,
    and the product's singular value is ``z = sigma x^M / (1 + x^M)`` (sigma^2 = n_k).

    Returns
    -------
    dict of sympy objects
        ``objective`` F(s, a), ``feature`` a*(s), ``profile`` F(s, a*(s)),
        ``profile_x`` the same in x, ``equation`` (Eq in x), ``b``,
        ``equation_display`` / ``b_display`` (the paper's layout, unevaluated),
        ``z_of_x``, ``x_of_z``, ``feature_norm_sq`` (||hbar_k||^2 in x),
        ``equivalent`` (True when sympy confirms that substituting x(z) turns the
        paper's equation into the z form), ``z_form`` the resulting equation.
    """
    M = depth
    s, a = sp.symbols("s a", positive=True)
    x, z, sigma = SYMBOLS["x"], SYMBOLS["z"], SYMBOLS["sigma"]
    N, nk, lh, lw = SYMBOLS["N"], SYMBOLS["n_k"], SYMBOLS["lambda_H"], SYMBOLS["lambda_W"]
    F = nk / (2 * N) * (s**M * a - 1) ** 2 + M * lw * s**2 / 2 + lh * nk * a**2 / 2
    a_star = sp.solve(sp.diff(F, a), a)[0]
    profile = sp.simplify(F.subs(a, a_star))
    s_of_x = (N * lh * x**M) ** sp.Rational(1, 2 * M)
    profile_x = sp.simplify(profile.subs(s, s_of_x))
    # dF/ds = 0 with s > 0, expressed in x: divide out the positive factor s
    ds = sp.together(sp.diff(profile, s) / s)
    numer, _ = sp.fraction(ds)
    condition = sp.powsimp(sp.expand(numer.subs(s, s_of_x)), force=True)
    b = M * N * (N * lw**M * lh) ** sp.Rational(1, M)
    b_display = b if M == 1 else sp.Mul(
        M, N, sp.Pow(N * lw**M * lh, sp.Rational(1, M), evaluate=False), evaluate=False
    )
    equation = sp.Eq(b / nk, M * x ** (M - 1) / (x**M + 1) ** 2)
    display = sp.Eq(sp.Symbol("b", positive=True) / nk, equation.rhs)
    # the derived condition must be a positive multiple of the paper's equation
    paper_numer = sp.fraction(sp.together(equation.lhs - equation.rhs))[0]
    derived = _proportional(condition, paper_numer, x)
    x_of_z = sp.Pow(z / (sigma - z), sp.Rational(1, M), evaluate=False)
    z_of_x = sigma * x**M / (1 + x**M)
    lbar = (lh * lw**M) ** sp.Rational(1, M + 1)
    z_form = sp.Eq(z ** sp.Rational(M - 1, M + 1) * (sigma - z), N * lbar)
    equivalent = _paper_matches_z_form(M, equation, z_form)
    feature_norm_sq = sp.simplify((s_of_x ** (2 * M)) / (s_of_x ** (2 * M) + N * lh) ** 2)
    return {
        "objective": F,
        "feature": a_star,
        "profile": profile,
        "profile_x": profile_x,
        "condition": condition,
        "derived": derived,
        "equation": equation,
        "b": b,
        "b_display": b_display,
        "equation_display": display,
        "s_of_x": s_of_x,
        "z_of_x": z_of_x,
        "x_of_z": x_of_z,
        "feature_norm_sq": feature_norm_sq,
        "z_form": z_form,
        "equivalent": equivalent,
    }


def _same(a, b) -> bool:
    """True when sympy proves a / b == 1 (all symbols positive)."""
    ratio = sp.expand_power_base(sp.powsimp(a / b, force=True), force=True)
    return sp.simplify(sp.powsimp(ratio, force=True)) == 1


def _proportional(p, r, x) -> bool:
    """True when the polynomials p and r in x are equal up to an x-free positive factor."""
    cp, cr = sp.Poly(p, x).all_coeffs(), sp.Poly(r, x).all_coeffs()
    if len(cp) != len(cr):
        return False
    pairs = [(a, b) for a, b in zip(cp, cr) if a != 0 or b != 0]
    if any(a == 0 or b == 0 for a, b in pairs):
        return False
    first = pairs[0][0] / pairs[0][1]
    return all(_same(a / b, first) for a, b in pairs[1:]) and bool(sp.ask(sp.Q.positive(first)))


def _paper_matches_z_form(M: int, equation, z_form) -> bool:
    """Substitute x^M = z/(sigma - z) and n_k = sigma^2 into the paper's equation,
    raise both sides to the power M/(M+1): the result must be the z form.

    ``sigma - z`` is a new positive symbol u (a root lies in (0, sigma))."""
    z, x, nk = SYMBOLS["z"], SYMBOLS["x"], SYMBOLS["n_k"]
    u = sp.Symbol("u", positive=True)
    sigma = z + u
    left = (equation.rhs * nk / M).subs({x: (z / u) ** sp.Rational(1, M), nk: sigma**2})
    right = equation.lhs * nk / M
    power = sp.Rational(M, M + 1)
    target_left = z_form.lhs.subs(SYMBOLS["sigma"], sigma)
    return _same(left**power, target_left) and _same(right**power, z_form.rhs)
