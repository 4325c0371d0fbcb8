"""A project whose kind of input the package does not have: a pair of numbers, written as JSON (``[1.5, -2]``).

The new kind is one class (``PairInputs``); with it, the project runs, predicts, serves and exports through
the same commands as the built-in ones, and no module of the package learns its name. ``tests/test_inputs.py``
loads it as a user loads a plug-in (``MLPROJECTS_PROJECTS=pair_sum``). The model learns a + b.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mlprojects.config import TrainConfig, setting
from mlprojects.engine import TensorData
from mlprojects.errors import UserError
from mlprojects.inputs import Inputs
from mlprojects.project import Prepared, Project
from mlprojects.registry import Entry, register


class PairInputs(Inputs):
    """Pairs of numbers: JSON texts (``"[1.5, -2]"``) or lists; out comes the model's value for each."""

    kind = "pair"
    tensor_name = "pair"

    @staticmethod
    def parse(item: Any) -> list[float]:
        try:
            value = json.loads(item) if isinstance(item, str) else item
        except json.JSONDecodeError:
            value = None
        numbers = isinstance(value, list) and len(value) == 2 and all(
            isinstance(number, (int, float)) and not isinstance(number, bool) for number in value)
        if not numbers:
            raise UserError(f"{item!r}: give a pair of numbers in JSON, such as [1.5, -2]")
        return [float(number) for number in value]

    def predict(self, run, inputs: Any, *, forward, top_k: int = 3, backtest: bool = False,
                strict: bool = False) -> pd.DataFrame:
        pairs = [self.parse(item) for item in ([inputs] if isinstance(inputs, str) else inputs)]
        values = forward(np.array(pairs, dtype=np.float32))[:, 0]
        return pd.DataFrame({"pair": [json.dumps(pair) for pair in pairs], "predicted_sum": values.astype(float)})

    def random_inputs(self, run, count: int):
        return torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (count, 2)).astype(np.float32))

    def page(self, run, apply) -> None:
        import gradio as gr

        first, second = gr.Number(label="a", elem_id="a"), gr.Number(label="b", elem_id="b")
        button = gr.Button("Predict", elem_id="predict")
        answer = gr.Number(label="a + b, as the model learned it", elem_id="sum")
        button.click(lambda a, b: float(apply([[a, b]])["predicted_sum"].iloc[0]), [first, second], answer,
                     api_name="predict")


@dataclass
class PairConfig(TrainConfig):
    pairs: int = setting(256, "pairs drawn on [-1, 1]^2; a quarter are the test set")
    epochs: int = setting(40, "passes over the training data")
    batch_size: int = setting(16, "samples per step")
    lr: float = setting(0.1, "learning rate")


class PairSum(Project):
    config_class = PairConfig
    inputs = PairInputs()
    smoke_settings = {"epochs": 5}

    def prepare(self, cfg: PairConfig) -> Prepared:
        pairs = torch.rand(cfg.pairs, 2, generator=torch.Generator().manual_seed(cfg.seed)) * 2 - 1
        sums = pairs.sum(1, keepdim=True)
        cut = cfg.pairs * 3 // 4
        return Prepared(TensorData(pairs[:cut], sums[:cut]), TensorData(pairs[cut:], sums[cut:]))

    def build_model(self, cfg: PairConfig, preparation=None) -> torch.nn.Module:
        return torch.nn.Linear(2, 1)

    def loss_fn(self, cfg: PairConfig):
        return F.mse_loss

    def metrics(self, cfg: PairConfig):
        return {}


PAIR_SUM = PairSum()

register(Entry(
    name="pair-sum", project=f"{__name__}:PAIR_SUM", source="the test suite: a + b from a pair of numbers",
    dataset="generated: 256 pairs", published="", summary="a project with a kind of input of its own",
    goals={"test_loss": "min"},
))
