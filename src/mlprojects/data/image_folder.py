"""A user's images for the image projects: ``--set data=folder:PATH``, torchvision's ``ImageFolder`` layout.

PATH holds one sub-folder per class (``PATH/cat/1.jpg``, ``PATH/dog/2.png`` ...), split here into training
and test images (stratified, seeded), or ``PATH/train/<class>/...`` and ``PATH/test/<class>/...`` used as
given. Files are found as torchvision's ``ImageFolder`` finds them (its extensions, classes sorted by
name) and decoded by its loader (PIL), then brought to the project's form: grayscale 28x28 for the MNIST
projects, RGB 32x32 for CIFAR-10's, resized with Lanczos as those datasets were made; the projects'
own training transforms (CIFAR's crops and flips) apply as usual. A file that cannot be decoded is
named in one warning with the others and skipped, or refused (``bad_images=refuse``). The class names
become the labels ``predict`` and ``serve`` show, saved with the model
(:class:`~mlprojects.data.preparation.ImagePrep`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mlprojects.errors import UserError, counted

PREFIX = "folder:"


def stratifiable(counts: np.ndarray, test_fraction: float) -> bool:
    """Whether a split can keep every class on both sides (scikit-learn's conditions for stratify=)."""
    import math

    total = int(counts.sum())
    test = math.ceil(test_fraction * total)
    return counts.min() >= 2 and test >= len(counts) and total - test >= len(counts)


def held_out(count: int, labels: np.ndarray | None, test_fraction: float, seed: int):
    """(training positions, test positions) of COUNT rows: a seeded split, stratified by LABELS (class indices)
    where every class can be kept on both sides."""
    from sklearn.model_selection import train_test_split

    stratify = labels is not None and stratifiable(np.bincount(labels), test_fraction)
    return train_test_split(np.arange(count), test_size=test_fraction, random_state=seed,
                            stratify=labels if stratify else None)


def path_of(spec: str) -> Path | None:
    """The folder of a ``data=folder:PATH`` setting, or None for another kind of data."""
    return Path(spec[len(PREFIX):]).expanduser() if spec.startswith(PREFIX) else None


def _classes(root: Path) -> list[str]:
    from torchvision.datasets.folder import find_classes

    try:
        return find_classes(str(root))[0]
    except FileNotFoundError:
        raise UserError(f"data=folder:{root}: no class folders in it; put each class's images in a sub-folder "
                        f"named after the class ({root}/cat/1.jpg, {root}/dog/2.jpg ...)") from None


def _files(root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    found = []
    for index, name in enumerate(classes):
        folder = root / name
        if folder.is_dir():
            found += [(path, index) for path in sorted(folder.rglob("*"))
                      if path.is_file() and path.suffix.lower() in IMG_EXTENSIONS]
    return found


def open_picture(path: Path, setting: str):
    """The image file PATH, decoded (a PIL image); one that cannot be read is one line naming SETTING."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            picture.load()
            return picture
    except Image.DecompressionBombError:  # Pillow refuses to open one of over 2 x 89.5 million pixels at all
        raise UserError(f"{setting}: an image of more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; give a smaller "
                        "one") from None
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"{setting}: not an image file that can be read ({type(error).__name__}); give a PNG, JPEG, "
                        "GIF or similar") from None


def to_pixels(image, shape: tuple[int, ...]) -> np.ndarray:
    """A PIL image -> uint8 pixels of SHAPE ((H, W) grayscale or (H, W, 3) RGB), resized with Lanczos."""
    from PIL import Image

    picture = image.convert("RGB" if len(shape) == 3 else "L")
    if picture.size != (shape[1], shape[0]):
        picture = picture.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
    return np.asarray(picture, dtype=np.uint8)


def _decode(files: list[tuple[Path, int]], shape: tuple[int, ...], bad: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image
    from torchvision.datasets.folder import pil_loader

    pixels, labels = [], []
    for path, label in files:
        try:
            pixels.append(to_pixels(pil_loader(str(path)), shape))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            bad.append(path)
            continue
        labels.append(label)
    return np.stack(pixels) if pixels else np.zeros((0, *shape), np.uint8), np.asarray(labels, np.int64)


def _split(images: np.ndarray, labels: np.ndarray, classes: list[str], test_fraction: float, seed: int,
           where: str):
    if len(images) < 4:
        raise UserError(f"{where}: {len(images)} readable images; at least 4 are needed to train and test")
    train_rows, test_rows = held_out(len(images), labels, test_fraction, seed)
    return images[train_rows], labels[train_rows], images[test_rows], labels[test_rows]


def _finish(where: str, classes: list[str], split, bad: list[str], bad_images: str, item: str = "file"):
    from mlprojects.data.images import ImageSplits

    train_images, train_labels, test_images, test_labels = split
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        if bad_images == "refuse":
            raise UserError(f"{where}: {counted(len(bad), item)} cannot be read as images: {shown}; remove them, "
                            "or set bad_images=skip")
        warnings.warn(f"{counted(len(bad), item)} that cannot be read as images skipped: {shown}", stacklevel=3)
    empty = [classes[i] for i in range(len(classes)) if not (train_labels == i).any()]
    if empty:
        raise UserError(f"{where}: no readable training images for {', '.join(empty)}")
    if not len(test_images):
        raise UserError(f"{where}: no readable test images")
    return ImageSplits(where, train_images, train_labels, test_images, test_labels, classes)


def load(root: Path, shape: tuple[int, ...], test_fraction: float = 0.2, seed: int = 42, bad_images: str = "skip"):
    """ImageSplits of the folder ROOT (mlprojects.data.images.ImageSplits)."""
    where = f"folder:{root}"
    if not root.is_dir():
        raise UserError(f"data={where}: no such folder")
    bad: list[Path] = []
    given = (root / "train").is_dir() and (root / "test").is_dir()
    classes = _classes(root / "train" if given else root)
    if len(classes) < 2:
        raise UserError(f"data={where}: one class folder ({classes[0]}); a classifier needs two or more")
    if given:
        unknown = sorted(set(_classes(root / "test")) - set(classes))
        if unknown:
            raise UserError(f"data={where}: test/ has classes that train/ has not: {', '.join(unknown)}")
        split = (*_decode(_files(root / "train", classes), shape, bad), *_decode(_files(root / "test", classes), shape,
                                                                                  bad))
    else:
        split = _split(*_decode(_files(root, classes), shape, bad), classes, test_fraction, seed, f"data={where}")
    return _finish(where, classes, split, [str(path) for path in bad], bad_images)


def load_records(path: Path, shape: tuple[int, ...], test_fraction: float = 0.2, seed: int = 42,
                 bad_images: str = "skip", image_feature: str = "image/encoded",
                 label_feature: str = "image/class/text"):
    """ImageSplits of TFRecord image records (``data=tfrecord:PATH``): the encoded image in IMAGE_FEATURE, the class
    name in LABEL_FEATURE (or its number in image/class/label), as TensorFlow's image tools write them."""
    import io

    from PIL import Image

    from mlprojects.data import tfrecord

    pictures, names, bad = [], [], []
    for index, features in enumerate(tfrecord.read_examples(path)):
        encoded, name = tfrecord.image_record(features, f"{path}: record {index + 1}", image_feature, label_feature)
        try:
            pictures.append(to_pixels(Image.open(io.BytesIO(encoded)), shape))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            bad.append(f"record {index + 1}")
            continue
        names.append(name)
    classes, labels = np.unique(np.array(names, dtype=object), return_inverse=True)
    classes = [str(name) for name in classes]
    where = f"tfrecord:{path}"
    if len(classes) < 2:
        raise UserError(f"data={where}: {len(classes)} class; a classifier needs two or more")
    split = _split(np.stack(pictures), labels, classes, test_fraction, seed, f"data={where}")
    return _finish(where, classes, split, bad, bad_images, "record")
