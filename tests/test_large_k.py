"""Large K: the structured routes (O(K) bias-free, secular O(S^2) free bias) stay exact."""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve import predict
from ncsolve.core import scalar


def zipf(K: int, scale: int = 100) -> np.ndarray:
    return np.maximum(1, (scale * K) // np.arange(1, K + 1))


def dense_route(n, depth, decay, bias):
    """An independent implementation through a dense eigendecomposition of G."""
    n = np.asarray(n, dtype=float)
    N, L = n.sum(), depth + 1
    G = np.diag(n) - (np.outer(n, n) / N if bias == "free" else 0)
    mu, A = np.linalg.eigh(G)
    sigma = np.sqrt(np.clip(mu, 0, None))
    z = scalar.minimize(sigma, int(N), 0.5 * L * decay, 2 / L).z  # equal decays: lbar = decay
    s_h = z ** (1 / L)
    features = (A * (sigma * s_h) ** 2) @ A.T / np.outer(n, n)
    classifier = (A * z ** (2 - 2 / L)) @ A.T
    outputs = (A * (z * sigma)) @ A.T / n[None, :]
    return features, classifier, outputs


@pytest.mark.parametrize("bias", ["none", "free"])
def test_repeated_sizes_match_a_dense_route(bias):
    n = np.random.default_rng(3).permutation(zipf(300, scale=3))  # many repeats, shuffled
    depth = 3
    # a decay at which about half of the classes collapse (off any tie)
    decay = 1.001 * float(np.median(scalar.critical_decay(np.sqrt(n), int(n.sum()), depth + 1)))
    solution = predict(n=n, depth=depth, lambda_w=decay, lambda_h=decay, bias=bias)
    assert 0 < solution.rank < 299
    features, classifier, outputs = dense_route(n, depth, decay, bias)
    scale = np.abs(features).max()
    assert np.allclose(solution.gram_features(), features, atol=1e-10 * scale)
    assert np.allclose(solution.gram_classifier(), classifier,
                       atol=1e-10 * np.abs(classifier).max())
    assert np.allclose(solution.gram_outputs(), outputs, atol=1e-10 * np.abs(outputs).max())
    assert np.allclose(solution.feature_norm ** 2, np.diag(features), atol=1e-10 * scale)
    assert np.allclose(solution.output, np.diag(outputs), atol=1e-10)


@pytest.mark.parametrize("bias", ["none", "free"])
def test_fifty_thousand_classes(bias):
    """K = 50,000 Zipf-like classes: trace identities tie the per-class numbers to
    the spectrum, and bias-free lengths follow the closed form per class."""
    n = zipf(50_000, scale=2)
    decay = 1e-9
    solution = predict(n=n, depth=3, lambda_w=decay, lambda_h=decay, bias=bias)
    assert 0 < solution.rank
    # sum_k n_k output_k = trace(A diag(z sigma) A^T) = sum_i z_i sigma_i
    assert np.isclose(np.sum(n * solution.output), np.sum(solution.z * solution.sigma),
                      rtol=1e-10)
    # sum_k n_k^2 ||hbar_k||^2 = sum_i sigma_i^2 s_H,i^2
    s_h = solution.singular_values[:, 0]
    assert np.isclose(np.sum((n * solution.feature_norm) ** 2),
                      np.sum((solution.sigma * s_h) ** 2), rtol=1e-10)
    if bias == "none":
        order = np.argsort(-n, kind="stable")
        expected = np.empty(n.size)
        expected[order] = s_h / np.sqrt(n[order])
        assert np.allclose(solution.feature_norm, expected, rtol=1e-13)
    data = solution.to_dict()
    assert data["gram"] is None and len(data["classes"]) == 50_000
