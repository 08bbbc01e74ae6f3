"""Memory of the cross-entropy search: stacks evaluated in chunks, a refusal above a limit.

Every stacked evaluation (a stack of starts in L-BFGS, a grid of scales times the
structured patterns) holds a few K x K matrices per row.  Rows are independent,
so a stack is evaluated in chunks whose size keeps each chunk under
``CHUNK_BYTES``; the answer is the same as with one stack, only the peak memory
is bounded (at K = 500 one stack of the candidates' scale grid alone would be
about 4 GB).  A problem whose single local run needs more than ``LIMIT_BYTES``
is refused before any allocation.
"""

from __future__ import annotations

from ...inputs.validation import invalid

__all__ = ["CHUNK_BYTES", "LIMIT_BYTES", "check_memory", "chunks", "rows_per_chunk",
           "start_bytes"]

CHUNK_BYTES = 256 * 2**20  # peak of one chunk of a stacked evaluation
LIMIT_BYTES = 2 * 2**30  # refuse a problem whose single local run needs more than this
MATRIX_COPIES = 8  # K x K float64 work arrays per row of a stacked evaluation
LBFGS_VECTORS = 2 * 8 + 12  # stored pairs (maxcor 8) and working vectors of one start


def rows_per_chunk(K: int, copies: int = MATRIX_COPIES) -> int:
    """Rows of a stacked K x K evaluation that fit in one chunk (at least one)."""
    return max(1, CHUNK_BYTES // (copies * 8 * K * K))


def start_bytes(K: int, factors: int, width: int) -> int:
    """Bytes of one L-BFGS start on the factor form (``factors`` factors of width
    ``width``), its logits and the work arrays of its evaluation."""
    size = factors * K * width
    return 8 * (LBFGS_VECTORS * size + MATRIX_COPIES * K * K)


def chunks(count: int, per_row: int):
    """Slices of ``count`` rows, each of at most ``CHUNK_BYTES // per_row`` rows."""
    step = max(1, CHUNK_BYTES // max(per_row, 1))
    return [slice(lo, min(lo + step, count)) for lo in range(0, count, step)]


def check_memory(K: int, factors: int, rank_cap: int) -> None:
    """Refuse a search whose single full-width run would need more than ``LIMIT_BYTES``."""
    need = start_bytes(K, factors, rank_cap) + CHUNK_BYTES
    if need > LIMIT_BYTES:
        raise invalid("n", f"the cross-entropy search with {K} classes needs about "
                      f"{need / 2**30:.1f} GiB for one local run (limit "
                      f"{LIMIT_BYTES / 2**30:.0f} GiB); use fewer classes, narrower "
                      "--widths, or --loss mse")
