"""Image-classification datasets as uint8 arrays, and the one preprocessing step models see.

``load("mnist-10k" | "mnist" | "fashion-mnist")`` returns train and test images of shape
(N, 28, 28) uint8 with int64 labels. :func:`to_model_input` is the single place where pixels
become model input; training, evaluation and serving all call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlprojects.data import idx, store
from mlprojects.errors import UserError

MNIST_10K_SPLIT_SEED = 0  # fixed: the embedded split never changes with a run's seed
MNIST_10K_TEST = 2000

CLASS_NAMES = {
    "mnist-10k": [str(d) for d in range(10)],
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


@dataclass
class ImageSplits:
    name: str
    train_images: np.ndarray  # (N, H, W) uint8
    train_labels: np.ndarray  # (N,) int64
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list[str]


def load(name: str) -> ImageSplits:
    if name not in CLASS_NAMES:
        raise UserError(f"data={name!r} is not an image dataset: use one of {', '.join(CLASS_NAMES)}")
    paths = store.locate(name)
    if name == "mnist-10k":
        return _mnist_10k(paths["mnist_10k.npz"])
    arrays = {key: idx.load(paths[f"{key}-ubyte.gz"]) for key in
              ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")}
    splits = ImageSplits(name, arrays["train-images-idx3"], arrays["train-labels-idx1"].astype(np.int64),
                         arrays["t10k-images-idx3"], arrays["t10k-labels-idx1"].astype(np.int64), CLASS_NAMES[name])
    _check(splits)
    return splits


def _mnist_10k(path) -> ImageSplits:
    with np.load(path, allow_pickle=False) as data:
        images, labels = data["images"], data["labels"].astype(np.int64)
    order = np.random.default_rng(MNIST_10K_SPLIT_SEED).permutation(len(images))
    test, train = order[:MNIST_10K_TEST], order[MNIST_10K_TEST:]
    return ImageSplits("mnist-10k", images[train], labels[train], images[test], labels[test], CLASS_NAMES["mnist-10k"])


def _check(s: ImageSplits) -> None:
    for images, labels, split in ((s.train_images, s.train_labels, "train"), (s.test_images, s.test_labels, "test")):
        if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(labels):
            raise UserError(f"{s.name}: {split} images {images.shape} and labels {labels.shape} do not match;"
                            " delete the cached files and fetch them again")
        if labels.min() < 0 or labels.max() >= len(s.class_names):
            raise UserError(f"{s.name}: {split} labels outside 0..{len(s.class_names) - 1}")


def to_model_input(images: np.ndarray, flatten: bool = True):
    """uint8 (N, 28, 28) pixels -> float32 tensor in [0, 1], (N, 784) or (N, 1, 28, 28).

    The Keras notebook divides by 255 and nothing else; we keep that, so its figures compare.
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    return x.reshape(len(x), -1) if flatten else x.unsqueeze(1)
