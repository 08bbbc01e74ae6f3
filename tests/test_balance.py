"""Factor balancing at decays 1e-300 next to 1e300: every consumer against exact arithmetic.

The reference is mpmath on the float decays themselves (exact binary values, 256 bits),
through logarithms rather than ``sqrt(lbar / lambda)``, so it shares no code with
``ncsolve.core.balance``. In each case lbar is 1e-30, so ``lbar / lambda`` is 1e-330
(below float64) for a decay of 1e300 and 1e270 for 1e-300: a naive
``sqrt(lbar / lambda)`` gives a zero factor, and the tests fail.

The decays enter the minimizer only through lbar, so the same problem with every
decay equal to lbar has the same product (the same z, logits, loss): each per-layer
value of the far-apart problem is that of the equal one times the exact scale.
"""

import math

import mpmath
import numpy as np
import pytest

from ncsolve import predict
from ncsolve.core import balance
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem
from ncsolve.solvers.crossentropy.result import read_off
from ncsolve.sweep.mse import solve_group
from ncsolve.symbolic.equation import equation_report
from ncsolve.verify import CETarget, TheoryTarget, critical_point

N_CLASSES = [5, 3, 2]
CASES = [  # (depth, lambda_h, lambda_w); lbar = 1e-30 in each
    (2, 1e300, [1e-300, 1e-90]),
    (2, 1e-300, [1e300, 1e-90]),
    (4, 1e-300, [1e300, 1e-300, 1e300, 1e-150]),
]
IDS = ["H-1e300", "W1-1e300", "mixed-depth4"]
RTOL = 1e-12


def exact_scales(lambda_h, lambda_w):
    """sqrt(lbar / lambda_j) and F_j = prod_{i <= j} of them, j = H, W_1..W_M (mpf)."""
    with mpmath.workprec(256):
        logs = [mpmath.log(mpmath.mpf(v)) for v in (lambda_h, *lambda_w)]
        log_lbar = mpmath.fsum(logs) / len(logs)
        scales = [mpmath.exp((log_lbar - v) / 2) for v in logs]
        running = [mpmath.exp(mpmath.fsum((log_lbar - v) / 2 for v in logs[: j + 1]))
                   for j in range(len(logs))]
    return scales, running


def assert_close(values, reference, rtol=RTOL):
    """Every value within ``rtol`` of its (mpf or float) reference; zero only where
    the reference is (a direction that is zero at every decay)."""
    values = np.asarray(values, dtype=float).ravel()
    reference = list(np.asarray(reference, dtype=object).ravel())
    assert len(values) == len(reference)
    assert any(mpmath.mpf(r) != 0 for r in reference)
    for v, r in zip(values, reference):
        r = mpmath.mpf(r)
        assert math.isfinite(v), (v, r)
        assert (v == 0) if r == 0 else abs(mpmath.mpf(v) / r - 1) < rtol, (v, r)


def representable_squares(values) -> bool:
    """Whether the squares of these lengths are normal float64 numbers."""
    values = np.asarray(values, dtype=float)
    return bool(values.min() > 1e-150 and values.max() < 1e150)


def equal_problem(problem: Problem) -> Problem:
    """The same problem with every decay equal to its lbar."""
    return Problem.build(problem.n, problem.depth, problem.lbar, problem.lbar, problem.bias,
                         problem.loss, lambda_b=problem.lambda_b)


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    return request.param


# ---- the module itself ------------------------------------------------------------------


def test_scales_are_exact(case):
    depth, lh, lw = case
    problem = Problem.build(N_CLASSES, depth, lw, lh)
    scales, running = exact_scales(lh, lw)
    m, e = balance.decay_scales(problem)
    assert np.all((m >= 0.5) & (m < 2.0))
    assert_close(np.ldexp(m, e), scales, 1e-15)
    f_m, f_e, c_m, c_e = balance.layer_scales(problem)
    assert_close(np.ldexp(f_m, f_e), running, 1e-15)
    assert_close(np.ldexp(c_m, c_e), [1 / r for r in running], 1e-15)


def test_factors_of_given_product_values(case):
    depth, lh, lw = case
    problem = Problem.build(N_CLASSES, depth, lw, lh)
    scales, running = exact_scales(lh, lw)
    z = np.array([3.0, 0.25, 0.0])
    L = depth + 1
    factors = balance.factor_values(problem, z)
    assert np.all(factors[2] == 0.0)
    assert_close(factors[:2], [[mpmath.mpf(v) ** (mpmath.mpf(1) / L) * s for s in scales]
                               for v in z[:2]])
    features = balance.layer_values(problem, z)
    classifier = balance.layer_values(problem, z, classifier=True)
    assert_close(features[:2], [[mpmath.mpf(v) ** (mpmath.mpf(j + 1) / L) * f
                                 for j, f in enumerate(running)] for v in z[:2]])
    assert_close(classifier[:2], [[mpmath.mpf(v) ** (1 - mpmath.mpf(j + 1) / L) / f
                                   for j, f in enumerate(running)] for v in z[:2]])


# ---- predict, the high-precision route, the sweep and the equation report -----------------


@pytest.mark.parametrize("bias", ["none", "free"])
def test_mse_consumers_agree_at_far_apart_decays(case, bias):
    depth, lh, lw = case
    sol = predict(N_CLASSES, depth, lw, lh, bias=bias)
    ref = predict(N_CLASSES, depth, sol.problem.lbar, sol.problem.lbar, bias=bias)
    scales, running = exact_scales(lh, lw)
    assert sol.loss == pytest.approx(ref.loss, rel=RTOL)
    assert_close(sol.singular_values,
                 [[v * s for v, s in zip(row, scales)] for row in ref.singular_values])
    assert_close(sol.layer_feature_norms,
                 [[v * f for v in row] for row, f in zip(ref.layer_feature_norms, running)])
    assert np.array_equal(sol.feature_norm, sol.layer_feature_norms[0])
    assert_close(sol.classifier_norm, [v / running[0] for v in ref.classifier_norm])

    precise = predict(N_CLASSES, depth, lw, lh, bias=bias, precision=20)
    assert_close(sorted(map(float, (v[0] for v in precise.singular_values))),
                 sorted(sol.singular_values[:, 0]))
    assert_close([float(v) for v in precise.feature_norm], sol.feature_norm)

    swept = solve_group(np.array(N_CLASSES), depth, bias, None, np.array([lw]), np.array([lh]))
    assert_close(swept["feature_norm"], sol.feature_norm)
    assert_close(swept["classifier_norm"], sol.classifier_norm)

    report = equation_report(depth, N_CLASSES, lw, lh, bias=bias, precision=20)
    norms = ([r.feature_norm for r in report.rows] if bias == "none"
             else [f for _, f in report.classes])
    assert_close([float(v) for v in norms], sol.feature_norm)


# ---- verify: the theory's starting point and targets ------------------------------------------


def test_verify_start_and_targets(case):
    depth, lh, lw = case
    problem = Problem.build(N_CLASSES, depth, lw, lh)
    sol = predict(N_CLASSES, depth, lw, lh)
    objective = FullObjective(problem)
    params = objective.split(critical_point(sol, objective))
    blocks = [params.H, *params.weights]
    for j, block in enumerate(blocks):
        values = np.sort(np.linalg.svd(block, compute_uv=False))[::-1][: problem.K]
        assert_close(values, np.sort(sol.singular_values[:, j])[::-1])
    product = blocks[0]
    for W in blocks[1:]:
        product = W @ product
    means = product[:, np.cumsum([0, *N_CLASSES[:-1]])]  # one sample of each class
    assert_close(np.diag(means), sol.output)

    target = TheoryTarget.build(problem, sol.directions(), sol.sigma, sol.z)
    checked = 0
    for j in range(depth):  # where the squared lengths are float64 numbers
        if representable_squares(sol.layer_feature_norms[j]):
            assert_close(np.sqrt(np.diag(target.feature_grams[j])), sol.layer_feature_norms[j])
            checked += 1
    if representable_squares(sol.classifier_norm):
        assert_close(np.sqrt(np.diag(target.classifier_grams[0])), sol.classifier_norm)
        checked += 1
    assert checked >= 1


# ---- cross-entropy: the read-off of the logits, and the search -----------------------------


@pytest.fixture(scope="module")
def ce_answer():
    depth, lh, lw = CASES[1]
    return predict(N_CLASSES, depth, lw, lh, loss="ce")


def test_crossentropy_read_off(case, ce_answer):
    depth, lh, lw = case
    X, rank = np.asarray(ce_answer.logits), ce_answer.rank
    problem = Problem.build(N_CLASSES, depth, lw, lh, loss="ce")
    layers = read_off(problem, X, rank)
    ref = read_off(equal_problem(problem), X, rank)
    scales, running = exact_scales(lh, lw)
    L = depth + 1
    assert_close(layers.feature_sv, [mpmath.mpf(s) ** (mpmath.mpf(1) / L) * scales[0]
                                     for s in layers.s])
    for j, w in enumerate(layers.weight_sv):
        assert_close(w, [mpmath.mpf(s) ** (mpmath.mpf(1) / L) * scales[j + 1]
                         for s in layers.s])
    assert_close(layers.layer_norms.T,
                 [[v * f for v in row] for row, f in zip(ref.layer_norms.T, running)])
    assert_close(layers.classifier_norms, [v / running[0] for v in ref.classifier_norms])


def test_crossentropy_answer_is_finite_and_checkable(ce_answer):
    p = ce_answer.problem
    ref = predict(N_CLASSES, p.depth, p.lbar, p.lbar, loss="ce")
    assert ce_answer.loss == pytest.approx(ref.loss, rel=1e-9)
    _, running = exact_scales(p.lambda_h, p.lambda_w)
    assert_close(ce_answer.feature_norm, [v * running[0] for v in ref.feature_norm], 1e-6)
    assert not np.any(ce_answer.collapsed)
    target = CETarget.from_solution(ce_answer)  # lengths 1e134 and 1e-30: squares in float64
    for j in range(p.depth):
        assert_close(np.sqrt(np.diag(target.feature_grams[j])), ce_answer.layers.layer_norms[:, j])
    assert_close(np.sqrt(np.diag(target.classifier_grams[0])), ce_answer.classifier_norm)


# ---- regularized bias ------------------------------------------------------------------------


def test_regularized_bias(case):
    depth, lh, lw = case
    sol = predict(N_CLASSES, depth, lw, lh, bias="regularized", lambda_b=1e-3)
    ref = predict(N_CLASSES, depth, sol.problem.lbar, sol.problem.lbar, bias="regularized",
                  lambda_b=1e-3)
    scales, running = exact_scales(lh, lw)
    L = depth + 1
    assert sol.loss == pytest.approx(ref.loss, rel=RTOL)
    assert_close(sol.singular_values, [[mpmath.mpf(v) ** (mpmath.mpf(1) / L) * s
                                        for s in scales] for v in sol.z])
    assert_close(sol.layer_feature_norms,
                 [[v * f for v in row] for row, f in zip(ref.layer_feature_norms, running)])
    assert_close(sol.classifier_norm, [v / running[0] for v in ref.classifier_norm])
    assert sol.toward_bias_free == pytest.approx(ref.toward_bias_free, rel=1e-9)
