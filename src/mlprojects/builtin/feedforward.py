"""Feed-forward networks on small tables: the book's chapter 5 (Bonnin).

nonlinear-regression: y = 0.4x^2 + 2x + 0.8 + N(0, 0.22^2) at 260 points on [-1, 1], 200 for
training and 60 for testing, a 1 -> 10 sigmoid -> 1 network. The book printed the error of one
test point; here the test MSE is over all 60 (the noise alone gives about 0.22^2 = 0.048).

auto-mpg: fuel efficiency (mpg) of 398 cars from 7 attributes. The file stores the 6 unknown
horsepower values as 0: they are treated as missing and filled with the training split's median.
``origin`` (1 USA, 2 Europe, 3 Japan) is a category, so it is one-hot encoded; the numeric columns
are standardised with training statistics only. The network predicts a standardised target through a
final layer that maps back to mpg (set from the training targets before training and saved with the
weights, as Keras' ``Normalization(invert=True)``), so its loss and its saved model are in mpg. The book's
[10, 5] network reached a test MSE of 15.08; ``--set widths=10,5`` reproduces its shape.

wine: the 3 cultivars of 178 Italian wines from 13 chemical measurements, standardised (the book
dropped Proline, the most informative one, and did not scale the features). An MLP by default;
``--set model=softmax`` is the book's softmax regression. Stratified held-out split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mlprojects import plots
from mlprojects.config import OPTIMIZERS, TrainConfig, setting
from mlprojects.data import tables
from mlprojects.data.preparation import TablePrep, test_frame
from mlprojects.engine import TensorData, Trainer
from mlprojects.engine.trainer import absolute_error_sum
from mlprojects.inputs import TableInputs, TableSettings
from mlprojects.inputs.table import as_tensors
from mlprojects.nn import MLP, Rescale
from mlprojects.nn.mlp import ACTIVATIONS
from mlprojects.project import Prepared, Project


class _RegressionProject(Project):
    """A network predicting one number: squared-error loss, mean absolute error as its metric."""

    inputs = TableInputs("regression")

    def network(self, cfg, inputs: int) -> MLP:
        raise NotImplementedError

    def build_model(self, cfg, preparation: TablePrep) -> torch.nn.Sequential:
        """The network on the prepared columns, then a :class:`Rescale` to the target's unit (set by :meth:`adapt`)."""
        return torch.nn.Sequential(self.network(cfg, preparation.width), Rescale())

    def adapt(self, model: torch.nn.Module, train: TensorData) -> None:
        model[-1].adapt(train.targets)

    def loss_fn(self, cfg):
        return F.mse_loss

    def metrics(self, cfg):
        return {"mae": absolute_error_sum}

    def regression_report(self, run_dir: Path, trainer: Trainer, data: Prepared) -> tuple[np.ndarray, dict[str, Any]]:
        predicted = trainer.predict(data.test.inputs)[:, 0].numpy().astype(np.float64)
        actual = data.test.targets[:, 0].numpy().astype(np.float64)
        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png", metrics=("loss", "mae"))
        error = predicted - actual
        figures = {"test_mse": float(np.mean(error ** 2)), "test_rmse": float(np.sqrt(np.mean(error ** 2))),
                   "test_r2": float(1 - np.sum(error ** 2) / np.sum((actual - actual.mean()) ** 2))}
        return predicted, figures


# --- nonlinear-regression ----------------------------------------------------------------------

@dataclass
class NonlinearConfig(TrainConfig):
    n_points: int = setting(260, "points evenly spaced on [-1, 1]", gt=0)
    n_train: int = setting(200, "of them, drawn at random for training; the rest are the test set")
    noise: float = setting(0.22, "standard deviation of the Gaussian noise")
    hidden: int = setting(10, "hidden units", gt=0)
    activation: Literal[tuple(ACTIVATIONS)] = setting("sigmoid", "hidden activation: " + ", ".join(ACTIVATIONS))
    epochs: int = setting(300, "passes over the training data")
    batch_size: int = setting(20, "samples per step")
    optimizer: Literal[OPTIMIZERS] = setting("adam", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.02, "learning rate")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.n_train < self.n_points:
            raise ValueError(f"n_train={self.n_train}: must be between 1 and n_points - 1 ({self.n_points - 1})")


def quadratic(x: np.ndarray) -> np.ndarray:
    """The book's true function."""
    return 0.4 * x ** 2 + 2 * x + 0.8


class NonlinearRegression(_RegressionProject):
    config_class = NonlinearConfig
    smoke_settings = {"epochs": 5}

    def prepare(self, cfg: NonlinearConfig) -> Prepared:
        rng = np.random.default_rng(cfg.seed)
        x = np.linspace(-1, 1, cfg.n_points)
        y = quadratic(x) + rng.normal(0, cfg.noise, cfg.n_points)
        order = rng.permutation(cfg.n_points)
        train, test = np.sort(order[:cfg.n_train]), np.sort(order[cfg.n_train:])
        prep = TablePrep(["x"], "y")
        return Prepared(as_tensors(x[train, None], y[train], True), as_tensors(x[test, None], y[test], True),
                        preparation=prep, raw_test=test_frame(prep, x[test, None], y[test]))

    def network(self, cfg: NonlinearConfig, inputs: int) -> MLP:
        return MLP(inputs, (cfg.hidden,), 1, cfg.activation)

    def report(self, run_dir: Path, cfg: NonlinearConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        _, figures = self.regression_report(run_dir, trainer, data)
        grid = np.linspace(-1, 1, 201)
        fit = trainer.predict(torch.tensor(grid[:, None], dtype=torch.float32))[:, 0].numpy()
        plots.function_fit(
            {"train": (data.train.inputs[:, 0].numpy(), data.train.targets[:, 0].numpy()),
             "test": (data.test.inputs[:, 0].numpy(), data.test.targets[:, 0].numpy())},
            grid, {"truth: 0.4x² + 2x + 0.8": quadratic(grid), "network": fit}, run_dir / "plots" / "fit.png",
            f"1 -> {cfg.hidden} {cfg.activation} -> 1: test MSE {figures['test_mse']:.4f} "
            f"(noise variance {cfg.noise ** 2:.4f})")
        truth = quadratic(data.test.inputs[:, 0].numpy().astype(np.float64))
        figures["noise_only_test_mse"] = float(np.mean((data.test.targets[:, 0].numpy() - truth) ** 2))
        return figures


# --- auto-mpg ----------------------------------------------------------------------------------

AUTO_MPG_NUMERIC = ("cylinders", "displacement", "horsepower", "weight", "acceleration", "model_year")
ORIGINS = ("usa", "europe", "japan")


@dataclass
class AutoMpgConfig(TableSettings, TrainConfig):
    model: Literal["mlp", "linear"] = setting("mlp", "mlp, or linear (no hidden layer: linear regression)")
    widths: tuple[int, ...] = setting((64, 64), "hidden layer widths; the book's network is 10,5", gt=0,
                                          min_length=1)
    activation: Literal[tuple(ACTIVATIONS)] = setting("relu", "hidden activation: " + ", ".join(ACTIVATIONS))
    test_fraction: float = setting(0.2, "share of the cars held out for the test", gt=0, lt=1)
    epochs: int = setting(100, "passes over the training data")
    batch_size: int = setting(32, "samples per step")
    optimizer: Literal[OPTIMIZERS] = setting("adam", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.001, "learning rate")


def auto_mpg_preparation(train: pd.DataFrame) -> TablePrep:
    """Numeric columns (0 horsepower = unknown, filled with the training median), standardised with
    training statistics, then ``origin`` one-hot (1 usa, 2 europe, 3 japan)."""
    prep = TablePrep(list(AUTO_MPG_NUMERIC), "mpg", one_hot={"origin": [1.0, 2.0, 3.0]},
                     missing_at_most={"horsepower": 0.0})
    return prep.fitted(train)


class AutoMpg(_RegressionProject):
    config_class = AutoMpgConfig
    smoke_settings = {"epochs": 3}

    def dataset(self, cfg: AutoMpgConfig) -> Prepared:
        from sklearn.model_selection import train_test_split

        frame = tables.load("auto-mpg")
        train_rows, test_rows = train_test_split(np.arange(len(frame)), test_size=cfg.test_fraction,
                                                 random_state=cfg.seed)
        train, test = frame.iloc[train_rows], frame.iloc[test_rows]
        prep = auto_mpg_preparation(train)
        meta = {"horsepower_missing": int((frame["horsepower"] <= 0).sum()), "horsepower_fill": prep.fill["horsepower"],
                "feature_mean": prep.mean, "feature_scale": prep.scale,
                "features": list(AUTO_MPG_NUMERIC) + [f"origin_{o}" for o in ORIGINS],
                "names": test["name"].tolist()}
        raw_test = test[["name", *prep.inputs, "mpg"]].reset_index(drop=True)
        return Prepared(as_tensors(prep.transform(train), train["mpg"].to_numpy(dtype=np.float64), True),
                        as_tensors(prep.transform(test), test["mpg"].to_numpy(dtype=np.float64), True), meta,
                        prep, raw_test)

    def network(self, cfg: AutoMpgConfig, inputs: int) -> MLP:
        return MLP(inputs, cfg.widths if cfg.model == "mlp" else (), 1, cfg.activation)

    def report(self, run_dir: Path, cfg: AutoMpgConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        predicted, figures = self.regression_report(run_dir, trainer, data)
        actual = data.test.targets[:, 0].numpy()
        if self.inputs.reads(cfg):
            figures["test_mae"] = float(np.mean(np.abs(predicted - actual)))
            plots.predicted_vs_actual(actual, {cfg.model: predicted}, run_dir / "plots" / "predicted_vs_actual.png",
                                      data.preparation.target, f"test MSE {figures['test_mse']:.4g}")
            return {**figures, **data.meta}
        figures["test_mae_mpg"] = float(np.mean(np.abs(predicted - actual)))
        figures["mean_baseline_test_mse"] = float(np.mean((actual - data.train.targets.mean().item()) ** 2))
        plots.predicted_vs_actual(actual, {f"{cfg.model} {','.join(map(str, cfg.widths)) if cfg.model == 'mlp' else ''}"
                                           .strip(): predicted}, run_dir / "plots" / "predicted_vs_actual.png", "mpg",
                                  f"test MSE {figures['test_mse']:.2f}, MAE {figures['test_mae_mpg']:.2f} mpg "
                                  f"(book: MSE 15.08)")
        figures.update({k: data.meta[k] for k in ("horsepower_missing", "horsepower_fill", "feature_mean",
                                                  "feature_scale", "features")})
        return figures


# --- wine ------------------------------------------------------------------------------------

@dataclass
class WineConfig(TableSettings, TrainConfig):
    model: Literal["mlp", "softmax"] = setting("mlp",
                                               "mlp, or softmax (the book's softmax regression: no hidden layer)")
    widths: tuple[int, ...] = setting((32,), "hidden layer widths of the mlp", gt=0, min_length=1)
    activation: Literal[tuple(ACTIVATIONS)] = setting("relu", "hidden activation: " + ", ".join(ACTIVATIONS))
    dropout: float = setting(0.0, "dropout after each hidden layer", ge=0, lt=1)
    test_fraction: float = setting(0.3, "share of the wines held out for the test (stratified by class)", gt=0, lt=1)
    epochs: int = setting(100, "passes over the training data")
    batch_size: int = setting(16, "samples per step")
    optimizer: Literal[OPTIMIZERS] = setting("adam", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.003, "learning rate")


WINE_CLASSES = ["cultivar 1", "cultivar 2", "cultivar 3"]


class Wine(Project):
    inputs = TableInputs("classification")
    config_class = WineConfig
    smoke_settings = {"epochs": 3}

    def dataset(self, cfg: WineConfig) -> Prepared:
        from mlprojects.builtin.tabular import split_and_standardize

        frame = tables.load("wine")
        labels = frame["Wine"].to_numpy().astype(int)
        if not set(labels) <= {1, 2, 3}:
            raise ValueError(f"wine classes must be 1, 2 or 3; found {sorted(set(labels) - {1, 2, 3})}")
        frame["Wine"] = [WINE_CLASSES[label - 1] for label in labels]
        prep = TablePrep(list(tables.WINE_FEATURES), "Wine", "classification", WINE_CLASSES)
        table = split_and_standardize(frame, prep, labels - 1, cfg.test_fraction, cfg.seed, stratify=True)
        return Prepared(as_tensors(table.X_train, table.y_train, False),
                        as_tensors(table.X_test, table.y_test, False), table.meta, prep, table.raw_test)

    def build_model(self, cfg: WineConfig, preparation: TablePrep) -> MLP:
        return MLP(preparation.width, cfg.widths if cfg.model == "mlp" else (), len(preparation.classes),
                   cfg.activation, cfg.dropout)

    def report(self, run_dir: Path, cfg: WineConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        predicted = trainer.predict(data.test.inputs).argmax(1).numpy()
        true = data.test.targets.numpy()
        classes = data.preparation.classes
        matrix = plots.confusion_counts(predicted, true, len(classes))
        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png")
        plots.confusion_matrix(matrix, classes, run_dir / "plots" / "confusion_matrix.png",
                               f"{self.inputs.data_name(cfg, 'wine')}, {cfg.model}: test accuracy "
                               f"{np.mean(predicted == true):.4f} ({len(true)} rows)")
        return {"test_samples": int(len(true)), "test_errors": int((predicted != true).sum()),
                "confusion_matrix": matrix.tolist(), **data.meta}


NONLINEAR_REGRESSION = NonlinearRegression()
AUTO_MPG = AutoMpg()
WINE = Wine()
