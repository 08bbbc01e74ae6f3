"""Cross-entropy: predict's answer against direct minimization of the full objective.

The arbiter is L-BFGS on the full, un-reduced objective (ncsolve.core.objective /
ncsolve.core.descent) from several random starts.  The reduced solver must
(1) be attained: the full objective at the read-off parameters equals the
reported objective and is a critical point there, and (2) never be beaten: no
full-problem restart ends below it.
"""

from __future__ import annotations

import io
import itertools
import json
import math
from contextlib import redirect_stderr, redirect_stdout

import mpmath
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from ncsolve.api import predict
from ncsolve.solvers.crossentropy import CESolution, solve
from ncsolve.solvers.crossentropy.candidates import (
    cross_polytope_pattern,
    fit_scale,
    polygon_pattern,
    product_pattern,
    simplex_pattern,
)
from ncsolve.solvers.crossentropy.certificate import dual_bound, origin_proof_decay
from ncsolve.solvers.crossentropy.factor_form import FactorObjective
from ncsolve.solvers.crossentropy.reduced import ReducedCE
from ncsolve.core.descent import minimize_lbfgs
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem, ProblemError

REL = 1e-9  # relative slack when comparing objectives

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def full_restarts(problem: Problem, restarts: int, widths=None, scale: float = 0.3):
    """Objectives (and results) of L-BFGS on the full objective from random starts."""
    f = FullObjective(problem, widths)
    runs = [minimize_lbfgs(f, seed=s, init_scale=scale, gtol=1e-10, maxiter=6000, polish=2)
            for s in range(restarts)]
    return sorted(runs, key=lambda r: r.loss)


def class_means(run) -> np.ndarray:
    """Class-mean features (d_1 x K) of a full-problem run."""
    p = run.params
    n = run.problem.n
    edges = np.concatenate([[0], np.cumsum(n)])
    return np.stack([p.H[:, a:b].mean(axis=1) for a, b in itertools.pairwise(edges)], axis=1)


def ce_problem(n, depth, decay=5e-4, bias="none", widths=None, lambda_h=None) -> Problem:
    return Problem.build(n, depth, decay, decay if lambda_h is None else lambda_h, bias, "ce",
                         widths)


# ---- the reduced objective and its candidates -----------------------------------------


def test_etf_formula_matches_reduced_objective():
    """f(rho) = log(1 + (K-1) e^-rho) + c (K-1) (rho sqrt n)^q on X = rho (I - 11^T/K)."""
    for K, n, depth in ((3, 7, 1), (5, 20, 2), (4, 50, 3)):
        problem = ce_problem([n] * K, depth, 1e-3)
        red = ReducedCE(problem)
        for rho in (0.3, 2.0, 9.5):
            formula = math.log1p((K - 1) * math.exp(-rho)) + problem.c * (K - 1) * (
                rho * math.sqrt(n)) ** problem.q
            assert red.value(rho * simplex_pattern(K)) == pytest.approx(formula, rel=1e-13)


def etf_formula(K: int, n: int, c: float, q: float) -> float:
    """min over rho of log(1 + (K-1) e^-rho) + c (K-1) (rho sqrt n)^q (THEORY.md 6), by scipy."""
    def f(rho):
        return math.log1p((K - 1) * math.exp(-rho)) + c * (K - 1) * (rho * math.sqrt(n)) ** q
    return minimize_scalar(f, bounds=(0.1, 60.0), method="bounded",
                           options={"xatol": 1e-12}).fun


def square_formula(n: int, c: float, q: float) -> float:
    """The square (K = 4): classes at +-e_1, +-e_2, logits s times the Gram, by scipy.

    Each class has margin s over its two neighbours and 2 s over the opposite
    class, so CE = log(1 + 2 e^-s + e^-2s) = 2 log(1 + e^-s).  The Gram of the
    four unit vectors is V V^T with V^T V = 2 I, so X D^(1/2) has two singular
    values 2 s sqrt(n).
    """
    def f(s):
        return 2 * math.log1p(math.exp(-s)) + 2 * c * (2 * s * math.sqrt(n)) ** q
    return minimize_scalar(f, bounds=(0.1, 60.0), method="bounded",
                           options={"xatol": 1e-12}).fun


def icosahedron_formula(n: int, c: float, q: float) -> float:
    """The icosahedron (K = 12), logits s times the Gram of its unit vertices, by scipy.

    Every vertex has 5 neighbours at cosine 1/sqrt 5, 5 at -1/sqrt 5 and its
    antipode at -1; the 12 unit vertices form a tight frame (V^T V = 4 I), so
    X D^(1/2) has three singular values 4 s sqrt(n).
    """
    r = 1 / math.sqrt(5)

    def f(s):
        ce = math.log1p(5 * math.exp(-s * (1 - r)) + 5 * math.exp(-s * (1 + r)) + math.exp(-2 * s))
        return ce + 3 * c * (4 * s * math.sqrt(n)) ** q

    return minimize_scalar(f, bounds=(0.1, 60.0), method="bounded",
                           options={"xatol": 1e-12}).fun


# THEORY.md 6 (K = 4, n = 50, depth 3, decays 5e-4): published to 6 digits
THEORY_ETF, THEORY_RANK2 = 0.023492, 0.021671


def test_square_beats_etf_by_one_variable_formulas():
    """THEORY.md 6 example: the square (rank 2) beats the ETF at K=4, n=50, depth 3."""
    problem = ce_problem([50] * 4, 3)
    red = ReducedCE(problem)
    etf = fit_scale(red, simplex_pattern(4))[1]
    square = fit_scale(red, cross_polytope_pattern(4) / 2.0)[1]
    assert etf == pytest.approx(etf_formula(4, 50, problem.c, problem.q), rel=1e-11)
    assert square == pytest.approx(square_formula(50, problem.c, problem.q), rel=1e-11)
    assert round(etf, 6) == THEORY_ETF and round(square, 6) == THEORY_RANK2


def test_patterns_have_the_stated_ranks():
    red = ReducedCE(ce_problem([3] * 12, 2))
    assert red.rank(simplex_pattern(12)) == 11
    assert red.rank(polygon_pattern(12)) == 2
    assert red.rank(cross_polytope_pattern(12)) == 6
    assert red.rank(product_pattern((2, 2, 3))) == 4


def test_factor_form_gradient_and_balance():
    """Factor-form gradient against finite differences; balanced factors give F exactly."""
    from scipy.optimize import approx_fprime

    for bias in ("none", "free"):
        red = ReducedCE(ce_problem([5, 3, 7, 2], 3, 1e-2, bias))
        fo = FactorObjective(red, 3)
        theta = np.random.default_rng(1).standard_normal(fo.size)
        value, grad = fo(theta)
        numeric = approx_fprime(theta, lambda t, f=fo: f(t)[0], 1e-7)
        assert np.max(np.abs(grad - numeric)) < 1e-6
        X, b = fo.logits(theta)
        b = red.best_bias(X) if red.bias else None
        assert fo(fo.balanced_point(X, b))[0] == pytest.approx(red.value(X, b), rel=1e-9)
        assert value >= red.value(X, b if red.bias else None) - 1e-12


# ---- predict against the full problem ---------------------------------------------------


def assert_attained(sol: CESolution, widths=None):
    """The read-off full parameters reproduce the objective and are a critical point."""
    f = FullObjective(sol.problem, widths)
    H, weights, b = sol.full_parameters(widths)
    value, grad = f(f.pack(H, weights, b))
    assert value == pytest.approx(sol.loss, rel=1e-12, abs=1e-14)
    assert np.max(np.abs(grad)) < 1e-6


@pytest.mark.parametrize("bias", ["none", "free"])
def test_depth1_balanced_is_the_proved_etf(bias):
    problem = ce_problem([6] * 4, 1, 5e-3, bias)
    sol = solve(problem)
    assert sol.certainty == "proved"
    assert sol.geometry == "simplex ETF"
    assert sol.rank == 3
    assert -1e-12 <= sol.duality_gap < 1e-7
    assert_attained(sol)
    runs = full_restarts(problem, 3)
    assert runs[0].loss >= sol.loss * (1 - REL)
    assert runs[0].loss == pytest.approx(sol.loss, rel=1e-7)
    # the ETF is unique up to rotation: Grams of class means and classifier match
    means = class_means(runs[0])
    assert np.allclose(means.T @ means, sol.gram_features(), rtol=0, atol=1e-5)
    W = runs[0].params.product()
    assert np.allclose(W @ W.T, sol.gram_classifier(), rtol=0, atol=1e-4)


def test_k4_depth3_reports_the_rank2_structure_not_the_etf():
    """K=4, n=50, depth 3, decays 5e-4: a rank-2 structure beats the ETF (THEORY.md 6)."""
    problem = ce_problem([50] * 4, 3)
    sol = solve(problem)
    assert sol.geometry != "simplex ETF"
    assert sol.rank == 2
    assert sol.certainty == "best found"
    assert sol.loss == pytest.approx(square_formula(50, problem.c, problem.q), rel=1e-11)
    assert round(sol.loss, 6) == THEORY_RANK2 and round(sol.etf_loss, 6) == THEORY_ETF
    assert sol.etf_loss - sol.loss > 1.8e-3
    assert {c.name for c in sol.candidates} >= {"simplex ETF", "square (cross-polytope in 2D)"}
    assert sol.runner_up is not None and sol.gap > 0
    assert_attained(sol)
    runs = full_restarts(problem, 4)
    assert all(r.loss >= sol.loss * (1 - REL) for r in runs)
    assert runs[0].loss == pytest.approx(sol.loss, rel=1e-7)  # the full problem finds it
    product = runs[0].params.product() @ class_means(runs[0])
    assert np.sum(np.linalg.svd(product, compute_uv=False) > 1e-4) == 2


CASES = [
    # (class sizes, depth, decay, bias)
    ([5, 5, 5], 1, 1e-2, "none"),
    ([9, 4, 2], 1, 1e-2, "free"),
    ([4, 4, 4, 4], 2, 5e-3, "free"),
    ([8, 5, 3, 2], 2, 5e-3, "none"),
    ([6, 6, 6, 6, 6], 3, 2e-3, "none"),
    ([10, 6, 3, 3], 3, 2e-3, "free"),
    ([5, 5, 5, 5], 4, 1e-3, "none"),
    ([12, 6, 4, 2, 2], 4, 1e-3, "none"),
    ([7, 5, 3, 2, 2], 2, 3e-3, "free"),
    ([4, 4, 4, 4, 4, 4], 3, 1e-3, "free"),
    ([9, 7, 5, 3, 2, 1], 4, 4e-3, "none"),
]


@pytest.mark.parametrize("n, depth, decay, bias", CASES)
def test_predict_never_above_full_restarts(n, depth, decay, bias):
    problem = ce_problem(n, depth, decay, bias)
    sol = predict(n, depth, decay, decay, bias, "ce")
    assert_attained(sol)
    runs = full_restarts(problem, 4)
    assert runs[0].loss >= sol.loss - REL * abs(sol.loss), (
        f"full restart reached {runs[0].loss!r} below predict's {sol.loss!r}")
    if depth == 1:
        assert sol.certainty == "proved"
        assert runs[0].loss == pytest.approx(sol.loss, rel=1e-7)
    else:
        assert sol.certainty == "best found"
        assert sol.restarts > 0 and len(sol.runs) > sol.restarts


def test_unequal_layer_decays():
    """Only the geometric mean enters the reduced problem; the read-off uses each decay."""
    problem = Problem.build([7, 4, 4, 2], 3, (2e-3, 5e-4, 1e-3), 3e-4, "free", "ce")
    sol = solve(problem)
    assert_attained(sol)
    H, weights, _ = sol.full_parameters()
    norms = [problem.lambda_h * np.vdot(H, H)] + [
        lam * np.vdot(W, W) for lam, W in zip(problem.lambda_w, weights)]
    assert np.allclose(norms, norms[0], rtol=1e-10)  # balanced: equal decay terms
    runs = full_restarts(problem, 4)
    assert runs[0].loss >= sol.loss * (1 - REL)


def test_narrow_width_caps_the_rank():
    problem = ce_problem([6] * 5, 2, 2e-3, widths=[2, 2])
    sol = solve(problem)
    assert sol.rank <= 2
    assert all(c.rank <= 2 for c in sol.candidates)
    assert_attained(sol, widths=(2, 2))
    runs = full_restarts(problem, 4, widths=(2, 2))
    assert runs[0].loss >= sol.loss * (1 - REL)


def test_depth1_with_a_binding_rank_cap_is_not_claimed_proved():
    """Width 2 < K-1 at depth 1: the rank constraint makes the problem non-convex."""
    problem = ce_problem([6] * 4, 1, 5e-3, widths=[2])
    sol = solve(problem)
    assert sol.rank <= 2 and sol.certainty == "best found"
    assert sol.duality_gap > 1e-6
    assert sol.loss > solve(ce_problem([6] * 4, 1, 5e-3)).loss
    runs = full_restarts(problem, 4, widths=(2,))
    assert runs[0].loss >= sol.loss * (1 - REL)


def test_k12_depth3_finds_the_icosahedron():
    """Twelve balanced classes at depth 3: a rank-3 spherical code beats the ETF by 29%."""
    problem = ce_problem([50] * 12, 3)
    sol = solve(problem)
    assert sol.geometry == "icosahedron" and sol.rank == 3
    assert sol.loss == pytest.approx(icosahedron_formula(50, problem.c, problem.q),
                                          rel=1e-11)
    assert sol.etf_loss == pytest.approx(etf_formula(12, 50, problem.c, problem.q),
                                              rel=1e-11)
    assert sol.loss < 0.72 * sol.etf_loss
    assert_attained(sol)


def test_depth1_imbalanced_readoff_matches_full_minimizer():
    """Depth 1 is convex: the full minimizer's Grams match the read-off."""
    problem = ce_problem([9, 4, 2], 1, 1e-2)
    sol = solve(problem)
    assert sol.certainty == "proved"
    run = full_restarts(problem, 2)[0]
    means = class_means(run)
    assert np.allclose(means.T @ means, sol.gram_features(), atol=1e-5)
    outputs = run.params.product() @ means
    assert np.allclose(outputs - outputs.mean(axis=0), sol.logits, atol=1e-4)


def test_dual_bound_is_a_lower_bound():
    red = ReducedCE(ce_problem([9, 4, 2], 1, 1e-2, "free"))
    sol = solve(red.problem)
    rough = sol.logits * 0.7
    assert dual_bound(red, rough) <= sol.loss + 1e-12
    assert dual_bound(red, sol.logits, sol.bias_value) == pytest.approx(sol.loss, abs=1e-7)
    with pytest.raises(ValueError):
        dual_bound(ReducedCE(ce_problem([3, 3], 2)), sol.logits)


@pytest.mark.parametrize("depth", [1, 3])
def test_heavy_decay_gives_the_proved_origin(depth):
    base = ReducedCE(ce_problem([5, 5, 5], depth, 1.0))
    decay = 1.01 * origin_proof_decay(base)
    problem = ce_problem([5, 5, 5], depth, decay)
    sol = solve(problem)
    assert sol.rank == 0 and sol.certainty == "proved"
    assert sol.loss == pytest.approx(math.log(3), rel=1e-14)
    assert sol.collapsed.all()
    runs = full_restarts(problem, 2, scale=1.0)
    assert runs[0].loss >= math.log(3) * (1 - REL)


def test_depth1_origin_threshold_is_exact():
    """Depth 1 balanced: the origin wins exactly above lbar = 1 / (K sqrt(n))."""
    K, n = 4, 9
    red = ReducedCE(ce_problem([n] * K, 1))
    assert origin_proof_decay(red) == pytest.approx(1 / (K * math.sqrt(n)), rel=1e-12)
    below = solve(ce_problem([n] * K, 1, 0.98 / (K * math.sqrt(n))))
    above = solve(ce_problem([n] * K, 1, 1.02 / (K * math.sqrt(n))))
    assert below.rank == 3 and above.rank == 0


def test_free_bias_learns_the_prior_when_it_helps():
    """A free bias is not a no-op for imbalanced classes: it lowers the objective."""
    n = [40, 5, 5]
    with_bias = solve(ce_problem(n, 2, 2e-2, "free"))
    without = solve(ce_problem(n, 2, 2e-2, "none"))
    assert with_bias.loss < without.loss - 1e-3
    assert with_bias.bias_value is not None and abs(with_bias.bias_value.sum()) < 1e-10
    assert any("bias" in note for note in with_bias.notes)


def test_class_order_does_not_change_the_objective():
    a = solve(ce_problem([9, 4, 2], 2, 5e-3))
    b = solve(ce_problem([2, 9, 4], 2, 5e-3))
    assert a.loss == pytest.approx(b.loss, rel=1e-9)


# ---- output contract ---------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, str, str]:
    from ncsolve.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_json_contract():
    code, out, err = run_cli("predict", "--n", "50,50,50,50", "--depth", "3", "--loss", "ce",
                             "--json")
    assert code == 0, err
    data = json.loads(out)
    for key in ("loss", "certainty", "geometry", "classes", "rank", "candidates", "gram",
                "logits", "notes", "gap_to_runner_up", "restarts"):
        assert key in data
    assert data["certainty"] == "best found"
    assert data["rank"] == 2
    assert round(data["loss"], 6) == THEORY_RANK2
    assert len(data["classes"]) == 4
    for entry in data["classes"]:
        assert {"n", "feature_norm", "classifier_norm", "collapsed"} <= set(entry)
    assert all({"name", "loss"} <= set(c) for c in data["candidates"])
    assert len(data["gram"]["features"]) == 4 and len(data["gram"]["outputs"][0]) == 4


def test_json_free_bias_is_explained_and_text_report_runs():
    code, out, _ = run_cli("predict", "--n", "8,4,2", "--depth", "2", "--bias", "free",
                           "--loss", "ce", "--json")
    data = json.loads(out)
    assert code == 0 and data["bias_value"] is not None
    assert any("same constant" in note for note in data["notes"])
    code, text, _ = run_cli("predict", "--n", "8,4,2", "--depth", "1", "--loss", "ce")
    assert code == 0
    assert "certainty: proved" in text and "candidates" in text and "per class" in text


@pytest.mark.parametrize("argv", [
    ["--n", "5,0,3"], ["--n", "5,x"], ["--depth", "0"], ["--lambda-w", "-1"],
    ["--depth", "2", "--lambda-w", "1e-3,1e-3,1e-3"], ["--depth", "2", "--widths", "3"],
    ["--bias", "maybe"],
])
def test_bad_input_is_one_line_and_status_2(argv):
    args = ["predict", "--loss", "ce"] + (argv if "--n" in argv else ["--n", "5,4"] + argv)
    code, out, err = run_cli(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_solver_options():
    with pytest.raises(ProblemError, match="restarts"):
        solve(ce_problem([3, 3], 2), restarts=-1)
    with pytest.raises(ProblemError):
        predict([3, -1], loss="ce")


def test_too_many_restarts_are_refused():
    with pytest.raises(ProblemError, match=r"restarts \(--restarts\): at most"):
        solve(ce_problem([10, 5], 2), restarts=10**9)
    code, out, err = run_cli("predict", "--loss", "ce", "--n", "10,5", "--depth", "2",
                             "--restarts", "1000000000")
    assert code == 2 and out == "" and "restarts" in err


# ---- tiny decays: losses far below the rounding unit of 1 -------------------------------


def depth1_two_class_optimum(n0: int, n1: int, decay: str) -> tuple[mpmath.mpf, mpmath.mpf]:
    """Global minimum and margin of the bias-free depth-1 problem with K = 2, in mpmath.

    With centred columns, X = (1, -1)^T (m0/2, -m1/2) for margins m0, m1, so
    F(m0, m1) = w0 log(1 + e^-m0) + w1 log(1 + e^-m1) + c sqrt((n0 m0^2 + n1 m1^2) / 2),
    convex (c = lbar at depth 1).  Its stationarity conditions read
    sigmoid(-m_k) / m_k = c N / (2 R) for both k, and sigmoid(-m)/m is strictly
    decreasing, so m0 = m1 = m: a 1-D problem log(1 + e^-m) + c sqrt(N/2) m,
    minimized here by a root of its derivative at 50 digits.  The 2-D gradient
    is checked to vanish there, which (by convexity) makes it the global minimum.
    """
    mpmath.mp.dps = 50
    c, N = mpmath.mpf(decay), n0 + n1
    w0, w1 = mpmath.mpf(n0) / N, mpmath.mpf(n1) / N

    def F(m0, m1):
        penalty = c * mpmath.sqrt((n0 * m0**2 + n1 * m1**2) / 2)
        return w0 * mpmath.log1p(mpmath.exp(-m0)) + w1 * mpmath.log1p(mpmath.exp(-m1)) + penalty

    def f(m):
        return F(m, m)
    m = mpmath.findroot(lambda m: mpmath.diff(f, m), mpmath.log(1 / (c * mpmath.sqrt(N / 2))))
    scale = abs(mpmath.diff(lambda x: w0 * mpmath.log1p(mpmath.exp(-x)), m))
    for k in range(2):
        partial = mpmath.diff(F, (m, m), tuple(int(i == k) for i in range(2)))
        assert abs(partial) < mpmath.mpf(10) ** -40 * scale
    return f(m), m


@pytest.mark.parametrize("decay", ["1e-8", "1e-14", "1e-300"])
def test_tiny_decays_depth1_match_an_independent_optimum(decay):
    """CE = log(1 + e^-m) for margins m > 37 is below the rounding unit of 1: it must not vanish."""
    expected, margin = depth1_two_class_optimum(10, 5, decay)
    sol = predict([10, 5], 1, float(decay), float(decay), loss="ce")
    assert sol.loss == pytest.approx(float(expected), rel=1e-12)
    assert sol.ce_loss == pytest.approx(float(mpmath.log1p(mpmath.exp(-margin))), rel=1e-6)
    assert sol.etf_scale == pytest.approx(float(margin), rel=1e-6)
    assert sol.duality_gap >= 0 and sol.certainty == "proved"
    assert sol.duality_gap <= 1e-7 * sol.loss


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("n", [[10, 5], [9, 4, 2]])
def test_tiny_decay_duality_gap_is_never_negative(n, bias):
    for decay in (1e-10, 1e-200):
        sol = solve(ce_problem(n, 1, decay, bias), restarts=4)
        assert sol.duality_gap >= 0, (decay, sol.duality_gap)
        assert sol.loss > 0 and sol.ce_loss > 0
        if sol.certainty == "proved":
            assert sol.duality_gap <= 1e-7 * sol.loss


def test_negative_or_relatively_large_gap_is_not_a_proof():
    from ncsolve.solvers.crossentropy.solver import _gap_verdict

    assert _gap_verdict(0.0, 1e-297)[0] == "proved"
    assert _gap_verdict(1e-306, 1e-297)[0] == "proved"
    certainty, reason = _gap_verdict(-1e-310, 1e-297)
    assert certainty == "best found" and "negative" in reason
    assert _gap_verdict(-2e-15, 5e-7)[0] == "best found"
    assert _gap_verdict(1e-9, 1e-8)[0] == "best found"  # relative, not absolute, tolerance


def test_best_bias_in_the_saturated_regime_matches_scipy():
    """Large logits (saturated softmax, some classes misclassified): Newton stays finite."""
    from scipy.optimize import minimize

    red = ReducedCE(ce_problem([4, 3, 2, 1], 2, 1e-3, "free"))
    X = 300.0 * np.random.default_rng(3).standard_normal((4, 4))
    b = red.best_bias(X)
    best = min(minimize(lambda v: red.ce(X, v)[0], b0, method="Nelder-Mead",
                        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000}).fun
               for b0 in (np.zeros(4), b, 50 * np.ones(4) * [1, -1, 1, -1]))
    assert np.all(np.isfinite(b))
    assert red.ce(X, b)[0] <= best * (1 + 1e-12) + 1e-12


def test_scale_grid_reaches_the_margins_of_tiny_decays():
    red = ReducedCE(ce_problem([10, 5], 1, 1e-300))
    scale, value, _ = fit_scale(red, simplex_pattern(2))
    assert 680 < scale < 700 and value < 1e-296


# ---- reports -----------------------------------------------------------------------------


def test_single_class_is_the_origin_and_says_so():
    sol = predict([7], 3, loss="ce")
    assert sol.loss == 0 and sol.rank == 0 and sol.certainty == "proved"
    assert "single class" in sol.certainty_reason
    text = str(sol)
    assert "single class" in text and "rho" not in text and "beats" not in text


def test_package_does_not_import_the_cli_layer():
    import ast
    from pathlib import Path

    import ncsolve.solvers.crossentropy as package

    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "cli" not in (node.module or "").split("."), path.name


def test_text_header_and_per_class_precision():
    sol = solve(ce_problem([50] * 4, 3, bias="free"), restarts=6)
    text = str(sol)
    assert "lambda_w = 0.0005 (all 3 layers)" in text and "(0.0005, 0.0005" not in text
    table = text.split("per class")[1].split("candidates")[0].splitlines()[2:6]
    rows = sorted(tuple(line.split()[2:6]) for line in table)
    assert rows[0] == rows[1] and rows[2] == rows[3]  # the two pairs of symmetric classes
