"""What a trained project declares; the runner (``mlprojects.runner``) does the rest.

A project gives: its config dataclass (defaults = the published configuration), its data as
tensors, its model, its loss and metrics, and the plots and extra figures of its report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlprojects.config import ProjectConfig, TrainConfig, non_negative, positive, setting
from mlprojects.engine import TensorData, Trainer
from mlprojects.engine.trainer import LossFn, MetricFn, correct_count


@dataclass
class Prepared:
    train: TensorData
    test: TensorData
    meta: dict[str, Any] = field(default_factory=dict)


class Project:
    name: str = ""
    config_class: type[TrainConfig] = TrainConfig
    #: settings for a run of a few seconds, used by the contract tests over every project
    smoke_settings: dict[str, Any] = {"epochs": 2}

    def prepare(self, cfg: TrainConfig) -> Prepared:
        raise NotImplementedError

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        """The model, from the settings alone (serving builds it without loading any data)."""
        raise NotImplementedError

    def validation(self, cfg: TrainConfig, data: Prepared) -> TensorData | None:
        """A project's own validation data (a time series holds out the period after training);
        None: the runner holds out a random ``val_fraction`` of the training data, if set."""
        return None

    def adapt(self, model: nn.Module, train: TensorData) -> None:
        """Set what the model takes from the training data before training (like Keras' ``adapt``),
        such as an output scale; it is saved with the weights. Most projects have nothing to set."""

    def class_names(self, cfg: TrainConfig) -> list[str]:
        raise NotImplementedError(f"{self.name} is not a classifier")

    def images_to_inputs(self, cfg: TrainConfig, pixels: Any) -> torch.Tensor:
        """uint8 (N, 28, 28) digits in MNIST's form -> model input; image classifiers define it."""
        raise NotImplementedError(f"{self.name} does not take 28x28 images")

    def loss_fn(self, cfg: TrainConfig) -> LossFn:
        return nn.functional.cross_entropy

    def metrics(self, cfg: TrainConfig) -> dict[str, MetricFn]:
        return {"accuracy": correct_count}

    def train_transform(self, cfg: TrainConfig):
        """A function applied to every training batch on the device (data augmentation), or None."""
        return None

    def report(self, run_dir: Path, cfg: TrainConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        """Write plots under ``run_dir/plots`` and return extra figures for metrics.json."""
        return {}

    def example_inputs(self, data: Prepared, count: int = 8) -> torch.Tensor:
        return data.test.inputs[:count]


@dataclass
class RingsConfig(ProjectConfig):
    """Settings of the projects on generated concentric rings (scikit-learn's make_circles)."""

    n_samples: int = setting(200, "points to generate")
    noise: float = setting(0.01, "standard deviation of the noise added to the rings")
    factor: float = setting(0.4, "inner ring radius / outer ring radius")

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "n_samples")
        non_negative(self, "noise")
        if not 0 < self.factor < 1:
            raise ValueError(f"factor={self.factor}: must be in (0, 1)")


@dataclass
class Table:
    """Numeric arrays of a classic-model project; ``y_*`` is None for clustering."""

    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    meta: dict[str, Any] = field(default_factory=dict)


class EstimatorProject:
    """A project that fits one scikit-learn-style estimator (``mlprojects.estimators``).

    The runner calls ``prepare`` -> ``build_estimator`` -> ``fit`` -> ``evaluate`` -> ``report``; the
    fitted estimator is saved as ``model.safetensors``. There are no epochs to resume and no
    processes to spread: a fit takes seconds.
    """

    name: str = ""
    config_class: type[ProjectConfig] = ProjectConfig
    smoke_settings: dict[str, Any] = {}

    def prepare(self, cfg: ProjectConfig) -> Table:
        raise NotImplementedError

    def build_estimator(self, cfg: ProjectConfig, device: str) -> Any:
        raise NotImplementedError

    def fit(self, cfg: ProjectConfig, estimator: Any, data: Table) -> Any:
        return estimator.fit(data.X_train, data.y_train)

    def evaluate(self, cfg: ProjectConfig, estimator: Any, data: Table) -> dict[str, Any]:
        """Test figures (keys without the ``test_`` prefix, which the runner adds)."""
        raise NotImplementedError

    def report(self, run_dir: Path, cfg: ProjectConfig, estimator: Any, data: Table) -> dict[str, Any]:
        """Write plots under ``run_dir/plots`` and return extra figures for metrics.json."""
        return {}
