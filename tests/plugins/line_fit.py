"""A project that lives outside the package: one module and one registry entry, nothing else.

``tests/test_registry.py`` puts this folder on PYTHONPATH and names the module in MLPROJECTS_PROJECTS,
as a user would for a project of their own, then lists, runs, sweeps and reproduces it. The project
fits a straight line y = 3x - 1 (plus noise) with one linear unit trained on the engine; its "published"
figure is the true slope.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mlprojects.config import TrainConfig, setting
from mlprojects.engine import TensorData, Trainer
from mlprojects.project import Prepared, Project
from mlprojects.registry import Entry, Published, register


@dataclass
class LineConfig(TrainConfig):
    points: int = setting(96, "points drawn on [-1, 1]; a quarter are the test set", gt=0)
    noise: float = setting(0.1, "standard deviation of the noise on y")
    epochs: int = setting(30, "passes over the training data")
    batch_size: int = setting(16, "samples per step")
    lr: float = setting(0.2, "learning rate")


def absolute_error_sum(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs - targets).abs().sum()


class LineFit(Project):
    config_class = LineConfig
    smoke_settings = {"epochs": 3}

    def prepare(self, cfg: LineConfig) -> Prepared:
        generator = torch.Generator().manual_seed(cfg.seed)
        x = torch.rand(cfg.points, 1, generator=generator) * 2 - 1
        y = 3 * x - 1 + cfg.noise * torch.randn(cfg.points, 1, generator=generator)
        cut = cfg.points * 3 // 4
        return Prepared(TensorData(x[:cut], y[:cut]), TensorData(x[cut:], y[cut:]))

    def build_model(self, cfg: LineConfig, preparation=None) -> torch.nn.Module:
        return torch.nn.Linear(1, 1)

    def loss_fn(self, cfg: LineConfig):
        return F.mse_loss

    def metrics(self, cfg: LineConfig):
        return {"mae": absolute_error_sum}

    def report(self, run_dir: Path, cfg: LineConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        from mlprojects import plots

        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png", metrics=("loss", "mae"))
        layer = trainer.model
        return {"slope": float(layer.weight.item()), "intercept": float(layer.bias.item())}


LINE_FIT = LineFit()

register(Entry(
    name="line-fit", project=f"{__name__}:LINE_FIT",
    source="the test suite: a straight line, y = 3x - 1", dataset="generated: 96 points with noise 0.1",
    published="slope 3 (the true one)", summary="a project from outside the package",
    goals={"test_mae": "min"},
    reproduce=(Published("the line itself", "slope 3", "slope", 3.0, seeds=2, also=("test_mae",),
                         note="a made-up figure for the test"),),
))
