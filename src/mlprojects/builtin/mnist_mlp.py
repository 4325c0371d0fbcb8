"""mnist-mlp: the Keras notebook's MNIST multi-layer perceptron.

Source: the Keras MNIST notebook. Its final model is 784 -> 4 x 256 ReLU -> 10 softmax, trained
with categorical cross-entropy and plain SGD (lr 0.087), batch 32, 15 epochs, inputs x / 255;
published figure: test accuracy 0.983 on the full MNIST test set. Every experiment of the
notebook is a setting: loss=mse, optimizer=adam lr=0.001, widths=20,20,20,20 ... 384x4,
batch_size=20|32|64|100, epochs, dropout=0.2, data=mnist|fashion-mnist.

On the embedded data the notebook's model is reproduced exactly (Glorot-uniform initialisation as Keras,
softmax cross-entropy, plain SGD) on an eighth of its training data, which is why it lands near 0.96 rather
than 0.983. Full MNIST needs ``mlprojects data fetch mnist``, a download.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from mlprojects.builtin.image_classifier import ImageClassifier
from mlprojects.config import TrainConfig, setting
from mlprojects.data import images
from mlprojects.data.preparation import ImagePrep
from mlprojects.inputs import ImageSettings
from mlprojects.nn import MLP
from mlprojects.nn.mlp import ACTIVATIONS


@dataclass
class MnistMLPConfig(ImageSettings, TrainConfig):
    widths: tuple[int, ...] = setting((256, 256, 256, 256),
                                      "hidden layer widths, e.g. 256,256 or 128x4 or 128-64-32-16", gt=0,
                                      min_length=1)
    activation: Literal[tuple(ACTIVATIONS)] = setting("relu", "hidden activation: " + ", ".join(ACTIVATIONS))
    loss: Literal["cce", "mse"] = setting("cce", "cce: categorical cross-entropy; mse: squared error of the softmax "
                                                 "vs one-hot")
    dropout: float = setting(0.0, "dropout after each hidden layer", ge=0, lt=1)
    init: Literal["keras", "torch"] = setting("keras", "weight initialisation: keras (Glorot uniform, as the "
                                                       "notebook) or torch")
    epochs: int = setting(15, "passes over the training data")
    batch_size: int = setting(32, "global batch size")
    lr: float = setting(0.087, "learning rate")


def softmax_mse(outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Keras' ``mean_squared_error`` on softmax outputs and one-hot labels: mean over classes."""
    per_sample = (outputs.softmax(1) - F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)).pow(2).mean(1)
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


class MnistMLP(ImageClassifier):
    config_class = MnistMLPConfig
    smoke_settings = {"epochs": 2, "widths": "64,64"}

    def build_model(self, cfg: MnistMLPConfig, preparation: ImagePrep) -> MLP:
        return MLP(28 * 28, cfg.widths, len(preparation.classes), cfg.activation, cfg.dropout, cfg.init)

    def images_to_inputs(self, cfg: MnistMLPConfig, pixels: np.ndarray) -> torch.Tensor:
        """uint8 (N, 28, 28) MNIST-form pixels -> what this model was trained on."""
        return images.to_model_input(pixels, flatten=True)

    def loss_fn(self, cfg: MnistMLPConfig):
        return F.cross_entropy if cfg.loss == "cce" else softmax_mse

    def image_preparation(self, cfg: MnistMLPConfig) -> dict:
        return {**super().image_preparation(cfg), "input_shape": "N,784 (rows of pixels, flattened)"}


PROJECT = MnistMLP()
