"""Diagonals and Grams of ``A diag(w) A^T`` from sparse columns (dicts class -> entry)."""

from __future__ import annotations

from mpmath import mpf

__all__ = ["sparse_diag", "sparse_gram"]


def sparse_diag(vectors, weights, K: int) -> list:
    """Diagonal of ``A diag(weights) A^T`` (class order) from sparse columns."""
    out = [mpf(0)] * K
    for w, v in zip(weights, vectors):
        if w == 0:
            continue
        for k, a in v.items():
            out[k] += w * a * a
    return out


def sparse_gram(vectors, weights, K: int, left=None, right=None) -> list:
    """``diag(1/left) A diag(weights) A^T diag(1/right)`` as a K x K list of lists."""
    out = [[mpf(0)] * K for _ in range(K)]
    for w, v in zip(weights, vectors):
        if w == 0:
            continue
        items = list(v.items())
        for a, va in items:
            row = out[a]
            for b, vb in items:
                row[b] += w * va * vb
    for a in range(K):
        for b in range(K):
            if left is not None:
                out[a][b] /= left[a]
            if right is not None:
                out[a][b] /= right[b]
    return out
