"""The training engine. It knows tensors, models and losses, and nothing about any project."""

from mlprojects.engine.data import TensorData
from mlprojects.engine.trainer import Trainer

__all__ = ["TensorData", "Trainer"]
