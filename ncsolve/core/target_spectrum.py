"""Spectrum of a target that is not one-hot (label smoothing, soft labels, per-sample).

The MSE minimizer sees the target ``Yt`` (K' x N, centred with a free bias) only
through its singular value decomposition ``Yt = U diag(sigma) V^T``: the product
``W_M ... W_1 H`` is ``U diag(z) V^T`` with each ``z_i`` the scalar minimum of
:mod:`ncsolve.core.scalar` at ``sigma_i``. Two forms of ``Yt`` arise:

* class-level: every sample of class k has target ``S[:, k]``, so ``Yt = S_c E^T``
  with ``E`` the N x K class indicator and ``S_c = S - (S n / N) 1^T`` (free bias) or
  ``S`` (no bias). Then ``Yt = U diag(sigma) B^T D^(-1/2) E^T`` where ``U, sigma, B``
  is the SVD of the K' x K matrix ``S_c D^(1/2)``: ``U`` lives in output space, ``B``
  in class space, and the class means of the features are ``R diag(h) B^T D^(-1/2)``.
  The work is O(K' K min(K', K)), never N.
* per-sample: only ``Yt^T Yt`` (t x t, from the streamed moments) is needed; its
  eigenvectors are ``U``, and the sample-space side ``V`` is never formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs.targets import Targets
from .spectral import Spectrum

_EPS = np.finfo(float).eps


@dataclass(frozen=True, eq=False)
class TargetSpectrum(Spectrum):
    """``Yt = U diag(sigma) V^T`` of a target other than one-hot labels.

    Attributes
    ----------
    sigma : ndarray, shape (r,)
        Singular values of the target, decreasing (one per direction).
    left : ndarray, shape (K', r)
        Output-space singular vectors ``U`` (column i is direction i).
    right : ndarray, shape (K, r) or None
        Class-space vectors ``B``; None for per-sample targets (no classes).
    """

    left: np.ndarray
    right: np.ndarray | None = None

    def diag(self, weights):
        """Per class, the diagonal of ``B diag(w) B^T`` (columns of ``weights`` apart)."""
        w = np.asarray(weights, dtype=float)
        squares = self.right**2
        return squares @ w

    def matrix(self, weights):
        return (self.right * np.asarray(weights, dtype=float)) @ self.right.T

    def vectors(self):
        return self.right

    def output_matrix(self, weights) -> np.ndarray:
        """``U diag(w) U^T`` (K' x K', output space)."""
        return (self.left * np.asarray(weights, dtype=float)) @ self.left.T


def class_target_spectrum(soft: np.ndarray, n: np.ndarray, bias: str,
                          shift: np.ndarray | None = None) -> TargetSpectrum:
    """Spectrum of the class-level target ``S`` (K' x K) with class sizes ``n``; with a
    ``shift`` b (a fixed bias) that of the bias-free target ``S - b 1^T``."""
    n = np.asarray(n, dtype=float)
    S = np.asarray(soft, dtype=float)
    if shift is not None:
        S = S - np.asarray(shift, dtype=float)[:, None]
    elif bias != "none":
        S = S - np.outer(S @ n / n.sum(), np.ones(n.size))
    left, sigma, right_t = np.linalg.svd(S * np.sqrt(n)[None, :], full_matrices=False)
    return TargetSpectrum(sigma=_clean(sigma, max(S.shape)), left=left, right=right_t.T)


def sample_target_spectrum(target: Targets, bias: str,
                           shift: np.ndarray | None = None) -> TargetSpectrum:
    """Spectrum of per-sample targets from their t x t second moments; with a ``shift``
    b, of ``Y - 1 b^T``, whose Gram is ``scatter + N (mean - b)(mean - b)^T``."""
    moments = target.moments
    if shift is None:
        gram = moments.gram(centred=bias != "none")
    else:
        offset = moments.mean - np.asarray(shift, dtype=float)
        gram = moments.scatter + moments.count * np.outer(offset, offset)
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(-values, kind="stable")
    values = values[order]
    # eigenvalues at rounding level of the largest are zero (rank-deficient targets)
    values[values <= 4.0 * moments.dim * _EPS * max(values[0], 0.0)] = 0.0
    sigma = np.sqrt(values)
    sigma.setflags(write=False)
    return TargetSpectrum(sigma=sigma, left=vectors[:, order])


def target_spectrum_of(target: Targets, n: np.ndarray, bias: str,
                       shift: np.ndarray | None = None) -> TargetSpectrum:
    """The spectrum of any non-one-hot target (the dispatch on its kind, once); a
    ``shift`` is a fixed bias subtracted from every sample's target."""
    if target.moments is not None:
        return sample_target_spectrum(target, bias, shift)
    return class_target_spectrum(target.soft, n, bias, shift)


def _clean(sigma: np.ndarray, size: int) -> np.ndarray:
    """Singular values at rounding level of the largest set to exactly 0 (the
    centred target always has one: its rows sum to zero)."""
    sigma = np.array(sigma, dtype=float)
    floor = 4.0 * size * _EPS * float(np.max(sigma, initial=0.0))
    sigma[sigma <= floor] = 0.0
    sigma.setflags(write=False)
    return sigma
