"""The target spectrum: the secular route against dense and high-precision eigensolvers."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncsolve.core.spectral import target_spectrum


def dense_gram(n, bias):
    n = np.asarray(n, dtype=float)
    G = np.diag(n)
    return G - np.outer(n, n) / n.sum() if bias == "free" else G


def check_against_dense(n, bias, tol=1e-12):
    spectrum = target_spectrum(np.asarray(n), bias)
    G = dense_gram(n, bias)
    K = len(n)
    expected = np.sort(np.linalg.eigvalsh(G))[::-1]
    scale = max(1.0, float(np.max(n)))
    assert np.all(np.diff(spectrum.sigma) <= 0)
    assert np.allclose(spectrum.sigma**2, expected, rtol=0, atol=tol * scale)
    A = spectrum.vectors()
    assert np.abs(A.T @ A - np.eye(K)).max() < tol * 10
    assert np.abs((A * spectrum.sigma**2) @ A.T - G).max() < tol * scale
    weights = np.random.default_rng(len(n)).random((K, 3))
    for j in range(3):
        full = (A * weights[:, j]) @ A.T
        assert np.allclose(spectrum.diag(weights[:, j]), np.diag(full), atol=tol * 10)
        assert np.allclose(spectrum.matrix(weights[:, j]), full, atol=tol * 10)
    assert np.allclose(spectrum.diag(weights), np.stack(
        [np.diag((A * w) @ A.T) for w in weights.T], axis=1), atol=tol * 10)
    # weights that are functions of the eigenvalue (as every per-class summary's):
    # equal on the Helmert vectors of a size group, whose sums then telescope
    by_value = np.stack([np.sqrt(spectrum.sigma) + 1.0, np.cos(spectrum.sigma)], axis=1)
    dense = np.stack([np.diag((A * w) @ A.T) for w in by_value.T], axis=1)
    assert np.allclose(spectrum.diag(by_value), dense, rtol=1e-12, atol=tol * 10 * scale**0.25)


class_sizes = st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=14)
small_sizes = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=14)


@settings(max_examples=150, deadline=None)
@given(st.one_of(class_sizes, small_sizes), st.sampled_from(["none", "free"]))
def test_spectrum_matches_dense_eigendecomposition(n, bias):
    check_against_dense(n, bias)


@pytest.mark.parametrize("n", [
    (100, 100, 100, 100),  # balanced: one eigenvalue with multiplicity K-1
    (7, 7, 7, 3, 3, 1),  # repeated sizes: exact deflation
    (10**6, 1, 1, 2, 10**6 - 1),  # tiny weights next to huge ones, clustered poles
    (1,),
    (5, 5),
])
def test_hard_cases(n):
    check_against_dense(n, "free")
    check_against_dense(n, "none")


@pytest.mark.parametrize("n", [
    [10**6, 1, 2, 3, 999_999, 500_000],  # clustered poles and tiny weights
    [1, 10**9],  # sizes nine decades apart
    [10**9, 10**9 - 1, 1, 2],
    [7, 7, 1, 10**8, 3, 3, 3],  # repeated sizes among wide spreads
])
def test_eigenpairs_against_40_digit_mpmath(n):
    """Every eigenvalue to relative rounding error, and every eigenvector component
    to high relative accuracy (the Loewner correction), against mpmath at 40 digits."""
    spectrum = target_spectrum(np.array(n), "free")
    mpmath.mp.dps = 40
    N = sum(n)
    G = mpmath.matrix(len(n))
    for i in range(len(n)):
        for j in range(len(n)):
            G[i, j] = (n[i] if i == j else 0) - mpmath.mpf(n[i]) * n[j] / N
    values, vectors = mpmath.eigsy(G)
    order = sorted(range(len(n)), key=lambda i: -values[i])
    exact = np.array([float(values[i]) for i in order])
    computed = spectrum.sigma**2
    assert computed[-1] == 0.0 and abs(exact[-1]) < 1e-30  # the constant vector
    assert np.allclose(computed[:-1], exact[:-1], rtol=1e-14, atol=0)
    if len(set(n)) == len(n):  # eigenvectors are unique up to sign
        exact_vectors = np.array([[float(vectors[k, i]) for i in order]
                                  for k in range(len(n))])
        A = spectrum.vectors()
        assert np.allclose(np.abs(A), np.abs(exact_vectors), rtol=1e-10, atol=1e-300)


def test_large_repeated_sizes_cost_only_the_distinct_ones():
    """50,000 classes with Zipf-like counts: few distinct sizes, exact per-class diag."""
    K = 50_000
    n = np.maximum(1, (2_000_000 / np.arange(1, K + 1)).astype(np.int64))
    spectrum = target_spectrum(n, "free")
    assert spectrum.sigma.size == K
    ones = spectrum.diag(np.ones(K))  # diag(A A^T) = 1 for an orthogonal A
    assert np.abs(ones - 1).max() < 1e-10
    # trace identity: sum of eigenvalues equals trace(G)
    assert np.isclose(np.sum(spectrum.sigma**2), n.sum() - np.sum(n.astype(float)**2) / n.sum(),
                      rtol=1e-12)
