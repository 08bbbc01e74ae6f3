"""Float32 class statistics on the device with compensated merges (issue 19, item 9):
the measured error against an independent float64 computation stays inside the
bound of docs/measure.md, and a plain float32 running sum does not."""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve.inputs.problem import ProblemError
from ncsolve.measure import ClassAccumulator

torch = pytest.importorskip("torch")
pytest.importorskip("array_api_compat")

U32 = 2.0 ** -24
K, D = 7, 12


def _data(seed=0, N=900, offset=1e3, dtype=np.float32):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=N)
    X = offset + rng.standard_normal((K, D))[y] + 1e-3 * rng.standard_normal((N, D))
    head = [rng.standard_normal((8, D)), rng.standard_normal((K, 8))]
    return X.astype(dtype), y, head, [rng.standard_normal(8), rng.standard_normal(K)]


def _exact(X, y, head, biases):
    """Two-pass float64 statistics of the given (already rounded) features."""
    X = X.astype(np.float64)
    counts = np.bincount(y, minlength=K)
    means = np.stack([X[y == k].mean(axis=0) for k in range(K)])
    R = X - means[y]
    spread, rows = [], R
    for j in range(len(head) + 1):
        if j:
            rows = rows @ head[j - 1].T
        spread.append(np.bincount(y, weights=np.einsum("ij,ij->i", rows, rows), minlength=K))
    out = X
    for W, b in zip(head, biases):
        out = out @ W.T + b
    top = out.max(axis=1, keepdims=True)
    ce = np.sum(np.log(np.exp(out - top).sum(axis=1)) + top[:, 0] - out[np.arange(len(y)), y])
    return counts, means, R.T @ R, np.array(spread), ce, int(np.sum(out.argmax(1) == y))


def _stream(make, X, y, head, biases, batch=75):
    acc = ClassAccumulator(K, weights=head, biases=biases, where="input", precision="float32")
    for lo in range(0, len(y), batch):
        acc.update(make(X[lo:lo + batch]), make(y[lo:lo + batch]))
    return acc.statistics()


def _bound(Q, b, T):
    """docs/measure.md: ((3 b + 6) u / (1 - (b + 2) u) + 2 T u^2) Q."""
    return ((3 * b + 6) * U32 / (1 - (b + 2) * U32) + 2 * T * U32 ** 2) * Q


def _check(stats, X, y, head, biases, batch=75):
    counts, means, scatter, spread, ce, correct = _exact(X, y, head, biases)
    np.testing.assert_array_equal(stats.counts, counts)
    shift = np.stack([X[:batch][y[:batch] == k].astype(np.float64).mean(0) for k in range(K)])
    Q = np.sum((X.astype(np.float64) - shift[y]) ** 2)  # the shifts to rounding of z_k
    bound = _bound(Q, batch, -(-len(y) // batch))
    assert stats.scatter_error == pytest.approx(bound, rel=0.05)  # z_k: float32 means
    error = np.linalg.norm(stats.scatter - scatter)
    assert error <= stats.scatter_error
    assert stats.scatter_error < 1e-4 * np.linalg.norm(scatter)  # the bound says something
    np.testing.assert_allclose(stats.means, means, rtol=0, atol=1e-6 * np.abs(means).max())
    np.testing.assert_allclose(stats.class_spread[0], spread[0], rtol=1e-4)
    # the layer-0 spread's bound of docs/measure.md, per class, with Q_k from the shifts
    # as float32 means (the device's own float32 sum may differ by an ulp: 10% slack)
    z = shift.astype(np.float32).astype(np.float64)
    Q_k = np.bincount(y, weights=np.sum((X.astype(np.float64) - z[y]) ** 2, axis=1),
                      minlength=K)
    T, u = -(-len(y) // batch), U32
    spread_bound = ((3 * batch + D + 6) * u / (1 - (batch + D + 2) * u) + 2 * T * u * u) * Q_k
    assert np.all(np.abs(stats.class_spread[0] - spread[0]) <= 1.1 * spread_bound)
    np.testing.assert_allclose(stats.class_spread, spread, rtol=1e-3)
    assert stats.ce_sum == pytest.approx(ce, rel=1e-5)
    assert stats.correct == correct


def test_float32_torch_path_within_the_documented_bound():
    X, y, head, biases = _data()
    _check(_stream(torch.from_numpy, X, y, head, biases), X, y, head, biases)


def test_float32_array_api_strict_within_the_documented_bound():
    xps = pytest.importorskip("array_api_strict")
    X, y, head, biases = _data(seed=2)
    _check(_stream(xps.asarray, X, y, head, biases), X, y, head, biases)


def test_float64_input_is_shifted_before_it_is_rounded():
    """Offset 1e6, spread 1e-3: rounding x itself to float32 (spacing 0.06 at 1e6)
    would lose the within-class spread; subtracting the shift in float64 keeps it."""
    X, y, head, biases = _data(seed=4, offset=1e6, dtype=np.float64)
    stats = _stream(torch.from_numpy, X, y, head, biases)
    counts, means, scatter, *_ = _exact(X, y, head, biases)
    assert np.linalg.norm(stats.scatter - scatter) <= stats.scatter_error
    assert stats.scatter_error < 1e-4 * np.linalg.norm(scatter)


def test_plain_float32_running_sum_exceeds_the_bound_the_compensated_merge_meets():
    """One batch of 4 rows seen T times: the exact scatter is T times the batch's.  A
    plain float32 running total drifts by about T u |S|; the pairs stay inside the
    bound, which grows with the batch size, not with T."""
    T, rng = 1200, np.random.default_rng(5)
    y = np.array([0, 1, 0, 1])
    X = (rng.standard_normal((2, 3))[y] + rng.standard_normal((4, 3))).astype(np.float32)
    acc = ClassAccumulator(2, where="input", precision="float32")
    for _ in range(T):
        acc.update(torch.from_numpy(X), torch.from_numpy(y))
    stats = acc.statistics()
    X64 = X.astype(np.float64)
    means = np.stack([X64[y == k].mean(0) for k in range(2)])
    exact = T * (X64 - means[y]).T @ (X64 - means[y])
    assert np.linalg.norm(stats.scatter - exact) <= stats.scatter_error
    U = X - means.astype(np.float32)[y]  # the shifts: float32 means of the first batch
    plain = np.zeros((3, 3), dtype=np.float32)
    for _ in range(T):
        plain += U.T @ U
    assert np.linalg.norm(plain - exact) > 2 * stats.scatter_error


def test_precision_option():
    X, y, *_ = _data()
    acc = ClassAccumulator(K, where="input", precision="float64").update(
        torch.from_numpy(X), torch.from_numpy(y))
    assert acc.statistics().scatter_error is None  # float64 sums claim no bound
    with pytest.raises(ProblemError, match="precision: float32 sums live on the input"):
        ClassAccumulator(K, where="host", precision="float32")
    with pytest.raises(ProblemError, match="precision"):
        ClassAccumulator(K, precision="float16")
    bad = torch.from_numpy(X[:3].copy())
    bad[0, 0] = float("inf")
    acc = ClassAccumulator(K, where="input", precision="float32")
    with pytest.raises(ProblemError, match="finite"):
        acc.update(bad, torch.tensor([0, 1, 2]))


def test_measure_reports_the_float32_bound_and_agrees_with_float64():
    from ncsolve.measure import measure

    X, y, head, biases = _data(seed=6)
    fast = _stream(torch.from_numpy, X, y, head, biases)
    acc = ClassAccumulator(K, weights=head, biases=biases, where="host")
    exact = acc.update(X, y).statistics()
    a = measure(fast, weights=head, biases=biases, lambda_w=1e-3, lambda_h=1e-3)
    b = measure(exact, weights=head, biases=biases, lambda_w=1e-3, lambda_h=1e-3)
    assert any("summed in float32 on the device" in note for note in a.notes)
    assert not any("float32" in note for note in b.notes)
    for fast_layer, layer in zip(a.layers, b.layers):
        assert fast_layer.nc1 == pytest.approx(layer.nc1, rel=1e-3)
        assert fast_layer.cdnv == pytest.approx(layer.cdnv, rel=1e-3)


def test_classes_first_seen_in_later_batches_get_their_own_shift():
    """Samples sorted by label: most classes appear first in a later batch, whose
    float32 mean becomes their shift; a wrong shift (zero, or another class's) would
    leave the offset 1e3 in u_i and the bound, scaled by Q, far above 1e-4 |S_W|."""
    X, y, head, biases = _data(seed=8)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    stats = _stream(torch.from_numpy, X, y, head, biases)
    counts, means, scatter, spread, *_ = _exact(X, y, head, biases)
    assert np.linalg.norm(stats.scatter - scatter) <= stats.scatter_error
    assert stats.scatter_error < 1e-4 * np.linalg.norm(scatter)
    np.testing.assert_allclose(stats.means, means, rtol=0, atol=1e-6 * np.abs(means).max())
    np.testing.assert_allclose(stats.class_spread[0], spread[0], rtol=1e-4)


def test_a_device_without_float64_is_summed_in_float32_there():
    """array-api-strict's ``no_float64`` device stands for Apple's MPS: ``auto`` sums
    there in float32 (within the bound); ``precision="float64"`` goes to the host under
    ``where="auto"`` and is refused under ``where="input"``."""
    xps = pytest.importorskip("array_api_strict")
    if "no_float64" not in repr(xps.__array_namespace_info__().devices()):
        pytest.skip("this array-api-strict has no device without float64")
    device = xps.Device("no_float64")
    X, y, head, biases = _data(seed=9)

    def make(a):
        return xps.asarray(a, device=device)

    acc = ClassAccumulator(K, weights=head, biases=biases)  # where="auto", precision="auto"
    for lo in range(0, len(y), 75):
        acc.update(make(X[lo:lo + 75]), make(y[lo:lo + 75]))
    stats = acc.statistics()
    assert stats.scatter_error is not None
    _check(stats, X, y, head, biases)
    host = ClassAccumulator(K, precision="float64").update(make(X), make(y))
    assert host.statistics().scatter_error is None  # float64 on the host
    with pytest.raises(ProblemError, match="has no float64"):
        ClassAccumulator(K, where="input", precision="float64").update(make(X), make(y))
