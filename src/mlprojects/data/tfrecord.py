"""TensorFlow's TFRecord files of ``tf.train.Example`` records, read and written without TensorFlow.

A record is: length (uint64, little-endian), the masked CRC-32C of the length, the data, the masked
CRC-32C of the data. Both checksums of every record are checked (google-crc32c, Google's C library;
TensorBoard's pure-Python CRC where it is absent); a corrupt or truncated record is one line naming the
file, the record and its byte offset. Records are parsed as ``tf.train.Example`` messages by protobuf,
from a descriptor of TensorFlow's ``example.proto`` and ``feature.proto`` built here (the same field
numbers, so the bytes are TensorFlow's). GZIP-compressed files (``.gz``, or ``compression="GZIP"``) are
read and written too.

``data=tfrecord:PATH`` gives the tabular and image projects their data: each feature becomes a
column (``read_table``), or, for images, an encoded image feature and a label feature
(``read_images``).
"""

from __future__ import annotations

import functools
import gzip
import re
import struct
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from mlprojects.errors import UserError

PREFIX = "tfrecord:"
ORDER_RECORDS = 100  # records whose written feature order sets a table's column order
_MASK_DELTA = 0xA282EAD8


def path_of(spec: str) -> Path | None:
    return Path(spec[len(PREFIX):]).expanduser() if spec.startswith(PREFIX) else None


def _crc32c(data: bytes) -> int:
    try:
        import google_crc32c

        return google_crc32c.value(data)
    except ImportError:  # TensorBoard's own, in Python: correct, slower
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c

        return crc32c(data)


def masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


# TensorFlow's example.proto and feature.proto, the messages a record holds, as a descriptor in protobuf's text
# format (the same field numbers, so the bytes are TensorFlow's)
EXAMPLE_PROTO = """
name: "mlprojects_tf_example.proto" package: "tensorflow" syntax: "proto3"
message_type { name: "BytesList" field { name: "value" number: 1 label: LABEL_REPEATED type: TYPE_BYTES } }
message_type { name: "FloatList"
  field { name: "value" number: 1 label: LABEL_REPEATED type: TYPE_FLOAT options { packed: true } } }
message_type { name: "Int64List"
  field { name: "value" number: 1 label: LABEL_REPEATED type: TYPE_INT64 options { packed: true } } }
message_type { name: "Feature" oneof_decl { name: "kind" }
  field { name: "bytes_list" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.BytesList"
          oneof_index: 0 }
  field { name: "float_list" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.FloatList"
          oneof_index: 0 }
  field { name: "int64_list" number: 3 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.Int64List"
          oneof_index: 0 } }
message_type { name: "Features"
  field { name: "feature" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".tensorflow.Features.FeatureEntry" }
  nested_type { name: "FeatureEntry" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.Feature" } } }
message_type { name: "Example"
  field { name: "features" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.Features" } }
"""


@functools.cache
def _example_class():
    """tf.train.Example as a protobuf message class, built from EXAMPLE_PROTO."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    pool = descriptor_pool.DescriptorPool()
    pool.Add(text_format.Parse(EXAMPLE_PROTO, descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


def Example():  # noqa: N802 (a message class, as protobuf names them)
    return _example_class()()


def _open(path: Path, compression: str) -> BinaryIO:
    gz = compression.upper() == "GZIP" or (not compression and path.suffix == ".gz")
    return gzip.open(path, "rb") if gz else open(path, "rb")


def records(path: str | Path, compression: str = "") -> Iterator[bytes]:
    """Every record's bytes, both checksums checked."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    offset, index = 0, 0
    with _open(path, compression) as stream:
        while True:
            try:
                header = stream.read(12)
            except (OSError, EOFError) as error:
                raise UserError(f"{path}: not a readable file ({error})") from None
            if not header:
                return
            if len(header) < 12:
                raise UserError(f"{path}: record {index + 1} at byte {offset} is cut short (a truncated file)")
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc(header[:8]) != length_crc:
                raise UserError(f"{path}: record {index + 1} at byte {offset}: its length fails its CRC-32C (a "
                                "corrupt file, or not TFRecord)")
            data, footer = stream.read(length), stream.read(4)
            if len(data) < length or len(footer) < 4:
                raise UserError(f"{path}: record {index + 1} at byte {offset} is cut short (a truncated file)")
            if masked_crc(data) != struct.unpack("<I", footer)[0]:
                raise UserError(f"{path}: record {index + 1} at byte {offset}: its data fails its CRC-32C (a corrupt "
                                "file)")
            yield data
            offset += 16 + length
            index += 1


def write(path: str | Path, payloads, compression: str = "") -> int:
    """Write records (bytes) to PATH atomically; returns how many."""
    from mlprojects.engine.io import atomic_write

    path = Path(path)
    count = [0]

    def fill(temporary: Path) -> None:
        gz = compression.upper() == "GZIP" or (not compression and path.suffix == ".gz")
        with (gzip.open(temporary, "wb") if gz else open(temporary, "wb")) as stream:
            for data in payloads:
                header = struct.pack("<Q", len(data))
                stream.write(header + struct.pack("<I", masked_crc(header)) + data
                             + struct.pack("<I", masked_crc(data)))
                count[0] += 1

    atomic_write(path, fill)
    return count[0]


def parse(data: bytes, where: str = "") -> dict[str, list]:
    """One tf.train.Example's features: name -> list of bytes, floats or ints."""
    from google.protobuf.message import DecodeError

    example = Example()
    try:
        example.ParseFromString(data)
    except DecodeError:
        raise UserError(f"{where}: not a tf.train.Example record") from None
    features = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        features[name] = list(getattr(feature, kind).value) if kind else []
    return features


def example(features: dict[str, Any]) -> bytes:
    """A tf.train.Example of FEATURES (bytes/str -> bytes_list, floats -> float_list, ints -> int64_list), written
    in FEATURES' order: protobuf writes a map in an order of its own, and two serialised messages one after the
    other are one message (the wire format merges them), so each feature is serialised alone."""
    parts = []
    for name, values in features.items():
        message = Example()
        values = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
        feature = message.features.feature[name]
        if values and isinstance(values[0], (bytes, str)):
            feature.bytes_list.value.extend(v.encode() if isinstance(v, str) else v for v in values)
        elif values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            feature.int64_list.value.extend(int(v) for v in values)
        else:
            feature.float_list.value.extend(float(v) for v in values)
        parts.append(message.SerializeToString())
    return b"".join(parts)


def _fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, bytes) of a protobuf message's length-delimited fields, in the order they were written."""
    def varint(at: int) -> tuple[int, int]:
        value, shift = 0, 0
        while True:
            byte = data[at]
            value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
            if byte < 0x80:
                return value, at

    at = 0
    while at < len(data):
        tag, at = varint(at)
        kind = tag & 7
        if kind == 2:
            size, at = varint(at)
            yield tag >> 3, data[at:at + size]
            at += size
        elif kind == 0:
            at = varint(at)[1]
        else:
            at += {1: 8, 5: 4}.get(kind, len(data))


def written_order(data: bytes) -> list[str]:
    """The feature names of a serialised tf.train.Example in the order they were written (a parsed map forgets
    it): Example.features (1) -> Features.feature (1, map entries) -> the entry's key (1)."""
    names = [key.decode("utf-8", "replace") for number, features in _fields(data) if number == 1
             for entry_number, entry in _fields(features) if entry_number == 1
             for key_number, key in _fields(entry) if key_number == 1]
    return list(dict.fromkeys(names))


def read_examples(path: str | Path, compression: str = "") -> Iterator[dict[str, list]]:
    for index, data in enumerate(records(path, compression)):
        yield parse(data, f"{path}: record {index + 1}")


IMAGE, LABEL, TEXT, FORMAT, FILENAME = "image/encoded", "image/class/label", "image/class/text", "image/format", \
    "image/filename"  # the feature names of TensorFlow's image-classification tools


def image_record(features: dict[str, list], where: str, image_feature: str = IMAGE, label_feature: str = TEXT,
                 hint: str = "") -> tuple[bytes, str]:
    """(the encoded image, its class name) of an image record: the name in LABEL_FEATURE, else image/class/text,
    else image/class/label's number as class_N. A record without them is one line (ending with HINT)."""
    hint = f"; {hint}" if hint else ""
    if not features.get(image_feature):
        raise UserError(f"{where} has no {image_feature!r} image feature (its features: {', '.join(features)}){hint}")
    label = features.get(label_feature) or features.get(TEXT) or features.get(LABEL)
    if not label:
        raise UserError(f"{where} has no {label_feature!r} label feature (its features: {', '.join(features)}){hint}")
    name = label[0].decode("utf-8", "replace") if isinstance(label[0], bytes) else f"class_{label[0]}"
    return features[image_feature][0], name


BINARY = re.compile(r"^<(image/\w+|binary), [\d.]+ [kM]?B>$")  # what text_of makes of bytes that are no text


def text_of(value: bytes) -> str:
    """A bytes feature as text: UTF-8, or, for bytes that are not text (an encoded image), what they are and their
    size, such as <image/png, 1.2 kB>, never the raw bytes."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        kind = next((f"image/{name}" for magic, name in _IMAGE_MAGIC if value.startswith(magic)), "binary")
        size = len(value)
        shown = f"{size} B" if size < 1000 else f"{size / 1000:.1f} kB" if size < 1_000_000 else \
            f"{size / 1_000_000:.1f} MB"
        return f"<{kind}, {shown}>"


_IMAGE_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpeg"), (b"GIF8", "gif"), (b"BM", "bmp"), (b"RIFF", "webp"))


def read_table(path: str | Path, compression: str = ""):
    """The records as a DataFrame of text cells (as a CSV would hold them): one column per feature of one
    value; a feature of several values becomes NAME_0, NAME_1 ...; bytes are decoded as UTF-8 (``text_of``). The
    columns come in the order the features were written (``written_order`` of the first ``ORDER_RECORDS``
    records)."""
    import pandas as pd

    rows, order = [], {}
    for index, data in enumerate(records(path, compression)):
        features = parse(data, f"{path}: record {index + 1}")
        if index < ORDER_RECORDS:
            order.update(dict.fromkeys(written_order(data)))
        row = {}
        for name, values in features.items():
            # floats were stored as float32: their shortest float32 form (103.8, not 103.80000305175781)
            cells = [text_of(v) if isinstance(v, bytes) else str(np.float32(v)) if isinstance(v, float) else str(v)
                     for v in values]
            if len(cells) == 1:
                row[name] = cells[0]
            else:
                row.update({f"{name}_{i}": cell for i, cell in enumerate(cells)})
        rows.append(row)
    if not rows:
        raise UserError(f"{path}: no records")
    frame = pd.DataFrame(rows).fillna("")
    position = {name: i for i, name in enumerate(order)}
    seen = {column: i for i, column in enumerate(frame.columns)}  # NAME_0, NAME_1 ... stay in their order
    return frame[sorted(frame.columns, key=lambda c: (position.get(c, position.get(c.rsplit("_", 1)[0], len(order))),
                                                      seen[c]))]
