"""Drawing -> MNIST form, against expectations computed by hand."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import bomb_png
from PIL import Image

from mlprojects.data import images
from mlprojects.data.digits import EmptyDrawing, center_by_mass, to_mnist, whole_canvas_resize
from mlprojects.errors import UserError


def _rgba_canvas(size=200):
    return np.zeros((size, size, 4), np.uint8)  # transparent


def test_a_square_in_a_corner_becomes_a_centred_20px_block():
    canvas = _rgba_canvas()
    canvas[0:50, 0:50] = (0, 0, 0, 255)  # black ink, opaque, top-left corner
    digit = to_mnist(canvas)
    # longer side 50 -> 20 px; centre of mass at index 9.5 -> top-left 14 - 9.5 = 4.5, rounded up: 5..24
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert np.all(digit[5:25, 5:25] >= 254)
    digit[5:25, 5:25] = 0
    assert digit.max() == 0


def test_aspect_ratio_is_kept_and_the_bar_is_centred_by_mass():
    canvas = _rgba_canvas(400)
    canvas[300:400, 10:30, 3] = 255  # a 100 x 20 vertical bar near the bottom left
    digit = to_mnist(canvas)
    # scale 20/100: 20 x 4; centre of mass at index (9.5, 1.5) -> top 5, left 13 (12.5 rounded up)
    ink = np.argwhere(digit > 127)
    assert (ink[:, 0].min(), ink[:, 0].max(), ink[:, 1].min(), ink[:, 1].max()) == (5, 24, 13, 16)


def test_dark_ink_on_white_paper_and_light_ink_on_black_are_the_same_digit():
    paper = np.full((120, 120, 3), 255, np.uint8)
    paper[20:80, 50:70] = 0  # dark stroke, RGB, no alpha
    night = np.zeros((120, 120), np.uint8)
    night[20:80, 50:70] = 255  # light stroke, grayscale
    assert np.array_equal(to_mnist(paper), to_mnist(night))
    assert np.array_equal(to_mnist(Image.fromarray(paper)), to_mnist(paper))


def test_sketchpad_value_uses_the_layers_alpha():
    layer = _rgba_canvas(800)
    layer[100:500, 380:420] = (0, 0, 0, 255)
    value = {"background": np.full((800, 800, 4), 255, np.uint8), "layers": [layer], "composite": None}
    assert np.array_equal(to_mnist(value), to_mnist(layer))


def test_centre_of_mass_of_an_asymmetric_shape():
    digit = np.zeros((2, 4), np.float32)
    digit[:, 0] = 3.0  # mass 6 at column 0
    digit[:, 3] = 1.0  # mass 2 at column 3 -> centre (6*0 + 2*3) / 8 = 0.75
    out = center_by_mass(digit)
    # rows: centre 0.5 -> top 13.5 rounded up = 14; cols: left = 14 - 0.75 = 13.25 -> 13
    assert out[14, 13] == 3 and out[15, 16] == 1 and out.sum() == 8


@pytest.mark.parametrize("value", [_rgba_canvas(), np.full((50, 50, 3), 255, np.uint8),
                                   {"background": None, "layers": [], "composite": None}])
def test_an_empty_canvas_is_a_friendly_error(value):
    with pytest.raises(EmptyDrawing, match="draw a digit"):
        to_mnist(value)


def test_faint_noise_is_not_a_digit():
    canvas = _rgba_canvas()
    canvas[..., 3] = 5  # 2% alpha everywhere
    with pytest.raises(EmptyDrawing):
        to_mnist(canvas)


def test_non_images_and_huge_images_are_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(UserError, match="not an image"):
        to_mnist(str(text))
    with pytest.raises(UserError, match="expected an image"):
        to_mnist(42)
    with pytest.raises(UserError, match="the limit is"):
        to_mnist(np.zeros((5000, 10), np.uint8))
    tall = tmp_path / "tall.png"
    Image.new("L", (10, 5000)).save(tall)
    with pytest.raises(UserError, match="image of 10x5000 pixels: the limit is 4096x4096"):
        to_mnist(str(tall))
    # a PNG whose header says 20,000 x 20,000 pixels: Pillow refuses to open it at all, and the line says why
    with pytest.raises(UserError, match="an image of more than [0-9,]+ pixels: the limit is 4096x4096"):
        to_mnist(str(bomb_png(tmp_path / "bomb.png")))
    with pytest.raises(UserError, match="expected grayscale, RGB or RGBA"):
        to_mnist(np.zeros((10, 10, 2), np.uint8))


def test_png_bytes_on_disk_work(tmp_path):
    canvas = _rgba_canvas()
    canvas[40:160, 90:110, 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(canvas, "RGBA").save(buffer, "PNG")
    (tmp_path / "d.png").write_bytes(buffer.getvalue())
    assert np.array_equal(to_mnist(str(tmp_path / "d.png")), to_mnist(canvas))


def test_real_mnist_digits_pass_through_nearly_unchanged():
    """MNIST digits are already in this form, so preprocessing them again is the identity."""
    digits = images.load("mnist-10k").test_images[:200]
    correlations = [np.corrcoef(d.ravel(), to_mnist(d).ravel())[0, 1] for d in digits]
    assert np.min(correlations) > 0.999  # same box, same centre: MNIST digits come back unchanged


def test_whole_canvas_resize_shrinks_a_small_digit_to_nearly_nothing():
    canvas = _rgba_canvas(800)
    canvas[100:220, 100:130, 3] = 255  # a small digit-sized stroke
    assert (whole_canvas_resize(canvas) > 127).sum() <= 8  # ~4.2 x 1.05 px: the notebook's model sees a speck
    assert (to_mnist(canvas) > 127).sum() >= 60
