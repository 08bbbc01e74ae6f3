"""Class statistics accumulated in the input's own namespace and device (issue 19,
item 9): PyTorch tensors and array-api-strict arrays against the numpy path."""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve.inputs.problem import ProblemError
from ncsolve.measure import ClassAccumulator, measure

K, D = 7, 12


def _data(seed=0, N=900):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=N)
    X = 1e3 + rng.standard_normal((K, D))[y] + 1e-3 * rng.standard_normal((N, D))
    W1, W2 = rng.standard_normal((8, D)), rng.standard_normal((K, 8))
    return X.astype(np.float32), y, [W1, W2], [rng.standard_normal(8), rng.standard_normal(K)]


def _batches(N, seed=1):
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, N), size=12, replace=False))
    return np.split(rng.permutation(N), cuts)


def _accumulate(make, X, y, weights, biases, where):
    acc = ClassAccumulator(K, weights=weights, biases=biases, where=where)
    for rows in _batches(len(y)):
        acc.update(make(X[rows]), make(y[rows]))
    return acc


def _compare(device, host):
    a, b = device.statistics(), host.statistics()
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.means, b.means, rtol=1e-12)
    scale = np.abs(b.scatter).max()
    np.testing.assert_allclose(a.scatter, b.scatter, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(a.class_spread, b.class_spread, rtol=1e-12)
    assert a.ce_sum == pytest.approx(b.ce_sum, rel=1e-12)
    assert a.correct == b.correct


def test_torch_tensors_on_their_device_equal_the_numpy_path():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    X, y, weights, biases = _data()
    device = _accumulate(torch.from_numpy, X, y, weights, biases, "input")
    assert device._device is not None and device._device.xp.__name__.endswith("torch")
    host = _accumulate(lambda a: a, X, y, weights, biases, "host")
    _compare(device, host)
    a = measure(device, lambda_w=1e-3, lambda_h=1e-3)
    b = measure(host, lambda_w=1e-3, lambda_h=1e-3)
    assert a.layers[1].nc1 == pytest.approx(b.layers[1].nc1, rel=1e-9)
    assert a.loss == pytest.approx(b.loss, rel=1e-12)


def test_array_api_strict_equals_the_numpy_path():
    xps = pytest.importorskip("array_api_strict")
    X, y, weights, biases = _data(seed=2)
    device = _accumulate(xps.asarray, X, y, weights, biases, "input")
    host = _accumulate(lambda a: a, X, y, weights, biases, "host")
    _compare(device, host)


def test_auto_keeps_cpu_tensors_on_the_host_and_checks_input():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    X, y, weights, biases = _data()
    acc = ClassAccumulator(K, where="auto").update(torch.from_numpy(X), torch.from_numpy(y))
    assert acc._device is None  # numpy reads a CPU tensor without a copy
    acc = ClassAccumulator(K, where="input").update(torch.from_numpy(X), torch.from_numpy(y))
    with pytest.raises(ProblemError, match="labels: labels must be integers 0..6"):
        acc.update(torch.from_numpy(X[:3]), torch.tensor([0, 7, 1]))
    with pytest.raises(ProblemError, match="features: expected 12 columns"):
        acc.update(torch.from_numpy(X[:3, :5]), torch.tensor([0, 1, 1]))
    bad = torch.from_numpy(X[:3].copy())
    bad[1, 2] = float("nan")
    with pytest.raises(ProblemError, match="finite"):
        acc.update(bad, torch.tensor([0, 1, 1]))
    with pytest.raises(ProblemError, match="where"):
        ClassAccumulator(K, where="gpu")
