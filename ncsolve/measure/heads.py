"""The head's layers in a state_dict: which 2-D ``*.weight`` entries, in which order.

The layers taken are those of one module: by default the module that holds the last
``*.weight`` (the keys sharing its parent prefix, ``head.0``, ``head.2`` under
``head``), or every key under ``--head PREFIX``.  Within them, in natural key order
(``layers.2`` before ``layers.10``), the last run that chains from the feature width
is the head.  A backbone's last ``Linear(d, d)`` chains by shape too, but belongs to
another module and is not taken unless the prefix says so.
"""

from __future__ import annotations

import re

from ..inputs.problem import ProblemError

__all__ = ["state_dict_head"]


def _natural(key: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def _parent(key: str) -> str:
    """``0.2.weight`` -> ``0``; ``head.fc.weight`` -> ``head``; ``fc.weight`` -> ``""``."""
    module = key.rsplit(".", 1)[0] if "." in key else ""
    return module.rsplit(".", 1)[0] if "." in module else ""


def _under(key: str, prefix: str) -> bool:
    return not prefix or key.startswith(prefix.rstrip(".") + ".")


def state_dict_head(name, arrays, width, depth=None, head=None):
    """(weights, biases, mapping notes) of the head in a flat state_dict ``arrays``.

    Raises
    ------
    ProblemError
        No 2-D weights, none under ``head``, or none that chain from ``width``.
    """
    keys = sorted((k for k, v in arrays.items() if k.endswith("weight") and v.ndim == 2
                   and k not in ("features", "test_features", "ood_features")), key=_natural)
    if not keys:
        found = ", ".join(sorted(arrays)[:12])
        raise ProblemError(f"{name}: no head layers: expected W1..WM, or a state_dict with "
                           f"2-D '*.weight' entries (found {found})")
    if head is None:
        parent = _parent(keys[-1])
        taken = [k for k in keys if _parent(k) == parent]
        scope = f"module {parent!r}" if parent else "the top-level modules"
    else:
        taken = [k for k in keys if _under(k, head)]
        scope = f"prefix {head!r}"
        if not taken:
            raise ProblemError(f"{name}: no 2-D '*.weight' entries under --head {head!r} "
                               f"(found {', '.join(keys[:12])})")
    start = _chain_start([arrays[k].shape for k in taken], width, depth)
    if start is None:
        listed = ", ".join(f"{k} {arrays[k].shape[0]}x{arrays[k].shape[1]}" for k in taken)
        hint = ("" if head is not None else "; a head spread over several modules needs "
                "--head PREFIX (--head '' for every layer)")
        raise ProblemError(f"{name}: the Linear weights of {scope} ({listed}) do not chain "
                           f"from the feature width {width} to the outputs"
                           + (f" in {depth} layer(s)" if depth is not None else "")
                           + f" (each layer is out x in, W1 acting on the features){hint}")
    taken = taken[start:]
    bias_keys = [k[: -len("weight")] + "bias" for k in taken]
    mapping = [f"state_dict layers ({scope}): " + ", ".join(
        f"W{j} = {k}" + (f" (b{j} = {b})" if b in arrays else "")
        for j, (k, b) in enumerate(zip(taken, bias_keys), start=1))]
    left = [k for k in keys if head is None and _parent(k) != parent]
    if left:
        mapping.append(f"state_dict: {len(left)} other Linear weight(s) ({', '.join(left[-3:])}"
                       f"{', ...' if len(left) > 3 else ''}) belong to other modules and are "
                       "not part of the head; --head PREFIX takes layers from a prefix")
    return ([arrays[k] for k in taken], [arrays.get(b) for b in bias_keys], mapping)


def _chain_start(shapes, width, depth):
    """First index from which the weights chain from the feature width to the last layer."""
    for start in range(len(shapes)):
        if depth is not None and len(shapes) - start != depth:
            continue
        run = shapes[start:]
        ok = run[0][1] == width and all(
            run[i + 1][1] == run[i][0] for i in range(len(run) - 1))
        if ok:
            return start
    return None
