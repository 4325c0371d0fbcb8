"""energy-lstm: windows and baselines by hand, the chronological split, a user's own series, bad CSVs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlprojects import registry
from mlprojects.builtin.sequences import DAY, baselines, chronological_split, windows
from mlprojects.config import resolve
from mlprojects.errors import UserError
from mlprojects.predict import predict
from mlprojects.rundir import load
from mlprojects.runner import run


def test_windows_pair_each_target_with_the_readings_before_it():
    series = torch.arange(20, dtype=torch.float64)
    data = windows(series, 10, 14, window=3, horizon=2)
    # target 10 is forecast 2 steps after the window 6, 7, 8; nothing at or after the target is seen
    assert data.targets[:, 0].tolist() == [10, 11, 12, 13]
    assert data.inputs[:, :, 0].tolist() == [[6, 7, 8], [7, 8, 9], [8, 9, 10], [9, 10, 11]]
    assert windows(series, 0, 20, window=3, horizon=1, stride=5).targets[:, 0].tolist() == [3, 8, 13, 18]


def test_baselines_by_hand_on_a_short_series():
    series = np.arange(300, dtype=float) * 2.0  # value = 2 x index
    targets = np.array([200, 250])
    forecasts = baselines(series, targets, horizon=3)
    assert forecasts["persistence"].tolist() == [2 * 197, 2 * 247]  # the last reading seen
    assert forecasts["seasonal naive"].tolist() == [2 * (200 - DAY), 2 * (250 - DAY)]  # one day before
    with pytest.raises(UserError, match="at most one day"):
        baselines(series, targets, horizon=DAY + 1)


def test_the_split_is_chronological_and_the_book_preset_applies():
    assert chronological_split(1000, 0.15, 0.15) == (700, 850)
    project = registry.get("energy-lstm")
    book = resolve(project.config_class, {"preset": "book"})
    assert (book.window, book.hidden, book.optimizer, book.lr, book.batch_size) == (5, 5, "adagrad", 0.03, 100)
    data = project.prepare(resolve(project.config_class, {"window": 4}))
    a, b = data.meta["splits"]
    assert a == 98180 and b == 119218 and data.meta["offset"] == 147.0 and data.meta["factor"] == 339.0
    assert len(data.test) == 140256 - b and len(data.meta["val"]) == b - a
    # the first test input is the 4 readings just before the test period, scaled like the book
    series = data.meta["series"]
    np.testing.assert_allclose(data.test.inputs[0, :, 0].numpy(), (series[b - 4:b] - 147) / 339, rtol=1e-6)


def _series_csv(path, rows, column="kw", text=None):
    values = 100 + 30 * np.sin(np.arange(rows) * 2 * np.pi / DAY)
    path.write_text(text if text is not None else f"{column}\n" + "\n".join(f"{v:.3f}" for v in values) + "\n")
    return path


def test_a_users_series_trains_and_beats_persistence(tmp_path):
    csv = _series_csv(tmp_path / "mine.csv", 3000)
    run_dir = run("energy-lstm", {"data": str(csv), "column": "kw", "window": 16, "hidden": 16, "epochs": 10,
                                  "horizon": 8, "batch_size": 32, "lr": 0.01}, out=tmp_path / "run", progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["scale_offset"] == pytest.approx(100, abs=1)  # its own statistics, not the book's
    assert metrics["LSTM_test_mse_scaled"] < 0.5 * metrics["persistence_test_mse_scaled"]
    assert metrics["seasonal_naive_test_mae"] < 1e-9  # a pure daily sine: one day back is exact
    assert (run_dir / "plots" / "forecast_week.png").is_file()
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert history[-1]["loss"] < history[0]["loss"] and "val_loss" in history[0]
    # the kind read the file: it is recorded for --resume's check, and predict scales by the file's own statistics
    assert json.loads((run_dir / "data.json").read_text())["data"] == str(csv)
    forecast = predict(load(run_dir), str(csv), backtest=True)
    assert np.abs(forecast["error"]).mean() < metrics["persistence_test_mae"]


def test_the_old_name_of_the_data_setting_still_reads(tmp_path):
    cfg = resolve(registry.get("energy-lstm").config_class, {"data_path": "mine.csv", "column": "kw"})
    assert cfg.data == str((tmp_path.cwd() / "mine.csv").resolve()) and cfg.column == "kw"


@pytest.mark.parametrize("text, column, message", [
    ("kw\n1\n2\nabc\n", "kw", "row 3: 'abc' is not a number"),
    ("load\n1\n2\n", "kw", "missing column"),
    ('kw\n1\n"2\n', "kw", "malformed CSV"),
    ("kw\n" + "1\n" * 50, "kw", "too short"),
])
def test_bad_series_files_are_one_clear_line(tmp_path, cli, text, column, message):
    csv = _series_csv(tmp_path / "bad.csv", 0, text=text)
    result = cli("run", "energy-lstm", "--set", f"data={csv}", "--set", f"column={column}",
                 "--out", str(tmp_path / "run"), "--quiet")
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
