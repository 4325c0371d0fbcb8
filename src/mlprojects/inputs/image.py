"""Images: files, folders, PIL images or arrays, in any format, size and mode.

For training, a user's folder (``data=folder:PATH``, one sub-folder per class) or image records
(``data=tfrecord:PATH``) in place of a project's dataset. For predict, each image is brought to the project's
pixel form (:meth:`ImageInputs.pixels`: MNIST's own preparation of a digit, the one the digit app applies to a
drawing, or a resize), then to the model's input (``project.images_to_inputs``, as in training). Out come the
top-k labels with their probabilities. Served as an image upload; TensorBoard's projector shows the first test
images by their penultimate features.
"""

from __future__ import annotations

import functools
from base64 import b64decode
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mlprojects.config import setting
from mlprojects.data.preparation import ImagePrep, Prepared
from mlprojects.errors import UserError
from mlprojects.inputs.base import Apply, Forward, Inputs, absolute, softmax

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
PROJECTED = 1000  # test images shown in TensorBoard's embedding projector
USERS = ("folder:", "tfrecord:")  # data= naming a user's images rather than a dataset


@dataclass
class ImageSettings:
    """An image project's data: its datasets (DATASETS, the first the default) or a user's folder or records."""

    data: str = setting("mnist-10k", "dataset: mnist-10k (embedded), mnist, fashion-mnist, folder:PATH (your "
                                     "images, one sub-folder per class) or tfrecord:PATH (image records)")
    test_fraction: float = setting(0.2, "with data=folder: the share of images held out for the test (stratified)",
                                   gt=0, lt=1)
    bad_images: Literal["skip", "refuse"] = setting("skip", "with data=folder: skip unreadable files (named in a "
                                                            "warning) or refuse the folder")

    DATASETS: ClassVar[tuple[str, ...]] = ("mnist-10k", "mnist", "fashion-mnist")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.data not in self.DATASETS and not self.data.startswith(USERS):
            raise ValueError(f"data={self.data}: expected one of {', '.join(self.DATASETS)}, folder:PATH or "
                             "tfrecord:PATH")
        if self.data.startswith(USERS):
            self.data = absolute(self.data)


@functools.lru_cache(maxsize=2)
def users_images(data: str, shape: tuple[int, ...], test_fraction: float, seed: int, bad_images: str):
    """A user's folder or records as ``mlprojects.data.images.ImageSplits`` in SHAPE (read once a run)."""
    from mlprojects.data import image_folder, tfrecord

    records = tfrecord.path_of(data)
    if records is not None:
        return image_folder.load_records(records, shape, test_fraction, seed, bad_images)
    return image_folder.load(image_folder.path_of(data), shape, test_fraction, seed, bad_images)


def image_items(inputs: Any) -> list[tuple[str, Any]]:
    """(name, image) pairs: files, the image files of folders (sorted), PIL images or arrays."""
    items: list[tuple[str, Any]] = []
    singles = (str, Path, np.ndarray)
    for index, item in enumerate([inputs] if isinstance(inputs, singles) or hasattr(inputs, "getbands") else inputs):
        if isinstance(item, (str, Path)):
            path = Path(item)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
                if not found:
                    raise UserError(f"{path}: no image files in this folder ({', '.join(IMAGE_SUFFIXES)})")
                items += [(str(p), p) for p in found]
            elif path.is_file():
                items.append((str(path), path))
            else:
                raise UserError(f"{path}: no such file or folder")
        else:
            items.append((f"image {index + 1}", item))
    if not items:
        raise UserError("no images given: name image files or folders")
    return items


def decoded(files: list[bytes]) -> list:
    """Encoded image files as PIL images; one that is not an image, or is larger than ``MAX_SIDE`` on a side, is one
    line naming it. The size is read from the file's header before a pixel is decoded: a PNG of zeros of a few kB
    can hold a billion pixels."""
    import io

    from PIL import Image, UnidentifiedImageError

    from mlprojects.data.digits import MAX_SIDE

    images = []
    for index, data in enumerate(files, 1):
        try:
            picture = Image.open(io.BytesIO(data))
            if max(picture.size) > MAX_SIDE:
                raise UserError(f"image {index}: {picture.size[0]}x{picture.size[1]} pixels; the limit is "
                                f"{MAX_SIDE}x{MAX_SIDE}")
            picture.load()
        except Image.DecompressionBombError:  # Pillow refuses to open one of over 2 x 89.5 million pixels at all
            raise UserError(f"image {index}: more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; the limit is "
                            f"{MAX_SIDE}x{MAX_SIDE}") from None
        except (UnidentifiedImageError, OSError, ValueError):
            raise UserError(f"image {index}: not an image file PIL can read ({len(data):,} bytes)") from None
        images.append(picture)
    return images


class ImageInputs(Inputs):
    """Pictures, brought to PIXEL_SHAPE: (height, width) for grayscale, (height, width, 3) for colour. DIGITS: a
    picture of a digit is brought to MNIST's form (centred by mass, ink high) unless the model was trained on a
    user's images; otherwise every picture is resized."""

    kind = "image"
    tensor_name = "pixels"
    prefers_onnxruntime = True
    needs_preparation = True

    def __init__(self, pixel_shape: tuple[int, ...], digits: bool = False):
        self.pixel_shape = tuple(pixel_shape)
        self.digits = digits

    def reads(self, cfg: Any) -> bool:
        return getattr(cfg, "data", "").startswith(USERS)

    def training_data(self, project, cfg: Any) -> Prepared:
        return self.prepared(project, cfg, users_images(cfg.data, self.pixel_shape, cfg.test_fraction, cfg.seed,
                                                        cfg.bad_images))

    def prepared(self, project, cfg: Any, splits) -> Prepared:
        """SPLITS (``ImageSplits``, a dataset's or a user's) as PROJECT's tensors, with the class names saved."""
        import torch

        from mlprojects.engine import TensorData

        train = TensorData(project.images_to_inputs(cfg, splits.train_images), torch.from_numpy(splits.train_labels))
        test = TensorData(project.images_to_inputs(cfg, splits.test_images), torch.from_numpy(splits.test_labels))
        return Prepared(train, test, {"dataset": splits.name, "class_names": splits.class_names,
                                      "test_images": splits.test_images},
                        ImagePrep(list(splits.class_names), list(self.pixel_shape)),
                        raw_test=(splits.test_images, [splits.class_names[i] for i in splits.test_labels]))

    def pixels(self, cfg: Any, image: Any) -> np.ndarray:
        """One image (a file, a PIL image or an array, any size and mode) -> uint8 pixels in the project's form."""
        from PIL import Image

        from mlprojects.data.digits import as_array, to_mnist
        from mlprojects.data.image_folder import to_pixels

        if self.digits and not self.reads(cfg):
            return to_mnist(image)
        return to_pixels(Image.fromarray(as_array(image)), self.pixel_shape)

    def answers(self, run, inputs: Any, *, forward: Forward, top_k: int = 3, backtest: bool = False,
                strict: bool = False) -> tuple[dict[str, list], dict[str, Any]]:
        items = image_items(inputs)
        pixels = []
        for name, image in items:
            try:
                pixels.append(self.pixels(run.cfg, image))
            except UserError as error:
                raise UserError(f"{name}: {error}") from None
        outputs = forward(run.project.images_to_inputs(run.cfg, np.stack(pixels)))
        probabilities = softmax(outputs.astype(np.float64))
        names = run.class_names()
        k = min(top_k, len(names))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        columns: dict[str, Any] = {}
        for rank in range(k):
            columns[f"label_{rank + 1}"] = [names[index] for index in order[:, rank]]
            columns[f"probability_{rank + 1}"] = probabilities[np.arange(len(items)), order[:, rank]]
        return {"image": [name for name, _ in items]}, columns  # a request's images are named by their order

    def from_request(self, run, body: Any) -> list:
        """``{"instances": [...]}`` or ``{"inputs": [...]}``: encoded image files in base64, bare or as
        ``{"b64": ...}`` (TensorFlow Serving's form)."""
        items = body.get("instances", body.get("inputs")) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise UserError('send {"instances": [BASE64, ...]} or {"instances": [{"b64": BASE64}, ...]}: image files '
                            "encoded in base64")
        try:
            files = [b64decode(item["b64"] if isinstance(item, dict) else item, validate=True) for item in items]
        except (KeyError, TypeError, ValueError):
            raise UserError("an instance is not base64: give each image file encoded in base64") from None
        return decoded(files)

    def v2_inputs(self, run) -> list[dict[str, Any]]:
        return [{"name": "image", "datatype": "BYTES", "shape": [-1]}]

    def join(self, run, items: list) -> list:
        return [image for images in items for image in images]

    def from_v2(self, run, tensors: dict[str, Any]) -> list:
        """Encoded image files as BYTES, or pixels as a tensor [N, height, width(, 3)]: UINT8 (0-255), or FP32 scaled
        to [0, 1] (brought back to 0-255 exactly; a value outside [0, 1] is refused, never guessed to be 0-255)."""
        if len(tensors) != 1:
            raise UserError(f"one input of images, not {len(tensors)}: BYTES (encoded files), or UINT8 or FP32 pixels")
        values = next(iter(tensors.values()))
        if values.dtype == object:
            return decoded([v if isinstance(v, bytes) else str(v).encode("latin-1") for v in values.ravel()])
        if values.dtype not in (np.uint8, np.float32) or values.ndim not in (3, 4):
            raise UserError(f"pixels of shape {list(values.shape)} and type {values.dtype}: give UINT8 or FP32 "
                            "[N, height, width] or [N, height, width, 3]")
        if values.dtype == np.float32:
            outside = ~((values >= 0) & (values <= 1))  # NaN included
            if outside.any():
                value = values[tuple(np.argwhere(outside)[0])]
                raise UserError(f"FP32 pixels are scaled to [0, 1]; one is {value:g}: scale them, or send UINT8 "
                                "0-255")
            values = np.rint(values * np.float32(255)).astype(np.uint8)
        return list(values)

    def classifies(self, run) -> bool:
        return True

    def export_metadata(self, run) -> dict[str, Any]:
        return {"preparation": run.project.image_preparation(run.cfg)}

    def random_inputs(self, run, count: int):
        pixels = np.random.default_rng(0).integers(0, 256, (count, *self.pixel_shape), dtype=np.uint8)
        return run.project.images_to_inputs(run.cfg, pixels)

    def page(self, run, apply: Apply) -> None:
        import gradio as gr

        names = run.class_names()
        with gr.Row():
            with gr.Column():
                # a file, not an image component: a file that is no image reaches our reader, which says so
                image = gr.File(label="an image file (any size and mode)", file_types=["image"], elem_id="image")
                shown = gr.Image(label="the image", interactive=False, elem_id="shown")
            with gr.Column():
                label = gr.Label(num_top_classes=min(3, len(names)), label="prediction", elem_id="prediction")
                message = gr.Markdown("Upload an image.", elem_id="message")

        def one(path):
            if path is None:
                return None, "Upload an image.", None
            row = apply([path], top_k=len(names)).iloc[0]
            probabilities = {row[f"label_{k}"]: float(row[f"probability_{k}"]) for k in range(1, len(names) + 1)}
            return probabilities, f"**{row['label_1']}** with probability {row['probability_1']:.1%}", path

        image.change(one, image, [label, message, shown], api_name="predict")

    def describe_in_tensorboard(self, folder: Path, model, project, cfg, data) -> None:
        """The first test images' penultimate features, labelled and drawn by their thumbnails."""
        if data.raw_test is None:
            return
        import torch

        from mlprojects.engine.callbacks import penultimate_features, write_projector

        pixels, labels = data.raw_test
        pixels, labels = pixels[:PROJECTED], labels[:PROJECTED]
        features = penultimate_features(model, project.images_to_inputs(cfg, pixels))
        thumbnails = torch.from_numpy(np.ascontiguousarray(pixels)).float().div(255)
        thumbnails = thumbnails[:, None] if thumbnails.dim() == 3 else thumbnails.permute(0, 3, 1, 2)
        write_projector(folder, features, list(labels), thumbnails)
