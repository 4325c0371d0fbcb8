"""A user's images in the image projects: --set data=folder:PATH (torchvision's ImageFolder layout)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import bomb_png
from PIL import Image, ImageDraw

from mlprojects import rundir
from mlprojects.data import image_folder
from mlprojects.errors import UserError
from mlprojects.predict import predict
from mlprojects.runner import run

SHAPES = ("circle", "cross", "square")


def draw(kind: str, size: int, rng) -> Image.Image:
    picture = Image.new("RGB", (size, size + int(rng.integers(-4, 5))), (255, 255, 255))
    pen, m = ImageDraw.Draw(picture), size // 5
    if kind == "circle":
        pen.ellipse([m, m, size - m, size - m], outline=(0, 0, 0), width=4)
    elif kind == "square":
        pen.rectangle([m, m, size - m, size - m], outline=(0, 0, 0), width=4)
    else:
        pen.line([m, m, size - m, size - m], fill=(0, 0, 0), width=4)
        pen.line([m, size - m, size - m, m], fill=(0, 0, 0), width=4)
    return picture


def shapes(root: Path, per_class: int = 30, seed: int = 0) -> Path:
    """Drawings of three shapes in PNG, JPEG and WebP of several sizes, one sub-folder per shape."""
    rng = np.random.default_rng(seed)
    for kind in SHAPES:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(kind, int(rng.integers(40, 90)), rng).save(root / kind / f"{i}.{('png', 'jpg', 'webp')[i % 3]}")
    return root


def test_pixels_by_hand():
    red = Image.new("RGB", (7, 3), (255, 0, 0))
    assert np.array_equal(image_folder.to_pixels(red, (28, 28)), np.full((28, 28), 76, np.uint8))  # 0.299 x 255
    rgb = image_folder.to_pixels(red, (32, 32, 3))
    assert rgb.shape == (32, 32, 3) and (rgb == [255, 0, 0]).all()


@pytest.mark.slow
def test_a_folder_trains_names_its_classes_and_skips_an_unreadable_file_once(tmp_path):
    root = shapes(tmp_path / "shapes")
    (root / "circle" / "broken.jpg").write_text("not a picture")
    (root / "circle" / "notes.txt").write_text("not an image extension: not looked at")
    with pytest.warns(UserWarning, match=r"1 file that cannot be read as images skipped: .*broken\.jpg") as caught:
        folder = run("mnist-cnn", {"data": f"folder:{root}", "epochs": 6, "batch_size": 16, "channels": "8,16",
                                   "dense": 64}, out=tmp_path / "run", progress=False)
    assert len([w for w in caught if "cannot be read" in str(w.message)]) == 1
    finished = rundir.load(folder)
    assert finished.metrics["test_accuracy"] >= 0.9
    assert finished.class_names() == list(SHAPES)
    # the folder may go: the run keeps its class names and its size
    shutil.rmtree(root)
    finished = rundir.load(folder)
    rng = np.random.default_rng(5)
    new = [draw(kind, 70, rng) for kind in SHAPES]
    table = predict(finished, new, top_k=1)
    assert list(table["label_1"]) == list(SHAPES)


def test_train_and_test_folders_are_used_as_given_in_colour(tmp_path):
    root = tmp_path / "given"
    shapes(root / "train", 12, seed=1)
    shapes(root / "test", 4, seed=2)
    splits = image_folder.load(root, (32, 32, 3))
    assert splits.train_images.shape == (36, 32, 32, 3) and splits.test_images.shape == (12, 32, 32, 3)
    assert splits.class_names == list(SHAPES) and list(np.bincount(splits.test_labels)) == [4, 4, 4]
    folder = run("cifar10-cnn", {"data": f"folder:{root}", "epochs": 1, "width": 4, "batch_size": 12},
                 out=tmp_path / "run", progress=False)
    assert rundir.load(folder).class_names() == list(SHAPES)


def test_bad_folders_are_one_line(cli, tmp_path):
    one = tmp_path / "one"
    shapes(one, 3)
    shutil.rmtree(one / "cross")
    shutil.rmtree(one / "square")
    broken = shapes(tmp_path / "broken", 3)
    (broken / "square" / "0.png").write_bytes(b"\x89PNG nothing more")
    flat = tmp_path / "flat"
    flat.mkdir()
    draw("circle", 40, np.random.default_rng(0)).save(flat / "a.png")
    cases = [
        ((f"data=folder:{tmp_path / 'absent'}",), "no such folder"),
        ((f"data=folder:{one}",), "one class folder (circle)"),
        ((f"data=folder:{flat}",), "no class folders"),
        ((f"data=folder:{broken}", "bad_images=refuse"), "1 file cannot be read as images: "),
        (("data=folders:/x",), "data=folders:/x: expected one of mnist-10k"),
    ]
    for settings, message in cases:
        args = [part for setting in settings for part in ("--set", setting)]
        result = cli("run", "mnist-mlp", *args, "--out", str(tmp_path / "run"))
        assert result.code == 2 and message in result.err, (settings, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert not (tmp_path / "run").exists()


def test_a_picture_setting_that_is_no_image_or_too_large_is_one_line(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(UserError, match=r"^content=notes.png: not an image file that can be read"):
        image_folder.open_picture(tmp_path / "notes.png", "content=notes.png")
    with pytest.raises(UserError, match=r"^content=bomb.png: an image of more than [0-9,]+ pixels; give a smaller"):
        image_folder.open_picture(bomb_png(tmp_path / "bomb.png"), "content=bomb.png")
    Image.new("RGB", (3, 2)).save(tmp_path / "fine.png")
    assert image_folder.open_picture(tmp_path / "fine.png", "content=fine.png").size == (3, 2)
