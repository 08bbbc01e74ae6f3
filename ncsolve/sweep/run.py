"""Running a sweep: the MSE points vectorized in-process, the others through an executor,
rows appended as points finish, finished points skipped on a rerun."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import io
import os
import sys
from dataclasses import dataclass

import numpy as np

from ..core.constants import EXACT
from ..results.table import json_ready
from .chains import chains_of, line_heads
from .executors import SerialExecutor, check_executor, open_executor, wait_for_any
from .mse import solve_groups
from ..inputs.outfile import locked
from .output import AppendTable, cell, check_output, format_from, write_atomic
from .points import (
    BOOL_COLUMNS,
    CE_COLUMNS,
    INT_COLUMNS,
    RESULT_COLUMNS,
    concat,
    parse_cell,
    solve_chain,
)
from .spec import Grid, build_grid

VECTOR_BIAS = ("none", "free")  # MSE bias modes with a closed form per direction


@dataclass(frozen=True, eq=False)
class SweepTable:
    """The tidy result of a sweep: one row per grid point and class.

    Attributes
    ----------
    grid : Grid
    columns : tuple of str
    data : dict of str to ndarray
        One array per column, rows sorted by (point, class).
    computed, skipped : int
        Points computed by this run, and finished points found in the output file.
    output : str or None
    """

    grid: Grid
    columns: tuple[str, ...]
    data: dict
    computed: int
    skipped: int
    output: str | None = None

    def __len__(self) -> int:
        return int(self.data["point"].size)

    def column(self, name: str) -> np.ndarray:
        return self.data[name]

    def rows(self) -> list[dict]:
        """The rows as dicts (column name to value)."""
        return [dict(zip(self.columns, values))
                for values in zip(*(self.data[c].tolist() for c in self.columns))]

    def frame(self):
        """The table as a pandas DataFrame (needs pandas: ``pip install 'ncsolve[pandas]'``)."""
        import pandas as pd

        frame = pd.DataFrame({c: self.data[c] for c in self.columns})
        return frame.infer_objects()

    def to_dict(self) -> dict:

        return {"points": self.grid.size, "computed": self.computed, "skipped": self.skipped,
                "swept": list(self.grid.swept), "columns": list(self.columns),
                "rows": [{k: json_ready(v) for k, v in r.items()} for r in self.rows()]}

    def __str__(self) -> str:
        where = f" -> {self.output}" if self.output else ""
        earlier = f"{self.skipped} done earlier, " if self.skipped else ""
        return (f"sweep: {self.grid.size} points ({earlier}{self.computed} computed), "
                f"{len(self)} rows{where}")


def sweep(*, profile=None, n=None, widths=None, yes: bool = False, executor=None,
          workers=None, scheduler=None, output: str | None = None, format: str | None = None,
          progress: bool | None = None, force: bool = False, **specs) -> SweepTable:
    """``predict`` over a grid of its parameters, as a tidy table.

    Parameters
    ----------
    profile, n, widths, yes, **specs
        The grid; see :func:`ncsolve.sweep.spec.build_grid` (e.g.
        ``ratio="1:1000:100", decay="1e-5:1e-1:100", depth=3``).
    executor : Executor or {"process", "thread", "serial", "dask"}, optional
        Where points without a vectorized closed form (cross-entropy, a regularized
        bias) run; default: local processes. MSE points are always vectorized here.
    workers : int, optional
        Number of local workers (default: all cores).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    output : str, optional
        CSV, JSON-lines or Parquet file. CSV and JSON lines are appended point by
        point, and a rerun with the same file skips finished points.
    format : {"csv", "jsonl", "parquet"}, optional
        Default from the extension of ``output`` (csv otherwise).
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).
    force : bool
        Replace an existing ``output`` that is not a resumable output of this sweep
        (otherwise refused).

    Returns
    -------
    SweepTable
    """
    grid = build_grid(profile=profile, n=n, widths=widths, yes=yes, **specs)
    return run(grid, executor=executor, workers=workers, scheduler=scheduler, output=output,
               fmt=format, progress=progress, force=force)


def columns_of(grid: Grid) -> list[str]:
    extra = list(CE_COLUMNS) if "ce" in grid.values("loss") else []
    return ["point", *grid.param_columns(), *RESULT_COLUMNS, *extra]


def run(grid: Grid, *, executor=None, workers=None, scheduler=None, output=None, fmt=None,
        progress=None, force: bool = False) -> SweepTable:
    """Run a validated grid (see :func:`sweep`); the output file is locked for the run."""

    fmt = format_from(output, fmt)
    if not isinstance(executor, cf.Executor):
        check_executor(executor, workers, scheduler)
    if not output:
        return _run(grid, executor, workers, scheduler, None, fmt, progress)
    columns = columns_of(grid)
    ours = AppendTable(output, fmt, columns).resumable if fmt != "parquet" else \
        (lambda real: parquet_columns(real) == columns)
    check_output(output, force=force, ours=ours)
    with locked(output):
        real = os.path.realpath(output)
        replace = os.path.exists(real) and os.path.getsize(real) > 0 and not ours(real)
        return _run(grid, executor, workers, scheduler, output, fmt, progress, replace)


def parquet_columns(path: str) -> list[str] | None:
    """The column names of a Parquet file, or None when it is not one."""
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not ours
        return None


def _run(grid, executor, workers, scheduler, output, fmt, progress,
         replace: bool = False) -> SweepTable:
    columns = columns_of(grid)
    table = AppendTable(output, fmt, columns) if output and fmt != "parquet" else None
    resume = table is not None and not replace
    earlier, done = _resume(grid, table) if resume else (None, set())
    todo = np.arange(grid.size, dtype=np.int64)
    if done:
        todo = np.setdiff1d(todo, np.fromiter(done, dtype=np.int64))
    ax = grid.axis_values(todo)
    fast = (ax["loss"] == "mse") & np.isin(ax["bias"], VECTOR_BIAS) & (
        grid.features == "unconstrained")  # nonnegative: each point through solvers.solve
    if "label_smoothing" in ax:  # smoothed targets: solvers.solve point by point
        fast &= ax["label_smoothing"].astype(float) == 0.0
    vector, others = todo[fast], todo[~fast].tolist()
    blocks = [earlier] if done else []
    with contextlib.ExitStack() as stack:
        # connect first: an unreachable scheduler must not leave a file behind
        needed = bool(others) or scheduler is not None  # a named scheduler is always checked
        pool = stack.enter_context(_executor(executor, workers, scheduler)) if needed else None
        bar = _progress(progress, len(todo), len(done))
        if bar is not None:
            stack.callback(bar.close)
        if table is not None:
            table.open(truncate=replace)
            stack.callback(table.close)
        for block in _vector_blocks(grid, vector):
            _deliver(block, blocks, table, bar)
        if others:
            for block in _pooled(pool, grid, others, done):
                _deliver(block, blocks, table, bar)
    data = concat(blocks, columns)
    result = SweepTable(grid, tuple(columns), data, len(todo), len(done), output)
    if output:
        _write_final(result, table, fmt)
    return result


def _deliver(block, blocks, table, bar) -> None:
    blocks.append(block)
    if table is not None:
        table.append(block)
    if bar is not None:
        bar.update(len(set(block["point"].tolist())))


@contextlib.contextmanager
def _executor(executor, workers, scheduler):
    if isinstance(executor, cf.Executor):
        yield executor
        return

    with open_executor(executor, workers, scheduler) as pool:
        yield pool


IN_FLIGHT = 256  # points submitted ahead of the results (bounded memory, prompt appends)


def _pooled(pool, grid: Grid, indices: list[int], done=frozenset()):
    """Blocks of the points as they finish, at most IN_FLIGHT chains submitted ahead (a
    serial executor runs one at a time); pending chains are cancelled on error or interrupt.

    Each task is a chain of points (:func:`~ncsolve.sweep.chains.chains_of`: CE points at
    depth 1 along the decay axis, warm-started in order; every other point alone).  A
    chain with a finished point (``done``, from a resumed file) is rerun from its first
    point, and only the missing points are delivered, so resuming changes no row."""

    limit = 1 if isinstance(pool, SerialExecutor) else IN_FLIGHT
    wanted = set(indices)
    chains = [c for c in chains_of(grid, [*indices, *done]) if wanted.intersection(c)]
    queue = iter(chains)
    pending: set = set()
    try:
        while True:
            for chain in queue:
                pending.add(pool.submit(
                    solve_chain, chain, [grid.predict_kwargs(grid.point(i)) for i in chain],
                    [grid.param_block(np.array([i])) for i in chain], line_heads(grid, chain)))
                if len(pending) >= limit:
                    break
            if not pending:
                return
            finished, pending = wait_for_any(pool, pending)
            for future in finished:
                for block in future.result():
                    if int(block["point"][0]) in wanted:
                        yield block
    finally:
        for future in pending:
            future.cancel()


STRUCTURE = ("ratio", "classes", "minority", "largest", "depth", "bias")  # fix the spectrum


def _vector_blocks(grid: Grid, indices: list[int]):
    """The MSE points, grouped by (sizes, depth, bias) and solved group by group."""

    points = np.asarray(indices, dtype=np.int64)
    if points.size == 0:
        return
    ax = grid.axis_values(points)
    positions = np.unravel_index(points, grid.shape)
    names = [name for name, _ in grid.axes]
    key = np.stack([positions[names.index(a)] for a in STRUCTURE if a in names], axis=1)
    _, group = np.unique(key, axis=0, return_inverse=True)
    order = np.argsort(group.reshape(-1), kind="stable")  # members of each group, ascending
    bounds = np.flatnonzero(np.diff(group.reshape(-1)[order])) + 1
    jobs, member_lists = [], []  # one closed-form solve per depth for all groups
    for take in np.split(order, bounds):
        members = points[take]
        kw = grid.predict_kwargs(grid.point(int(members[0])))
        depth = kw["depth"]
        if "decay" in ax:
            lh = ax["decay"][take].astype(float)
            lw = np.repeat(lh[:, None], depth, axis=1)
        else:
            lh = ax["lambda_h"][take].astype(float)
            lw = (np.tile(grid.lambda_w_vector, (members.size, 1)) if grid.lambda_w_vector
                  else np.repeat(ax["lambda_w"][take].astype(float)[:, None], depth, axis=1))
        jobs.append((kw["n"], depth, kw["bias"], lw, lh))
        member_lists.append(members)
    outs = solve_groups(jobs, grid.widths)
    members = np.concatenate(member_lists)
    counts = np.concatenate([np.full(m.size, job[0].size) for m, job in zip(member_lists, jobs)])
    block = {"point": np.repeat(members, counts)}
    block.update({name: np.repeat(values, counts)
                  for name, values in grid.param_block(members).items()})
    block["class"] = np.concatenate([np.tile(np.arange(job[0].size), m.size)
                                     for m, job in zip(member_lists, jobs)])
    block["n"] = np.concatenate([np.tile(job[0], m.size) for m, job in zip(member_lists, jobs)])
    for name in ("loss", "rank", "unique"):
        block[name] = np.repeat(np.concatenate([o[name] for o in outs]), counts)
    block["certainty"] = np.full(block["point"].size, EXACT)
    for name in ("feature_norm", "classifier_norm", "output", "collapsed", "state",
                 "critical_decay"):
        block[name] = np.concatenate([o[name].ravel() for o in outs])
    if np.any(np.diff(block["point"]) < 0):  # groups interleave: rows in point order
        order = np.argsort(block["point"], kind="stable")
        block = {name: values[order] for name, values in block.items()}
    yield block


# ---- resume -------------------------------------------------------------------------------


def _resume(grid: Grid, table: AppendTable) -> tuple[dict | None, set[int]]:
    """Finished points already in the output file, checked against this grid; the file is
    rewritten without any torn or partial point. A row that does not belong to the grid
    is refused with its line number."""
    rows = table.read()
    if not rows:
        if table.fmt == "csv" and _exists_nonempty(table.path):
            table.rewrite([])  # a header only, or a torn first line
        elif table.torn:
            table.rewrite([])
        return None, set()
    by_point: dict[int, list[int]] = {}
    for j, row in enumerate(rows):
        index = int(row["point"])
        if not 0 <= index < grid.size:
            raise table.refuse(table.numbers[j], f"is point {index}; this grid has points "
                               f"0 to {grid.size - 1}")
        by_point.setdefault(index, []).append(j)
    indices = np.array(sorted(by_point), dtype=np.int64)
    expected_rows = dict(zip(indices.tolist(), grid.classes(indices).tolist()))
    params = grid.param_block(indices)
    done = {}
    for j, index in enumerate(indices.tolist()):
        members = by_point[index]
        _check_point(table, rows, members, expected_rows[index],
                     {name: cell(values[j]) for name, values in params.items()})
        if len(members) == expected_rows[index]:
            done[index] = members
    kept = [j for i in sorted(done) for j in by_point[i]]
    block = _typed_block([rows[j] for j in kept], table.columns)
    table.keep(block["point"], block["class"], [table.raw[j] for j in kept])
    if len(kept) != len(rows) or table.torn:
        table.finish()  # drop torn and partial points before appending
    return block, set(done)


def _check_point(table: AppendTable, rows: list[dict], members: list[int], classes: int,
                 expected: dict[str, str]) -> None:
    """Every row of one point has this grid's parameters and a class of its own."""
    seen = set()
    for j in members:
        row, number = rows[j], table.numbers[j]
        for name, text in expected.items():
            if _text(row.get(name)) != text:
                raise table.refuse(number, f"holds another sweep (point {row['point']} has "
                                   f"{name} = {row.get(name)!r}, this grid {text})")
        k = int(row["class"])
        if not 0 <= k < classes or k in seen:
            raise table.refuse(number, f"has class {k} of point {row['point']}, "
                               f"which has classes 0 to {classes - 1}, each once")
        seen.add(k)


def _exists_nonempty(path: str) -> bool:

    return os.path.exists(path) and os.path.getsize(path) > 0


def _text(value) -> str:
    return value if isinstance(value, str) else cell(value)


def _typed_block(rows: list[dict], columns) -> dict[str, np.ndarray]:
    """Rows read back from the file (text for CSV, JSON values) as typed columns."""
    block = {}
    for c in columns:
        memo: dict = {}
        values = []
        for r in rows:
            v = r.get(c)
            if isinstance(v, str):
                parsed = memo.get(v, memo)
                if parsed is memo:
                    parsed = memo[v] = parse_cell(c, v)
                v = parsed
            values.append(v)
        block[c] = _column_array(c, values)
    return block


def _column_array(name: str, values: list) -> np.ndarray:

    if name in INT_COLUMNS and all(isinstance(v, int) for v in values):
        return np.array(values, dtype=np.int64)
    if name in BOOL_COLUMNS and all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if values and all(isinstance(v, float) or v is None for v in values) and any(
            isinstance(v, float) for v in values) and name not in INT_COLUMNS:
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return np.array(values, dtype=object)


def _write_final(result: SweepTable, table: AppendTable | None, fmt: str) -> None:
    """The whole table in point order, atomically (Parquet: written only now)."""
    if fmt == "parquet":

        frame = result.frame()
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_atomic(result.output, buffer.getvalue())
        return
    table.finish()


def _progress(progress, total: int, initial: int):
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total + initial, initial=initial, unit="point", file=sys.stderr,
                desc="sweep", dynamic_ncols=True)
