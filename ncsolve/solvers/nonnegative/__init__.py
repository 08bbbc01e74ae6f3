"""Nonnegative features (H >= 0, the features after a ReLU): closed forms where proved
(bias-free MSE, where the constraint does not bind; bias-free cross-entropy at depth 1),
a bounded search of the class-mean problem otherwise."""

from .solver import solve

__all__ = ["solve"]
