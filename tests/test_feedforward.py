"""The book's chapter 5 networks: feature preparation by hand, the output rescaling, and the figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_picture

from mlprojects import registry
from mlprojects.builtin.feedforward import auto_mpg_preparation, quadratic
from mlprojects.config import resolve
from mlprojects.engine.trainer import absolute_error_sum
from mlprojects.errors import UserError
from mlprojects.nn import Rescale
from mlprojects.runner import run


def _cars() -> pd.DataFrame:
    return pd.DataFrame({"cylinders": [4, 8, 6, 4], "displacement": [100.0, 300, 200, 120],
                         "horsepower": [90.0, 0, 150, 70], "weight": [2000.0, 4000, 3000, 2200],
                         "acceleration": [15.0, 11, 13, 17], "model_year": [70, 75, 80, 82], "origin": [1, 1, 2, 3]})


def test_auto_mpg_features_impute_from_training_rows_standardise_and_one_hot():
    cars = _cars()  # the 0 horsepower of row 1 is unknown; the median of the known training 90 and 150 is 120
    prep = auto_mpg_preparation(cars.iloc[:3])
    assert prep.fill["horsepower"] == 120.0
    X = prep.transform(cars)
    horsepower = np.array([90.0, 120, 150, 70])
    expected = (horsepower - horsepower[:3].mean()) / horsepower[:3].std()  # training statistics only
    np.testing.assert_allclose(X[:, 2], expected)
    np.testing.assert_allclose(X[:3, :6].mean(0), 0, atol=1e-12)
    np.testing.assert_array_equal(X[:, 6:], [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    cars.loc[3, "horsepower"] = None  # an empty cell is unknown too
    assert prep.transform(cars)[3, 2] == prep.transform(cars.assign(horsepower=[90.0, 0, 150, 120]))[3, 2]


def test_auto_mpg_refuses_an_unknown_origin():
    cars = _cars()
    cars.loc[3, "origin"] = 7
    with pytest.raises(UserError, match="column origin row 4: 7 is not one of 1, 2, 3"):
        auto_mpg_preparation(cars.iloc[:3]).transform(cars)


def test_rescale_adapts_to_the_targets_and_is_saved_with_the_weights():
    layer = Rescale()
    targets = torch.tensor([[10.0], [20.0], [30.0]])
    layer.adapt(targets)
    assert layer.mean.item() == pytest.approx(20.0) and layer.scale.item() == pytest.approx(10.0)
    assert layer(torch.tensor([[1.0]])).item() == pytest.approx(30.0)
    assert set(layer.state_dict()) == {"mean", "scale"}


def test_mean_absolute_error_sum_by_hand():
    outputs, targets = torch.tensor([[1.0], [2.0], [5.0]]), torch.tensor([[2.0], [2.0], [1.0]])
    assert absolute_error_sum(outputs, targets).item() == 5.0


def test_nonlinear_regression_data_is_the_books_function_split_200_60():
    project = registry.get("nonlinear-regression")
    data = project.prepare(resolve(project.config_class))
    x = torch.cat([data.train.inputs, data.test.inputs])[:, 0].numpy()
    assert len(data.train) == 200 and len(data.test) == 60
    np.testing.assert_allclose(np.sort(x), np.linspace(-1, 1, 260), atol=1e-6)  # every point, once
    noise = torch.cat([data.train.targets, data.test.targets])[:, 0].numpy() - quadratic(x)
    assert abs(noise.std() - 0.22) < 0.03 and abs(noise.mean()) < 0.05


def test_wine_split_is_stratified_and_softmax_has_no_hidden_layer():
    project = registry.get("wine")
    cfg = resolve(project.config_class)
    data = project.prepare(cfg)
    assert data.train.inputs.shape[1] == data.test.inputs.shape[1] == 13 and len(data.train) == 124
    assert len(data.test) == 54 and torch.bincount(data.test.targets).tolist() == [18, 21, 15]
    layers = [m for m in project.build_model(resolve(project.config_class, {"model": "softmax"}),
                                             data.preparation).modules()
              if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(13, 3)]


@pytest.mark.parametrize("settings, message", [
    ({"widths": "0"}, "widths=0: must be 1 or more values, each greater than 0"),
    ({"widths": ""}, "expected a non-empty list"),
    ({"test_fraction": "1"}, "test_fraction=1.0"),
])
def test_bad_settings_are_one_clear_error(settings, message):
    with pytest.raises(UserError, match=message):
        resolve(registry.get("auto-mpg").config_class, settings)


@pytest.mark.slow
def test_defaults_reach_the_issue_figures(tmp_path):
    """nonlinear-regression near the noise floor; auto-mpg MSE <= 9 (book 15.08); wine >= 0.97."""
    figures = {}
    for name in ("nonlinear-regression", "auto-mpg", "wine"):
        figures[name] = json.loads((run(name, {}, out=tmp_path / name, progress=False) / "metrics.json").read_text())
        assert_picture(tmp_path / name / "plots" / "learning_curves.png", (10, 3.6), panels=2)  # loss, metric
    nonlinear = figures["nonlinear-regression"]
    assert nonlinear["test_mse"] < 1.5 * nonlinear["noise_only_test_mse"]
    assert_picture(tmp_path / "nonlinear-regression" / "plots" / "fit.png", (6.5, 4.8))
    assert figures["auto-mpg"]["test_mse"] <= 9.0 and figures["auto-mpg"]["test_mae_mpg"] < 2.5
    assert figures["auto-mpg"]["test_mse"] < figures["auto-mpg"]["mean_baseline_test_mse"] / 5
    assert_picture(tmp_path / "auto-mpg" / "plots" / "predicted_vs_actual.png", (5.5, 5.2))
    assert figures["wine"]["test_accuracy"] >= 0.97
    assert_picture(tmp_path / "wine" / "plots" / "confusion_matrix.png", (4.5, 4.5))
