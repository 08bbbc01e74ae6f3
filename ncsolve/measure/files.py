"""Trained models from files: ``.npz``, ``.safetensors`` and PyTorch ``.pt``/``.pth``.

Loading never runs code: ``.npz`` with ``allow_pickle=False``, ``.safetensors``
through the ``safetensors`` package's numpy API (no PyTorch needed), ``.pt`` with
``torch.load(weights_only=True)`` (only when PyTorch is installed).

Keys (docs/measure.md): ``features`` (N x d, rows are samples), ``labels`` (N,),
``W1``..``WM`` in PyTorch's (out, in) layout with layer 1 acting on the features,
optional ``b1``..``bM``, optional ``test_features``/``test_labels``.  Instead of
``W1``..``WM`` a state_dict may be stored (at the top level or under
``state_dict``): its 2-D ``*.weight`` entries, in natural key order, are the
layers; the last run of them that chains from the feature width to K outputs is
used, and the mapping is reported.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from dataclasses import dataclass, field, replace

import numpy as np

from ..inputs.problem import ProblemError
from ..inputs.validation import invalid
from . import readers
from .heads import state_dict_head
from .network import measure

__all__ = ["FORMATS", "TrainedModel", "check_path", "load", "ood_features", "read_array"]

FORMATS = (".npz", ".safetensors", ".pt", ".pth")


@dataclass(frozen=True)
class TrainedModel:
    """Arrays read from a file (numpy), ready for :func:`ncsolve.measure.measure`."""

    path: str
    features: np.ndarray
    labels: np.ndarray
    weights: tuple
    biases: tuple | None
    test_features: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    mapping: tuple = field(default=())
    ood_features: np.ndarray | None = None

    def measure(self, **options):
        """:func:`ncsolve.measure.measure` on these arrays (``options``: decays, bias, ...)."""
        notes = options.pop("notes", ())
        result = measure(self.features, self.labels, self.weights, self.biases,
                         test_features=self.test_features, test_labels=self.test_labels,
                         **{"ood_features": self.ood_features, **options})
        if not (self.mapping or notes):
            return result

        return replace(result, notes=tuple(self.mapping) + tuple(notes) + result.notes)


def check_path(path: str) -> str:
    """The lower-case extension of a readable file of a known format, else ProblemError."""
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    if ext not in FORMATS:
        raise ProblemError(f"{name}: unknown file type {ext or '(none)'!r}; expected one of "
                           f"{', '.join(FORMATS)}")
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        raise ProblemError(f"{name}: no such file") from None
    except OSError as error:
        raise ProblemError(f"{name}: cannot read the file ({error.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ProblemError(f"{name}: is a folder; give the model file inside it")
    if not stat.S_ISREG(mode):
        raise ProblemError(f"{name}: is a FIFO, socket or device, not a regular file; "
                           "save the model to a file and give its name")
    if not os.access(name, os.R_OK):
        raise ProblemError(f"{name}: cannot read the file (permission denied)")
    return ext


def load(path, depth: int | None = None, head: str | None = None) -> TrainedModel:
    """Read a trained model (see the module docstring for formats and keys).

    Parameters
    ----------
    path : str or path-like
    depth : int, optional
        Number of head layers to take (the last ``depth`` that chain); default all.
    head : str, optional
        State_dict key prefix of the head's layers (``"head"``, ``"classifier"``; ``""``
        for every layer).  Default: the module holding the last layer.

    Raises
    ------
    ProblemError
        Naming the file or array: unreadable or pickled files, missing keys, layers
        that do not chain.
    """
    name = os.fspath(path)
    return _model(name, _arrays(name), depth, head)


def _arrays(name: str) -> dict:
    """Every array of a checked ``.npz``/``.safetensors``/``.pt`` file, read safely."""
    ext = check_path(name)
    return {".npz": _read_npz, ".safetensors": _read_safetensors}.get(ext, _read_torch)(name)


def ood_features(path) -> np.ndarray:
    """Out-of-distribution features from a file: its ``ood_features`` array, else its
    ``features`` (N_ood x d, rows are samples)."""
    name = os.fspath(path)
    arrays = _arrays(name)
    for key in ("ood_features", "features"):
        if key in arrays:
            return arrays[key]
    raise ProblemError(f"{name}: missing array 'ood_features' (or 'features'), N_ood x d")


def read_array(path, key: str, param: str) -> np.ndarray:
    """The array ``key`` of a ``.npz``/``.safetensors``/``.pt`` file, read as safely as
    :func:`load` reads a model (targets and soft labels of ``ncsolve predict``).

    Raises
    ------
    ProblemError
        Naming ``param``: unreadable file, or no array under ``key``.
    """
    name = os.fspath(path)
    try:
        arrays = _arrays(name)
    except ProblemError as error:
        raise invalid(param, str(error)) from None
    if key not in arrays:
        raise invalid(param, f"{name} has no array {key!r} (it has: "
                      f"{', '.join(sorted(arrays)) or 'none'}); save it under {key!r}")
    return np.asarray(arrays[key])


# ---- readers: each returns a flat dict of numpy arrays ----------------------------------


def _read_npz(name: str) -> dict:
    with open(name, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise ProblemError(f"{name}: not a readable .npz file (not a zip archive of .npy "
                               "arrays, as numpy.savez writes)")
    return readers.read_npz(name)


def _optional(module: str, name: str, missing: str):
    """The optional library ``module``; without it, a ProblemError for file ``name``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ProblemError(f"{name}: {missing}") from None


def _read_safetensors(name: str) -> dict:
    return readers.read_safetensors(name)


def _read_torch(name: str) -> dict:
    readers.check_zip_budget(name)  # before the slow import of torch
    torch = _optional("torch", name, "reading .pt/.pth needs PyTorch; without it save the "
                      "arrays as .npz or .safetensors")
    import pickle

    try:
        data = torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ProblemError(f"{name}: would need code to unpickle (only tensors, dicts and "
                           f"numbers are loaded, weights_only=True): {first}") from None
    except Exception as error:
        raise ProblemError(f"{name}: not a readable PyTorch file ({type(error).__name__}: "
                           f"{error})") from None
    if not isinstance(data, dict):
        raise ProblemError(f"{name}: expected a dict of tensors (features, labels, W1.. or a "
                           f"state_dict), got {type(data).__name__}")
    return _flatten(data, name)


def _flatten(data: dict, name: str, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            inner = "" if (not prefix and key == "state_dict") else f"{full}."
            out.update(_flatten(value, name, inner))
        elif hasattr(value, "detach"):
            out[full] = readers.tensor_array(value, full, name)
        elif isinstance(value, (int, float)):
            out[full] = np.asarray(value)
        elif value is not None:
            raise ProblemError(f"{name}: entry {full!r} is a {type(value).__name__}, "
                               "expected a tensor")
    return out


# ---- from arrays to the model -----------------------------------------------------------


def _natural(key: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def _model(name: str, arrays: dict, depth: int | None, head: str | None = None) -> TrainedModel:
    for key in ("features", "labels"):
        if key not in arrays:
            found = ", ".join(sorted(arrays)[:12]) or "nothing"
            raise ProblemError(f"{name}: missing array {key!r} (found {found}); expected "
                               "features (N x d), labels (N,), W1..WM or a state_dict")
    features, labels = arrays["features"], arrays["labels"]
    if features.ndim != 2:
        raise ProblemError(f"{name}: array 'features' must be N x d (rows are samples), got "
                           f"shape {features.shape}")
    test = (arrays.get("test_features"), arrays.get("test_labels"))
    if (test[0] is None) != (test[1] is None):
        raise ProblemError(f"{name}: give test_features and test_labels together")
    numbered = sorted((k for k in arrays if re.fullmatch(r"W\d+", k)), key=_natural)
    if numbered:
        weights, biases, mapping = _numbered(name, arrays, numbered)
        if depth is not None and len(weights) != depth:
            raise invalid("depth", f"{name} has {len(weights)} layer(s) "
                          f"W1..W{len(weights)}, got depth {depth}; leave --depth out")
    else:  # the last `depth` Linear weights that chain from the features
        weights, biases, mapping = state_dict_head(name, arrays, features.shape[1], depth,
                                                   head)
    return TrainedModel(name, features, labels, tuple(weights),
                        None if all(b is None for b in biases) else tuple(biases),
                        test[0], test[1], tuple(mapping), arrays.get("ood_features"))


def _numbered(name, arrays, keys):
    expected = [f"W{j}" for j in range(1, len(keys) + 1)]
    if keys != expected:
        raise ProblemError(f"{name}: weight arrays must be W1..WM without gaps, found "
                           f"{', '.join(keys)}")
    weights = [arrays[k] for k in keys]
    biases = [arrays.get(f"b{j}") for j in range(1, len(keys) + 1)]
    return weights, biases, []
