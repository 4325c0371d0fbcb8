"""The book's chapter 6: LeNet, CIFAR-10 read safely from its real layout, augmentation, the conv demo."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from conftest import write_cifar_archive

from mlprojects import registry
from mlprojects.builtin.conv_demo import convolve, pool
from mlprojects.config import resolve
from mlprojects.data import cifar, store
from mlprojects.data.augment import random_crop_flip
from mlprojects.data.preparation import ImagePrep
from mlprojects.errors import UserError
from mlprojects.nn.convnets import LeNet, ResNet9
from mlprojects.runner import run

# --- networks -------------------------------------------------------------------------------------

def test_lenet_has_the_books_shape_and_parameter_count():
    model = LeNet()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    by_hand = (32 * 25 + 32) + (64 * 32 * 25 + 64) + (7 * 7 * 64 * 1024 + 1024) + (1024 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == by_hand == 3_274_634
    assert all(not m.bias.detach().any() for m in model if getattr(m, "bias", None) is not None)


def test_pooling_before_the_relu_gives_the_books_order_outputs_and_gradients():
    torch.manual_seed(0)
    model = LeNet(channels=(4, 8), dense=16, dropout=0.0)
    conv1, conv2, fc1, fc2 = (m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    relu, pool = torch.nn.functional.relu, torch.nn.functional.max_pool2d
    x = torch.randn(5, 1, 28, 28)

    def books_order(x):  # conv -> ReLU -> pool, as the book and Keras write it
        x = pool(relu(conv1(x)), 2)
        x = pool(relu(conv2(x)), 2)
        return fc2(relu(fc1(x.flatten(1))))

    torch.testing.assert_close(model(x), books_order(x), rtol=0, atol=0)
    model(x).square().sum().backward()
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    books_order(x).square().sum().backward()
    for a, b in zip(ours, (p.grad for p in model.parameters())):
        torch.testing.assert_close(a, b)


def test_resnet9_and_the_book_network_take_cifar_images():
    assert ResNet9(10, width=8)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    project = registry.get("cifar10-cnn")
    book = project.build_model(resolve(project.config_class, {"preset": "book"}), ImagePrep(list("abcdefghij"),
                                                                                            [32, 32, 3]))
    assert book(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_the_book_preset_sets_its_recipe_and_explicit_settings_win():
    config_class = registry.get("cifar10-cnn").config_class
    book = resolve(config_class, {"preset": "book"})
    assert (book.net, book.optimizer, book.lr, book.batch_size, book.epochs, book.augment) == \
        ("book", "adam", 0.001, 96, 50, "flip")
    assert resolve(config_class, {"preset": "book", "epochs": "3"}).epochs == 3
    assert resolve(config_class, {"epochs": "3"}, {"preset": "book"}).epochs == 3  # from any layer
    modern = resolve(config_class)
    assert (modern.net, modern.optimizer, modern.lr_schedule) == ("resnet9", "momentum", "cosine")


# --- augmentation -----------------------------------------------------------------------------------

def test_random_crop_flip_gives_windows_of_the_padded_image_or_their_mirror():
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    out = random_crop_flip(images, pad=2, generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), mode="reflect")
    for i in range(2):
        windows = [padded[i, :, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    again = random_crop_flip(images, pad=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_flip_only_mirrors_about_half_the_batch():
    images = torch.rand(400, 1, 4, 4)
    out = random_crop_flip(images, pad=0, generator=torch.Generator().manual_seed(1))
    same = (out == images).flatten(1).all(1)
    mirrored = (out == images.flip(3)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 150 < int(mirrored.sum()) < 250


# --- CIFAR-10 files ------------------------------------------------------------------------------

@pytest.mark.parametrize("python2", [True, False], ids=["as-published", "written-by-python3"])
def test_archive_in_the_published_layout_reads_with_the_right_pixel_order(tmp_path, python2):
    path = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", per_batch=7, python2_names=python2)
    splits = cifar.read_archive(path)
    assert splits.train_images.shape == (35, 32, 32, 3) and splits.test_images.shape == (7, 32, 32, 3)
    assert splits.train_images.dtype == np.uint8 and splits.test_labels.dtype == np.int64
    with __import__("tarfile").open(path) as archive:  # the first test image's raw row, by hand
        raw = pickle.loads(archive.extractfile("cifar-10-batches-py/test_batch").read(), encoding="bytes")
    row = raw[b"data"][0]
    assert splits.test_images[0, 0, 1].tolist() == [row[1], row[1024 + 1], row[2048 + 1]]  # R, G, B of pixel (0, 1)
    assert splits.test_images[0, 2, 5, 0] == row[2 * 32 + 5]
    assert splits.test_labels.tolist() == raw[b"labels"]


@pytest.mark.parametrize("member, raw, message", [
    ("test_batch", None, "test_batch is missing"),
    ("data_batch_3", pickle.dumps({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, protocol=2),
     "N x 3072"),
    ("data_batch_1", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 12]}, protocol=2),
     "labels outside 0..9"),
    ("data_batch_1", b"this is not a pickle", "not a CIFAR-10 batch"),
])
def test_anything_but_the_documented_format_is_refused(tmp_path, member, raw, message):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(path, per_batch=3)
    if raw is None:  # rebuild without the member
        import tarfile

        with tarfile.open(path) as archive:
            kept = {m.name.split("/")[-1]: archive.extractfile(m).read() for m in archive.getmembers()
                    if not m.name.endswith(member)}
        path.unlink()
        with tarfile.open(path, "w:gz") as archive:
            import io

            for name, data in kept.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    else:
        write_cifar_archive(path, per_batch=3, replace={member: raw})
    with pytest.raises(UserError, match=message):
        cifar.read_archive(path)


class _Hostile:
    """Unpickling this would create the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_would_run_code_is_refused_even_with_a_matching_checksum(tmp_path):
    marker = tmp_path / "pwned"
    path = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", per_batch=3,
                               replace={"data_batch_1": pickle.dumps({b"data": _Hostile(marker)}, protocol=2)})
    with pytest.raises(UserError, match=r"refusing to build (_?io|builtins)\.open"):
        cifar.read_archive(path)
    assert not marker.exists()


def test_an_archive_failing_its_checksum_is_never_opened(cifar10_files, monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    write_cifar_archive(cifar10_files, per_batch=3,  # same place, other bytes: the sha256 no longer matches
                        replace={"data_batch_1": pickle.dumps({b"data": _Hostile(marker)}, protocol=2)})
    opened = []
    monkeypatch.setattr(cifar, "read_archive", lambda path: opened.append(path))
    with pytest.raises(UserError, match="sha256"):
        cifar.load()
    assert opened == [] and not marker.exists()


def test_fetch_from_a_folder_checks_and_caches_the_archive(cifar10_files, tmp_path, cli):
    source = tmp_path / "downloads"
    source.mkdir()
    (source / cifar10_files.name).write_bytes(cifar10_files.read_bytes())
    cifar10_files.unlink()
    assert cli("data", "fetch", "cifar10", "--from", str(source)).code == 0
    assert store.status(store.get_spec("cifar10"))["cifar-10-python.tar.gz"].startswith("ok")
    (source / cifar10_files.name).write_bytes(b"truncated")
    cifar10_files.unlink()
    result = cli("data", "fetch", "cifar10", "--from", str(source))
    assert result.code == 2 and "sha256" in result.err and not cifar10_files.exists()


def test_cifar10_cnn_trains_on_the_training_batches_and_scores_the_test_batch(cifar10_files, tmp_path):
    project = registry.get("cifar10-cnn")
    run_dir = run("cifar10-cnn", {**project.smoke_settings, "epochs": 4, "train_limit": 0, "augment": "flip"},
                  out=tmp_path / "run", progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_samples"] == 60  # the test batch only, never trained on
    assert metrics["test_accuracy"] > 0.5  # class colours are learnable; chance is 0.1


# --- mnist-cnn in the digit app ------------------------------------------------------------------

def test_a_mnist_cnn_run_serves_in_the_digit_app(tmp_path):
    from mlprojects.data import images
    from mlprojects.serve.predictor import DigitPredictor, newest_run

    run_dir = run("mnist-cnn", {"epochs": 1, "channels": "8,16", "dense": 64}, out=tmp_path / "mnist-cnn" / "a",
                  progress=False)
    assert newest_run(tmp_path) == run_dir
    predictor = DigitPredictor(run_dir)
    splits = images.load("mnist-10k")
    digits, labels = splits.test_images[:200], splits.test_labels[:200]
    assert (predictor.forward(digits).argmax(1).numpy() == labels).mean() > 0.8
    prediction = predictor(np.pad(digits[0], 40))  # a bigger picture of the same digit
    assert prediction.top[0][0] == str(labels[0]) and len(prediction.top) == 3


# --- conv-demo --------------------------------------------------------------------------------

def test_edge_kernel_and_poolings_by_hand():
    image = np.zeros((6, 6), np.float32)
    image[2, 3] = 1.0
    edges = convolve(image, "edge")
    assert edges[2, 3] == 8 and edges[1, 2] == edges[3, 4] == -1 and edges[0, 0] == 0
    assert convolve(np.ones((5, 5), np.float32), "edge")[1:4, 1:4].tolist() == [[0.0] * 3] * 3
    grid = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert pool(grid, 2, "max").tolist() == [[5, 7], [13, 15]]
    assert pool(grid, 2, "avg").tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_conv_demo_on_a_users_image_and_on_a_non_image(tmp_path, cli):
    from PIL import Image

    picture = tmp_path / "square.png"
    Image.fromarray((np.indices((40, 40)).sum(0) % 2 * 255).astype(np.uint8)).save(picture)
    result = cli("run", "conv-demo", "--set", f"image={picture}", "--out", str(tmp_path / "ok"), "--quiet")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "ok" / "metrics.json").read_text())
    assert metrics["pooled_shape"] == [20, 20] and metrics["max_pool_mean"] >= metrics["avg_pool_mean"]
    (tmp_path / "notes.png").write_text("not a picture")
    result = cli("run", "conv-demo", "--set", f"image={tmp_path / 'notes.png'}", "--out", str(tmp_path / "bad"))
    assert result.code == 2 and "not an image file" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()  # nothing half-written
    result = cli("run", "conv-demo", "--set", "image=missing.jpg", "--out", str(tmp_path / "bad2"))
    assert result.code == 2 and "no such file" in result.err
