"""A trained regression head against the exact minimizer of its per-sample targets.

:func:`measure_regression` takes the features (N x d, rows are samples), the targets
(N x t) and the head's layers, and reports the regression-collapse metrics NRC1-3 of
Andriopoulos et al. (NeurIPS 2024; :mod:`.nrc`) of the trained head. With the decays it
also solves the deep linear UFM for the same targets, depth, widths and bias
(:func:`ncsolve.solvers.solve`, exact) and adds:

* ``nrc3_exact``: the NRC3 distance of the trained ``W W^T`` to the exact one (any
  depth), where NRC3 compares with the depth-1 form only;
* ``theory_nrc3``: NRC3 of the exact Gram itself (0 at depth 1 with a free bias when
  no direction collapses; deeper, how far the published form is from the minimum);
* per target direction, the trained and exact ``W W^T`` in the target's eigenbasis,
  and the number of surviving directions of each;
* the objective at the trained parameters against the global minimum.

:func:`load_regression` reads such a head from a file holding ``features``,
``targets`` and ``W1..WM`` (or a state_dict), as :func:`ncsolve.measure.files.load`.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..inputs.problem import Problem, ProblemError
from ..inputs.targets import sample_moments
from ..inputs.validation import invalid
from ..results.table import column
from ..solvers import solve
from .files import _arrays, _numbered
from .heads import state_dict_head
from .nrc import feature_moments, gram_distance, nrc1, nrc2, nrc3
from .readers import safetensors_header

__all__ = ["RegressionMeasurement", "holds_targets", "load_regression", "measure_regression"]

RANK_RTOL = 1e-3  # a direction of W W^T below this times the largest counts as collapsed
BLOCK_ROWS = 65536  # rows of outputs formed at once for the objective


@dataclass(frozen=True, eq=False)
class RegressionMeasurement:
    """NRC1-3 of a trained regression head and, with decays, the exact minimizer's values.

    Attributes
    ----------
    samples, dim, width, depth : int
        N, the target dimension t, the feature width d and the number of layers M.
    nrc1, nrc2, nrc3 : float
        The metrics of :mod:`ncsolve.measure.nrc`; ``nrc3_s`` where NRC3's search ended.
    rank : int
        Directions of the trained ``W W^T`` above ``RANK_RTOL`` of the largest.
    classifier_eigenbasis : ndarray (t,)
        Diagonal of the trained ``W W^T`` in the eigenbasis of the target's (centred,
        with a bias) second moments, largest target direction first.
    theory : TargetSolution or None
        The exact answer (None without decays).
    nrc3_exact, theory_nrc3, loss, gap : float or None
        See the module docstring; ``loss`` is the objective at the trained parameters,
        ``gap`` its relative distance to the exact minimum.
    notes : tuple of str
    """

    samples: int
    dim: int
    width: int
    depth: int
    nrc1: float
    nrc2: float
    nrc3: float
    nrc3_s: float
    rank: int
    classifier_eigenbasis: np.ndarray
    theory: object | None = None
    nrc3_exact: float | None = None
    theory_nrc3: float | None = None
    loss: float | None = None
    gap: float | None = None
    notes: tuple = field(default=())

    def to_dict(self) -> dict:
        data = {"kind": "regression", "samples": self.samples, "dim": self.dim,
                "width": self.width, "depth": self.depth, "nrc1": self.nrc1,
                "nrc2": self.nrc2, "nrc3": self.nrc3, "nrc3_s": self.nrc3_s,
                "rank": self.rank,
                "classifier_gram_eigenbasis": column(self.classifier_eigenbasis),
                "notes": list(self.notes)}
        if self.theory is not None:
            regression = self.theory.regression()
            data["theory"] = {
                "problem": self.theory.problem.to_dict(), "loss": float(self.theory.loss),
                "certainty": self.theory.certainty, "rank": int(self.theory.rank),
                "geometry": self.theory.geometry, **regression}
            data.update(nrc3_exact=self.nrc3_exact, theory_nrc3=self.theory_nrc3,
                        loss=self.loss, gap=self.gap)
        return data

    def __str__(self) -> str:
        lines = [f"regression head: N = {self.samples} samples, t = {self.dim} target "
                 f"columns, feature width {self.width}, depth {self.depth}",
                 "",
                 "neural regression collapse (Andriopoulos et al. 2024; 0 is collapsed)",
                 f"  NRC1  {self.nrc1:.4g}   features to their top-{self.dim} principal "
                 "subspace",
                 f"  NRC2  {self.nrc2:.4g}   features to the span of the weight vectors",
                 f"  NRC3  {self.nrc3:.4g}   W W^T to the depth-1 form (Sigma^1/2 - s I), "
                 f"s = {self.nrc3_s:.4g} (searched)"]
        if self.theory is not None:
            th = self.theory
            lines += [f"  NRC3 against the exact W W^T: {self.nrc3_exact:.4g}   (the exact "
                      f"W W^T has NRC3 {self.theory_nrc3:.4g})",
                      "",
                      f"objective {self.loss:.10g}   exact minimum {th.loss:.10g} "
                      f"({th.certainty})   relative gap {self.gap:+.3e}",
                      f"directions surviving: trained {self.rank}, exact {th.rank} of "
                      f"{th.sigma.size}"]
            exact = th.regression()["classifier_gram_eigenbasis"]
            lines.append("  direction   sigma       W W^T trained   W W^T exact   "
                         "collapse decay")
            for i, value in enumerate(self.classifier_eigenbasis):
                lines.append(f"  {i:9d}   {th.sigma[i]:<10.5g}  {value:<14.6g}  "
                             f"{exact[i]:<12.6g}  {th.direction_critical_decay[i]:.6g}")
        else:
            lines += ["", f"directions surviving (trained): {self.rank} of {self.dim}",
                      "no exact comparison: give the decays (--lambda-w and --lambda-h)"]
        lines += [f"note: {text}" for text in self.notes]
        return "\n".join(lines)


def _head(weights, width: int, dim: int) -> list[np.ndarray]:
    layers = [np.asarray(W, dtype=float) for W in weights]
    if not layers:
        raise invalid("weights", "give the head's layers W1..WM (at least one)")
    inputs = width
    for j, W in enumerate(layers, 1):
        if W.ndim != 2 or W.shape[1] != inputs:
            raise invalid("weights", f"W{j} must have {inputs} columns ((out, in) layout, "
                          f"layer 1 acting on the features), got shape {W.shape}")
        inputs = W.shape[0]
    if inputs != dim:
        raise invalid("weights", f"the last layer must have t = {dim} rows (one per target "
                      f"column), got {inputs}")
    return layers


def _chain(layers) -> np.ndarray:
    out = layers[0]
    for W in layers[1:]:
        out = W @ out
    return out


def measure_regression(features, targets, weights, biases=None, *, lambda_w=None,
                       lambda_h=None, bias=None, lambda_b=None) -> RegressionMeasurement:
    """NRC1-3 of a trained regression head, and the exact minimizer with the decays.

    Parameters
    ----------
    features : array (N, d)
        Features fed to the head, rows are samples.
    targets : array (N, t)
        Per-sample targets, rows are samples (same order as the features).
    weights : sequence of arrays
        ``W1`` (d_2 x d) .. ``WM`` (t x d_M), PyTorch's (out, in) layout.
    biases : sequence of arrays or None, optional
        ``b1..bM`` (None entries allowed); a last-layer bias makes the default bias mode
        ``"free"``.
    lambda_w, lambda_h : float or sequence, optional
        Decays of ncsolve's objective; both are needed for the exact comparison.
    bias : {"none", "free", "regularized"}, optional
    lambda_b : float, optional
        With ``bias="regularized"``.
    """
    features = np.asarray(features)
    Y = np.asarray(targets.detach().cpu().numpy() if hasattr(targets, "detach") else targets)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if features.ndim != 2 or features.shape[0] != Y.shape[0]:
        raise invalid("features", f"must be N x d with one row per target row (N = "
                      f"{Y.shape[0]}), got shape {features.shape}")
    targets_moments = sample_moments(Y)
    layers = _head(weights, features.shape[1], targets_moments.dim)
    biases = [None] * len(layers) if biases is None else list(biases)
    W = _chain(layers)
    gram = W @ W.T
    moments = feature_moments(features)
    covariance = targets_moments.scatter / targets_moments.count
    value, s = nrc3(gram, covariance)
    mode = bias or ("free" if biases[-1] is not None else "none")
    values, vectors = np.linalg.eigh(targets_moments.gram(centred=mode != "none"))
    basis = vectors[:, np.argsort(-values, kind="stable")]
    trained = np.diag(basis.T @ gram @ basis)
    rank = int(np.sum(np.linalg.eigvalsh(gram) > RANK_RTOL * max(np.linalg.norm(gram, 2), 0)))
    notes = []
    if any(b is not None for b in biases[:-1]):
        notes.append("hidden-layer biases are in the objective's outputs, not in the theory's "
                     "model (it has none)")
    result = dict(samples=targets_moments.count, dim=targets_moments.dim,
                  width=features.shape[1], depth=len(layers), nrc1=nrc1(moments, gram.shape[0]),
                  nrc2=nrc2(moments, W), nrc3=value, nrc3_s=s, rank=rank,
                  classifier_eigenbasis=trained)
    if lambda_w is None and lambda_h is None:
        return RegressionMeasurement(**result, notes=tuple(notes))
    if lambda_w is None or lambda_h is None:
        missing = "lambda_w" if lambda_w is None else "lambda_h"
        raise invalid(missing, "the exact comparison needs both --lambda-w and --lambda-h")
    widths = [features.shape[1], *(L.shape[0] for L in layers[:-1])]
    problem = Problem.build(None, len(layers), lambda_w, lambda_h, mode, widths=widths,
                            lambda_b=lambda_b, targets=Y)
    theory = solve(problem)
    loss = _objective(problem, features, Y, layers, biases)
    return RegressionMeasurement(
        **result, theory=theory, nrc3_exact=gram_distance(gram, theory.gram_classifier()),
        theory_nrc3=nrc3(theory.gram_classifier(), covariance)[0], loss=loss,
        gap=(loss - float(theory.loss)) / max(abs(float(theory.loss)), 1e-300),
        notes=tuple(notes))


def _objective(problem: Problem, features, Y, layers, biases) -> float:
    """The full objective at the trained parameters (features as the free H)."""
    fit, norm_h = 0.0, 0.0
    last = biases[-1] if problem.bias != "none" else None
    for start in range(0, features.shape[0], BLOCK_ROWS):
        out = np.asarray(features[start:start + BLOCK_ROWS], dtype=float)
        norm_h += float(np.sum(out * out))
        for j, (W, b) in enumerate(zip(layers, biases)):
            out = out @ W.T
            if b is not None and (j + 1 < len(layers) or last is not None):
                out = out + np.asarray(b, dtype=float)
        residual = out - np.asarray(Y[start:start + BLOCK_ROWS], dtype=float)
        fit += float(np.sum(residual * residual))
    penalty = sum(lam * float(np.sum(W * W)) for lam, W in zip(problem.lambda_w, layers))
    penalty += problem.lambda_h * norm_h
    if problem.bias == "regularized" and last is not None:
        penalty += problem.lambda_b * float(np.sum(np.asarray(last, dtype=float) ** 2))
    return fit / (2.0 * problem.N) + 0.5 * penalty


def load_regression(path, depth: int | None = None, head: str | None = None) -> dict:
    """``features``, ``targets``, ``weights`` and ``biases`` of a regression head in a file
    (the keys of :func:`ncsolve.measure.files.load`, with ``targets`` for ``labels``)."""
    name = os.fspath(path)
    arrays = _arrays(name)
    for key in ("features", "targets"):
        if key not in arrays:
            raise ProblemError(f"{name}: missing array {key!r}; a regression head needs "
                               "features (N x d), targets (N x t) and W1..WM")
    features = arrays["features"]
    if features.ndim != 2:
        raise ProblemError(f"{name}: array 'features' must be N x d (rows are samples), got "
                           f"shape {features.shape}")
    numbered = sorted((k for k in arrays if k[:1] == "W" and k[1:].isdigit()),
                      key=lambda k: int(k[1:]))
    if numbered:
        weights, biases, _ = _numbered(name, arrays, numbered)
        if depth is not None and len(weights) != depth:
            raise invalid("depth", f"{name} has {len(weights)} layer(s), got depth {depth}")
    else:
        weights, biases, _ = state_dict_head(name, arrays, features.shape[1], depth, head)
    return {"features": features, "targets": arrays["targets"], "weights": weights,
            "biases": None if all(b is None for b in biases) else biases}


def holds_targets(path) -> bool:
    """Whether a (checked) model file has a ``targets`` array, read from its index where the
    format has one (.npz, .safetensors), else from the whole file."""
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    try:
        if ext == ".npz":
            with zipfile.ZipFile(name) as archive:
                return "targets.npy" in archive.namelist()
        if ext == ".safetensors":
            with open(name, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                return "targets" in safetensors_header(handle, name, size)[0]
    except (OSError, ValueError, zipfile.BadZipFile):  # ProblemError is a ValueError
        return False  # the reader reports the damage
    return "targets" in _arrays(name)
