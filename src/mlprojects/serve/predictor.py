"""A trained digit classifier behind ``preprocess -> forward -> postprocess``, returning plain data.

The model comes from a run directory (its ``config.yaml`` and ``model.safetensors``); without one,
the newest completed ``mnist-mlp`` or ``mnist-cnn`` run under ``runs/`` is used, and if there is
none, ``mnist-mlp`` is trained on the embedded data first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlprojects import config as configuration
from mlprojects import registry
from mlprojects.errors import UserError
from mlprojects.runner import CONFIG, METRICS, WEIGHTS, read_run_config
from mlprojects.serve.preprocess import to_mnist

DIGIT_PROJECTS = ("mnist-mlp", "mnist-cnn")


@dataclass
class Prediction:
    top: list[tuple[str, float]]  # (label, probability), most likely first
    probabilities: dict[str, float]
    model_view: np.ndarray  # the 28x28 uint8 digit the model saw


class DigitPredictor:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        settings = read_run_config(self.run_dir)
        self.project_name = settings.pop("project", None)
        if self.project_name not in DIGIT_PROJECTS:
            raise UserError(f"{run_dir} is a {self.project_name} run; the digit app serves {', '.join(DIGIT_PROJECTS)} runs")
        if not (self.run_dir / WEIGHTS).is_file():
            raise UserError(f"{run_dir} has no {WEIGHTS}: the run did not finish; resume it or choose another")
        self.project = registry.get(self.project_name)
        self.cfg = configuration.resolve(self.project.config_class, settings)
        self.class_names = self.project.class_names(self.cfg)
        self.model = self.project.build_model(self.cfg)
        from mlprojects.engine import checkpoint

        checkpoint.load_weights(self.run_dir / WEIGHTS, self.model)
        self.model.eval()
        metrics_path = self.run_dir / METRICS
        self.metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}

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
    """The newest completed run of a digit project under ``root``."""
    candidates = []
    for project in DIGIT_PROJECTS:
        for metrics in (root / project).glob(f"*/{METRICS}"):
            try:
                if json.loads(metrics.read_text()).get("completed") and (metrics.parent / CONFIG).is_file():
                    candidates.append(metrics)
            except (OSError, ValueError):
                continue
    return max(candidates, key=lambda p: p.stat().st_mtime).parent if candidates else None


def load_or_train(model_dir: str | Path | None = None, root: Path = Path("runs")) -> DigitPredictor:
    if model_dir is not None:
        return DigitPredictor(Path(model_dir))
    found = newest_run(root)
    if found is None:
        from mlprojects.runner import default_out, run

        print("no trained digit model under runs/: training mnist-mlp on the embedded data first", flush=True)
        found = run("mnist-mlp", {}, out=default_out("mnist-mlp", root))
    return DigitPredictor(found)
