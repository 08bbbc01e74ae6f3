"""The symbolic / high-precision route against independent computations.

Every check compares two routes that share no code: the float64 solver
(``ncsolve.predict``), the mpmath route (``solve_precise``), sympy's exact
radicals, mpmath's polynomial root finder on the paper's equation, a dense
grid search of the scalar objective, and the numpy full objective.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import ncsolve
from ncsolve import Problem, ProblemError
from ncsolve.symbolic import solve_precise
from ncsolve.symbolic.expressions import (
    SYMBOLS,
    exact_roots,
    full_objective,
    reduced_model,
)
from ncsolve.symbolic.paper import paper_parametrization
from ncsolve.solvers.precise import stationary_points

WINDOW = {"n": [500, 100, 50], "depth": 3, "lambda_w": 0.0095, "lambda_h": 0.0095}

# ---- float64 route versus the high-precision route ------------------------------------

SIZES = [(3,), (5, 3), (500, 100, 50), (10, 10, 10), (7, 4, 4, 1), (200, 100, 50, 50)]
DECAYS = [1e-6, 1e-4, 1e-3, 1e-2, 1e-1]
REL = 1e-13


def depths(values, slow=()):
    """Depths for a parametrization; those in ``slow`` fill in the grid between the
    ones always run (exhaustive variants: ``pytest -m slow``)."""
    return [pytest.param(d, marks=pytest.mark.slow) if d in slow else d for d in values]


def _close(a, b, what: str):
    """|a - b| <= REL * max(|a|, |b|) elementwise (zeros must match exactly-ish)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray([float(v) if v is not None else np.nan for v in np.ravel(b)]).reshape(a.shape)
    both_nan = np.isnan(a) & np.isnan(b)
    scale = np.maximum(np.abs(a), np.abs(b))
    ok = both_nan | (np.abs(a - b) <= REL * scale + 1e-300)
    assert ok.all(), f"{what}: float {a[~ok]} vs precise {b[~ok]}"


def _float_route():
    try:
        from ncsolve.solvers import mse  # noqa: F401
    except ImportError:  # pragma: no cover - only while the float route is being written
        pytest.fail("ncsolve.solvers.mse (the float64 route) is missing")


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("depth", depths(range(1, 9), slow=(4, 5, 7)))
def test_float_and_precise_routes_agree(depth, bias):
    _float_route()
    for n, lam in itertools.product(SIZES, DECAYS):
        if bias == "free" and len(n) == 1:
            continue
        lam_w = [lam * (1.0 + 0.5 * j) for j in range(depth)] if len(n) % 2 else lam
        fast = ncsolve.predict(n, depth, lam_w, lam, bias)
        slow = ncsolve.predict(n, depth, lam_w, lam, bias, precision=30)
        tag = f"n={n} depth={depth} lambda={lam} bias={bias}"
        _close(fast.loss, slow.loss, f"loss {tag}")
        _close(fast.sigma, slow.sigma, f"sigma {tag}")
        _close(fast.z, slow.z, f"z {tag}")
        _close(fast.z_local, slow.z_local, f"z_local {tag}")
        _close(fast.singular_values, slow.singular_values, f"singular values {tag}")
        _close(fast.critical_decay, slow.critical_decay, f"critical decay {tag}")
        if bias == "none":  # class-level figures; with a bias they involve eigenvectors
            _close(fast.feature_norm, slow.feature_norm, f"feature norm {tag}")
            _close(fast.classifier_norm, slow.classifier_norm, f"classifier norm {tag}")
            _close(fast.output, slow.output, f"output {tag}")
        else:
            for name in ("feature_norm", "classifier_norm", "output", "layer_feature_norms"):
                a, b = np.asarray(getattr(fast, name)), np.asarray(getattr(slow, name), float)
                assert np.allclose(a, b, rtol=1e-11, atol=1e-14), f"{name} {tag}"
        if bias == "none":
            _close(fast.layer_feature_norms, slow.layer_feature_norms, f"layer norms {tag}")
        assert list(fast.collapsed) == list(slow.collapsed), tag
        assert bool(fast.unique) == bool(slow.unique), tag
        assert list(fast.state) == list(slow.state), tag
        assert fast.geometry == slow.geometry, tag


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": [5, 5, 2, 2], "depth": 2, "lambda_w": 1e-3, "lambda_h": 1e-3, "bias": "free"},
        {"n": [4, 4, 4], "depth": 3, "lambda_w": 1e-3, "lambda_h": 1e-3, "widths": [2, 2, 2]},
        {"n": [9, 4, 1], "depth": 2, "lambda_w": [1e-3, 4e-3], "lambda_h": 2e-3, "bias": "free",
         "widths": [1, 3]},
        {"n": [30, 30, 30, 30], "depth": 4, "lambda_w": 2e-4, "lambda_h": 1e-4, "bias": "free"},
    ],
)
def test_json_of_both_routes_has_the_same_keys_and_grams(kwargs):
    _float_route()
    fast = ncsolve.predict(**kwargs).to_dict(True)
    slow = ncsolve.predict(**kwargs, precision=25).to_dict(True)
    assert set(fast) <= set(slow)
    for part in ("classes", "directions"):
        for a, b in zip(fast[part], slow[part]):
            assert set(a) <= set(b), part
    assert fast["geometry"] == slow["geometry"] and fast["unique"] == slow["unique"]
    for key in ("features", "classifier", "outputs"):
        a, b = np.array(fast["gram"][key]), np.array(slow["gram"][key], dtype=float)
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13 * np.abs(a).max())


# ---- high precision is self-consistent ------------------------------------------------


@pytest.mark.parametrize("depth", depths([2, 3, 4, 5, 8], slow=(4, 5)))
def test_stationarity_residual_at_50_digits(depth):
    """Parse the printed equation with sympy, substitute the printed roots.

    The residual is evaluated at 90 digits.
    """
    from ncsolve.symbolic.equation import equation_report

    report = equation_report(depth, [500, 100, 50, 7], 2e-3, 1e-3, "none", precision=50).to_dict()
    z = sp.Symbol(report["symbol"], positive=True)
    checked = 0
    for row in report["classes"]:
        eq = sp.sympify(row["stationarity"], locals={"z": z})
        assert eq.free_symbols == {z}
        for root in row["roots"]:
            lhs, rhs = (sp.N(side.subs(z, sp.Float(root, 60)), 90) for side in (eq.lhs, eq.rhs))
            assert abs(lhs - rhs) / abs(rhs) < 1e-45, (row["n"], root)
            checked += 1
    assert checked >= 2


def test_precise_loss_matches_the_reduced_objective_at_200_digits():
    problem = Problem.build(**WINDOW)
    result = solve_precise(problem, 200)
    with mpmath.workdps(230):
        lbar = mpmath.mpf("0.0095")
        N = 650
        total = mpmath.mpf(0)
        for n_k in (500, 100, 50):
            found = stationary_points(mpmath.sqrt(n_k), N, lbar, 4)
            total += found.values[-1] if found.z != 0 else found.g0
        assert abs(total - result.loss) < mpmath.mpf(10) ** -195


# ---- the scalar problem against a dense grid ------------------------------------------


def test_global_minimizer_beats_a_dense_grid():
    rng = np.random.default_rng(7)
    for _ in range(60):
        L = int(rng.integers(2, 9))
        sigma = float(rng.uniform(0.5, 30.0))
        N = int(rng.integers(2, 800))
        lbar = float(10 ** rng.uniform(-5, -1))
        with mpmath.workdps(30):
            found = stationary_points(sigma, N, lbar, L)
        grid = np.concatenate([np.linspace(0.0, sigma, 200001), np.geomspace(1e-12, sigma, 20001)])
        g = (grid - sigma) ** 2 / (2 * N) + (L / 2) * lbar * grid ** (2 / L)
        best = grid[np.argmin(g)]
        assert float(found.z) == pytest.approx(best, abs=sigma * 2e-5), (L, sigma, N, lbar)
        gz = (float(found.z) - sigma) ** 2 / (2 * N) + (L / 2) * lbar * float(found.z) ** (2 / L)
        assert gz <= g.min() + 1e-12 * abs(g.min())


def test_thresholds_are_sharp():
    """Just below / above the closed-form bounds the root structure flips."""
    L, N, sigma = 4, 100, mpmath.mpf(10)
    with mpmath.workdps(40):
        q = mpmath.mpf(2) / L
        exist = ((1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / (2 - q)  # = N lbar at the bound
        glob = (2 * (1 - q) / (2 - q)) ** (1 - q) * sigma ** (2 - q) / (2 - q) / N * 2 / L
        eps = mpmath.mpf("1e-20")
        assert stationary_points(sigma, N, glob * (1 - eps), L).state == "active"
        assert stationary_points(sigma, N, glob * (1 + eps), L).state == "window"
        assert stationary_points(sigma, N, exist / N * (1 - eps), L).state == "window"
        assert stationary_points(sigma, N, exist / N * (1 + eps), L).state == "collapsed"


# ---- exact radicals versus Newton -----------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_exact_roots_in_radicals_match_high_precision(depth):
    model = reduced_model(depth, [500, 100, 50, 9], 0.0095, 0.0095)
    with mpmath.workdps(60):
        lbar = mpmath.mpf("0.0095")
        for k, n_k in enumerate(model.n):
            exact = exact_roots(model, model.sigmas[k], digits=50)
            found = stationary_points(mpmath.sqrt(n_k), sum(model.n), lbar, depth + 1)
            assert exact is not None and len(exact) == len(found.roots)
            for e, r in zip(exact, found.roots):
                value = sp.re(sp.N(e, 70))
                assert abs(mpmath.mpf(str(value)) - r) <= mpmath.mpf(10) ** -48 * r


def test_radicals_beyond_degree_four_when_the_polynomial_factors():
    """Depth 5, sigma = 2, N lbar = 1: w^5 - 2 w^2 + 1 = (w - 1)(w^4 + w^3 + w^2 - w - 1)."""
    model = reduced_model(5, [4, 996], 0.001, 0.001)
    exact = exact_roots(model, model.sigmas[0], digits=40)
    with mpmath.workdps(50):
        found = stationary_points(2, 1000, mpmath.mpf("0.001"), 6)
        assert len(exact) == len(found.roots) == 2 and 1 in exact
        for e, r in zip(exact, found.roots):
            assert abs(mpmath.mpf(str(sp.re(sp.N(e, 50)))) - r) < mpmath.mpf(10) ** -40
    assert exact_roots(reduced_model(5, [500, 100], 0.001, 0.001), sp.sqrt(500)) is None


def test_symbolic_cubic_roots_contain_the_numeric_ones():
    """Depth 3 with symbolic parameters.

    The Cardano roots, evaluated, include both positive roots.
    """
    model = reduced_model(3)
    roots = exact_roots(model, SYMBOLS["sigma"])
    values = {SYMBOLS["sigma"]: 10, SYMBOLS["N"]: 650, SYMBOLS["lambda_H"]: sp.Rational(19, 2000),
              SYMBOLS["lambda_W"]: sp.Rational(19, 2000)}
    numeric = sorted(float(sp.re(sp.N(r.subs(values), 30))) for r in roots
                     if abs(sp.im(sp.N(r.subs(values), 30))) < 1e-20)
    with mpmath.workdps(30):
        found = stationary_points(10, 650, mpmath.mpf("0.0095"), 4)
    for r in found.roots:
        assert min(abs(v - float(r)) for v in numeric) < 1e-12 * float(r)


# ---- the symbolic objects are what they claim -----------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
def test_derivative_stationarity_and_polynomial_are_consistent(depth):
    model = reduced_model(depth)
    z, t, w = SYMBOLS["z"], SYMBOLS["t"], SYMBOLS["w"]
    assert sp.simplify(model.derivative() - sp.diff(model.objective(), z)) == 0
    # the z form equals g'(z) times N z^(1-q) (> 0)
    eq = model.stationarity()
    scaled = sp.expand(model.derivative() * SYMBOLS["N"] * z ** (1 - model.q))
    assert sp.simplify(scaled + (eq.lhs - eq.rhs)) == 0
    # the polynomial is the z form at z = t^L, up to the positive factor t^(L-2) / ... sign
    at_t = sp.expand((eq.rhs - eq.lhs).subs(z, t ** model.L))
    assert sp.simplify(at_t - model.polynomial()) == 0
    assert sp.simplify(model.polynomial().subs(t, sp.sqrt(w) if model.reduction == 2 else w)
                       - model.polynomial(variable="w")) == 0


def test_symbolic_thresholds_match_the_numeric_phase():
    model = reduced_model(3, [500, 100, 50], 0.0095, 0.0095)
    thresholds = model.thresholds()
    with mpmath.workdps(30):
        for k, n_k in enumerate(model.n):
            state = stationary_points(mpmath.sqrt(n_k), 650, mpmath.mpf("0.0095"), 4).state
            sigma_rel = {SYMBOLS["sigma"]: model.sigmas[k]}
            assert bool(thresholds["global"].subs(sigma_rel)) == (state == "active")
            assert bool(thresholds["existence"].subs(sigma_rel)) == (state in ("active", "window"))
            decay = {SYMBOLS["lbar"]: sp.Rational(19, 2000), **sigma_rel}
            assert bool(thresholds["global_decay"].subs(decay)) == (state == "active")


# ---- the paper's parametrization ------------------------------------------------------


@pytest.mark.parametrize("depth", depths(range(1, 9), slow=(4, 5, 7)))
def test_paper_equation_is_derived_and_equivalent(depth):
    paper = paper_parametrization(depth)
    assert paper["derived"], "dF/ds = 0 did not reduce to the paper's equation"
    assert paper["equivalent"], ("x^M = z/(sigma - z) did not map the paper's equation "
                                 "onto the z form")


def test_equivalence_check_can_fail():
    """The sympy proof helper rejects a wrong z form (so the test above means something)."""
    from ncsolve.symbolic.paper import _paper_matches_z_form

    paper = paper_parametrization(3)
    z, sigma, N = SYMBOLS["z"], SYMBOLS["sigma"], SYMBOLS["N"]
    wrong = sp.Eq(z ** sp.Rational(1, 3) * (sigma - z), N * paper["b"] / (3 * N))
    assert not _paper_matches_z_form(3, paper["equation"], wrong)


def _paper_roots(n_k: int, N: int, M: int, lam_w, lam_h) -> list:
    """Positive real roots of b (x^M + 1)^2 - M n_k x^(M-1) = 0 via mpmath.polyroots."""
    b = M * N * mpmath.root(N * lam_w**M * lam_h, M)
    coeffs = [mpmath.mpf(0)] * (2 * M + 1)  # highest degree first
    coeffs[0] += b
    coeffs[M] += 2 * b
    coeffs[2 * M] += b
    coeffs[2 * M - (M - 1)] -= M * n_k
    roots = mpmath.polyroots(coeffs, maxsteps=400, extraprec=400)
    return sorted(mpmath.re(r) for r in roots if abs(mpmath.im(r)) < 1e-30 and mpmath.re(r) > 0)


def _paper_loss(x, n_k, N, M, lam_w, lam_h):
    """Per-class objective at the paper's x (features eliminated, layers balanced)."""
    return n_k / (2 * N * (x**M + 1)) + M * lam_w / 2 * mpmath.root(N * lam_h, M) * x


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_paper_and_z_forms_agree_except_in_the_window(depth):
    sizes, N = [500, 100, 50], 650
    seen = set()
    with mpmath.workdps(50):
        for lam in ("0.0005", "0.004", "0.0095", "0.012", "0.02"):
            lam_w = lam_h = mpmath.mpf(lam)
            lbar = lam_w  # equal decays
            for n_k in sizes:
                sigma = mpmath.sqrt(n_k)
                ours = stationary_points(sigma, N, lbar, depth + 1)
                xs = _paper_roots(n_k, N, depth, lam_w, lam_h)
                zs = [sigma * x**depth / (1 + x**depth) for x in xs]
                assert len(zs) == len(ours.roots)
                for a, b in zip(zs, ours.roots):
                    assert abs(a - b) <= mpmath.mpf(10) ** -35 * b
                if not xs:
                    seen.add("none")
                    continue
                largest = zs[-1]
                paper_value = _paper_loss(xs[-1], n_k, N, depth, lam_w, lam_h)
                assert abs(paper_value - ours.values[-1]) <= mpmath.mpf(10) ** -35 * paper_value
                if ours.state == "active":
                    assert abs(largest - ours.z) <= mpmath.mpf(10) ** -35 * largest
                    seen.add("agree")
                else:
                    assert ours.state == "window" and ours.z == 0
                    # the paper's largest root is a local minimum with a strictly larger objective
                    assert paper_value > n_k / (2 * mpmath.mpf(N))
                    h = xs[-1] * mpmath.mpf("1e-10")
                    for side in (xs[-1] - h, xs[-1] + h):
                        assert _paper_loss(side, n_k, N, depth, lam_w, lam_h) > paper_value
                    seen.add("window")
    assert {"agree", "window"} <= seen


def test_the_documented_window_example():
    result = solve_precise(Problem.build(**WINDOW), 40)
    assert list(result.collapsed) == [False, False, True]
    assert result.z_local[2] is not None and result.z_local[2] > 0


# ---- the full objective: sympy gradient versus the numpy gradient ---------------------


@pytest.mark.parametrize("bias", ["none", "free"])
def test_sympy_gradient_matches_numeric_full_objective(bias):
    objective = pytest.importorskip("ncsolve.core.objective",
                                    reason="the numeric full objective is absent")
    n, depth, widths = [2, 1], 2, [2, 3]
    problem = Problem.build(n, depth, [0.003, 0.02], 0.01, bias, widths=widths)
    symbolic = full_objective(n, depth, [0.003, 0.02], 0.01, bias, widths)
    numeric = objective.FullObjective(problem, widths)
    assert len(symbolic.variables) == numeric.size
    value, gradient = symbolic.lambdify()
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal(numeric.size)
        v_num, g_num = numeric.value_and_grad(x)
        assert value(x) == pytest.approx(v_num, rel=1e-12)
        np.testing.assert_allclose(gradient(x), g_num, rtol=1e-10, atol=1e-12)


def test_full_objective_reduces_to_g_at_the_balanced_minimizer():
    """Evaluate the explicit objective at the minimizer built from the reduced solution."""
    n, depth = [3, 1], 2
    symbolic = full_objective(n, depth, 0.01, 0.02, "none")
    result = solve_precise(Problem.build(n, depth, 0.01, 0.02), 30)
    # class k -> axis k; H columns hbar_k, W_j diagonal with the per-direction singular values
    sv = {k: [float(v) for v in result.singular_values[i]] for i, k in enumerate([0, 1])}
    values = {}
    for j, sample_class in enumerate([0, 0, 0, 1]):
        for r in range(2):
            values[symbolic.H[r, j]] = (sv[sample_class][0] / math.sqrt(n[sample_class])
                                        if r == sample_class else 0.0)
    for layer, W in enumerate(symbolic.weights, start=1):
        for r in range(2):
            for c in range(2):
                values[W[r, c]] = sv[r][layer] if r == c else 0.0
    assert float(symbolic.expr.subs(values)) == pytest.approx(float(result.loss), rel=1e-12)


# ---- input validation -----------------------------------------------------------------


@pytest.mark.parametrize("digits", [14, 1001, 0, -3, "abc", 20.5, None])
def test_precision_out_of_range_is_refused(digits):
    problem = Problem.build([3, 2], 2)
    with pytest.raises(ProblemError, match=r"precision \(--precision\)"):
        solve_precise(problem, digits)


def test_precision_bounds_are_accepted():
    problem = Problem.build([3, 2], 2)
    assert solve_precise(problem, 15).precision == 15
    assert solve_precise(problem, 1000).to_dict()["precision"] == 1000


def test_cross_entropy_is_refused():
    with pytest.raises(ProblemError, match="precision"):
        solve_precise(Problem.build([3, 2], 2, loss="ce"), 30)


def test_to_dict_numbers_are_decimal_strings_at_the_precision():
    d = solve_precise(Problem.build(**WINDOW), 60).to_dict()
    assert d["precision"] == 60
    loss = d["loss"]
    assert isinstance(loss, str) and len(loss.replace(".", "").lstrip("0")) == 60
    assert d["classes"][2]["feature_norm"] == "0" and d["classes"][2]["collapsed"] is True
    assert all(isinstance(v, str) for v in d["directions"][0]["singular_values"])


# ---- properties -----------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    sigma=st.floats(0.1, 100.0),
    N=st.integers(1, 10_000),
    log_lbar=st.floats(-7.0, 0.0),
    L=st.integers(2, 9),
)
def test_roots_are_stationary_and_the_phase_rule_picks_the_lowest(sigma, N, log_lbar, L):
    lbar = 10.0**log_lbar
    with mpmath.workdps(40):
        found = stationary_points(repr(sigma), N, repr(lbar), L)
        s, lb = mpmath.mpf(repr(sigma)), mpmath.mpf(repr(lbar))
        q = mpmath.mpf(2) / L
        for r in found.roots:
            residual = r ** (1 - q) * (s - r) - N * lb
            assert abs(residual) <= mpmath.mpf(10) ** -30 * N * lb
        candidates = [found.g0, *found.values]
        best = min(candidates)
        chosen = found.g0 if found.z == 0 else found.values[-1]
        assert chosen - best <= mpmath.mpf(10) ** -30 * max(best, 1)


@settings(max_examples=15, deadline=None)
@given(
    n=st.lists(st.integers(1, 60), min_size=2, max_size=5),
    depth=st.integers(1, 5),
    bias=st.sampled_from(["none", "free"]),
    data=st.data(),
)
def test_precise_loss_is_invariant_to_class_order(n, depth, bias, data):
    order = data.draw(st.permutations(range(len(n))))
    first = solve_precise(Problem.build(n, depth, 3e-3, 2e-3, bias), 30)
    second = solve_precise(Problem.build([n[i] for i in order], depth, 3e-3, 2e-3, bias), 30)
    assert abs(first.loss - second.loss) <= mpmath.mpf(10) ** -28 * max(first.loss, 1)
    for k, i in enumerate(order):
        assert abs(second.feature_norm[k] - first.feature_norm[i]) <= mpmath.mpf(10) ** -25


# ---- cancellation: sigma - z at tiny decays, the secular function ----------------------

TINY = [1e-300, 1e-200, 1e-100, 1e-50, 1e-20, 1e-8, 1e-3, 1e-1]


@pytest.mark.parametrize("decay", TINY)
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_precise_loss_matches_float_loss_at_every_decay(depth, decay):
    kwargs = {"n": [10, 5], "depth": depth, "lambda_w": decay, "lambda_h": decay}
    expected = ncsolve.predict(**kwargs).loss
    got = float(ncsolve.predict(**kwargs, precision=30).loss)
    assert abs(got - expected) <= 1e-13 * expected, (got, expected)


@pytest.mark.parametrize("depth", [2, 3, 8])
def test_precise_loss_at_decay_1e_300_is_the_penalty_to_30_digits(depth):
    # z = sigma (1 - O(1e-300)): the fit term is O(1e-600), the loss is c sum sigma^q
    result = ncsolve.predict([10, 5], depth, 1e-300, 1e-300, precision=30)
    with mpmath.workdps(50):
        L = mpmath.mpf(depth + 1)
        exact = L / 2 * mpmath.mpf("1e-300") * sum(mpmath.mpf(n) ** (1 / L) for n in (10, 5))
        assert abs(result.loss - exact) <= mpmath.mpf(10) ** -29 * exact


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_residual_has_full_digits_at_tiny_decays(depth):
    # at 700 digits the subtraction sigma - z keeps about 400 digits: a reference
    low = solve_precise(Problem.build([10, 5], depth, 1e-300, 1e-300), 30)
    high = solve_precise(Problem.build([10, 5], depth, 1e-300, 1e-300), 700)
    with mpmath.workdps(720):
        for r, s, z in zip(low.residual, high.sigma, high.z):
            reference = s - z
            assert reference > 0 and abs(r - reference) <= mpmath.mpf(10) ** -29 * reference


def test_gaps_of_both_roots_are_sigma_minus_root():
    with mpmath.workdps(700):
        reference = stationary_points(3, 10, mpmath.mpf("1e-300"), 4)
    with mpmath.workdps(40):
        found = stationary_points(3, 10, mpmath.mpf("1e-300"), 4)
        assert len(found.gaps) == 2 and found.residual == found.gaps[-1]
        for gap, root in zip(found.gaps, reference.roots):
            exact = 3 - root
            assert abs(gap - exact) <= mpmath.mpf(10) ** -38 * exact
        g = found.values[-1]
        assert abs(g - reference.values[-1]) <= mpmath.mpf(10) ** -38 * g


def test_secular_roots_keep_their_digits_when_one_class_dominates():
    # 1 - w_d / (d - mu) cancels to ~1e-16 for the class of 2^52 samples
    problem = Problem.build([1, 2, 2**52], 2, 1e-30, 1e-30, "free")
    low, high = solve_precise(problem, 15), solve_precise(problem, 60)
    tol = mpmath.mpf(10) ** -16
    for a, b in zip(low.sigma, high.sigma):
        assert abs(a - b) <= tol * b
    for a, b in zip(low.feature_norm, high.feature_norm):
        assert abs(a - b) <= tol * b
    assert abs(low.loss - high.loss) <= tol * high.loss


@pytest.mark.parametrize("n", [[1, 2, 2, 7, 9, 40], [3, 5, 1000003, 4, 8], [1, 2, 3, 4, 5, 6]])
def test_secular_spectrum_equals_a_dense_eigensolver(n):
    # the secular roots start from float64 roots; checked against mpmath's symmetric
    # eigensolver on the dense D - n n^T / N at many more digits
    from ncsolve.solvers.precise import target_directions
    with mpmath.workdps(120):
        N = sum(n)
        G = mpmath.matrix([[(n[i] if i == j else 0) - mpmath.mpf(n[i] * n[j]) / N
                            for j in range(len(n))] for i in range(len(n))])
        dense = sorted((mpmath.sqrt(max(e, 0)) for e in mpmath.eigsy(G, eigvals_only=True)),
                       reverse=True)
    with mpmath.workdps(52):
        pairs = target_directions(n, "free")
    tol = mpmath.mpf(10) ** -48
    for (sigma, _), reference in zip(pairs, dense):
        assert abs(sigma - reference) <= tol * max(reference, 1e-30)


# ---- text and repr ------------------------------------------------------------------


def test_precise_result_prints_readably():
    result = ncsolve.predict(**WINDOW, precision=20)
    text = str(result)
    assert text.startswith("MSE, depth 3, K = 3 classes")
    assert "certainty: exact (20 significant digits, high-precision route)" in text
    assert "loss 0.18374161094277238171 " in text
    assert repr(result) == (
        "PreciseSolution(K=3, depth=3, bias='none', precision=20, loss=0.183742, rank=2, "
        "geometry='general orthogonal frame on 2 of 3 classes (1 collapsed)', unique=True)"
    )


def test_package_text_needs_no_command_line_code():
    import subprocess
    import sys

    code = ("import sys, ncsolve\n"
            "text = str(ncsolve.predict([3, 2], 2, precision=20))\n"
            "assert 'significant digits' in text\n"
            "assert not any(m.startswith('ncsolve.cli') for m in sys.modules), 'cli imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
