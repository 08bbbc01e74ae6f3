"""Rows of a sweep table: the columns, their types, and one point solved by predict.

A block is a dict of equal-length numpy arrays, one per column: the rows of one
or more grid points. :func:`solve_chain` is what executors run (a top-level
function of plain arguments, so that it pickles to processes and Dask workers).
"""

from __future__ import annotations

import numpy as np

from ..core.descent import blas_threads
from ..inputs import specify
from ..solvers import solve

ZERO_ROW = 1e-6  # classifier rows shorter than this times the longest count as zero
RESULT_COLUMNS = ("class", "n", "loss", "feature_norm", "classifier_norm", "output",
                  "collapsed", "state", "critical_decay", "rank", "unique", "certainty")
CE_COLUMNS = ("classifier_max_cosine",)
INT_COLUMNS = {"point", "class", "n", "rank", "depth", "classes", "minority", "largest",
               "seed", "restarts"}
BOOL_COLUMNS = {"collapsed", "unique"}
STR_COLUMNS = {"state", "certainty", "bias", "loss_function", "profile", "widths", "features"}


def block_of(index: np.ndarray, params: dict, per_point: dict, per_class: dict,
             K: int, n: np.ndarray) -> dict[str, np.ndarray]:
    """Rows of P points with K classes each: ``index`` (P,), parameter columns (P,),
    per-point arrays (P,) and per-class arrays (P, K)."""
    P = len(index)
    block = {"point": np.repeat(np.asarray(index, dtype=np.int64), K)}
    for name, values in params.items():
        block[name] = np.repeat(values, K)
    block["class"] = np.tile(np.arange(K), P)
    block["n"] = np.tile(np.asarray(n, dtype=np.int64), P)
    for name, values in per_point.items():
        block[name] = np.repeat(np.asarray(values), K)
    for name, values in per_class.items():
        block[name] = np.asarray(values).reshape(P * K)
    return block


def solve_point(index: int, kwargs: dict, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Solve one grid point and return its rows as a block."""
    with blas_threads(1):  # the same arithmetic on every worker, whatever its threads
        return _solved(index, kwargs, params, None)[0]


def solve_chain(indices: list[int], kwargs: list[dict], params: list[dict[str, np.ndarray]],
                heads: list[bool] | None = None) -> list[dict[str, np.ndarray]]:
    """Solve a chain of grid points in order, each warm-started from a solved neighbour.

    The chain is a run of lines along the decay axis (:mod:`ncsolve.sweep.chains`);
    ``heads`` marks the first point of each line (default: one line).  The chain's
    first point is solved from scratch, the first point of every later line with the
    first answer of the line before as ``start`` (:func:`ncsolve.solvers.solve`), every
    other point with the previous answer.  The chain is what an executor runs, so its
    answers do not depend on the executor.  Returns one block per point, in order.
    """
    blocks, previous, head = [], None, None
    heads = heads or [j == 0 for j in range(len(indices))]
    with blas_threads(1):  # once per chain: finding the BLAS libraries costs milliseconds
        for index, kw, par, first in zip(indices, kwargs, params, heads):
            block, previous = _solved(index, kw, par, head if first else previous)
            if first:
                head = previous
            blocks.append(block)
    return blocks


def _solved(index: int, kwargs: dict, params: dict[str, np.ndarray], start):
    """One point's block and its answer (warm-started from ``start`` unless None); the
    caller holds BLAS at one thread."""
    kwargs = dict(kwargs)
    options = {name: kwargs.pop(name) for name in ("restarts", "seed") if name in kwargs}
    if start is not None:
        options["start"] = start
    result = solve(specify(**kwargs), **options)
    return _block(index, kwargs, params, result), result


def _block(index: int, kwargs: dict, params: dict[str, np.ndarray], result) -> dict:
    """The rows of one solved point."""
    n = result.problem.n
    per_class = {
        "feature_norm": result.feature_norm, "classifier_norm": result.classifier_norm,
        "output": np.asarray(result.output, dtype=float),
        "collapsed": np.asarray(result.collapsed, dtype=bool),
        "state": np.asarray(result.state).astype(object),
        "critical_decay": np.asarray(result.critical_decay, dtype=float),
    }
    if kwargs["loss"] == "ce":
        per_class["classifier_max_cosine"] = max_cosine(result.gram_classifier())
    per_point = {"loss": [result.loss], "rank": [result.rank],
                 "unique": np.array([result.unique], dtype=object),
                 "certainty": np.array([result.certainty], dtype=object)}
    return block_of(np.array([index]), params, per_point, per_class, n.size, n)


def max_cosine(gram: np.ndarray) -> np.ndarray:
    """Per class, the largest cosine between its classifier row and another class's
    (nan for a row that is zero, i.e. below ZERO_ROW of the longest: a search leaves
    vanishing rows at about 1e-8, whose direction means nothing)."""
    length = np.sqrt(np.maximum(np.diag(gram), 0.0))
    length = np.where(length > ZERO_ROW * length.max(initial=0.0), length, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = gram / np.outer(length, length)
    np.fill_diagonal(cos, -np.inf)
    cos[~np.isfinite(cos)] = -np.inf
    best = cos.max(axis=1) if gram.shape[0] > 1 else np.array([-np.inf])
    return np.where(np.isfinite(best) & (length > 0), np.minimum(best, 1.0), np.nan)


def parse_cell(name: str, text: str):
    """A CSV cell back to its value (inverse of :func:`ncsolve.sweep.output.cell`)."""
    if text == "":
        return None if name not in INT_COLUMNS and name not in BOOL_COLUMNS else None
    if name in BOOL_COLUMNS:
        return text == "true"
    if name in INT_COLUMNS:
        return int(text)
    if name in STR_COLUMNS or (name == "lambda_w" and "/" in text):
        return text
    try:
        return float(text)
    except ValueError:
        return text


def concat(blocks: list[dict], columns: list[str]) -> dict[str, np.ndarray]:
    """One block from many, rows sorted by (point, class)."""
    if not blocks:
        return {c: np.array([], dtype=object) for c in columns}
    out = {}
    for c in columns:
        parts = [b[c] if c in b else np.full(len(b["point"]), None, dtype=object)
                 for b in blocks]
        if len({p.dtype.kind for p in parts}) > 1:
            parts = [p.astype(object) for p in parts]
        out[c] = np.concatenate(parts) if len(parts) > 1 else parts[0]
    key = out["point"].astype(np.int64) * (1 + int(out["class"].max(initial=0))) + \
        out["class"].astype(np.int64)
    if np.all(key[1:] > key[:-1]):
        return out
    order = np.argsort(key, kind="stable")
    return {c: v[order] for c, v in out.items()}
