"""Reusable model builders shared by the projects."""

from mlprojects.nn.mlp import MLP

__all__ = ["MLP"]
