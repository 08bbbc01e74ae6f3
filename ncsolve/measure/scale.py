"""Magnitude guard of measure: refuse, before any arithmetic, inputs whose outputs,
squares or decay terms would overflow float64 (they ended in LinAlgError, OverflowError,
``inf`` gaps or JSON that is not JSON).

Every product measure forms is bounded by SCALE_LIMIT = 1e100 in magnitude: then a
square or a sum over 10^10 samples stays far inside float64 (1.8e308).  Trained networks
sit some 90 orders of magnitude inside this bound; beyond it the fix is to rescale.
"""

from __future__ import annotations

import math

import numpy as np

from ..inputs.problem import ProblemError, invalid

SCALE_LIMIT = 1e100
_LOG_LIMIT = math.log10(SCALE_LIMIT)


def _log_max(array) -> float:
    """log10 of the largest |entry| (-inf for an all-zero or empty array)."""
    array = np.asarray(array)
    if not array.size:
        return -math.inf
    top = float(np.max(np.abs(array)))
    return math.log10(top) if top > 0 else -math.inf


def check_features(X: np.ndarray, name: str = "features") -> None:
    """Refuse features whose squares could overflow (before they are accumulated)."""
    top = _log_max(X)
    if top > _LOG_LIMIT:
        raise ProblemError(f"{name}: entries up to 1e{top:.0f} in magnitude; measure squares "
                           f"and sums them, so at most {SCALE_LIMIT:g}: rescale the features")


def feature_scale(X, stats) -> float:
    """log10 of a bound on the features' magnitude (arrays, or a streaming pass's statistics)."""
    if X is not None:
        return _log_max(X)
    if not (np.all(np.isfinite(stats.means)) and np.all(np.isfinite(stats.scatter))):
        raise ProblemError("features: the accumulated statistics overflowed float64; rescale "
                           f"the features (entries at most {SCALE_LIMIT:g})")
    spread = 0.5 * _log_max(np.diag(stats.scatter)) if stats.scatter.size else -math.inf
    return max(_log_max(stats.means), spread)


def check_outputs(log_features: float, head) -> None:
    """Refuse weights or biases whose products with the features pass SCALE_LIMIT."""
    if head is None:
        return
    factors = [("features", log_features)]
    for j, W in enumerate(head.weights, start=1):
        factors.append((f"W{j}", _log_max(W) + math.log10(max(W.shape[1], 1))))
    output = sum(max(value, 0.0) for _, value in factors)
    bias_top = max((_log_max(b) for b in head.biases if b is not None), default=-math.inf)
    if max(output, bias_top) > _LOG_LIMIT:
        name = max(factors, key=lambda item: item[1])[0] if output >= bias_top else "biases"
        raise ProblemError(f"{name}: the head's outputs would reach about 1e"
                           f"{max(output, bias_top):.0f} in magnitude, past {SCALE_LIMIT:g} "
                           f"(their squares overflow float64): rescale {name}")


def check_scale(log_features: float, head, decays: dict) -> None:
    """Refuse decays, weights or biases whose terms in the objective, its gradient or the
    head's outputs would pass SCALE_LIMIT."""
    _decays_in_range(decays)
    check_outputs(log_features, head)
    lambda_w = (decays["lambda_w"] or ()) if head is not None else ()
    for j, (W, lam) in enumerate(zip(head.weights if head else (), lambda_w), start=1):
        term = math.log10(lam) + 2 * _log_max(W) + math.log10(max(W.size, 1)) if lam else -1
        if term > _LOG_LIMIT:
            raise invalid("lambda_w", f"lambda_W{j} times |W{j}|^2 reaches 1e{term:.0f}, past "
                          f"{SCALE_LIMIT:g}: rescale W{j} or lower the decay")
    lambda_h = decays["lambda_h"]
    if lambda_h and math.log10(lambda_h) + 2 * max(log_features, 0.0) > _LOG_LIMIT:
        raise invalid("lambda_h", f"lambda_H times |features|^2 passes {SCALE_LIMIT:g}: "
                      "rescale the features or lower the decay")


def _decays_in_range(decays: dict) -> None:
    values = {"lambda_w": decays["lambda_w"] or (), "lambda_h": (decays["lambda_h"],),
              "lambda_b": (decays["lambda_b"],)}
    for name, group in values.items():
        for value in group:
            if value is not None and value > SCALE_LIMIT:
                raise invalid(name, f"{value:g} is past {SCALE_LIMIT:g}, where the decay "
                              "terms overflow float64; give a decay of at most "
                              f"{SCALE_LIMIT:g} (far past it the global minimizer is 0)")
