"""The architectures of the book's chapter 8 and their successors, measured on the built models.

Each is built by torchvision (LeNet-5 and EfficientNet-Lite0 by this package) without weights: its
parameters are counted, its multiply-adds and FLOPs measured by PyTorch's FLOP counter on one image
of the model's input size. Beside them, from torchvision's weight metadata (offline): the published
ImageNet-1k top-1 and top-5 of its weights, and the weight file's size. Facts of that metadata, checked
by the tests: its ``_ops`` counts multiply-adds although its documentation calls them GFLOPS (the FLOP
counter gives exactly twice); ``_file_size`` is in MiB; GoogLeNet's ``num_params`` (6,624,904) leaves out
its two auxiliary classifiers (13,004,888 with them) while Inception-v3's (27,161,264) counts its one
(23,834,568 without). So parameters are given both ways where a model has auxiliary heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LITE = "efficientnet-lite0"


@dataclass(frozen=True)
class Architecture:
    name: str  # torchvision's, or ours
    title: str
    year: int
    paper: str
    paper_parameters: float | None = None  # as the paper states them
    input_size: int = 224


ARCHITECTURES = (
    Architecture("lenet5", "LeNet-5", 1998, "LeCun, Bottou, Bengio, Haffner: Gradient-based learning applied to "
                 "document recognition", 60_000, 32),
    Architecture("alexnet", "AlexNet", 2012, "Krizhevsky, Sutskever, Hinton: ImageNet classification with deep "
                 "convolutional neural networks", 60e6),
    Architecture("vgg16", "VGG-16", 2014, "Simonyan, Zisserman: Very deep convolutional networks for large-scale "
                 "image recognition", 138e6),
    Architecture("vgg19", "VGG-19", 2014, "Simonyan, Zisserman (ibid.)", 144e6),
    Architecture("googlenet", "GoogLeNet (Inception v1)", 2014, "Szegedy et al.: Going deeper with convolutions",
                 6.8e6),
    Architecture("inception_v3", "Inception v3", 2015, "Szegedy et al.: Rethinking the Inception architecture for "
                 "computer vision", None, 299),
    Architecture("resnet50", "ResNet-50", 2015, "He, Zhang, Ren, Sun: Deep residual learning for image recognition",
                 25.6e6),
    Architecture("efficientnet_b0", "EfficientNet-B0", 2019, "Tan, Le: EfficientNet: rethinking model scaling for "
                 "convolutional neural networks", 5.3e6),
    Architecture(LITE, "EfficientNet-Lite0", 2020, "Tan, Le; the Lite variant (no squeeze-excitation, ReLU6)", None),
    Architecture("vit_b_16", "ViT-B/16", 2020, "Dosovitskiy et al.: An image is worth 16x16 words", 86e6),
    Architecture("convnext_tiny", "ConvNeXt-T", 2022, "Liu et al.: A ConvNet for the 2020s", 28e6),
)
AUXILIARY = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}


def find(name: str) -> Architecture:
    from mlprojects.errors import UserError

    for architecture in ARCHITECTURES:
        if architecture.name == name:
            return architecture
    raise UserError(f"unknown architecture {name!r}: one of {', '.join(a.name for a in ARCHITECTURES)}")


def build(name: str):
    """The model, untrained, in eval mode."""
    if name == "lenet5":
        from mlprojects.nn.convnets import LeNet5

        return LeNet5().eval()
    if name == LITE:
        from mlprojects.nn.efficientnet_lite import EfficientNetLite0

        return EfficientNetLite0().eval()
    from torchvision.models import get_model

    options = {"init_weights": False} if name in AUXILIARY else {}  # skip a slow initialisation: weights unused
    return get_model(name, weights=None, **options).eval()


def count_flops(model, input_size: int, channels: int = 3) -> int:
    """FLOPs of one forward pass on one image, by PyTorch's FLOP counter (a multiply-add is two)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    # the CPU's fused attention has no formula in the counter (torch 2.14): the same as the other kernels'
    cpu_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
                     lambda query, key, value, *args, out_shape=None, **kwargs: sdpa_flop_count(query, key, value)}
    counter = FlopCounterMode(display=False, custom_mapping=cpu_attention)
    # with gradients on: in inference mode nn.MultiheadAttention takes a fused kernel the counter cannot see
    with torch.enable_grad(), counter:
        model(torch.zeros(1, channels, input_size, input_size))
    return counter.get_total_flops()


def measure(architecture: Architecture) -> dict[str, Any]:
    """One row of the table: year, paper, parameters (as built, and without auxiliary heads), multiply-adds and
    FLOPs, and the published weights' accuracy and file size where torchvision has them."""
    model = build(architecture.name)
    parameters = sum(p.numel() for p in model.parameters())
    auxiliary = sum(p.numel() for head in AUXILIARY.get(architecture.name, ()) for p in getattr(model, head)
                    .parameters())
    flops = count_flops(model, architecture.input_size, 1 if architecture.name == "lenet5" else 3)
    row: dict[str, Any] = {"name": architecture.name, "title": architecture.title, "year": architecture.year,
                           "paper": architecture.paper, "parameters": parameters,
                           "parameters_without_auxiliary": parameters - auxiliary, "flops": flops,
                           "multiply_adds": flops // 2, "input_size": architecture.input_size,
                           "paper_parameters": architecture.paper_parameters}
    row.update(published(architecture.name))
    return row


def published(name: str) -> dict[str, Any]:
    """torchvision's metadata of NAME's default ImageNet weights (nothing downloaded): accuracy, file size (MiB),
    its own parameter count and its '_ops' (multiply-adds, in billions)."""
    if name in ("lenet5", LITE):
        return {}
    from torchvision.models import get_model_weights

    meta = get_model_weights(name).DEFAULT.meta
    metrics = meta["_metrics"]["ImageNet-1K"]
    return {"top1": metrics["acc@1"], "top5": metrics["acc@5"], "file_mib": meta["_file_size"],
            "torchvision_parameters": meta["num_params"], "torchvision_ops": meta["_ops"]}


def table(names: list[str] | None = None) -> list[dict[str, Any]]:
    return [measure(find(name)) for name in names] if names else [measure(a) for a in ARCHITECTURES]
