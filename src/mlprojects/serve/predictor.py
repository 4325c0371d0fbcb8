"""A trained digit classifier behind ``preprocess -> forward -> postprocess``, returning plain data.

The model comes from a run directory of a project whose registry entry says it serves ``digits``;
without one, the newest completed run of such a project under ``runs/`` is used, and if there is
none, ``mnist-mlp`` is trained on the embedded data first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlprojects import registry, rundir
from mlprojects.data.digits import to_mnist

APP = "digits"
FIRST_PROJECT = "mnist-mlp"  # trained when there is no run to serve


def digit_projects() -> tuple[str, ...]:
    return tuple(entry.name for entry in registry.serving(APP))


@dataclass
class Prediction:
    top: list[tuple[str, float]]  # (label, probability), most likely first
    probabilities: dict[str, float]
    model_view: np.ndarray  # the 28x28 uint8 digit the model saw


class DigitPredictor:
    def __init__(self, run_dir: Path):
        run = rundir.load(run_dir, expect=digit_projects())
        self.run_dir, self.project, self.cfg, self.metrics, self.model = run.path, run.project, run.cfg, run.metrics, \
            run.model
        self.project_name = run.name
        self.class_names = run.class_names()

    def describe(self) -> str:
        accuracy = self.metrics.get("test_accuracy")
        figure = f", test accuracy {accuracy:.4f} on {self.cfg.data}" if accuracy is not None else ""
        return f"{self.project_name} from {self.run_dir}{figure}"

    def preprocess(self, image: Any) -> np.ndarray:
        return to_mnist(image)

    @torch.inference_mode()
    def forward(self, digits: np.ndarray) -> torch.Tensor:
        return self.model(self.project.images_to_inputs(self.cfg, digits)).float().softmax(1)

    def postprocess(self, probabilities: torch.Tensor, digit: np.ndarray, k: int = 3) -> Prediction:
        values, indices = probabilities.topk(min(k, probabilities.shape[0]))
        top = [(self.class_names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]
        return Prediction(top, {n: float(p) for n, p in zip(self.class_names, probabilities.tolist())}, digit)

    def __call__(self, image: Any, k: int = 3) -> Prediction:
        digit = self.preprocess(image)
        return self.postprocess(self.forward(digit[None])[0], digit, k)


def newest_run(root: Path = Path("runs")) -> Path | None:
    """The newest completed run under ROOT of a project the digit app serves."""
    return rundir.newest(digit_projects(), root)


def load_or_train(model_dir: str | Path | None = None, root: Path = Path("runs")) -> DigitPredictor:
    if model_dir is not None:
        return DigitPredictor(Path(model_dir))
    found = newest_run(root)
    if found is None:
        from mlprojects.runner import run

        print(f"no trained digit model under {root}/: training {FIRST_PROJECT} on the embedded data first", flush=True)
        found = run(FIRST_PROJECT, {}, out=rundir.default_out(FIRST_PROJECT, root))
    return DigitPredictor(found)
