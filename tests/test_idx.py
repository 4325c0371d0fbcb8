"""The IDX parser on files the tests write, in the real layout, plain and gzipped."""

import gzip
import struct

import numpy as np
import pytest

from mlprojects.data import idx
from mlprojects.errors import UserError


def test_reads_images_and_labels_written_by_hand(tmp_path):
    # header by hand: magic 0x00000803 (ubyte, 3 dims), then 2, 2, 3 big-endian
    body = bytes(range(12))
    (tmp_path / "images").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 2, 3) + body)
    images = idx.load(tmp_path / "images")
    assert images.shape == (2, 2, 3) and images.dtype == np.uint8
    assert images[1, 1, 2] == 11
    with gzip.open(tmp_path / "labels.gz", "wb") as out:
        out.write(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([7, 0, 9]))
    assert idx.load(tmp_path / "labels.gz").tolist() == [7, 0, 9]


def test_big_endian_int32_round_trip():
    values = np.array([[1, -2], [70000, 3]], dtype=np.int32)
    data = idx.dump(values)
    assert data[:4] == b"\x00\x00\x0c\x02"
    assert idx.parse(data).tolist() == values.tolist()


@pytest.mark.parametrize("data, message", [
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code"),
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 28, 28) + bytes(100), "truncated or corrupt"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes(5), "truncated or corrupt"),
    (b"\x00\x00", "bad magic number"),
])
def test_malformed_idx_is_refused(data, message):
    with pytest.raises(UserError, match=message):
        idx.parse(data)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    good = gzip.compress(idx.dump(np.zeros((10, 28, 28), np.uint8)))
    (tmp_path / "bad.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match="cannot read"):
        idx.load(tmp_path / "bad.gz")
