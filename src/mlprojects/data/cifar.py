"""CIFAR-10 from its published Python-version archive, read without trusting pickle.

The archive (``cifar-10-python.tar.gz``) holds ``cifar-10-batches-py/`` with five training batches
``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``: Python 2 pickles of a dict
whose ``data`` is a uint8 array of N x 3072 (1024 red, 1024 green, 1024 blue values of a 32 x 32
image, row-major) and whose ``labels`` is a list of N ints in 0..9.

Two locks keep outside data from running code. ``store.locate`` checks the archive's sha256 before
this module opens it, so a file that is not the published one is never unpickled. Then the pickles
are read by :class:`_ArraysOnly`, which builds nothing but dicts, lists, strings, numbers and NumPy
arrays: any other object named in a pickle is refused.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from mlprojects.data import store
from mlprojects.data.images import ImageSplits
from mlprojects.errors import UserError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    # how Python 3 pickles bytes at protocol 2: str.encode by name, a pure function
    ("_codecs", "encode"): lambda: __import__("codecs").encode,
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and plain containers, and nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]()
        raise pickle.UnpicklingError(f"refusing to build {module}.{name}")


def read_batch(raw: bytes, where: str) -> dict[str, object]:
    """One CIFAR batch (pickle bytes) -> {'data': (N, 3072) uint8, 'labels': (N,) int64}, checked."""
    try:
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
    except Exception as error:  # a broken or hostile pickle: say which file, never run it
        raise UserError(f"{where}: not a CIFAR-10 batch ({error}); delete it and fetch the dataset again") from None
    if not isinstance(batch, dict):
        raise UserError(f"{where}: not a CIFAR-10 batch (a {type(batch).__name__}, expected a dict)")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise UserError(f"{where}: 'data' must be a uint8 array of N x 3072, found {shape}")
    labels = np.asarray(labels)
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or len(data) == 0:
        raise UserError(f"{where}: 'labels' must be {len(data)} integers, found shape {labels.shape}")
    if labels.min() < 0 or labels.max() > 9:
        raise UserError(f"{where}: labels outside 0..9")
    return {"data": data, "labels": labels.astype(np.int64)}


def read_archive(path: str | Path) -> ImageSplits:
    """Images (N, 32, 32, 3) uint8 and labels from a CIFAR-10 Python-version archive already verified."""
    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = {member.name: member for member in archive.getmembers() if member.isfile()}
            batches = {}
            for name in (*TRAIN_BATCHES, "test_batch"):
                member = members.get(f"{FOLDER}/{name}")
                if member is None:
                    raise UserError(f"{path}: {FOLDER}/{name} is missing; this is not the CIFAR-10 Python-version "
                                    "archive")
                batches[name] = read_batch(archive.extractfile(member).read(), f"{path}:{FOLDER}/{name}")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise UserError(f"{path}: not a gzip tar archive ({error}); delete it and fetch the dataset again") from None

    def images(names) -> tuple[np.ndarray, np.ndarray]:
        data = np.concatenate([batches[n]["data"] for n in names])
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.concatenate([batches[n]["labels"] for n in names])

    train_images, train_labels = images(TRAIN_BATCHES)
    test_images, test_labels = images(("test_batch",))
    return ImageSplits("cifar10", train_images, train_labels, test_images, test_labels, CLASS_NAMES)


def load() -> ImageSplits:
    """The real CIFAR-10: located (or downloaded) and checked against its sha256, then read."""
    (path,) = store.locate("cifar10").values()
    return read_archive(path)
