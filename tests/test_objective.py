"""The full objective and its gradient, checked against direct formulas and finite differences."""

import numpy as np
import pytest

from ncsolve.core.objective import FullObjective, class_labels, default_widths
from ncsolve.inputs.problem import Problem, ProblemError

CASES = [
    # (class sizes, depth, widths, decays of W_1..W_M)
    ([3, 2, 4], 1, (5,), (0.03,)),
    ([3, 2, 4], 2, (2, 5), (0.01, 0.07)),  # narrow feature layer
    ([2, 2, 1, 3], 3, (4, 1, 6), (0.02, 0.005, 0.04)),  # width-1 bottleneck
    ([1, 4], 4, (3, 3, 2, 3), (0.01, 0.02, 0.03, 0.04)),
]


def _problem(n, depth, decays, bias, loss):
    return Problem.build(n, depth=depth, lambda_w=list(decays), lambda_h=0.015, bias=bias,
                         loss=loss)


def _random(f, rng, scale=0.6):
    x = f.random_point(rng, scale)
    if f.has_bias:
        f.split(x).b[:] = rng.standard_normal(f.K)
    return x


def _direct_value(problem, widths, H, weights, b):
    """The objective written out sample by sample, independently of the module."""
    labels = np.concatenate([[k] * int(m) for k, m in enumerate(problem.n)])
    out = H
    for W in weights:
        out = W @ out
    if b is not None:
        out = out + b[:, None]
    N = problem.N
    if problem.loss == "mse":
        target = np.eye(problem.K)[:, labels]
        fit = np.sum((out - target) ** 2) / (2 * N)
    else:
        fit = np.mean([np.log(np.sum(np.exp(out[:, i]))) - out[labels[i], i] for i in range(N)])
    reg = problem.lambda_h * np.sum(H**2)
    reg += sum(lam * np.sum(W**2) for lam, W in zip(problem.lambda_w, weights))
    return fit + reg / 2


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("n, depth, widths, decays", CASES)
def test_value_matches_direct_formula(n, depth, widths, decays, bias, loss):
    problem = _problem(n, depth, decays, bias, loss)
    f = FullObjective(problem, widths)
    x = _random(f, np.random.default_rng(1))
    p = f.split(x)
    expected = _direct_value(problem, widths, p.H, p.weights, p.b)
    value, _ = f(x)
    assert value == pytest.approx(expected, rel=1e-12)
    assert f.value(x) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("n, depth, widths, decays", CASES)
def test_gradient_matches_finite_differences(n, depth, widths, decays, bias, loss):
    problem = _problem(n, depth, decays, bias, loss)
    f = FullObjective(problem, widths)
    rng = np.random.default_rng(7)
    x = _random(f, rng)
    _, grad = f(x)
    step = 1e-6
    numeric = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step
        numeric[i] = (f.value(x + e) - f.value(x - e)) / (2 * step)
    assert np.allclose(grad, numeric, rtol=1e-6, atol=1e-8 * np.abs(grad).max())


def test_layout_round_trip_and_shapes():
    problem = Problem.build([3, 2], depth=3, bias="free")
    f = FullObjective(problem, (4, 5, 6))
    assert f.shapes == [(4, 5), (5, 4), (6, 5), (2, 6), (2, 1)]
    rng = np.random.default_rng(0)
    H = rng.standard_normal((4, 5))
    Ws = [rng.standard_normal(s) for s in [(5, 4), (6, 5), (2, 6)]]
    b = rng.standard_normal(2)
    p = f.split(f.pack(H, Ws, b))
    assert np.array_equal(p.H, H) and np.array_equal(p.b, b)
    assert all(np.array_equal(a, w) for a, w in zip(p.weights, Ws))
    assert np.allclose(p.product(), Ws[2] @ Ws[1] @ Ws[0])
    assert np.allclose(p.layer_features(2), Ws[1] @ Ws[0] @ H)


def test_random_point_scale_and_zero_bias():
    f = FullObjective(Problem.build([50, 50], depth=2, bias="free"), (32, 32))
    x = f.random_point(np.random.default_rng(3), scale=0.1)
    p = f.split(x)
    assert np.all(p.b == 0)
    assert np.std(x[: f.offsets[-2]]) == pytest.approx(0.1, rel=0.05)


def test_cross_entropy_is_stable_for_large_logits():
    problem = Problem.build([2, 3], depth=1, loss="ce", lambda_w=1e-3, lambda_h=1e-3)
    f = FullObjective(problem, (2,))
    out = np.array([[800.0, -800, 0, 1000, 5], [-800, 800, 0, 1000, 1005]])
    value, grad = f.data_loss(out)
    labels = class_labels(problem.n)
    # log-sum-exp written out with the maximum taken by hand
    top = out.max(axis=0)
    expected = np.mean(top + np.log(np.exp(out - top).sum(axis=0)) - out[labels, range(5)])
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-14)
    assert np.all(np.isfinite(grad))
    assert np.allclose(grad.sum(axis=0), 0.0, atol=1e-15)


def test_cross_entropy_ignores_a_shift_of_the_bias():
    problem = Problem.build([2, 3, 1], depth=2, loss="ce", bias="free")
    f = FullObjective(problem, (3, 3))
    x = _random(f, np.random.default_rng(2))
    y = x.copy()
    f.split(y).b[:] += 4.2
    assert f.value(y) == pytest.approx(f.value(x), rel=1e-13)


def test_default_widths_and_bad_widths():
    problem = Problem.build([3, 2, 2], depth=2)
    assert default_widths(problem) == (3, 3)
    assert default_widths(problem, 8) == (8, 8)
    assert FullObjective(problem).widths == (3, 3)
    with pytest.raises(ProblemError, match="widths"):
        FullObjective(problem, (3,))
    with pytest.raises(ProblemError, match="widths"):
        FullObjective(problem, (3, 0))


def test_never_builds_n_by_n_arrays():
    # 20000 samples: an N x N float64 array would need 3.2 GB
    problem = Problem.build([10000, 10000], depth=2)
    f = FullObjective(problem, (4, 4))
    value, grad = f(f.random_point(np.random.default_rng(0)))
    assert np.isfinite(value) and grad.shape == (f.size,)


def test_cross_entropy_keeps_precision_at_large_margins():
    """CE = log(1 + sum e^(z_j - z_k)) against 50-digit mpmath, margins up to 800 of either sign."""
    import mpmath

    from ncsolve.core.objective import softmax_cross_entropy

    mpmath.mp.dps = 50
    Z = np.array([[0.0, 40.0, 700.0, -800.0, 3.0],
                  [5.0, 0.0, 0.0, 0.0, 3.0],
                  [-3.0, 1.0, 10.0, 2.0, 3.0]])
    labels = np.array([1, 0, 0, 2, 2])
    losses, grad = softmax_cross_entropy(Z, labels)
    for i, k in enumerate(labels):
        col = [mpmath.mpf(float(v)) for v in Z[:, i]]
        total = mpmath.fsum(mpmath.exp(v - col[k]) for v in col)
        assert losses[i] == pytest.approx(float(mpmath.log(total)), rel=1e-14)
        others = [mpmath.exp(col[j] - col[k]) / total for j in range(3) if j != k]
        for j in range(3):
            p = mpmath.exp(col[j] - col[k]) / total
            exact = float(-mpmath.fsum(others) if j == k else p)  # p_k - 1 without cancellation
            assert grad[j, i] == pytest.approx(exact, rel=1e-13, abs=1e-320)


def test_full_ce_objective_does_not_lose_tiny_losses():
    problem = Problem.build([2, 1], depth=1, lambda_w=1e-3, lambda_h=1e-3, loss="ce")
    f = FullObjective(problem, (2,))
    out = np.array([[50.0, 50.0, -50.0], [-50.0, -50.0, 50.0]])
    value, grad = f.data_loss(out)
    assert value == pytest.approx(np.log1p(np.exp(-100.0)), rel=1e-14)
    assert grad[0, 0] == pytest.approx(-np.exp(-100.0) / 3, rel=1e-13)
    assert np.allclose(grad.sum(axis=0), 0.0, atol=1e-320)
