"""JSON form of a CESolution (``ncsolve predict --loss ce --json``)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["solution_dict"]


def _float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _floats(values) -> list:
    return [_float(v) for v in np.ravel(values)]


def _matrix(M: np.ndarray) -> list[list[float]]:
    return [[float(v) + 0.0 for v in row] for row in np.asarray(M)]  # + 0.0: no "-0.0"


def _summary(item) -> dict | None:
    if item is None:
        return None
    name = getattr(item, "name", None) or item.start
    return {"name": name, "loss": float(item.loss), "rank": int(item.rank)}


def solution_dict(sol, grams: bool) -> dict:
    """The JSON contract of ``ncsolve predict --loss ce --json`` (see docs/crossentropy.md)."""
    p = sol.problem
    shared = sol.shared_logits()
    classes = [
        {
            "class": k,
            "n": int(p.n[k]),
            "feature_norm": float(sol.feature_norm[k]),
            "classifier_norm": float(sol.classifier_norm[k]),
            "output": float(sol.output[k]),
            "last_layer_norm": float(sol.last_layer_norm[k]),
            "collapsed": bool(sol.collapsed[k]),
            "class_loss": float(sol.class_loss[k]),
            "margin": _float(sol.margin[k]),
            "shares_logits_with": shared[k],
            "feature_norms_by_layer": _floats(sol.layers.layer_norms[k]),
        }
        for k in range(p.K)
    ]
    out = {
        "problem": p.to_dict(),
        "loss": float(sol.loss),
        "ce_loss": float(sol.ce_loss),
        "penalty": float(sol.penalty),
        "certainty": sol.certainty,
        "certainty_reason": sol.certainty_reason,
        "restarts": sol.restarts,
        "hits": sol.hits,
        "runner_up": _summary(sol.runner_up),
        "gap_to_runner_up": None if sol.gap is None else float(sol.gap),
        "duality_gap": None if sol.duality_gap is None else float(sol.duality_gap),
        "geometry": sol.geometry,
        "unique": sol.unique,
        "rank": sol.rank,
        "rank_cap": p.rank_cap,
        "singular_values": _floats(sol.layers.s),
        "layer_singular_values": {
            "H": _floats(sol.layers.feature_sv),
            **{f"W_{j + 1}": _floats(v) for j, v in enumerate(sol.layers.weight_sv)},
        },
        "bias_value": None if sol.bias_value is None else _floats(sol.bias_value),
        "etf": {
            "rho": _float(sol.etf_scale),
            "loss": _float(sol.etf_loss),
            "origin_beats_etf_above_decay": _float(sol.origin_decay_etf),
        },
        "origin": {
            "loss": _origin(sol),
            "best_found_above_decay": _float(sol.origin_decay_best),
            "proved_above_decay": _float(sol.origin_decay_proved),
        },
        "notes": list(sol.notes),
        "classes": classes,
        "candidates": [
            {"name": c.name, "loss": float(c.loss), "rank": c.rank,
             "scale": float(c.scale), "origin_beats_it_above_decay": _float(c.origin_decay)}
            for c in sol.candidates
        ],
        "runs": [
            {"start": r.start, "loss": float(r.loss), "rank": r.rank,
             "iterations": r.iterations, "batch": r.batch}
            for r in sol.runs
        ],
        "batches": [
            {"batch": s.batch, "loss": float(s.loss), "hits": s.hits, "runs": s.runs}
            for s in sol.batches
        ],
    }
    out["logits"] = _matrix(sol.logits.T) if grams else None
    out["gram"] = (
        {
            "features": _matrix(sol.gram_features()),
            "classifier": _matrix(sol.gram_classifier()),
            "outputs": _matrix(sol.gram_outputs()),
        }
        if grams
        else None
    )
    return out


def _origin(sol) -> float:
    origin = next(c for c in sol.candidates if c.rank == 0)
    return float(origin.loss)
