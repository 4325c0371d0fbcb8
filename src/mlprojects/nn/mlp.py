"""A multi-layer perceptron: in -> widths... -> out, each hidden layer Linear, activation, dropout."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLP(nn.Sequential):
    """Outputs logits: the softmax belongs to the loss (training) and the predictor (serving)."""

    def __init__(self, in_features: int, hidden_widths: tuple[int, ...], out_features: int,
                 activation: str = "relu", dropout: float = 0.0, init: str = "torch"):
        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_widths:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)
        if init == "keras":  # Keras' Dense default: Glorot-uniform weights, zero biases
            for layer in self:
                if isinstance(layer, nn.Linear):
                    nn.init.xavier_uniform_(layer.weight)
                    nn.init.zeros_(layer.bias)
        elif init != "torch":
            raise ValueError(f"init={init!r}: expected keras or torch")


class Rescale(nn.Module):
    """``y = x * scale + mean``: lets a network predict a standardised target while its outputs,
    its loss and its saved weights stay in the target's own unit. ``adapt`` sets it from the
    training targets (Keras' Normalization(invert=True) does the same)."""

    def __init__(self, features: int = 1):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))

    def adapt(self, targets: torch.Tensor) -> None:
        targets = targets.detach().reshape(len(targets), -1).double()
        self.mean.copy_(targets.mean(0))
        self.scale.copy_(targets.std(0).clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.mean
