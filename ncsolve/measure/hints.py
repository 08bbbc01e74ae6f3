"""Hints for a run that reads as not converged because of how its training was described."""

from __future__ import annotations

__all__ = ["scope_alternative", "scope_hint"]


def scope_alternative(convention, lambda_h) -> float | None:
    """lambda_H with the feature decay on all of H at every step, when the convention
    mapped it per batch and the two differ; else None."""
    if convention is None or lambda_h is None:
        return None
    settings = convention.settings
    if settings.get("feature_decay") is None or settings.get("feature_decay_scope") != "batch":
        return None
    whole = convention.scale * settings["feature_decay"]
    return None if abs(whole - lambda_h) <= 1e-12 * whole else whole


def scope_hint(lambda_h: float, whole: float, gap: float, whole_gap: float) -> str:
    """The note for a run that the other scope explains (``whole_gap`` well below ``gap``)."""
    return ("the run is much closer to the global minimizer with the feature decay on all of "
            f"H at every step (relative gap {whole_gap:.3g} instead of {gap:.3g}): free "
            "features decayed by the optimizer's weight_decay (or fd/2 ||H||^2 on all of H) "
            f"need --feature-decay-scope all (lambda_H = {whole:.6g} instead of "
            f"{lambda_h:.6g})")
