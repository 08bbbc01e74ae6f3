"""Hints for a run that reads as not converged because of how its training was described."""

from __future__ import annotations

__all__ = ["scope_hint"]


def scope_hint(convention, lambda_h) -> str:
    """A note when the feature decay was mapped per batch: free features trained with the
    optimizer's ``weight_decay`` (or a penalty on all of H) are decayed whole at every
    step, ``--feature-decay-scope all``, with lambda_H N/B times larger."""
    if convention is None or lambda_h is None:
        return ""
    settings = convention.settings
    if settings.get("feature_decay") is None or settings.get("feature_decay_scope") != "batch":
        return ""
    whole = convention.scale * settings["feature_decay"]
    if abs(whole - lambda_h) <= 1e-12 * whole:
        return ""  # full batch: both scopes give the same lambda_H
    return ("if the features are free parameters decayed at every step (the optimizer's "
            "weight_decay on H, or fd/2 ||H||^2 on all of H), the decay reaches all of H: "
            f"--feature-decay-scope all (lambda_H = {whole:.6g} instead of {lambda_h:.6g})")
