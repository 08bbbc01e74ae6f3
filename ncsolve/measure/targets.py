"""The exact minimizer's Grams for a measured configuration, for other metric code.

Metric libraries (rhubarbwu/neural-collapse and others) compare a network with the
balanced simplex ETF.  :func:`target_grams` gives instead the Grams of the global
minimizer for the measured class sizes, depth, widths, decays, bias and loss, so that
such code can hold a network against the right geometry; :func:`export_targets`
writes them to ``.npz`` or ``.json``.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from ..inputs import outfile
from ..inputs.problem import ProblemError
from ..inputs.validation import invalid

__all__ = ["export_targets", "target_grams"]

FORMATS = (".npz", ".json")


def target_grams(measurement) -> dict:
    """K x K Grams of the global minimizer the measurement was compared with.

    Returns
    -------
    dict
        ``features``: list over layers j = 0..M-1 of the class-mean Grams
        ``Hbar_j^T Hbar_j`` (class means around the origin, or around their global
        mean with a free bias, as the objective sees them); ``classifier``: the Grams
        ``C_j C_j^T`` of the classifiers ``C_j = W_M ... W_{j+1}``; ``outputs``: the
        output matrix ``W_M ... W_1 Hbar`` (column k is class k); with ``n``, ``bias``,
        ``loss``, the decays, ``certainty`` and ``geometry``.

    Raises
    ------
    ProblemError
        When the measurement has no theory (no decays given, or a nonlinear head).
    """
    theory = getattr(measurement, "theory", measurement)
    if theory is None or not hasattr(theory, "gram_features"):
        raise ProblemError("targets: the measurement was not compared with the theory; give "
                           "the decays (--lambda-w or --weight-decay) and a linear head")
    depth = theory.problem.depth
    p = theory.problem
    return {
        "n": [int(v) for v in p.n], "depth": int(depth), "bias": p.bias, "loss": p.loss,
        "lambda_w": [float(v) for v in np.atleast_1d(p.lambda_w)],
        "lambda_h": float(p.lambda_h), "certainty": theory.certainty,
        "geometry": theory.geometry,
        "features": [np.asarray(theory.gram_features(j), dtype=float) for j in range(depth)],
        "classifier": [np.asarray(theory.gram_classifier(j), dtype=float)
                       for j in range(depth)],
        "outputs": np.asarray(theory.gram_outputs(), dtype=float),
    }


def check_target_path(path, force: bool = False) -> str:
    """The format of an export path; refuses an existing file (unless ``force``), a
    missing folder, a folder, device or FIFO (:func:`ncsolve.inputs.outfile.check_target`)."""
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    if ext not in FORMATS:
        raise invalid("export_targets", f"the file must end in {' or '.join(FORMATS)}; "
                      f"got {name!r}")
    outfile.check_target(name, "export_targets", force=force)
    return ext


def export_targets(measurement, path, force: bool = False) -> None:
    """Write :func:`target_grams` to ``path``, whole or not at all (``.npz``: arrays
    ``features_j``, ``classifier_j``, ``outputs``, ``n``; ``.json``: the dict, matrices
    as lists)."""
    ext = check_target_path(path, force)
    grams = target_grams(measurement)
    if ext == ".json":
        data = {k: ([m.tolist() for m in v] if k in ("features", "classifier")
                    else v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in grams.items()}
        outfile.write_atomic(path, json.dumps(data, allow_nan=False) + "\n")
        return
    arrays = {"n": np.asarray(grams["n"]), "outputs": grams["outputs"]}
    for j in range(grams["depth"]):
        arrays[f"features_{j}"] = grams["features"][j]
        arrays[f"classifier_{j}"] = grams["classifier"][j]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    outfile.write_atomic(path, buffer.getvalue())
