"""Safe readers of array files: plain reads (no memory map, so a file rewritten while it
is read gives an error, not SIGBUS), and a budget on the bytes that decompression or a
header may claim, checked before and while the data is read.

Each reader returns a flat dict of numpy arrays, or raises ProblemError naming the file.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile

import numpy as np

from ..inputs.problem import ProblemError

BUDGET = 1 << 30  # bytes of array data one file may hold once read (decompressed)
CHUNK = 1 << 22  # bytes read at a time
HEADER_LIMIT = 1 << 24  # bytes of a .safetensors JSON header
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2",
                      "U8": "u1", "BOOL": "?", "BF16": "bf16"}


class _Budget:
    def __init__(self, name: str, limit: int = BUDGET):
        self.name, self.left = name, limit

    def take(self, count: int, what: str) -> None:
        if count > self.left:
            raise ProblemError(f"{self.name}: {what} would hold more than {BUDGET >> 20} MiB "
                               "of array data (the limit of a file for measure); save "
                               "fewer samples or float32 arrays")
        self.left -= count


def _fill(stream, out: np.ndarray, name: str, what: str) -> None:
    """Read exactly ``out.nbytes`` bytes from ``stream`` into ``out``."""
    view = memoryview(out.reshape(-1).view(np.uint8)) if out.size else memoryview(b"")
    done = 0
    while done < len(view):
        got = stream.readinto(view[done: done + CHUNK])
        if not got:
            raise ProblemError(f"{name}: {what} ends early (truncated, or changed while "
                               "being read)")
        done += got


def read_npz(name: str) -> dict:
    """The arrays of a numpy ``.npz`` (zip of ``.npy``), streamed under the budget."""
    budget = _Budget(name)
    try:
        with zipfile.ZipFile(name) as archive:
            return {_key(info.filename): _npy(archive, info, name, budget)
                    for info in archive.infolist() if not info.is_dir()}
    except ProblemError:
        raise
    except Exception as error:  # noqa: BLE001 - any damage (zlib.error, BadZipFile, ...)
        raise ProblemError(f"{name}: not a readable .npz file ({type(error).__name__}: "
                           f"{error})") from None


def _key(member: str) -> str:
    return member[:-4] if member.endswith(".npy") else member


def _npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: _Budget):
    what = f"array {_key(info.filename)!r}"
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        reader = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if reader is None:
            raise ProblemError(f"{name}: {what} has .npy version {version}, not 1.0 or 2.0")
        shape, fortran, dtype = reader(stream)
        if dtype.hasobject:
            raise ProblemError(f"{name}: holds pickled (object) arrays, which are not "
                               "loaded; save plain numeric arrays")
        count = int(np.prod(shape, dtype=object))
        budget.take(count * dtype.itemsize, what)
        out = np.empty(count, dtype=dtype)
        _fill(stream, out, name, what)
        if stream.read(1):
            raise ProblemError(f"{name}: {what} holds more bytes than its header says")
    return out.reshape(shape[::-1]).T if fortran else out.reshape(shape)


def read_safetensors(name: str) -> dict:
    """The tensors of a ``.safetensors`` file, read (not memory-mapped) under the budget;
    bfloat16 is widened to float32 exactly."""
    budget = _Budget(name)
    with open(name, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        header, length = safetensors_header(handle, name, size)
        return {key: _tensor(handle, key, entry, 8 + length, size, name, budget)
                for key, entry in header.items()}


def safetensors_header(handle, name: str, size: int) -> tuple[dict, int]:
    """The JSON index of an open ``.safetensors`` file (without ``__metadata__``) and its
    length in bytes; a claimed length beyond the file or HEADER_LIMIT is refused unread."""
    start = handle.read(8)
    if len(start) < 8:
        raise _bad_safetensors(name, "shorter than its 8-byte header length")
    length = struct.unpack("<Q", start)[0]
    if length > min(HEADER_LIMIT, size - 8):
        raise _bad_safetensors(name, f"its header claims {length} bytes")
    try:
        header = json.loads(handle.read(length))
    except (ValueError, UnicodeDecodeError):
        raise _bad_safetensors(name, "its header is not JSON") from None
    if not isinstance(header, dict):
        raise _bad_safetensors(name, "its header is not a JSON object")
    header.pop("__metadata__", None)
    return header, length


def _bad_safetensors(name: str, why: str) -> ProblemError:
    return ProblemError(f"{name}: not a readable .safetensors file ({why})")


def _tensor(handle, key: str, entry, base: int, size: int, name: str, budget: _Budget):
    try:
        code, shape = entry["dtype"], [int(s) for s in entry["shape"]]
        begin, end = (int(o) for o in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise _bad_safetensors(name, f"entry {key!r} lacks dtype, shape or offsets") from None
    if code not in SAFETENSORS_DTYPES:
        raise ProblemError(f"{name}: tensor {key!r} has dtype {code}; save it as float32 or "
                           "float64 (tensor.float() before saving)")
    dtype = np.dtype("<u2" if code == "BF16" else SAFETENSORS_DTYPES[code])
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if min(shape, default=0) < 0 or not 0 <= begin <= end <= size - base or \
            end - begin != count * dtype.itemsize:
        raise _bad_safetensors(name, f"tensor {key!r} has offsets that do not fit its shape "
                               "or the file")
    budget.take(count * (4 if code == "BF16" else dtype.itemsize), f"tensor {key!r}")
    out = np.empty(count, dtype=dtype)
    handle.seek(base + begin)
    _fill(handle, out, name, f"tensor {key!r}")
    if code == "BF16":  # the high half of a float32
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out.reshape(shape)


def check_zip_budget(name: str) -> None:
    """Refuse a zip (a PyTorch ``.pt``) whose members decompress beyond the budget,
    counting the bytes as they are decompressed, before anything else reads it."""
    if not zipfile.is_zipfile(name):
        return
    budget = _Budget(name)
    try:
        with zipfile.ZipFile(name) as archive:
            for info in archive.infolist():
                budget.take(info.file_size, f"member {info.filename!r}")
                if info.compress_type != zipfile.ZIP_STORED:
                    _count(archive, info, name)
    except ProblemError:
        raise
    except Exception as error:  # noqa: BLE001 - any damage (zlib.error, BadZipFile, ...)
        raise ProblemError(f"{name}: not a readable PyTorch file ({type(error).__name__}: "
                           f"{error})") from None


def _count(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    left = info.file_size
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(min(CHUNK, left + 1))
            if not chunk:
                return
            left -= len(chunk)
            if left < 0:
                raise ProblemError(f"{name}: member {info.filename!r} decompresses to more "
                                   "than it declares; not a file torch.save wrote")


def tensor_array(value, key: str, name: str) -> np.ndarray:
    """A torch tensor as a numpy array: sparse made dense, quantized dequantized, bfloat16
    and float16 widened; meta and complex tensors refused with the fix."""
    import torch

    if value.is_meta:
        raise ProblemError(f"{name}: entry {key!r} is a meta tensor (a shape without "
                           "data); save the trained tensor's values")
    if value.is_complex():
        raise ProblemError(f"{name}: entry {key!r} is complex; save real tensors")
    value = value.detach()
    if value.is_quantized:
        value = value.dequantize()
    if value.layout != torch.strided:
        if value.numel() * 8 > BUDGET:
            raise ProblemError(f"{name}: entry {key!r} is sparse with {value.numel()} "
                               f"entries, more than {BUDGET >> 20} MiB dense; save fewer")
        value = value.to_dense()
    if value.dtype in (torch.bfloat16, torch.float16):
        value = value.float()
    return value.cpu().numpy()
