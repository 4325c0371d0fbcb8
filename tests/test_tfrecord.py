"""TFRecord without TensorFlow: TensorFlow's own files read, ours read by TensorFlow, every checksum
checked; data convert between TFRecord, CSV, Parquet and image folders; data inspect."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlprojects.data import tfrecord
from mlprojects.errors import UserError
from mlprojects.runner import run

FIXTURES = Path(__file__).parent / "fixtures"


def test_masked_crc_by_hand():
    # CRC-32C of "123456789" is E3069283 (RFC 3720's check value); masked: rotate right 15, add a282ead8
    crc = 0xE3069283
    assert tfrecord._crc32c(b"123456789") == crc
    assert tfrecord.masked_crc(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_reads_tensorflows_own_files():
    table = tfrecord.read_table(FIXTURES / "iris_tf.tfrecord")
    assert len(table) == 60 and set(table.columns) == {"sepal_length", "sepal_width", "petal_length", "petal_width",
                                                       "species", "label"}
    from sklearn.datasets import load_iris

    iris = load_iris()
    first = np.random.default_rng(0).permutation(150)[0]
    row = table.iloc[0]
    assert float(row["sepal_length"]) == pytest.approx(iris.data[first, 0], abs=1e-6)
    assert row["species"] == iris.target_names[iris.target[first]] and int(row["label"]) == iris.target[first]
    images = list(tfrecord.read_examples(FIXTURES / "images_tf.tfrecord.gz"))
    assert len(images) == 6 and images[1]["image/class/text"] == [b"green"]
    assert images[0]["image/encoded"][0][:8] == b"\x89PNG\r\n\x1a\n"


TENSORFLOW_SIDE = """
import sys
import tensorflow as tf
ours, theirs = sys.argv[1:3]
spec = {"a": tf.io.FixedLenFeature([2], tf.int64), "b": tf.io.FixedLenFeature([], tf.float32),
        "c": tf.io.FixedLenFeature([], tf.string)}
parsed = [tf.io.parse_single_example(raw, spec) for raw in tf.data.TFRecordDataset(ours)]
assert len(parsed) == 3 and parsed[0]["a"].numpy().tolist() == [1, 2] and parsed[0]["c"].numpy() == b"hi"
with tf.io.TFRecordWriter(theirs) as writer:
    for value in range(4):
        feature = {"v": tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
"""


@pytest.mark.slow
def test_tensorflow_reads_ours_and_we_read_what_it_writes_now(tmp_path):
    """TensorFlow in a process of its own (beside torch in one process, their OpenMP runtimes can clash)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is in the bench extra; the committed fixtures stand in for it")
    ours, theirs = tmp_path / "ours.tfrecord", tmp_path / "theirs.tfrecord"
    tfrecord.write(ours, [tfrecord.example({"a": [1, 2], "b": 0.5, "c": "hi"}) for _ in range(3)])
    done = subprocess.run([sys.executable, "-c", TENSORFLOW_SIDE, str(ours), str(theirs)], capture_output=True,
                          text=True, env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [e["v"] for e in tfrecord.read_examples(theirs)] == [[0], [1], [2], [3]]


def test_a_corrupt_or_cut_record_is_one_line_with_its_offset(tmp_path):
    data = (FIXTURES / "iris_tf.tfrecord").read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    second = 16 + length  # where record 2 starts
    flipped = bytearray(data)
    flipped[second + 12 + 3] ^= 0xFF  # a byte of record 2's data
    (tmp_path / "flipped.tfrecord").write_bytes(bytes(flipped))
    with pytest.raises(UserError, match=f"record 2 at byte {second}: its data fails its CRC-32C"):
        list(tfrecord.records(tmp_path / "flipped.tfrecord"))
    (tmp_path / "cut.tfrecord").write_bytes(data[:second + 20])
    with pytest.raises(UserError, match=f"record 2 at byte {second} is cut short"):
        list(tfrecord.records(tmp_path / "cut.tfrecord"))
    (tmp_path / "text.tfrecord").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(UserError, match="record 1 at byte 0: its length fails its CRC-32C"):
        list(tfrecord.records(tmp_path / "text.tfrecord"))


def test_a_project_trains_on_tfrecord_data(tmp_path):
    folder = run("softmax-iris", {"data": f"tfrecord:{FIXTURES / 'iris_tf.tfrecord'}", "target": "species",
                                  "features": "sepal_length,sepal_width,petal_length,petal_width"},
                 out=tmp_path / "run", progress=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["data"]["rows"] == 60 and metrics["test_accuracy"] >= 0.85
    # the same records as a CSV give the same model
    tfrecord.read_table(FIXTURES / "iris_tf.tfrecord").to_csv(tmp_path / "iris.csv", index=False)
    same = run("softmax-iris", {"data": str(tmp_path / "iris.csv"), "target": "species",
                                "features": "sepal_length,sepal_width,petal_length,petal_width"},
               out=tmp_path / "csv-run", progress=False)
    csv_metrics = json.loads((same / "metrics.json").read_text())
    assert csv_metrics["test_log_loss"] == pytest.approx(metrics["test_log_loss"], rel=1e-9)


def test_convert_round_trips(cli, tmp_path):
    from PIL import Image

    # an image folder -> TFRecord -> an image folder: the same files' bytes in the same classes
    for name, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8 + i, 6), colour).save(tmp_path / "pictures" / name / f"{i}.png")
    (tmp_path / "pictures" / "red" / "bad.png").write_text("no picture")
    result = cli("data", "convert", str(tmp_path / "pictures"), str(tmp_path / "pictures.tfrecord"))
    assert result.code == 0 and "6 images" in result.out and "bad.png" in result.err
    result = cli("data", "convert", str(tmp_path / "pictures.tfrecord"), str(tmp_path / "back"))
    assert result.code == 0, result.err
    for name in ("red", "blue"):  # the same files, by name, with the same bytes
        for i in range(3):
            assert (tmp_path / "back" / name / f"{i}.png").read_bytes() == \
                (tmp_path / "pictures" / name / f"{i}.png").read_bytes()
        assert len(list((tmp_path / "back" / name).iterdir())) == 3
    # a crafted record never writes outside the target folder, and two files of one name are refused
    from mlprojects.data.tfrecord import FILENAME, IMAGE, TEXT

    png = (tmp_path / "pictures" / "red" / "0.png").read_bytes()
    crafted = {"escape": [{IMAGE: png, TEXT: "red", FILENAME: "../../evil.png"}],
               "absolute": [{IMAGE: png, TEXT: "red", FILENAME: "/tmp/evil.png"}],
               "up": [{IMAGE: png, TEXT: "..", FILENAME: "evil.png"}],
               "twice": [{IMAGE: png, TEXT: "red", FILENAME: "a.png"}, {IMAGE: png, TEXT: "red", FILENAME: "a.png"}]}
    for name, records in crafted.items():
        tfrecord.write(tmp_path / f"{name}.tfrecord", (tfrecord.example(r) for r in records))
        result = cli("data", "convert", str(tmp_path / f"{name}.tfrecord"), str(tmp_path / f"{name}-out"))
        message = "a second red/a.png" if name == "twice" else "is not a plain name"
        assert result.code == 2 and message in result.err, (name, result.err)
        assert not (tmp_path / f"{name}-out").exists() and not list(tmp_path.rglob("evil.png"))
    # TensorFlow's image records into a folder
    result = cli("data", "convert", str(FIXTURES / "images_tf.tfrecord.gz"), str(tmp_path / "tf-images"))
    assert result.code == 0 and sorted(p.name for p in (tmp_path / "tf-images").iterdir()) == ["green", "red"]

    # a CSV -> TFRecord -> Parquet -> CSV: the same cells (an empty cell stays empty)
    (tmp_path / "t.csv").write_text("x,n,word\n1.5,3,apple\n,4,pear\n2.25,5,\n")
    for source, target in (("t.csv", "t.tfrecord"), ("t.tfrecord", "t.parquet"), ("t.parquet", "back.csv")):
        result = cli("data", "convert", str(tmp_path / source), str(tmp_path / target))
        assert result.code == 0 and "3 rows" in result.out, result.err
    back = pd.read_csv(tmp_path / "back.csv", keep_default_na=False, dtype=str)
    assert back.to_dict("list") == {"x": ["1.5", "", "2.25"], "n": ["3", "4", "5"], "word": ["apple", "pear", ""]}
    assert list(back.columns) == ["x", "n", "word"]  # in the file's order, not protobuf's
    # nothing is overwritten, and a corrupt source leaves no target
    again = cli("data", "convert", str(tmp_path / "t.csv"), str(tmp_path / "t.tfrecord"))
    assert again.code == 2 and "exists" in again.err
    (tmp_path / "broken.tfrecord").write_bytes((FIXTURES / "iris_tf.tfrecord").read_bytes()[:300])
    broken = cli("data", "convert", str(tmp_path / "broken.tfrecord"), str(tmp_path / "broken.csv"))
    assert broken.code == 2 and "cut short" in broken.err and not (tmp_path / "broken.csv").exists()
    assert not list(tmp_path.glob("*.tmp*"))


def test_inspect_tells_types_missing_values_and_balance(cli, tmp_path):
    result = cli("data", "inspect", f"{FIXTURES / 'iris_tf.tfrecord'}", "--target", "species")
    assert result.code == 0, result.err
    assert "60 rows, 6 columns" in result.out and "| species | categorical | 0 | 3 |" in result.out
    assert "Class balance of species:" in result.out
    (tmp_path / "t.csv").write_text("x,word\n1.5,apple\n,pear\n2,apple\n")
    result = cli("data", "inspect", str(tmp_path / "t.csv"))
    assert "| x | numeric | 1 | 2 | 1.5 … 2, mean 1.75 |" in result.out
    assert "| word | categorical | 0 | 2 | apple (2), pear (1) |" in result.out
    # image records: the encoded image is described, never printed
    result = cli("data", "inspect", str(FIXTURES / "images_tf.tfrecord.gz"))
    assert result.code == 0 and "<image/png, " in result.out and "\\x89PNG" not in result.out and "PNG" not in \
        result.out.replace("image/png", ""), result.out
    missing = cli("data", "inspect", str(tmp_path / "absent.csv"))
    assert missing.code == 2 and "no such file" in missing.err
    # a file that is no Parquet: one line, its reason a whole sentence of pyarrow's
    (tmp_path / "t.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 8)
    corrupt = cli("data", "inspect", str(tmp_path / "t.parquet"))
    assert corrupt.code == 2 and len(corrupt.err.strip().splitlines()) == 1, corrupt.err
    assert corrupt.err.strip().startswith(f"error: {tmp_path / 't.parquet'}: not a readable Parquet file (")
    assert corrupt.err.strip().endswith("magic bytes not found in footer)"), corrupt.err


def test_an_image_project_trains_on_image_records(tmp_path):
    """data=tfrecord:PATH in an image project: TensorFlow's feature names, the class names kept in the model."""
    import io

    from PIL import Image

    from mlprojects import rundir

    def picture(colour):
        buffer = io.BytesIO()
        Image.new("RGB", (10, 7), colour).save(buffer, format="PNG")
        return buffer.getvalue()

    rng = np.random.default_rng(0)
    records = [tfrecord.example({"image/encoded": picture(tuple(int(v) for v in rng.integers(0, 80, 3)) if i % 2
                                                          else (200 + i % 40, 220, 230)),
                                 "image/class/text": "dark" if i % 2 else "light"}) for i in range(40)]
    records.append(tfrecord.example({"image/encoded": b"not a picture", "image/class/text": "dark"}))
    tfrecord.write(tmp_path / "pictures.tfrecord", records)
    with pytest.warns(UserWarning, match="1 record that cannot be read as images skipped: record 41"):
        folder = run("mnist-mlp", {"data": f"tfrecord:{tmp_path / 'pictures.tfrecord'}", "epochs": 80,
                                   "widths": "16", "lr": 0.1, "batch_size": 8}, out=tmp_path / "run", progress=False)
    finished = rundir.load(folder)
    assert finished.class_names() == ["dark", "light"] and finished.metrics["test_accuracy"] >= 0.9
