"""Reusable model builders shared by the projects."""

from mlprojects.nn.mlp import MLP, Rescale

__all__ = ["MLP", "Rescale"]
