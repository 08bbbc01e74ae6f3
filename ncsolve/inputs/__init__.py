"""Inputs: the problem specification and its validation, imbalance profiles and training
conventions. Nothing here knows how a problem is solved."""

from __future__ import annotations

from .problem import DEFAULT_DECAY, Problem, ProblemError
from .profiles import profile_sizes

__all__ = ["DEFAULT_DECAY", "Problem", "ProblemError", "class_sizes", "specify"]


def class_sizes(n, ratio=None):
    """``n`` itself, or an imbalance profile's sizes at ``ratio``."""
    if ratio is None and not hasattr(n, "sizes"):
        return n
    return profile_sizes(n, ratio)


def specify(n, depth=1, lambda_w=None, lambda_h=None, bias="none", loss="mse", widths=None,
            lambda_b=None, features=None, **target) -> Problem:
    """The validated problem of ``predict``'s arguments, the paper's decays where none
    are given; ``target`` holds ``label_smoothing``, ``soft_labels`` or ``targets``."""
    lambda_w = DEFAULT_DECAY if lambda_w is None else lambda_w
    lambda_h = DEFAULT_DECAY if lambda_h is None else lambda_h
    return Problem.build(n, depth, lambda_w, lambda_h, bias, loss, widths, lambda_b,
                         features, **target)
