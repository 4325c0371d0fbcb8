"""The IDX format of MNIST and Fashion-MNIST (LeCun et al.), parsed with its header checked.

Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then one
big-endian uint32 size per dimension, then the data. Optionally gzip-compressed.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from mlprojects.errors import UserError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path: str | Path) -> bytes:
    path = Path(path)
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(f"{path}: cannot read ({error}); delete it and fetch the dataset again") from None


def parse(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes into an array, refusing anything whose header and size disagree."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise UserError(f"{name}: not an IDX file (bad magic number); expected MNIST-style IDX data")
    type_code, ndim = data[2], data[3]
    if type_code not in _DTYPES:
        raise UserError(f"{name}: unknown IDX type code 0x{type_code:02x}")
    if not 1 <= ndim <= 4 or len(data) < 4 + 4 * ndim:
        raise UserError(f"{name}: IDX header declares {ndim} dimensions; expected 1 to 4")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise UserError(
            f"{name}: IDX header says shape {shape} ({expected} bytes) but the file holds {len(body)} bytes;"
            " the file is truncated or corrupt: delete it and fetch it again"
        )
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def load(path: str | Path) -> np.ndarray:
    return parse(read_bytes(path), name=str(path))


def dump(array: np.ndarray) -> bytes:
    """IDX bytes for an array (used by tests and by anyone exporting data)."""
    codes = {np.dtype(v).newbyteorder(">").str if np.dtype(v).itemsize > 1 else np.dtype(v).str: k
             for k, v in _DTYPES.items()}
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = bytes([0, 0, codes[dtype.str], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()
