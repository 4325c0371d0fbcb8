"""The dataset cache: real downloads over HTTP on 127.0.0.1, checksums, offline and corrupt files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from mlprojects.data import catalog, idx, images, store
from mlprojects.data.catalog import DatasetSpec, FileSpec
from mlprojects.errors import UserError


def _idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(idx.dump(array), mtime=0)


@pytest.fixture
def served(tmp_path):
    """A folder of real IDX files served by http.server on a free loopback port."""
    folder = tmp_path / "www"
    folder.mkdir()
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": _idx_gz(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
        "train-labels-idx1-ubyte.gz": _idx_gz(rng.integers(0, 10, 20).astype(np.uint8)),
        "t10k-images-idx3-ubyte.gz": _idx_gz(rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte.gz": _idx_gz(rng.integers(0, 10, 10).astype(np.uint8)),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, files, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _spec(name: str, files: dict[str, bytes], base_url: str, tamper: str = "") -> DatasetSpec:
    specs = tuple(FileSpec(n, hashlib.sha256(b).hexdigest() if n != tamper else "0" * 64, len(b), (base_url + n,))
                  for n, b in files.items())
    return DatasetSpec(name, "test digits", specs, "test", "test")


@pytest.fixture
def registered(monkeypatch):
    def add(spec: DatasetSpec) -> DatasetSpec:
        monkeypatch.setitem(catalog.CATALOG, spec.name, spec)
        return spec

    return add


def test_download_verifies_and_caches(served, registered, isolated_home):
    folder, files, url = served
    registered(_spec("digits-test", files, url))
    paths = store.fetch("digits-test")
    assert set(paths) == set(files)
    for name, path in paths.items():
        assert path.parent == isolated_home / "datasets" / "digits-test"
        assert path.read_bytes() == files[name]
    assert not list(path.parent.glob(".*part"))  # no temporary left behind
    # cached now: works with the server's files gone
    for name in files:
        (folder / name).unlink()
    assert store.locate("digits-test") == paths


def test_checksum_mismatch_keeps_nothing_and_names_both_hashes(served, registered, isolated_home):
    _, files, url = served
    bad = "train-labels-idx1-ubyte.gz"
    registered(_spec("digits-bad", files, url, tamper=bad))
    with pytest.raises(UserError) as error:
        store.fetch("digits-bad")
    message = str(error.value)
    assert bad in message and "0" * 64 in message and hashlib.sha256(files[bad]).hexdigest() in message
    cached = isolated_home / "datasets" / "digits-bad"
    assert not (cached / bad).exists()
    assert not list(cached.glob(".*"))


def test_offline_and_not_cached_is_one_line_with_the_fix(registered):
    files = {"a.gz": b"x"}
    registered(DatasetSpec("digits-offline", "d", (FileSpec("a.gz", "0" * 64, 1, ("http://127.0.0.1:9/a.gz",)),),
                           "t", "t"))
    with pytest.raises(UserError) as error:
        store.locate("digits-offline")
    message = str(error.value)
    assert "a.gz" in message and "mlprojects data fetch digits-offline --from DIR" in message
    assert "\n" not in message
    assert files


def test_import_from_a_local_folder_and_detect_later_corruption(served, registered, isolated_home):
    folder, files, _ = served
    registered(_spec("digits-local", files, "http://127.0.0.1:9/"))
    paths = store.fetch("digits-local", from_dir=folder)
    target = paths["t10k-labels-idx1-ubyte.gz"]
    target.write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt or not the published one"):
        store.locate("digits-local")


def test_import_of_uncompressed_files_matches_by_content(tmp_path, registered):
    labels = idx.dump(np.arange(10, dtype=np.uint8))
    (tmp_path / "labels-idx1-ubyte").write_bytes(labels)
    spec = FileSpec("labels-idx1-ubyte.gz", "f" * 64, None, (), hashlib.sha256(labels).hexdigest())
    registered(DatasetSpec("digits-raw", "d", (spec,), "t", "t"))
    path = store.fetch("digits-raw", from_dir=tmp_path)["labels-idx1-ubyte.gz"]
    assert idx.load(path).tolist() == list(range(10))


def test_a_recompressed_file_matches_by_content_and_a_broken_one_does_not(tmp_path):
    content = idx.dump(np.arange(10, dtype=np.uint8))
    spec = FileSpec("labels.gz", hashlib.sha256(gzip.compress(content, mtime=0)).hexdigest(), None, (),
                    hashlib.sha256(content).hexdigest())
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(content, compresslevel=1, mtime=7))  # other bytes, the same content
    assert store.matches(path, spec) == (True, hashlib.sha256(path.read_bytes()).hexdigest())
    path.write_bytes(gzip.compress(content, mtime=7)[:-9])  # cut short
    assert store.matches(path, spec)[0] is False


def test_the_real_mnist_spec_refuses_files_that_are_not_mnist(served, cli, isolated_home):
    folder, files, _ = served  # right names, real IDX format, wrong content
    result = cli("data", "fetch", "mnist", "--from", str(folder))
    assert result.code == 2
    assert "expected 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in result.err
    assert not (isolated_home / "datasets" / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_embedded_mnist_10k_split_is_fixed_and_complete():
    splits = images.load("mnist-10k")
    assert splits.train_images.shape == (8000, 28, 28) and splits.test_images.shape == (2000, 28, 28)
    assert set(np.unique(splits.test_labels)) == set(range(10))
    again = images.load("mnist-10k")
    assert np.array_equal(splits.test_labels, again.test_labels)
    counts = np.bincount(np.concatenate([splits.train_labels, splits.test_labels]))
    assert counts.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]  # the published counts


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_is_found_and_verified_by_content():
    splits = images.load("fashion-mnist")
    assert splits.train_images.shape == (60000, 28, 28) and splits.test_images.shape == (10000, 28, 28)
    assert np.bincount(splits.test_labels).tolist() == [1000] * 10
