"""Chains of grid points solved in order with warm starts (cross-entropy at depth 1).

At depth 1 the cross-entropy problem is convex and an answer is proved by its dual
certificate (docs/crossentropy.md, section 3).  A point whose decays are next to an
already solved one starts from that answer: one local run, then the certificate;
when the certificate does not prove it, the full search runs with the answer as one
more start, so the answer is never above the cold one.  Points that differ only along
the decay axis (``decay``, else ``lambda_h``) form a chain in ascending order; its
first point is solved from scratch.  Such lines at consecutive imbalance ratios (all
else equal, so the same classes) are joined into one chain, up to ``LINES_PER_CHAIN``
of them: the first point of each later line starts from the first point of the line
before (:func:`line_heads` marks where lines begin), so only the chain's first point
is solved cold.  A chain is one task of the executor, and a resumed sweep reruns
every chain that misses a point from its first point, so the rows are the same
whatever the executor and however often a sweep is resumed.
Every other point is a chain of its own (solved from scratch), as is every point of
a grid with other options (nonnegative features).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHAIN_AXES", "chains_of", "line_heads"]

CHAIN_AXES = ("decay", "lambda_h")  # the first of these that the grid has is chained along
ACROSS = "ratio"  # lines at neighbouring ratios (all else equal) are joined into one chain
LINES_PER_CHAIN = 8  # ... this many: fewer cold starts, still a task per few lines
WARM_BIAS = ("none", "free")  # bias modes whose depth-1 answers the certificate proves
PLAIN_KEYS = frozenset(("n", "depth", "lambda_w", "lambda_h", "bias", "loss", "widths",
                        "lambda_b", "seed", "restarts"))  # a point of the plain CE model


def chains_of(grid, points: list[int]) -> list[list[int]]:
    """The chains of ``points`` (grid indices), each in ascending decay, in the order of
    their first point; points that are not warm-started form chains of one.

    Parameters
    ----------
    grid : Grid
    points : list of int

    Returns
    -------
    list of list of int
    """
    points = np.asarray(sorted(points), dtype=np.int64)
    if points.size == 0:
        return []
    names = [name for name, _ in grid.axes]
    along = next((a for a in CHAIN_AXES if a in names), None)
    ax = grid.axis_values(points)
    warm = (ax["loss"] == "ce") & (ax["depth"].astype(int) == 1) & np.isin(ax["bias"], WARM_BIAS)
    if warm.any() and not PLAIN_KEYS.issuperset(grid.predict_kwargs(grid.point(0))):
        warm[:] = False  # other features (nonnegative, say): no warm-start route
    if along is None or not warm.any():
        return [[int(i)] for i in points]
    positions = np.stack(np.unravel_index(points, grid.shape), axis=1)
    keep = [k for k, name in enumerate(names) if name != along]
    step = positions[:, names.index(along)]
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for j, index in enumerate(points.tolist()):
        key = tuple(positions[j, keep].tolist()) if warm[j] else ("alone", index)
        groups.setdefault(key, []).append((int(step[j]), index))
    lines = {key: [index for _, index in sorted(line)] for key, line in groups.items()}
    if ACROSS not in names:
        return list(lines.values())
    return _joined(lines, keep.index(names.index(ACROSS)))


def _joined(lines: dict[tuple, list[int]], across: int) -> list[list[int]]:
    """Lines at consecutive ratios (all else equal) joined, ``LINES_PER_CHAIN`` at a time,
    in the order of the first line of each chain."""
    families: dict[tuple, list[tuple]] = {}
    for key in lines:
        family = key if key[0] == "alone" else key[:across] + key[across + 1:]
        families.setdefault(family, []).append(key)
    out = []
    for keys in families.values():
        keys = sorted(keys)
        for lo in range(0, len(keys), LINES_PER_CHAIN):
            out.append([i for key in keys[lo: lo + LINES_PER_CHAIN] for i in lines[key]])
    return sorted(out, key=lambda chain: chain[0])


def line_heads(grid, chain: list[int]) -> list[bool]:
    """Per point of a chain, whether it begins a line (its first point, or one whose
    other coordinates than the decay differ from the point before)."""
    names = [name for name, _ in grid.axes]
    along = next((a for a in CHAIN_AXES if a in names), None)
    positions = np.stack(np.unravel_index(np.asarray(chain, dtype=np.int64), grid.shape), axis=1)
    if along is not None:
        positions = np.delete(positions, names.index(along), axis=1)
    return [True] + [bool(np.any(positions[j] != positions[j - 1]))
                     for j in range(1, len(chain))]
