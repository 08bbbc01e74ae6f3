"""Factor balancing: every factor of the minimizer from the singular values of the product.

At a global minimizer the factors H, W_1, ..., W_M of a product with singular
value z are balanced (docs/theory.md): factor j has singular value
``sqrt(lbar / lambda_j) z^(1/L)``, with lambda_0 = lambda_H, L = M + 1 and lbar
the geometric mean of the L decays. Hence

* the features after layer j, ``W_j ... W_1 H``, have ``z^((j+1)/L) F_j`` with
  ``F_j = prod_{i<=j} sqrt(lbar / lambda_i)``;
* the classifier ``W_M ... W_{j+1}`` has ``z^(1-(j+1)/L) / F_j`` (``F_M = 1``).

Decays such as 1e-300 next to 1e300 put the ratios ``lbar / lambda_j`` and the
products ``F_j`` outside float64 even where the singular values themselves are
representable. Every float64 scale here is therefore a pair (mantissa, binary
exponent): the mantissas stay near 1, the powers of two are exact and are
applied last with ``np.ldexp``. The high-precision route has no exponent limit
and takes its scales, to any number of digits, from :func:`precise_scales`.
"""

from __future__ import annotations

import math

import numpy as np

from ..inputs.problem import Problem

__all__ = ["class_lengths", "decay_scales", "factor_values", "layer_parts", "layer_scales",
           "layer_values", "power", "power_columns", "precise_scales", "sqrt_ratio"]


def sqrt_ratio(numerator, denominator) -> tuple[np.ndarray, np.ndarray]:
    """``sqrt(numerator / denominator)`` as ``mantissa * 2**exponent``, elementwise.

    Parameters
    ----------
    numerator, denominator : float or array_like
        Positive float64 values (broadcast against each other).

    Returns
    -------
    mantissa : ndarray
        In [0.5, 2), so that squares and products of a few stay in range.
    exponent : ndarray of int64
        Exact binary exponents.

    Examples
    --------
    >>> m, e = sqrt_ratio(1e-30, 1e300)  # 1e-165: the ratio 1e-330 is not a float64
    >>> float(np.ldexp(m, e))
    1e-165
    """
    m_top, e_top = np.frexp(np.asarray(numerator, dtype=float))
    m_bottom, e_bottom = np.frexp(np.asarray(denominator, dtype=float))
    shift = e_top.astype(np.int64) - e_bottom.astype(np.int64)
    odd = shift & 1
    return np.sqrt(m_top / m_bottom * (1.0 + odd)), (shift - odd) // 2


def decay_scales(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """``sqrt(lbar / lambda_j)`` for j = H, W_1, ..., W_M, as ``(mantissa, exponent)``.

    The singular value of factor j is this scale times ``z^(1/L)``.
    """
    return sqrt_ratio(problem.lbar, np.array((problem.lambda_h, *problem.lambda_w)))


def _running_product(mantissa: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative products of ``mantissa * 2**exponent``, renormalized at every step."""
    out_m, out_e = np.empty_like(mantissa), np.empty_like(exponent)
    m, e = 1.0, 0
    for j, (mj, ej) in enumerate(zip(mantissa.tolist(), exponent.tolist())):
        m, shift = math.frexp(m * mj)
        e += ej + shift
        out_m[j], out_e[j] = m, e
    return out_m, out_e


def layer_scales(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per layer j = 0..M, the scales ``F_j`` of the features and ``1 / F_j`` of the
    classifier (see the module docstring).

    Returns
    -------
    feature_m, feature_e, classifier_m, classifier_e : ndarray, shape (M + 1,)
        Mantissas and binary exponents of ``F_j`` and of ``1 / F_j``.
    """
    mantissa, exponent = decay_scales(problem)
    feature_m, feature_e = _running_product(mantissa, exponent)
    return feature_m, feature_e, 1.0 / feature_m, -feature_e


def power(z, exponent: float, out: np.ndarray | None = None) -> np.ndarray:
    """``z ** exponent`` for z >= 0, evaluated only where z > 0 (pow of 0 is slow).

    ``out``, if given, must hold zeros.
    """
    z = np.asarray(z, dtype=float)
    return np.power(z, exponent, where=z > 0, out=np.zeros(z.shape) if out is None else out)


def power_columns(z, exponents) -> np.ndarray:
    """(K, len(exponents)): column j is ``z ** exponents[j]`` (0 where z = 0).

    One call per column with a scalar exponent, so a column does not depend on
    which other columns are asked for (numpy rounds a broadcast exponent
    differently from a scalar one, by an ulp).
    """
    out = np.zeros((len(exponents), np.size(z)))
    for row, exponent in zip(out, np.asarray(exponents, dtype=float).tolist()):
        power(z, exponent, out=row)
    return out.T


def factor_values(problem: Problem, z) -> np.ndarray:
    """(K, M + 1): per direction, the balanced singular values of H, W_1, ..., W_M
    for product singular values ``z``."""
    root = power(z, 1.0 / problem.L)
    mantissa, exponent = decay_scales(problem)
    return np.ldexp(root[:, None] * mantissa[None, :], exponent[None, :])


def layer_parts(problem: Problem, z, classifier: bool = False, layers: slice = slice(None),
                scales: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Singular values of the features ``W_j ... W_1 H`` (or of the classifiers
    ``W_M ... W_{j+1}``), j = 0..M, as mantissas and binary exponents.

    Parameters
    ----------
    problem : Problem
    z : array_like, shape (K,)
        Singular values of the product, >= 0.
    classifier : bool
        The classifiers instead of the features.
    layers : slice
        Only these columns j.
    scales : tuple, optional
        ``layer_scales(problem)``, if already at hand (it loops over the layers).

    Returns
    -------
    mantissa : ndarray, shape (K, number of layers)
    exponent : ndarray of int64, shape (number of layers,)
        The singular values are ``mantissa * 2**exponent[None, :]``.
    """
    f_m, f_e, c_m, c_e = layer_scales(problem) if scales is None else scales
    exponents = np.arange(1, problem.depth + 2) / problem.L
    if classifier:
        exponents, f_m, f_e = 1.0 - exponents, c_m, c_e
    exponents, f_m, f_e = exponents[layers], f_m[layers], f_e[layers]
    return power_columns(z, exponents) * f_m[None, :], f_e


def layer_values(problem: Problem, z, classifier: bool = False,
                 scales: tuple | None = None) -> np.ndarray:
    """(K, M + 1): :func:`layer_parts` with the powers of two applied; inf where a
    value is beyond float64."""
    mantissa, exponent = layer_parts(problem, z, classifier, scales=scales)
    with np.errstate(over="ignore"):
        return np.ldexp(mantissa, exponent[None, :])


def class_lengths(weights: np.ndarray, mantissa: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """``sqrt(weights @ mantissa**2) * 2**exponent``: lengths whose squares need not
    be representable.

    Parameters
    ----------
    weights : ndarray, shape (K, r)
        Squared coordinates of K vectors on r orthogonal directions.
    mantissa : ndarray, shape (r, c)
        Per direction and column, the mantissa of the length along the direction.
    exponent : ndarray of int, shape (c,)
        Binary exponent of each column.

    Returns
    -------
    ndarray, shape (K, c); inf where a length is beyond float64.
    """
    squares = weights @ mantissa**2
    with np.errstate(over="ignore"):
        return np.ldexp(np.sqrt(np.maximum(squares, 0.0)), exponent[None, :])


def precise_scales(lambda_h, lambda_w) -> tuple:
    """lbar and ``sqrt(lbar / lambda_j)`` (j = H, W_1, ..., W_M) in mpmath.

    The float64 :func:`decay_scales` is rounded to 53 bits; the high-precision
    route needs its scales to the working precision, which mpmath gives with
    no exponent limit, so no mantissa/exponent split is needed there.

    Parameters
    ----------
    lambda_h : mpf
    lambda_w : sequence of mpf

    Returns
    -------
    lbar : mpf
    scales : list of mpf, length M + 1
    """
    import mpmath

    decays = [lambda_h, *lambda_w]
    lbar = mpmath.root(lambda_h * mpmath.fprod(lambda_w), len(decays))
    return lbar, [mpmath.sqrt(lbar / lam) for lam in decays]
