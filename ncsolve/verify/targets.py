"""A target other than one-hot labels: descent on the full problem against the closed form.

The theory is :func:`ncsolve.solvers.targets.solve` (exact; with a regularized bias the
best bias found, exact for it). A run of the full objective with the same target matrix
(:func:`ncsolve.core.objective.target_matrix`) is judged as a searched answer is
(:func:`ncsolve.verify.assess_ce`: objective, gradient norm, Grams), with the Grams
compared directly, without relabeling classes (class relabelings are no symmetry of a
general target):

* class-level targets (label smoothing, soft labels): the class-mean Gram of every
  layer's features (K x K), the classifier Gram ``W W^T`` of every layer (K' x K') and
  the class-mean outputs (K' x K, without bias);
* per-sample targets (no classes): the eigenvalues of every layer's feature Gram
  ``F_j F_j^T`` (the N x N Gram is never formed; its nonzero eigenvalues are these),
  the classifier Gram ``W W^T`` (t x t) and the output second moments ``Z Z^T / N``.

Where the minimizer is not unique (a rank cap through equal singular values) only the
objective decides, and the report says so.
"""

from __future__ import annotations

import numpy as np

from ..core.balance import layer_values
from ..core.metrics import loss_scale, normalized_distance, objective_gap, relative_distance
from ..core.metrics import run_geometry
from ..core.objective import FullObjective
from .alignment import Alignment
from .common import Tolerances, _run_end, _worst
from .crossentropy import (RANK_RTOL, CERunReport, _ce_notes, _ce_status, _collapsed_classes,
                           _diverged_note)

COMPARISON = "direct Frobenius distances (no relabeling: a general target has no class symmetry)"
NOT_UNIQUE = ("the minimizer is not unique (a rank cap through equal target singular values): "
              "only the objective and the gradient decide; the Grams are shown, not checked")


def theory_matrices(solution) -> dict:
    """The answer's matrices by kind, per layer, in the form runs are measured in."""
    p = solution.problem
    if solution.per_sample:
        features = layer_values(p, np.asarray(solution.z, dtype=float))
        feature_list = [np.sort(features[:, j] ** 2)[::-1] for j in range(p.depth)]
    else:
        feature_list = [solution.gram_features(j) for j in range(p.depth)]
    return {"features": feature_list,
            "classifier": [solution.gram_classifier(j) for j in range(p.depth)],
            "outputs": [solution.gram_outputs()]}


def run_matrices(objective: FullObjective, x: np.ndarray, directions: int) -> dict:
    """A run's matrices by kind (see the module docstring), and its NC1 per layer."""
    p = objective.problem
    if p.target.moments is None:
        geometry = run_geometry(objective, x)
        return {"features": geometry.feature_grams, "classifier": geometry.classifier_grams,
                "outputs": [geometry.outputs], "nc1": list(geometry.nc1)}
    params = objective.split(x)
    gram = params.H @ params.H.T  # d_1 x d_1; the N x N Gram has the same nonzero spectrum
    features, classifiers = [], []
    for j in range(p.depth):
        if j:
            W = params.weights[j - 1]
            gram = W @ gram @ W.T
        values = np.sort(np.linalg.eigvalsh(0.5 * (gram + gram.T)))[::-1]
        features.append(np.pad(values, (0, max(0, directions - values.size)))[:directions])
        C = _chain(params.weights[j:])
        classifiers.append(C @ C.T)
    Z = _chain(params.weights) @ params.H
    return {"features": features, "classifier": classifiers, "outputs": [Z @ Z.T / p.N],
            "nc1": [float("nan")] * p.depth}


def _chain(weights) -> np.ndarray:
    out = weights[-1]
    for W in reversed(weights[:-1]):
        out = out @ W
    return out


def _align(run: dict, theory: dict) -> Alignment:
    normalized = {k: [normalized_distance(a, b) for a, b in zip(run[k], theory[k])]
                  for k in theory}
    relative = {k: [relative_distance(a, b) for a, b in zip(run[k], theory[k])]
                for k in theory}
    return Alignment("direct", None, normalized, relative)


def _product_spectrum(objective: FullObjective, run: dict, reference: float):
    """Singular values of the run's product ``W_M ... W_1 H`` and its numerical rank."""
    p = objective.problem
    if p.target.moments is None:
        root_n = np.sqrt(np.asarray(p.n, dtype=float))
        s = np.linalg.svd(run["outputs"][0] * root_n[None, :], compute_uv=False)
    else:
        values = np.linalg.eigvalsh(run["outputs"][0] * p.N)
        s = np.sqrt(np.maximum(np.sort(values)[::-1], 0.0))
    scale = reference if reference > 0 else float(s.max(initial=0.0))
    return s, int(np.sum(s > RANK_RTOL * scale)) if scale > 0 else 0


def assess_target(solution, objective: FullObjective, x: np.ndarray,
                  tolerances: Tolerances = Tolerances(), *, theory: dict | None = None,
                  **run) -> CERunReport:
    """Compare the parameters ``x`` of a model trained toward ``problem.target`` with the
    closed form (statuses as :func:`ncsolve.verify.assess_ce`).

    Parameters
    ----------
    solution : TargetSolution
        The answer for ``objective.problem`` with the model's widths.
    objective : FullObjective
        Layout and objective of ``x`` (with the same target).
    x : ndarray
        Flat parameter vector.
    tolerances : Tolerances
    theory : dict, optional
        ``theory_matrices(solution)``, to save recomputing it.
    **run
        Keyword-only ``grad_norm`` and the descent's record, as for :func:`assess`.
    """
    p = objective.problem
    run = _run_end(objective, x, tolerances, **run)
    theory = theory_matrices(solution) if theory is None else theory
    scale = loss_scale(objective)
    z_max = float(np.max(solution.z, initial=0.0))
    with np.errstate(all="ignore"):
        measured = run_matrices(objective, x, np.asarray(solution.sigma).size)
    finite = np.isfinite(run["loss"]) and all(
        np.all(np.isfinite(m)) for k in theory for m in measured[k])
    if finite:
        alignment = _align(measured, theory)
        s, rank = _product_spectrum(objective, measured, z_max)
    else:
        nan = {k: [np.nan] * len(v) for k, v in theory.items()}
        alignment = Alignment("diverged", None, nan, {k: list(v) for k, v in nan.items()})
        s, rank = np.full(np.asarray(solution.sigma).size, np.nan), 0
    errors = {k: _worst(v) for k, v in alignment.normalized.items()}
    geometry_ok = (not finite or not solution.unique
                   or _worst(errors.values()) <= tolerances.gram_tol)
    status, beats = _ce_status(run["loss"], float(solution.loss), run["converged"],
                               geometry_ok, tolerances.loss_rtol, scale)
    gap = objective_gap(run["loss"], float(solution.loss), scale)
    notes = _ce_notes(status, beats, solution, gap, alignment, errors, tolerances,
                      bool(abs(gap) <= tolerances.loss_rtol))
    if not solution.unique:
        notes.append(NOT_UNIQUE)
    if not finite:
        notes.append(_diverged_note(run))
    collapsed = ([] if p.target.moments is not None or not finite
                 else _collapsed_classes(measured["features"][0], solution))
    return CERunReport(
        status=status, beats_theory=beats, gap=gap, rank=rank, singular_values=s,
        collapsed=collapsed, matched=None, errors=errors,
        relative_errors={k: _worst(v) for k, v in alignment.relative.items()},
        layer_errors=alignment.normalized, comparison=alignment.method, permutation=None,
        nc1=measured["nc1"] if finite else [np.nan] * p.depth, notes=notes, **run,
    )
