"""Convolutional networks: the book's chapter 6 (Bonnin).

mnist-cnn: the book's LeNet-style network, conv 5x5x32 -> max pool -> conv 5x5x64 -> max pool ->
dense 1024 -> dropout 0.5 -> 10, trained with Adam at batch 50. The book drew its initial weights
from N(0, 1); here they start as Keras' Glorot-uniform. On the embedded 10k digits by default;
``--set data=mnist`` or ``data=fashion-mnist`` for the full sets (downloads). Its runs serve in the digit
app (``mlprojects serve digits``: the newest ``mnist-mlp`` or ``mnist-cnn`` run is found by itself).

cifar10-cnn: CIFAR-10 from its published archive. The default (``preset=modern``) is a small
residual network with batch norm (ResNet-9), random crops and flips, SGD with momentum and a cosine
schedule. ``--set preset=book`` is the book's network and recipe (the tflearn CIFAR-10 example:
two conv blocks, dense 512, dropout, Adam 0.001, batch 96, flips; the book's random rotations are
left out). The book trained on the test batch and reported its accuracy on that same batch, which
measures memory rather than generalisation: here the model trains on the five training batches and
is scored on the test batch only.

The archive (170 MB) is checked against its sha256 before any byte of it is parsed, and its pickles are
read by an unpickler that builds arrays, lists and strings and refuses anything else, so a tampered file
can never run code. On a 2-core CPU an epoch of ResNet-9 takes about 10 minutes (83 images/s) and one of
the book's network about 35 seconds, so the default is meant for a GPU (``--device cuda``). The tests
build archives in CIFAR's exact layout (Python 2 pickles, as the published files are) and check the
reader, its refusals, the checksum gate and a short training run on them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from mlprojects.builtin.image_classifier import ImageClassifier
from mlprojects.config import OPTIMIZERS, SCHEDULES, TrainConfig, setting
from mlprojects.data import images
from mlprojects.data.preparation import ImagePrep
from mlprojects.engine import Trainer
from mlprojects.inputs import ImageInputs, ImageSettings
from mlprojects.nn.convnets import BookCifarNet, LeNet, ResNet9
from mlprojects.project import Prepared

# --- mnist-cnn ---------------------------------------------------------------------------------

@dataclass
class MnistCNNConfig(ImageSettings, TrainConfig):
    channels: tuple[int, ...] = setting((32, 64),
                                        "output channels of each 5x5 convolution (each followed by a 2x2 pool)",
                                        gt=0, min_length=1, max_length=4)
    dense: int = setting(1024, "units of the dense layer", gt=0)
    dropout: float = setting(0.5, "dropout before the output layer", ge=0, lt=1)
    pool: Literal["max", "avg"] = setting("max", "pooling: max (the book's text) or avg")
    channels_last: bool = setting(True, "keep activations in channels-last memory format (faster: oneDNN's "
                                        "native layout on CPUs, tensor cores' on GPUs)")
    epochs: int = setting(10, "passes over the training data")
    batch_size: int = setting(50, "global batch size")
    optimizer: Literal[OPTIMIZERS] = setting("adam", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.001, "learning rate")


class MnistCNN(ImageClassifier):
    """The MLP project's data, plots and serving (ImageClassifier's), with LeNet in place of the MLP."""

    config_class = MnistCNNConfig
    smoke_settings = {"epochs": 2, "channels": "4,8", "dense": 32}

    def build_model(self, cfg: MnistCNNConfig, preparation: ImagePrep) -> LeNet:
        return LeNet(1, 28, len(preparation.classes), cfg.channels, cfg.dense, cfg.dropout, pool=cfg.pool)

    def images_to_inputs(self, cfg: MnistCNNConfig, pixels: np.ndarray) -> torch.Tensor:
        return images.to_model_input(pixels, flatten=False)

    def image_preparation(self, cfg: MnistCNNConfig) -> dict:
        return {**super().image_preparation(cfg), "input_shape": "N,1,28,28"}

    def channels_last(self, cfg: MnistCNNConfig) -> bool:
        return cfg.channels_last


# --- cifar10-cnn -------------------------------------------------------------------------------

# per-channel mean and standard deviation of CIFAR-10's 50,000 training images (pixels / 255)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def cifar_inputs(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, 32, 32, 3) -> float32 (N, 3, 32, 32), standardised per channel with the training set's statistics."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std).contiguous()


@dataclass
class Cifar10Config(ImageSettings, TrainConfig):
    data: str = setting("cifar10", "dataset: cifar10, or folder:PATH (your images, one sub-folder per class; "
                                   "brought to 32x32 RGB)")
    preset: Literal["modern", "book"] = setting("modern", "modern: ResNet-9, batch norm, crops and flips, SGD with "
                                                          "momentum and a cosine schedule; book: the book's network "
                                                          "and recipe")
    net: Literal["resnet9", "book"] = setting("resnet9", "resnet9 (batch norm, residual blocks) or book (2 conv "
                                                         "blocks, dense 512)")
    width: int = setting(64, "resnet9: channels of its first layer (64 is the published network)", gt=0)
    augment: Literal["crop-flip", "flip", "none"] = setting("crop-flip", "training augmentation: random 4-pixel crops "
                                                                         "and mirror flips, flips only, or none")
    train_limit: int = setting(0, "train on the first N of CIFAR-10's training images only (0: all 50,000)", ge=0)
    channels_last: bool = setting(True, "keep activations in channels-last memory format (faster: oneDNN's "
                                        "native layout on CPUs, tensor cores' on GPUs)")
    epochs: int = setting(30, "passes over the training data")
    batch_size: int = setting(128, "global batch size")
    optimizer: Literal[OPTIMIZERS] = setting("momentum", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.05, "learning rate (the peak of the schedule)")
    weight_decay: float = setting(5e-4, "L2 penalty added by the optimizer")
    lr_schedule: Literal[SCHEDULES] = setting("cosine", "per-epoch schedule: " + ", ".join(SCHEDULES))
    eval_batch_size: int = setting(500, "batch size for evaluation and prediction")

    DATASETS = ("cifar10",)
    PRESETS = {"book": {"net": "book", "augment": "flip", "optimizer": "adam", "lr": 0.001, "batch_size": 96,
                        "epochs": 50, "weight_decay": 0.0, "lr_schedule": "constant"}}


class Cifar10CNN(ImageClassifier):
    config_class = Cifar10Config
    inputs = ImageInputs(pixel_shape=(32, 32, 3))
    smoke_settings = {"epochs": 2, "width": 4, "train_limit": 200, "batch_size": 50, "lr": 0.02}

    def channels_last(self, cfg: Cifar10Config) -> bool:
        return cfg.channels_last

    def dataset(self, cfg: Cifar10Config) -> Prepared:
        """CIFAR-10, its training images cut to train_limit."""
        from mlprojects.data import cifar

        splits = cifar.load()
        if cfg.train_limit:
            splits = replace(splits, train_images=splits.train_images[:cfg.train_limit],
                             train_labels=splits.train_labels[:cfg.train_limit])
        return self.inputs.prepared(self, cfg, splits)

    def build_model(self, cfg: Cifar10Config, preparation: ImagePrep) -> nn.Module:
        classes = len(preparation.classes)
        return ResNet9(classes, cfg.width) if cfg.net == "resnet9" else BookCifarNet(classes)

    def images_to_inputs(self, cfg: Cifar10Config, pixels: np.ndarray) -> torch.Tensor:
        return cifar_inputs(pixels)

    def image_preparation(self, cfg: Cifar10Config) -> dict:
        return {"pixels": "uint8 32x32 RGB", "divide_by": 255, "minus_mean": list(CIFAR_MEAN),
                "over_std": list(CIFAR_STD), "input_shape": "N,3,32,32"}

    def train_transform(self, cfg: Cifar10Config):
        from mlprojects.data.augment import random_crop_flip

        if cfg.augment == "none":
            return None
        pad = 4 if cfg.augment == "crop-flip" else 0
        return lambda batch: random_crop_flip(batch, pad=pad)

    def report(self, run_dir: Path, cfg: Cifar10Config, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        figures = super().report(run_dir, cfg, trainer, data)
        figures["evaluated_on"] = "the test batch (10,000 images never trained on)"
        return figures


MNIST_CNN = MnistCNN()
CIFAR10_CNN = Cifar10CNN()
