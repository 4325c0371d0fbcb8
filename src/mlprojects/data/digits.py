"""A drawing -> a digit in MNIST's own form: the one function serving and augmentation share.

MNIST's digits were size-normalised to fit a 20x20 box (aspect ratio kept, anti-aliased) and
centred in 28x28 by their centre of mass (LeCun et al.). The Keras notebook instead resized the
whole 800x800 canvas to 28x28, so a small, off-centre or thick digit reached the model looking
nothing like its training data. Here:

1. ink: the alpha channel of the drawing layers (Gradio's sketchpad draws on transparent layers);
   for images without transparency, inverted luminance (dark ink on light paper) or luminance
   (light ink on dark paper, like MNIST itself), whichever makes the background dark;
2. crop to the ink's bounding box;
3. scale so the longer side is 20 px, with anti-aliasing (box filter, then Lanczos);
4. paste into 28x28 so the centre of mass lands on pixel (14, 14), as in MNIST.

The result is uint8 (28, 28), ink high, like the training images; each project then normalises it
exactly as in training (``Project.images_to_inputs``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from mlprojects.errors import UserError

MAX_SIDE = 4096  # larger images are refused: a sketchpad canvas is 800x800
BOX, SIZE = 20, 28
INK_THRESHOLD = 0.05  # of full ink: fainter pixels are paper noise, not strokes


class EmptyDrawing(UserError):
    """The canvas has no ink."""


def ink_of(image: Any) -> np.ndarray:
    """Ink density in [0, 1] as float32 (H, W), from a sketchpad dict, a PIL image or an array."""
    if isinstance(image, dict):  # Gradio ImageEditor/Sketchpad value
        layers = [layer for layer in image.get("layers") or [] if layer is not None]
        if layers:
            arrays = [as_array(layer) for layer in layers]
            if all(a.ndim == 3 and a.shape[2] == 4 for a in arrays):
                return np.max([a[..., 3] for a in arrays], axis=0).astype(np.float32) / 255.0
        image = image.get("composite") if image.get("composite") is not None else image.get("background")
        if image is None:
            raise EmptyDrawing("the canvas is empty: draw a digit first")
    array = as_array(image)
    if array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3].astype(np.float32) / 255.0
        if alpha.min() < 0.99:  # transparency carries the strokes, whatever their colour
            return alpha
        array = array[..., :3]
    if array.ndim == 3:  # ITU-R 601 luma
        array = array[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    luminance = array.astype(np.float32) / 255.0
    # the background is the majority: make it the dark side, as in MNIST
    return 1.0 - luminance if np.median(luminance) > 0.5 else luminance


def as_array(image: Any) -> np.ndarray:
    """uint8 (H, W), (H, W, 3) or (H, W, 4) pixels of a PIL image, an array or an image file; a file that is
    not an image, or one larger than MAX_SIDE, is one UserError."""
    if isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        array = np.asarray(image)
    elif isinstance(image, np.ndarray):
        array = image
    elif isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        try:
            with Image.open(image) as opened:
                if max(opened.size) > MAX_SIDE:  # checked before decoding a single pixel
                    raise UserError(f"image of {opened.size[0]}x{opened.size[1]} pixels: the limit is "
                                    f"{MAX_SIDE}x{MAX_SIDE}")
                opened.load()
                return as_array(opened)
        except Image.DecompressionBombError:  # Pillow refuses to open one of over 2 x 89.5 million pixels at all
            raise UserError(f"an image of more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels: the limit is "
                            f"{MAX_SIDE}x{MAX_SIDE}") from None
        except (OSError, ValueError) as error:
            raise UserError(f"not an image that can be read ({type(error).__name__}): give a PNG or JPEG") from None
    else:
        raise UserError(f"expected an image, got {type(image).__name__}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UserError(f"image of shape {array.shape}: expected grayscale, RGB or RGBA")
    if max(array.shape[:2]) > MAX_SIDE or min(array.shape[:2]) < 1:
        raise UserError(f"image of {array.shape[1]}x{array.shape[0]} pixels: the limit is {MAX_SIDE}x{MAX_SIDE}")
    if array.dtype != np.uint8:
        scale = 255.0 if array.dtype.kind == "f" and array.max() <= 1.0 else 1.0
        array = np.clip(array.astype(np.float64) * scale, 0, 255).astype(np.uint8)
    return array


def to_mnist(image: Any) -> np.ndarray:
    """The drawing as a 28x28 uint8 digit in MNIST's form (see the module docstring). A 28x28 grayscale
    image with a dark background is taken to be in that form already (an MNIST digit, or one saved from
    this function) and passes unchanged: normalising it again would move 6% of MNIST's own test digits
    by a pixel."""
    if not isinstance(image, dict):
        array = as_array(image)
        if array.shape == (SIZE, SIZE) and np.median(array) < 128:
            return array.copy()
    ink = ink_of(image)
    mask = ink > INK_THRESHOLD
    if not mask.any():
        raise EmptyDrawing("the canvas is empty: draw a digit first")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = crop.shape
    scale = BOX / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = Image.fromarray((crop * 255).astype(np.uint8), "L")
    if max(height, width) > 4 * BOX:  # a box filter first keeps thin strokes when shrinking a lot
        resized = resized.reduce(max(1, max(height, width) // (2 * BOX)))
    digit = np.asarray(resized.resize((new_w, new_h), Image.LANCZOS), dtype=np.float32)
    return center_by_mass(digit)


def center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste ``digit`` (h, w <= 28) into 28x28 with its centre of mass at pixel index (14, 14).

    Index coordinates (pixel i at i) are MNIST's own: over the embedded digits the centre of mass
    averages 14.00 in both directions. Half-way cases round up.
    """
    total = digit.sum()
    h, w = digit.shape
    if total <= 0:
        return np.zeros((SIZE, SIZE), np.uint8)
    com_r = (digit.sum(1) * np.arange(h)).sum() / total
    com_c = (digit.sum(0) * np.arange(w)).sum() / total
    top = int(np.clip(np.floor(SIZE / 2 - com_r + 0.5), 0, SIZE - h))
    left = int(np.clip(np.floor(SIZE / 2 - com_c + 0.5), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top:top + h, left:left + w] = digit
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def whole_canvas_resize(image: Any) -> np.ndarray:
    """The notebook's preprocessing, kept for comparison: the whole canvas squeezed to 28x28."""
    ink = ink_of(image)
    return np.asarray(Image.fromarray((ink * 255).astype(np.uint8), "L").resize((SIZE, SIZE), Image.BILINEAR))
