"""Targets other than one-hot (label smoothing, soft labels, per-sample targets):
the closed form against direct minimization of the full objective (tests/targets_reference.py,
written without ncsolve), and against independent closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve import ProblemError, predict
from ncsolve.inputs.targets import sample_moments
from targets_reference import class_means, class_target, minimize_full, relative

LOSS_RTOL, GRAM_RTOL = 1e-9, 1e-6


def _check_class_level(result, S, n, lambda_h, lambda_w, widths, bias, lambda_b=None):
    # deep narrow models have lower-rank local minima: more (and larger) random starts
    deep, narrow = len(widths) >= 3, min(widths) <= 2
    seeds = range(16 if deep and narrow else 10 if deep else 4)
    scale = 3.0 if deep and narrow else 2.0 if deep else 1.0
    run = minimize_full(class_target(S, n), lambda_h, lambda_w, widths, bias, lambda_b,
                        seeds=seeds, scale=scale)
    assert abs(run.loss - result.loss) <= LOSS_RTOL * result.loss
    if not result.unique:  # e.g. the rank cap cuts through equal singular values
        assert any(note.startswith("non-unique") for note in result.notes)
        return
    means, W = class_means(run.H, n), run.W
    assert relative(means.T @ means, result.gram_features()) <= GRAM_RTOL
    assert relative(W @ W.T, result.gram_classifier()) <= GRAM_RTOL
    assert relative(W @ means, result.gram_outputs()) <= GRAM_RTOL
    lengths = np.linalg.norm(means, axis=0)
    assert np.allclose(lengths, result.feature_norm, rtol=1e-6, atol=1e-9)
    if bias != "none":
        assert relative(run.b, result.bias_value) <= GRAM_RTOL


def _smoothing(K, eps):
    return (1 - eps) * np.eye(K) + eps / K


SMOOTHING_FAST = [  # (eps, n, bias, depth, lambda_w, widths)
    (0.1, [5, 3, 2], "none", 1, [0.01], None),
    (0.3, [4, 4, 4], "free", 2, [0.01, 0.03], None),
    (0.05, [5, 3, 2], "free", 3, [0.01, 0.02, 0.005], None),
    (0.1, [4, 4, 4], "none", 4, [0.01] * 4, None),
    (0.3, [6, 3, 2, 1], "none", 2, [0.005, 0.01], (2, 3)),  # rank cap 2
]


@pytest.mark.parametrize("eps, n, bias, depth, lambda_w, widths", SMOOTHING_FAST)
def test_label_smoothing_matches_full_problem(eps, n, bias, depth, lambda_w, widths):
    lambda_h = 0.02
    result = predict(n=n, depth=depth, lambda_w=lambda_w, lambda_h=lambda_h, bias=bias,
                     widths=widths, label_smoothing=eps)
    full_widths = widths or [len(n) + 1] * depth
    _check_class_level(result, _smoothing(len(n), eps), n, lambda_h, lambda_w, full_widths,
                       bias)
    if widths is not None:
        assert result.rank <= min(widths) and result.problem.rank_cap == min(widths)


@pytest.mark.slow
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("n", [[4, 4, 4], [5, 3, 2]])
@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_label_smoothing_grid(eps, n, bias, depth):
    # decays low enough that random starts find the global basin at depth 4: near a
    # phase window the nonzero minimum's basin is small and a search ends at lower rank
    lambda_w = [0.005 * (1 + j) for j in range(depth)]
    result = predict(n=n, depth=depth, lambda_w=lambda_w, lambda_h=0.01, bias=bias,
                     label_smoothing=eps)
    _check_class_level(result, _smoothing(len(n), eps), n, 0.01, lambda_w, [4] * depth, bias)
    narrow = predict(n=n, depth=depth, lambda_w=lambda_w, lambda_h=0.01, bias=bias,
                     label_smoothing=eps, widths=[2] * depth)
    _check_class_level(narrow, _smoothing(len(n), eps), n, 0.01, lambda_w, [2] * depth, bias)


@pytest.mark.parametrize("rows, bias, depth", [(2, "none", 2), (4, "free", 3), (3, "none", 1)])
def test_random_soft_labels(rows, bias, depth):
    rng = np.random.default_rng(rows)
    n = [6, 3, 2]
    S = rng.dirichlet(np.ones(rows), size=3).T  # column k: a distribution over the outputs
    lambda_w = [0.004 * (j + 1) for j in range(depth)]
    result = predict(n=n, depth=depth, lambda_w=lambda_w, lambda_h=0.01, bias=bias,
                     soft_labels=S)
    _check_class_level(result, S, n, 0.01, lambda_w, [5] * depth, bias)


def _check_per_sample(result, Y, lambda_h, lambda_w, widths, bias, lambda_b=None):
    run = minimize_full(Y.T, lambda_h, lambda_w, widths, bias, lambda_b)
    assert abs(run.loss - result.loss) <= LOSS_RTOL * result.loss
    W, Z = run.W, run.W @ run.H
    assert relative(W @ W.T, result.gram_classifier()) <= GRAM_RTOL
    assert relative(Z @ Z.T / Y.shape[0], result.gram_outputs()) <= GRAM_RTOL
    r = result.sigma.size
    measured = np.sort(np.linalg.eigvalsh(run.H @ run.H.T))[::-1][:r]
    assert relative(measured, np.diag(result.gram_features())) <= GRAM_RTOL
    return run


def test_multi_label_targets():
    rng = np.random.default_rng(5)
    Y = (rng.random((14, 3)) < 0.4).astype(float)
    result = predict(targets=Y, depth=2, lambda_w=[0.01, 0.02], lambda_h=0.01)
    _check_per_sample(result, Y, 0.01, [0.01, 0.02], [4, 4], "none")


@pytest.mark.parametrize("bias, depth, rank", [("free", 1, 2), ("none", 3, 3), ("free", 2, 2)])
def test_correlated_regression_targets(bias, depth, rank):
    rng = np.random.default_rng(depth)
    mix = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.2]])
    Y = rng.normal(size=(15, 3)) @ mix.T + np.array([1.0, -2.0, 0.5])
    lambda_w = [0.01] * depth
    result = predict(targets=Y, depth=depth, lambda_w=lambda_w, lambda_h=0.03, bias=bias)
    run = _check_per_sample(result, Y, 0.03, lambda_w, [4] * depth, bias)
    assert result.rank == rank == np.linalg.matrix_rank(run.W @ run.H, tol=1e-6)
    if depth == 1:  # soft threshold: direction i collapses at lbar = sigma_i / N
        assert np.allclose(result.direction_critical_decay, result.sigma / Y.shape[0])


def test_depth_one_regression_is_the_published_nrc3_form():
    """Andriopoulos et al. (NeurIPS 2024), NRC3 at the UFM minimum: with their feature
    penalty lambda_H/(2N) ||H||^2, W W^T = sqrt(lambda_H / lambda_W) (Sigma^(1/2) -
    sqrt(lambda_H lambda_W) I)_+, Sigma the target covariance. ncsolve's feature penalty
    is lambda_h/2 ||H||^2, so their lambda_H is N lambda_h."""
    rng = np.random.default_rng(11)
    Y = rng.normal(size=(400, 4)) @ np.diag([2.0, 1.0, 0.5, 0.02]) @ np.linalg.qr(
        rng.normal(size=(4, 4)))[0]
    N, lambda_w, lambda_h = Y.shape[0], 0.1, 0.01 / 400
    result = predict(targets=Y, bias="free", lambda_w=lambda_w, lambda_h=lambda_h)
    centred = Y - Y.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred / N)
    paper_lambda_h = N * lambda_h
    shrunk = np.maximum(np.sqrt(values) - np.sqrt(paper_lambda_h * lambda_w), 0.0)
    published = np.sqrt(paper_lambda_h / lambda_w) * (vectors * shrunk) @ vectors.T
    assert relative(result.gram_classifier(), published) <= 1e-12
    assert result.rank == int(np.count_nonzero(shrunk)) == 3


def test_label_smoothing_zero_is_todays_answer_exactly():
    for bias in ("none", "free"):
        plain = predict(n=[5, 3, 2], depth=3, bias=bias)
        assert predict(n=[5, 3, 2], depth=3, bias=bias, label_smoothing=0).to_dict() == \
            plain.to_dict()
        dense = predict(n=[5, 3, 2], depth=3, bias=bias, soft_labels=np.eye(3))
        assert abs(dense.loss - plain.loss) <= 1e-13 * plain.loss
        for name in ("gram_features", "gram_classifier", "gram_outputs"):
            assert relative(getattr(dense, name)(), getattr(plain, name)()) <= 1e-12
        for name in ("feature_norm", "classifier_norm", "output", "critical_decay"):
            assert np.allclose(getattr(dense, name), getattr(plain, name), rtol=1e-12)
        assert list(dense.state) == list(plain.state)


def test_free_bias_smoothing_scales_the_one_hot_spectrum():
    """Centred, the smoothed target is (1 - eps) times the one-hot one (an identity
    independent of the SVD route)."""
    n = [7, 4, 4, 1]
    plain = predict(n=n, bias="free")
    smooth = predict(n=n, bias="free", label_smoothing=0.2)
    assert np.allclose(smooth.sigma, 0.8 * plain.sigma, rtol=1e-12, atol=1e-12)


def test_streamed_moments_equal_the_direct_ones():
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(1000, 5)) + 100.0  # a large mean: the centring must not cancel
    whole = sample_moments(Y)
    blocks = sample_moments(Y[i:i + 77] for i in range(0, 1000, 77))
    small = sample_moments(Y, chunk_elements=40)
    centred = Y - Y.mean(axis=0)
    for m in (whole, blocks, small):
        assert m.count == 1000
        assert np.allclose(m.mean, Y.mean(axis=0), rtol=1e-14)
        assert relative(m.scatter, centred.T @ centred) <= 1e-12


@pytest.mark.parametrize("kwargs, param", [
    ({"n": [3, 2, 1], "soft_labels": np.ones((2, 4))}, "soft_labels"),
    ({"targets": np.array([[1.0, np.nan]])}, "targets"),
    ({"targets": np.array([[1.0, np.inf], [0.0, 1.0]])}, "targets"),
    ({"n": [3, 2, 1], "soft_labels": np.array([[np.nan, 1, 1]])}, "soft_labels"),
    ({"n": [3, 2], "label_smoothing": 1.0}, "label_smoothing"),
    ({"n": [3, 2], "label_smoothing": -0.1}, "label_smoothing"),
    ({"n": [3, 2], "label_smoothing": float("nan")}, "label_smoothing"),
    ({"n": [3, 2], "label_smoothing": 0.1, "loss": "ce"}, "loss"),
    ({"n": [3, 2], "label_smoothing": 0.1, "soft_labels": np.eye(2)}, "label_smoothing"),
    ({"n": [3, 2], "targets": np.eye(2)}, "n"),
])
def test_bad_targets_are_refused_by_name(kwargs, param):
    with pytest.raises(ProblemError, match=f"^{param} "):
        predict(**kwargs)


@pytest.mark.parametrize("depth, kind", [(1, "smoothing"), (2, "smoothing"), (3, "soft"),
                                         (1, "samples"), (2, "samples")])
def test_regularized_bias(depth, kind):
    """The bias is searched (exact for each bias): proved at depth 1, best found deeper;
    either way it must reach the full problem's minimum."""
    n, lambda_w, lambda_b = [5, 3, 2], [0.01] * depth, 0.05
    settings = dict(depth=depth, lambda_w=lambda_w, lambda_h=0.02, bias="regularized",
                    lambda_b=lambda_b)
    if kind == "samples":
        Y = np.random.default_rng(depth).normal(size=(12, 3)) + [1.0, 2.0, 0.0]
        result = predict(targets=Y, **settings)
        run = _check_per_sample(result, Y, 0.02, lambda_w, [4] * depth, "regularized",
                                lambda_b)
        assert relative(run.b, result.bias_value) <= GRAM_RTOL
    else:
        S = _smoothing(3, 0.1) if kind == "smoothing" else \
            np.random.default_rng(0).dirichlet(np.ones(3), size=3).T
        result = predict(n=n, soft_labels=S, **settings)
        _check_class_level(result, S, n, 0.02, lambda_w, [4] * depth, "regularized", lambda_b)
    assert result.certainty == ("proved" if depth == 1 else "best found")


@pytest.mark.parametrize("bias", ["none", "free"])
def test_per_sample_route_agrees_with_the_class_route(bias):
    """The same smoothed one-hot target given per sample (moments, t x t eigenproblem)
    and per class (K x K SVD): two routes, one objective."""
    from ncsolve import targets

    n = [7, 4, 2, 2]
    labels = np.repeat(np.arange(4), n)
    per_sample = predict(targets=targets.one_hot(labels, 4, smoothing=0.2), depth=3, bias=bias)
    per_class = predict(n=n, depth=3, bias=bias, label_smoothing=0.2)
    assert abs(per_sample.loss - per_class.loss) <= 1e-12 * per_class.loss
    assert np.allclose(per_sample.sigma, per_class.sigma, rtol=1e-12, atol=1e-12)
    assert relative(per_sample.gram_classifier(), per_class.gram_classifier()) <= 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("n", [[4, 4, 4], [5, 3, 2]])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_regularized_label_smoothing_grid(eps, n, depth):
    lambda_w = [0.005 * (1 + j) for j in range(depth)]
    result = predict(n=n, depth=depth, lambda_w=lambda_w, lambda_h=0.01, bias="regularized",
                     lambda_b=0.05, label_smoothing=eps)
    _check_class_level(result, _smoothing(len(n), eps), n, 0.01, lambda_w, [4] * depth,
                       "regularized", 0.05)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_smoothing_lowers_free_bias_critical_decays_by_a_power(depth):
    """Scaling z = sigma u in the scalar problem: the critical decay goes as sigma^(2 - q),
    so smoothing by eps (sigma -> (1 - eps) sigma) multiplies it by (1 - eps)^(2 - q)."""
    q = 2.0 / (depth + 1)
    plain = predict(n=[5, 3, 2], depth=depth, bias="free")
    smooth = predict(n=[5, 3, 2], depth=depth, bias="free", label_smoothing=0.2)
    ratio = smooth.direction_critical_decay[:2] / plain.direction_critical_decay[:2]
    assert np.allclose(ratio, 0.8 ** (2 - q), rtol=1e-10)


def test_balanced_smoothing_without_bias_is_an_equiangular_frame():
    """sigma = sqrt(n) once (all-ones) and (1 - eps) sqrt(n) K - 1 times; equal lengths and
    the common cosine (h1^2 - h2^2) / (h1^2 + (K - 1) h2^2) of docs/targets.md."""
    K, size, eps = 4, 100, 0.3
    result = predict(n=[size] * K, depth=3, label_smoothing=eps)
    assert np.allclose(result.sigma, np.sqrt(size) * np.array([1, 1 - eps, 1 - eps, 1 - eps]),
                       rtol=1e-13)
    h1, h2 = result.singular_values[0, 0], result.singular_values[1, 0]
    gram = result.gram_features()
    cosine = gram[0, 1] / gram[0, 0]
    assert abs(cosine - (h1**2 - h2**2) / (h1**2 + (K - 1) * h2**2)) <= 1e-12
    assert result.geometry == f"equiangular frame (cosine {cosine:.6g})"
