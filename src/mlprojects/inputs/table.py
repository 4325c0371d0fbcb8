"""Tables: rows of named columns, as a CSV file, a DataFrame, a dict of columns or an array.

For training, a user's table (``data=PATH.csv``, ``.parquet`` or ``tfrecord:PATH``, with ``target=``) is read
whole (``mlprojects.data.user_table``) or in chunks every epoch (``stream=true``, ``mlprojects.data.streaming``)
in place of a project's own. For predict, the columns may come in any order, with extra ones carried through;
the preparation saved with the model (imputation, one-hot categories, standardisation with the training
statistics) makes the model's inputs. Out come the predicted value (in the target's unit), the class and each
class's probability, or the cluster. Served as a form of the training columns, and a CSV upload.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlprojects.config import setting
from mlprojects.data.preparation import Prepared, Table, Task, _shown
from mlprojects.errors import UserError, counted
from mlprojects.inputs.base import (
    Apply,
    Forward,
    Inputs,
    absolute,
    body_frame,
    column_index,
    columns_frame,
    softmax,
    v2_column,
)


@dataclass
class TableSettings:
    """The settings of a project that takes a user's table (``TableInputs.reads``)."""

    data: str = setting("", "your own table instead of the project's: a CSV file (with a header line), a .parquet "
                            "file, or tfrecord:PATH (tf.train.Example records, one column per feature)")
    target: str = setting("", "with data=: the column to predict")
    features: str = setting("", "with data=: comma-separated input columns  [default: all but the target]")
    categorical: str = setting("", "with data=: columns of numbers to treat as categories (one-hot)")
    stream: bool = setting(False, "with data=CSV: read it in chunks every epoch, for files larger than memory "
                                  "(networks only)")
    test_limit: int = setting(100_000, "with stream=true: the most held-out rows kept for the test")
    max_classes: int = setting(100, "with data= and a classifier: the most distinct values the target may hold (more "
                                    "looks continuous: a number to predict with a regression project)")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.data = absolute(self.data)


def as_tensors(X, y, regression: bool):
    """Feature and target arrays as TensorData: float32 features; float32 (N, 1) targets for a regression, int64
    class indices otherwise. Copies: pandas' arrays may be read-only."""
    import torch

    from mlprojects.engine import TensorData

    targets = torch.tensor(y, dtype=torch.float32).reshape(-1, 1) if regression else torch.tensor(y, dtype=torch.long)
    return TensorData(torch.tensor(X, dtype=torch.float32), targets)


def read_csv(path: str | Path) -> pd.DataFrame:
    """Rows to predict from a CSV file, as text cells, by the rules of every CSV here (``mlprojects.data.csvfile``)."""
    from mlprojects.data import csvfile

    return csvfile.read(path)


def numeric_rows(body: Any, columns: list[str]) -> np.ndarray | None:
    """A request's rows as one float64 array in COLUMNS' order, when they hold numbers only and exactly COLUMNS:
    ``dataframe_records``, ``instances`` or ``inputs`` as records (keys in any order) or as rows in COLUMNS' order,
    or a ``dataframe_split``; None otherwise, for :func:`~mlprojects.inputs.base.body_frame` to read as a DataFrame
    (which then says what is wrong). A one-row request's DataFrame, and pandas' reading of it, were two thirds of
    its time here."""
    if not isinstance(body, dict):
        return None
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, dict) or (split.get("columns") or columns) != columns:
            return None
        rows = split.get("data")
    else:
        key = next((key for key in ("dataframe_records", "instances", "inputs") if key in body), None)
        rows = body.get(key)
        if isinstance(rows, list) and rows and all(isinstance(record, dict) for record in rows):
            if any(len(record) != len(columns) for record in rows):
                return None
            try:
                rows = [[record[column] for column in columns] for record in rows]
            except KeyError:
                return None
        elif key == "dataframe_records":  # records only (pandas' orient="records")
            return None
        elif isinstance(rows, list) and rows and not isinstance(rows[0], (list, dict)):
            rows = [rows]  # one row
    if not isinstance(rows, list) or not rows or not all(isinstance(row, list) and len(row) == len(columns) and all(
            type(value) in (int, float) for value in row) for row in rows):  # bool is not a number here
        return None
    try:
        return np.array(rows, dtype=np.float64)
    except OverflowError:  # an integer past float64's range: refused, by name, on the DataFrame's way
        return None


def plain_rows(prep, inputs: Any) -> np.ndarray | None:
    """INPUTS as float64 numbers that are the model's inputs as they are (no column to pick, fill or one-hot):
    a 2-D array of finite numbers in the columns' order, for a preparation of numeric columns only; else None."""
    if not (isinstance(inputs, np.ndarray) and inputs.ndim == 2 and inputs.dtype.kind in "fiu" and prep.numbers_only
            and inputs.shape[1] == len(prep.inputs)):
        return None
    numeric = inputs.astype(np.float64)
    return numeric if np.isfinite(numeric).all() else None


def as_frame(inputs: Any, columns: list[str]) -> tuple[pd.DataFrame, str]:
    """(the rows, where they came from) from a DataFrame, CSV path(s), a dict of columns, or an array whose
    columns are COLUMNS in order."""
    if isinstance(inputs, pd.DataFrame):
        default = isinstance(inputs.index, pd.RangeIndex) and inputs.index.start == 0 and inputs.index.step == 1
        return inputs if default else inputs.reset_index(drop=True), ""
    if isinstance(inputs, (str, Path)):
        return read_csv(inputs), str(inputs)
    if isinstance(inputs, dict):
        return pd.DataFrame(inputs), ""
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(item, (str, Path)) for item in inputs):
        return pd.concat([read_csv(path) for path in inputs], ignore_index=True), ", ".join(map(str, inputs))
    array = np.asarray(inputs)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != len(columns):
        raise UserError(f"an array of shape {array.shape}: expected (rows, {len(columns)}) in the column order "
                        f"{', '.join(columns)}, or a DataFrame/CSV with those columns")
    return pd.DataFrame(array, columns=columns), ""


def _check_finite(values: np.ndarray, frame: pd.DataFrame | dict, prep, where: str, what: str = "",
                  arithmetic: str = "float32 arithmetic") -> None:
    """A row whose features overflow float32 (a value far beyond training's, such as 1e308), or whose outputs are
    not numbers, is refused by name: it would otherwise be answered NaN, with a class picked from NaNs."""
    broken = ~np.isfinite(values)
    if not broken.any():
        return
    row, index = (int(i) for i in np.argwhere(broken)[0])
    if what:
        raise UserError(f"{where}row {row + 1}: {what} are not numbers; the model cannot answer it")
    column = prep.columns[index] if index < len(prep.columns) else "a one-hot column"
    value = f" {_shown(np.asarray(frame[column])[row])}" if column in frame else ""
    raise UserError(f"{where}column {column} row {row + 1}:{value} is too far beyond the training values for the "
                    f"model's {arithmetic}")


def class_columns(names: list[str], probabilities: np.ndarray, target: str) -> dict[str, Any]:
    best = probabilities.argmax(1)
    columns: dict[str, Any] = {f"predicted_{target or 'class'}": [names[i] for i in best],
                               "probability": probabilities[np.arange(len(best)), best]}
    columns.update({f"probability_{name}": probabilities[:, i] for i, name in enumerate(names)})
    return columns


def summary(row: pd.Series) -> tuple[dict[str, float] | None, str]:
    """(class probabilities for a Label, one line for people) of one predicted row."""
    probabilities = {name.removeprefix("probability_"): float(value) for name, value in row.items()
                     if name.startswith("probability_")}
    predicted = next((name for name in row.index if name.startswith("predicted_") or name == "cluster"), None)
    if probabilities:
        best = max(probabilities, key=probabilities.get)
        return probabilities, f"**{best}** with probability {probabilities[best]:.1%}"
    value = row[predicted]
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return None, f"{predicted.replace('_', ' ')}: **{shown}**"


class TableInputs(Inputs):
    """Rows of named columns; the networks' and the fitted estimators' tables alike. TASK: what a model trained
    on a user's table predicts from it (a ``regression`` or a ``classification``)."""

    kind = "table"
    tensor_name = "features"
    needs_preparation = True

    def __init__(self, task: Task = "regression"):
        self.task = task

    def reads(self, cfg: Any) -> bool:
        return bool(getattr(cfg, "data", ""))

    def training_data(self, project, cfg: Any) -> Prepared | Table:
        """The user's table: arrays (class labels as the file writes them) for an estimator; tensors for a network,
        read whole or, with ``stream=true``, in chunks every epoch."""
        from mlprojects.data import streaming, user_table

        regression = self.task == "regression"
        if cfg.stream and project.kind == "estimator":
            raise UserError(f"stream=true is for the networks: {project.name} fits one estimator on the whole table "
                            "in memory")
        if cfg.stream:
            if cfg.val_fraction:
                raise UserError("stream=true holds out only the test split: leave val_fraction at 0")
            stream = streaming.load(cfg.data, cfg.target, self.task, cfg.features, cfg.categorical, cfg.test_fraction,
                                    cfg.seed, cfg.test_limit, cfg.max_classes)
            user_table.announce(stream.path.name, stream.report,
                                "the training rows (the medians of a sample of them, or the most frequent category)")
            prep, test = stream.prep, stream.test
            return Prepared(streaming.StreamingTable(stream),
                            as_tensors(prep.transform(test, str(stream.path)), stream.y(test[stream.target]),
                                       regression),
                            {"data": stream.report}, prep, test[prep.inputs + [stream.target]].reset_index(drop=True))
        table = user_table.load(cfg.data, cfg.target, self.task, cfg.features, cfg.categorical, cfg.test_fraction,
                                cfg.seed, True, cfg.max_classes)
        prep = table.prep
        if project.kind != "estimator":
            return Prepared(as_tensors(table.X_train, table.y_train, regression),
                            as_tensors(table.X_test, table.y_test, regression), {"data": table.report}, prep,
                            table.raw_test)
        labels = np.array(prep.classes, dtype=object)
        y_train, y_test = (labels[table.y_train], labels[table.y_test]) if not regression else \
            (table.y_train, table.y_test)
        features = prep.columns + [f"{column}={value}" for column, values in prep.one_hot.items() for value in values]
        meta = {"data": table.report, "features": features, "feature_mean": prep.mean, "feature_scale": prep.scale}
        return Table(table.X_train, y_train, table.X_test, y_test, meta, preparation=prep, raw_test=table.raw_test)

    def answers(self, run, inputs: Any, *, forward: Forward, top_k: int = 3, backtest: bool = False,
                strict: bool = False) -> tuple[pd.DataFrame | dict[str, Any], dict[str, Any]]:
        prep = run.preparation
        numeric = plain_rows(prep, inputs)
        if numeric is not None:  # nothing to fill, pick or one-hot: what transform does, on the array as it is
            frame, where, X = dict(zip(prep.inputs, inputs.T)), "", prep.standardized(numeric)
        else:
            frame, X, where = self._features(prep, inputs, strict)
        if len(X) == 0:
            raise UserError(f"{where}no rows to predict")
        target = prep.target or "value"
        if run.project.kind == "estimator":
            estimator = run.model
            with np.errstate(over="ignore"):  # a distance's or a product's square past float64: inf, then any answer
                _check_finite(np.square(X), frame, prep, where, arithmetic="float64 arithmetic (its square overflows)")
            X = run.project.features(run.cfg, X)
            if prep.task == "clustering":
                columns = {"cluster": estimator.predict(X)}
            elif prep.task == "classification":
                names = [str(c) for c in estimator.classes_]
                columns = class_columns(names, np.asarray(estimator.predict_proba(X)), target)
            else:
                columns = {f"predicted_{target}": estimator.predict(X)}
        else:
            with np.errstate(over="ignore"):  # an overflow is refused below, by name
                # in rows, as training's tensors are: pandas' columns made a column-major matrix, whose products
                # PyTorch sums in another order (its probabilities then differed from a request's in the 8th digit)
                features = X.astype(np.float32, order="C")
            _check_finite(features, frame, prep, where)
            outputs = forward(features).astype(np.float64)
            _check_finite(outputs, frame, prep, where, "the model's outputs")
            if prep.task == "classification":
                columns = class_columns(run.class_names(), softmax(outputs), target)
            else:
                columns = {f"predicted_{target}": outputs[:, 0]}
        return frame, columns

    @staticmethod
    def _features(prep, inputs: Any, strict: bool) -> tuple[pd.DataFrame, np.ndarray, str]:
        """(INPUTS as a DataFrame, its feature matrix by the saved preparation, where the rows came from) for any
        form a user has them in: unknown values filled as in training (and said in a warning), or refused when
        STRICT."""
        frame, source = as_frame(inputs, prep.inputs)
        prep.check_columns(frame, f"{source}: " if source else "")
        unknown = prep.unknown(frame)
        where, total = f"{source}: " if source else "", sum(unknown.values())
        missing = counted(total, "missing value")
        if unknown and strict:
            raise UserError(f"{where}{missing} ({', '.join(f'{n} in {c}' for c, n in unknown.items())}): strict "
                            "refuses them; fill them, or leave strict out to fill them as training did")
        X = prep.transform(frame, source)
        if unknown:  # said once the rows are known to be readable
            warnings.warn(f"{where}{missing} filled as in training: " + "; ".join(
                f"{n} in {c} with {_shown(prep.fill[c])}" for c, n in unknown.items()), stacklevel=3)
        return frame, X, where

    def from_request(self, run, body: Any) -> pd.DataFrame | np.ndarray:
        rows = numeric_rows(body, run.preparation.inputs)
        return rows if rows is not None else body_frame(body, run.preparation.inputs)

    def v2_inputs(self, run) -> list[dict[str, Any]]:
        prep = run.preparation
        return [{"name": c, "datatype": "FP32", "shape": [-1]} for c in prep.columns] + [
            {"name": c, "datatype": "BYTES" if categories and isinstance(categories[0], str) else "FP32",
             "shape": [-1]} for c, categories in prep.one_hot.items()]

    def from_v2(self, run, tensors: dict[str, Any]) -> pd.DataFrame | np.ndarray:
        """One tensor per column (shape [N] or [N, 1]), or one FP32 matrix [N, columns] in the training order."""
        columns = run.preparation.inputs
        if len(tensors) == 1 and next(iter(tensors.values())).ndim == 2 and len(columns) > 1:
            matrix = next(iter(tensors.values()))
            if matrix.shape[1] != len(columns):
                raise UserError(f"a matrix of {matrix.shape[1]} columns: the model takes {len(columns)}, in the order "
                                f"{', '.join(columns)}")
            return matrix.astype(np.float64) if matrix.dtype.kind == "f" else pd.DataFrame(matrix, columns=columns)
        unknown = [name for name in tensors if name not in columns]
        if unknown:  # as Triton answers an input its model does not have, rather than leave it out unsaid
            raise UserError(f"input {unknown[0]}: the model has no such input; its inputs are {', '.join(columns)}")
        hint = f", or send one FP32 matrix [N, {len(columns)}] of every column"
        return columns_frame({name: v2_column(name, values, hint) for name, values in tensors.items()})

    def join(self, run, items: list) -> pd.DataFrame | np.ndarray:
        """The rows of every request, their model's columns only (each request checked for them first: a column
        missing from one is never filled from another). Arrays (rows of numbers in the columns' order) stay one
        array unless a DataFrame joins them."""
        prep = run.preparation
        if all(isinstance(item, np.ndarray) for item in items):
            return items[0] if len(items) == 1 else np.concatenate(items)
        items = [pd.DataFrame(item, columns=column_index(tuple(prep.inputs))) if isinstance(item, np.ndarray) else item
                 for item in items]
        for frame in items:
            prep.check_columns(frame)
        picked = [frame if list(frame.columns) == prep.inputs else frame[column_index(tuple(prep.inputs))]
                  for frame in items]  # selecting by a list made an Index of Arrow strings each time: 0.3 ms
        return picked[0] if len(picked) == 1 else pd.concat(picked, ignore_index=True)

    def classifies(self, run) -> bool:
        return run.preparation.task == "classification"

    def random_inputs(self, run, count: int):
        import torch

        rows = np.random.default_rng(0).standard_normal((count, run.preparation.width))  # standardised columns
        return torch.from_numpy(rows.astype(np.float32))

    def page(self, run, apply: Apply) -> None:
        import gradio as gr

        prep = run.preparation
        defaults = prep.mean or [0.0] * len(prep.columns)
        fields = []
        with gr.Row():
            with gr.Column():
                gr.Markdown(f"One {prep.target or 'row'}: its {len(prep.inputs)} columns (defaults: the training "
                            f"means).")
                for column, default in zip(prep.columns, defaults):
                    fields.append(gr.Number(value=round(float(default), 4), label=column, elem_id=f"field-{column}"))
                for column, categories in prep.one_hot.items():
                    fields.append(gr.Dropdown([f"{c:g}" for c in categories], value=f"{categories[0]:g}",
                                              label=column, elem_id=f"field-{column}"))
                button = gr.Button("Predict", variant="primary", elem_id="predict")
            with gr.Column():
                label = gr.Label(label="prediction", elem_id="prediction", visible=prep.task == "classification")
                message = gr.Markdown("Fill the form and press Predict.", elem_id="message")
                full = gr.JSON(label="the whole row", elem_id="row")

        def one(*values):
            row = apply(pd.DataFrame([dict(zip(prep.inputs, values))])).iloc[0]
            probabilities, line = summary(row)
            return probabilities, line, {key: (value.item() if hasattr(value, "item") else value)
                                         for key, value in row.items()}

        button.click(one, fields, [label, message, full], api_name="predict")
        with gr.Accordion("A CSV file of rows", open=False):
            upload = gr.File(label="CSV with the training columns", file_types=[".csv"], elem_id="csv")
            table = gr.Dataframe(label="predictions", elem_id="csv-predictions")
            download = gr.File(label="the predictions as CSV", elem_id="csv-download")

        def many(path):
            if path is None:
                return None, None
            result = apply(path)
            # written into the download's own cache folder, which Gradio serves from as it is (no copy of the file
            # left behind) and empties as the page's Blocks says (delete_cache)
            out = Path(tempfile.mkdtemp(dir=download.GRADIO_CACHE)) / "predictions.csv"
            result.to_csv(out, index=False)
            return result, str(out)

        upload.change(many, upload, [table, download], api_name="predict_csv")
