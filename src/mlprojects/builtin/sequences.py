"""energy-lstm: forecasting one client's electricity load with an LSTM (the book's chapter 7).

The series: 140,256 readings every 15 minutes (2011-2014) of one client of the UCI
ElectricityLoadDiagrams set, in kW. The book took its first ~14,000 readings, windows of 5 readings,
one LSTM layer of 5 units, Adagrad 0.03, batch 100, values scaled as (x - 147) / 339, and reported
a test MSE of 0.001139 in those scaled units. Here the whole series is split in time (70% train,
15% validation, 15% test, never shuffled across the cuts); ``--set preset=book`` is the book's
model and recipe, and the default sees a whole day (96 readings) with more units and Adam.

Every figure comes with two baselines on the same test targets: persistence (the last reading
seen) and seasonal naive (the reading one day, 96 steps, before the target). A model that cannot
beat them has learnt nothing useful. The book's test set (the end of its first 14,000 readings, in 2011)
had lower, calmer loads than the last 15% of the series used here, so its 0.001139 and our figures are not
on the same readings. ``--set horizon=H`` forecasts H steps (H x 15 minutes) ahead.
``--set data=FILE.csv --set column=NAME`` (and ``unit=``) runs on a user's own series, scaled by its
own training statistics; a malformed file, a missing column or a non-number gets one line naming the
file, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mlprojects import plots
from mlprojects.config import OPTIMIZERS, TrainConfig, setting
from mlprojects.data import tables
from mlprojects.data.preparation import SeriesPrep
from mlprojects.engine import TensorData, Trainer
from mlprojects.engine.trainer import absolute_error_sum
from mlprojects.errors import UserError
from mlprojects.inputs import SeriesInputs, SeriesSettings
from mlprojects.inputs.series import readings
from mlprojects.project import Prepared, Project

DAY = 96  # readings per day at 15 minutes
BOOK_OFFSET, BOOK_FACTOR = 147.0, 339.0


@dataclass
class EnergyConfig(SeriesSettings, TrainConfig):
    preset: Literal["modern", "book"] = setting("modern", "modern: a day-long window, 64 units, Adam; book: the "
                                                          "book's 5-reading window, 5 units, Adagrad 0.03, batch 100")
    column: str = setting("Load", "the column of the series (the embedded elec_load.csv's is Load)")
    unit: str = setting("kW", "the unit of the series, for the report")
    window: int = setting(DAY, "readings the model sees before each forecast", gt=0)
    horizon: int = setting(1, "forecast this many readings after the window's last one", gt=0)
    hidden: int = setting(64, "LSTM units per layer", gt=0)
    layers: int = setting(1, "LSTM layers", gt=0)
    stride: int = setting(1, "use every N-th window for training (1: all)", gt=0)
    residual: bool = setting(True, "forecast the change from the last reading (the book forecasts the value)")
    val_fraction: float = setting(0.15, "the share of the series after the training part used for validation", gt=0,
                                  lt=0.5)
    test_fraction: float = setting(0.15, "the last share of the series, held out for the test", gt=0, lt=0.5)
    scale_offset: float | None = setting(None, "x -> (x - offset) / factor; default: the book's 147 for the "
                                               "embedded series, the training mean for your own")
    scale_factor: float | None = setting(None, "default: the book's 339 for the embedded series, the training "
                                               "maximum of |x - offset| for your own", gt=0)
    epochs: int = setting(8, "passes over the training windows")
    batch_size: int = setting(256, "windows per step")
    optimizer: Literal[OPTIMIZERS] = setting("adam", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.003, "learning rate")
    eval_batch_size: int = setting(4096, "batch size for evaluation and prediction")

    PRESETS = {"book": {"window": 5, "hidden": 5, "layers": 1, "residual": False, "optimizer": "adagrad", "lr": 0.03,
                        "batch_size": 100, "epochs": 8}}


def chronological_split(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Indices where validation and test begin: train [0, a), validation [a, b), test [b, n)."""
    b = n - int(round(n * test_fraction))
    a = b - int(round(n * val_fraction))
    return a, b


def windows(scaled: torch.Tensor, start: int, stop: int, window: int, horizon: int,
            stride: int = 1) -> TensorData:
    """(window readings, the reading ``horizon`` after them) for every target index in [start, stop).

    A window may reach back before ``start`` (into earlier data, as a forecaster would), but no
    target and no input ever comes from after the target."""
    first = max(start, window + horizon - 1)
    targets = torch.arange(first, stop, stride)
    offsets = torch.arange(-window - horizon + 1, -horizon + 1)
    inputs = scaled[targets[:, None] + offsets[None, :]]
    return TensorData(inputs.unsqueeze(-1).float(), scaled[targets].unsqueeze(-1).float())


def baselines(series: np.ndarray, targets: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Forecasts of ``series[targets]`` made ``horizon`` readings ahead: persistence (the last
    reading seen) and seasonal naive (the reading one day before the target)."""
    if horizon > DAY:
        raise UserError(f"horizon={horizon}: the seasonal baseline needs a horizon of at most one day ({DAY})")
    return {"persistence": series[targets - horizon], "seasonal naive": series[targets - DAY]}


class LSTMForecaster(nn.Module):
    """LSTM over the window, then a linear layer from the last hidden state to the forecast.

    ``residual``: the layer forecasts the change from the window's last reading, so an untrained
    model starts as the persistence forecast and learns corrections to it (the book's model
    forecasts the value itself)."""

    def __init__(self, hidden: int = 64, layers: int = 1, residual: bool = True):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.residual = residual
        if residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        forecast = self.head(output[:, -1])
        return forecast + x[:, -1] if self.residual else forecast


class EnergyLSTM(Project):
    inputs = SeriesInputs()
    config_class = EnergyConfig
    smoke_settings = {"epochs": 2, "hidden": 8, "window": 8, "stride": 50}

    def dataset(self, cfg: EnergyConfig) -> Prepared:
        return self.series_data(cfg, readings(tables.load("elec-load"), cfg.column, "elec_load.csv"),
                                (BOOK_OFFSET, BOOK_FACTOR))

    def series_data(self, cfg: EnergyConfig, series: np.ndarray, scale: tuple[float, float] | None = None) -> Prepared:
        a, b = chronological_split(len(series), cfg.val_fraction, cfg.test_fraction)
        need = cfg.window + max(cfg.horizon, DAY) + 10
        if a < need or len(series) - b < 10:
            raise UserError(f"the series has {len(series)} readings: too short for window={cfg.window} and "
                            f"horizon={cfg.horizon} with these splits")
        offset, factor = scale or (float(series[:a].mean()), None)  # the book's, or the series' own statistics
        offset = offset if cfg.scale_offset is None else cfg.scale_offset
        factor = cfg.scale_factor or factor or float(np.abs(series[:a] - offset).max()) or 1.0
        scaled = torch.from_numpy((series - offset) / factor)
        train = windows(scaled, 0, a, cfg.window, cfg.horizon, cfg.stride)
        test = windows(scaled, b, len(series), cfg.window, cfg.horizon)
        test_targets = np.arange(max(b, cfg.window + cfg.horizon - 1), len(series))
        first_input = test_targets[0] - cfg.window - cfg.horizon + 1
        raw_test = pd.DataFrame({cfg.column: series[first_input:]})  # the test targets and the windows before them
        return Prepared(train, test, {"series": series, "offset": offset, "factor": factor, "splits": (a, b),
                                      "val": windows(scaled, a, b, cfg.window, cfg.horizon),
                                      "test_targets": test_targets},
                        SeriesPrep(cfg.column, offset, factor, cfg.window, cfg.horizon), raw_test)

    def validation(self, cfg: EnergyConfig, data: Prepared) -> TensorData:
        return data.meta["val"]

    def build_model(self, cfg: EnergyConfig, preparation: SeriesPrep) -> LSTMForecaster:
        return LSTMForecaster(cfg.hidden, cfg.layers, cfg.residual)

    def loss_fn(self, cfg: EnergyConfig):
        return F.mse_loss

    def metrics(self, cfg: EnergyConfig):
        return {"mae": absolute_error_sum}

    def report(self, run_dir: Path, cfg: EnergyConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        series, offset, factor = data.meta["series"], data.meta["offset"], data.meta["factor"]
        targets = data.meta["test_targets"]
        forecast = trainer.predict(data.test.inputs)[:, 0].numpy().astype(np.float64) * factor + offset
        actual = series[targets]
        forecasts = {"LSTM": forecast, **baselines(series, targets, cfg.horizon)}
        figures: dict[str, Any] = {"scale_offset": offset, "scale_factor": factor, "test_readings": int(len(targets)),
                                   "unit": cfg.unit}
        for label, predicted in forecasts.items():
            key = label.replace(" ", "_")
            figures[f"{key}_test_mse_scaled"] = float(np.mean(((predicted - actual) / factor) ** 2))
            figures[f"{key}_test_mae"] = float(np.mean(np.abs(predicted - actual)))
        figures["beats_both_baselines"] = bool(
            figures["LSTM_test_mse_scaled"] < min(figures["persistence_test_mse_scaled"],
                                                  figures["seasonal_naive_test_mse_scaled"]))
        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png", metrics=("loss", "mae"))
        week = slice(0, min(7 * DAY, len(targets)))
        plots.forecast_week(np.arange(len(targets))[week] / DAY, actual[week],
                            {k: v[week] for k, v in forecasts.items()}, run_dir / "plots" / "forecast_week.png",
                            cfg.unit, f"first test week, {cfg.horizon * 15} min ahead: LSTM MAE "
                                      f"{figures['LSTM_test_mae']:.2f} {cfg.unit}")
        return figures


ENERGY_LSTM = EnergyLSTM()
