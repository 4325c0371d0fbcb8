"""A series: recent readings of one column (a CSV or DataFrame, with a time column if there is one).

For training, a user's CSV (``data=PATH.csv`` with ``column=``) in place of the project's series, read and checked
here, then cut into windows by the project (``Project.series_data``) and scaled by its own training statistics.
For predict, out come the next ``horizon`` forecasts with their times, or, with ``backtest``, a forecast for every
reading that has a full window before it, beside the reading itself. Served as a CSV upload, with a plot
of the readings and the forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mlprojects.config import setting
from mlprojects.errors import UserError, counted
from mlprojects.inputs.base import Apply, Forward, Inputs, absolute, body_frame, columns_frame, v2_column
from mlprojects.inputs.table import as_frame, read_csv

TIME_COLUMNS = ("time", "timestamp", "date", "datetime")


@dataclass
class SeriesSettings:
    """The settings of a project that forecasts a series: a user's own (``SeriesInputs.reads``) and its column."""

    data: str = setting("", "a CSV file of your own series (a header line) instead of the project's")
    column: str = setting("value", "the column of the series")

    RENAMED: ClassVar[dict[str, str]] = {"data_path": "data"}  # runs saved before the kind read the file

    def __post_init__(self) -> None:
        super().__post_init__()
        self.data = absolute(self.data)


def readings(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """The column's readings as float64, every one a finite number."""
    if column not in frame.columns:
        raise UserError(f"{where}: no column {column!r}; found {', '.join(map(str, frame.columns))}")
    values = frame[column].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise UserError(f"{where}: column {column}: non-finite values (inf or nan) in the series")
    return values


def times(frame: pd.DataFrame, targets: np.ndarray, where: str = ""):
    """The time of each target reading, from a time column (the step after the last reading is the last step
    seen), or None when the file has no time column. WHERE: the file, for its errors."""
    column = next((c for c in frame.columns if c.lower() in TIME_COLUMNS), None)
    if column is None:
        return None
    stamps = pd.to_datetime(frame[column], errors="coerce")
    if stamps.isna().any() or len(stamps) < 2:
        raise UserError(f"{where}column {column}: give a date and time on every row (e.g. 2014-12-31 23:45:00)")
    back = np.flatnonzero(np.diff(stamps.to_numpy()) <= np.timedelta64(0))
    if len(back):  # the forecasts' times step on from the last two: they would repeat or run backwards
        row = int(back[0]) + 2
        raise UserError(f"{where}column {column} row {row}: {frame[column].iloc[row - 1]} is not after the row before "
                        f"({frame[column].iloc[row - 2]}); give the readings in time order, one time each")
    step = stamps.iloc[-1] - stamps.iloc[-2]
    last = len(stamps) - 1
    return [stamps.iloc[t] if t <= last else stamps.iloc[-1] + (t - last) * step for t in targets]


class SeriesInputs(Inputs):
    """Readings of one series, read in windows (the window, horizon and scaling are the saved preparation)."""

    kind = "series"
    tensor_name = "window"
    one_input = True
    needs_preparation = True
    backtests = True

    def reads(self, cfg: Any) -> bool:
        return bool(getattr(cfg, "data", ""))

    def training_data(self, project, cfg: Any):
        """The user's series, checked, as PROJECT's windows scaled by the series' own training statistics."""
        from mlprojects.data import tables

        path = Path(cfg.data)
        if not path.is_file():
            raise UserError(f"data={path}: no such file; give a CSV of your series")
        frame = tables.read_csv(path, tables.Schema((cfg.column,), (cfg.column,)),
                                fix=f"give a CSV with a header line and a numeric column {cfg.column!r}")
        return project.series_data(cfg, readings(frame, cfg.column, str(path)))

    def answers(self, run, inputs: Any, *, forward: Forward, top_k: int = 3, backtest: bool = False,
                strict: bool = False) -> tuple[dict, dict[str, Any]]:
        import torch

        from mlprojects.data.preparation import TablePrep

        prep = run.preparation
        frame, source = as_frame(inputs, [prep.column])
        where = f"{source}: " if source else ""
        values = TablePrep([prep.column]).numbers(frame, source)[:, 0]
        window, horizon = prep.window, prep.horizon
        if len(values) < window:
            raise UserError(f"{where}{counted(len(values), 'reading')}: the model reads windows of {window}; give at "
                            "least that many")
        scaled = torch.from_numpy((values - prep.offset) / prep.factor)
        with np.errstate(over="ignore"):
            beyond = ~np.isfinite(scaled.numpy().astype(np.float32))
        if beyond.any():  # its forecasts would be NaN, answered as null
            row = int(np.flatnonzero(beyond)[0])
            raise UserError(f"{where}column {prep.column} row {row + 1}: {values[row]:g} is too far beyond the "
                            "training values for the model's float32 arithmetic")
        if backtest:
            targets = np.arange(window + horizon - 1, len(values))
            if not len(targets):
                raise UserError(f"{where}{counted(len(values), 'reading')}: a backtest needs more than "
                                f"{window + horizon - 1}")
        else:  # the next `horizon` readings, each from the latest window that ends `horizon` readings before it
            targets = np.arange(len(values), len(values) + horizon)
        starts = targets - horizon - window + 1
        usable = starts >= 0
        targets, starts = targets[usable], starts[usable]
        windows = torch.stack([scaled[start:start + window] for start in starts]).unsqueeze(-1).float()
        forecast = forward(windows)[:, 0].astype(np.float64) * prep.factor + prep.offset
        if not np.isfinite(forecast).all():
            reading = int(targets[np.flatnonzero(~np.isfinite(forecast))[0]])
            raise UserError(f"{where}the forecast of reading {reading} is not a number: the readings are too far "
                            "beyond the training values for the model's float32 arithmetic")
        result: dict[str, Any] = {"reading": targets}
        stamps = times(frame, targets, where)
        if stamps is not None:
            result["time"] = stamps
        result[f"forecast_{prep.column}"] = forecast
        if backtest:
            result[prep.column] = values[targets]
            result["error"] = forecast - values[targets]
        return {}, result

    def from_request(self, run, body: Any) -> pd.DataFrame:
        return body_frame(body, [run.preparation.column])

    def v2_inputs(self, run) -> list[dict[str, Any]]:
        return [{"name": run.preparation.column, "datatype": "FP32", "shape": [-1]},
                {"name": "time", "datatype": "BYTES", "shape": [-1], "optional": True}]

    def from_v2(self, run, tensors: dict[str, Any]) -> pd.DataFrame:
        """The readings (FP32 [N]) under the series' name, and their times (BYTES [N], optional)."""
        column = run.preparation.column
        unknown = [name for name in tensors if name not in (column, "time")]
        if unknown:
            raise UserError(f"input {unknown[0]}: the model has no such input; its inputs are {column} and time "
                            "(optional)")
        return columns_frame({name: v2_column(name, values) for name, values in tensors.items()})

    def random_inputs(self, run, count: int):
        import torch

        windows = np.random.default_rng(0).standard_normal((count, run.preparation.window, 1))  # scaled readings
        return torch.from_numpy(windows.astype(np.float32))

    def page(self, run, apply: Apply) -> None:
        import gradio as gr

        prep = run.preparation
        with gr.Row():
            with gr.Column():
                upload = gr.File(label=f"CSV of recent readings: a {prep.column!r} column (and 'time' if you have "
                                       f"one), at least {prep.window} rows", file_types=[".csv"], elem_id="csv")
            with gr.Column():
                table = gr.Dataframe(label=f"the next {prep.horizon} forecasts", elem_id="forecasts")
                plot = gr.Plot(label="readings and forecasts", elem_id="plot")

        def forecast(path):
            if path is None:
                return None, None
            result = apply(path)
            from matplotlib.figure import Figure  # not pyplot's: it would keep every request's figure

            readings = pd.to_numeric(read_csv(path)[prep.column], errors="coerce").to_numpy()
            shown = readings[-4 * prep.window:]
            figure = Figure(figsize=(7, 3))
            axes = figure.add_subplot()
            axes.plot(range(len(readings) - len(shown), len(readings)), shown, label="readings")
            axes.plot(result["reading"], result[f"forecast_{prep.column}"], "o-", label="forecast")
            axes.set_xlabel("reading")
            axes.legend()
            figure.tight_layout()
            return result, figure

        upload.change(forecast, upload, [table, plot], api_name="predict")
