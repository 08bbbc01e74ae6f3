"""Streaming class statistics, metrics from them, and the objective from them."""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve.measure import ClassAccumulator, measure
from ncsolve.measure import ufm
from ncsolve.core.metrics import nc1
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem, ProblemError


def _dense(X, y, K, layers=()):
    """Two-pass reference: counts, means, within scatter and per-class spreads per layer."""
    counts = np.bincount(y, minlength=K)
    means = np.stack([X[y == k].mean(axis=0) for k in range(K)])
    centred = X - means[y]
    spreads = []
    rows = X
    for W in (None, *layers):
        if W is not None:
            rows = rows @ W.T
        layer_means = np.stack([rows[y == k].mean(axis=0) for k in range(K)])
        spreads.append(np.bincount(y, weights=np.sum((rows - layer_means[y]) ** 2, axis=1),
                                   minlength=K))
    return counts, means, centred.T @ centred, np.array(spreads)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_streaming_equals_one_shot_on_shuffled_batches(dtype):
    rng = np.random.default_rng(0)
    K, d, N = 7, 5, 3000
    y = rng.integers(0, K, N)
    # a large common offset: a naive sum-of-squares update would lose digits here
    X = (1e3 + rng.standard_normal((K, d))[y] + 0.1 * rng.standard_normal((N, d))).astype(dtype)
    W1, W2 = rng.standard_normal((4, d)), rng.standard_normal((K, 4))
    counts, means, scatter, spreads = _dense(X.astype(np.float64), y, K, (W1, W2))
    acc = ClassAccumulator(K, weights=[W1, W2])
    perm = rng.permutation(N)
    cuts = np.sort(rng.choice(np.arange(1, N), size=40, replace=False))
    for idx in np.split(perm, cuts):
        acc.update(X[idx], y[idx])
    stats = acc.statistics()
    np.testing.assert_array_equal(stats.counts, counts)
    scale = np.abs(means).max()
    assert np.abs(stats.means - means).max() <= 1e-12 * scale
    assert np.abs(stats.scatter - scatter).max() <= 1e-12 * np.abs(scatter).max()
    assert np.abs(stats.class_spread - spreads).max() <= 1e-12 * np.abs(spreads).max()


def test_accumulator_takes_torch_tensors_without_copying():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((200, 3)), rng.integers(0, 4, 200)
    from_numpy = ClassAccumulator(4).update(X, y).statistics()
    from_torch = ClassAccumulator(4).update(torch.from_numpy(X), torch.from_numpy(y))
    np.testing.assert_array_equal(from_torch.statistics().means, from_numpy.means)
    from ncsolve.measure.arrays import as_numpy

    tensor = torch.from_numpy(X)
    assert np.shares_memory(as_numpy(tensor, "x"), X)  # DLPack: the same memory


def test_nc1_from_statistics_equals_verifys_nc1():
    rng = np.random.default_rng(2)
    n = np.array([30, 20, 10])
    features = rng.standard_normal((6, n.sum())) + np.repeat(rng.standard_normal((6, 3)), n, 1)
    labels = np.repeat(np.arange(3), n)
    report = measure(features.T, labels)
    assert report.layers[0].nc1 == pytest.approx(nc1(features, n), rel=1e-12)
    assert report.status == "metrics only"


@pytest.mark.parametrize("bias", ["none", "free"])
def test_objective_and_gradient_from_statistics_equal_the_full_objective(bias):
    rng = np.random.default_rng(3)
    problem = Problem.build([5, 3, 4], 3, [1e-3, 2e-3, 3e-3], 4e-3, bias)
    f = FullObjective(problem, widths=(6, 5, 4))
    x = f.random_point(rng, 0.5)
    if bias == "free":
        x[f.offsets[-2]:] = rng.standard_normal(3)
    p = f.split(x)
    perm = rng.permutation(f.N)
    acc = ClassAccumulator(3, weights=p.weights, biases=[None, None, p.b])
    for idx in np.array_split(perm, 3):
        acc.update(p.H.T[idx], f.labels[idx])
    stats = acc.statistics()
    value = ufm.data_term(stats, acc.head, "mse") + ufm.penalty(
        stats, acc.head, problem.lambda_w, problem.lambda_h, None)
    reference, grad = f(x)
    assert value == pytest.approx(reference, rel=1e-13)
    _, norm = ufm.stationarity(stats, acc.head, problem.lambda_w, problem.lambda_h, None, bias)
    assert norm == pytest.approx(np.linalg.norm(grad), rel=1e-10)


@pytest.mark.parametrize("labels, message", [
    ([0, 1, 5], "labels: labels must be integers 0..2"),
    ([0, 1, -1], "found -1"),
    ([0.0, 1.5, 2.0], "non-integer"),
    (["a", "b", "c"], "dtype"),
])
def test_bad_labels_name_the_array(labels, message):
    with pytest.raises(ProblemError, match=message):
        ClassAccumulator(3).update(np.zeros((3, 2)), np.array(labels))


def test_bad_features_and_empty_classes_are_refused():
    acc = ClassAccumulator(3)
    with pytest.raises(ProblemError, match="features: every entry must be finite"):
        acc.update(np.array([[0.0, np.nan]]), [0])
    with pytest.raises(ProblemError, match="features: expected a 2-D array"):
        acc.update(np.zeros(3), [0, 1, 2])
    acc.update(np.ones((2, 2)), [0, 2])
    with pytest.raises(ProblemError, match="no samples for class"):
        acc.statistics()
    with pytest.raises(ProblemError, match="W1: expected 2 columns"):
        ClassAccumulator(3, width=2, weights=[np.ones((3, 4))])
    with pytest.raises(ProblemError, match="features: expected 4 columns"):
        ClassAccumulator(3, weights=[np.ones((3, 4))]).update(np.ones((2, 2)), [0, 1])
    with pytest.raises(ProblemError, match="W2: expected 3 rows"):
        ClassAccumulator(3, width=2, weights=[np.ones((4, 2)), np.ones((2, 4))])
