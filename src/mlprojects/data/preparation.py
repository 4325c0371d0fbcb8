"""How a table's columns become a model's inputs, saved with the model so that prediction prepares new
rows exactly as training prepared the training rows.

A :class:`TablePrep` holds the input columns and the statistics taken from the training split only:
the values that stand for "unknown" and what fills them (auto-mpg's horsepower 0, filled with the
training median), the mean and scale of the numeric columns (standardisation), and the categories of
one-hot columns. Projects build their training and test matrices with :meth:`TablePrep.transform`,
and ``mlprojects predict`` calls the same method on a user's CSV; the object travels as JSON in the
metadata of ``model.safetensors``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlprojects.errors import UserError

Task = Literal["regression", "classification", "clustering"]


def text_cells(values: pd.Series) -> pd.Series:
    """A column as the text a user wrote: stripped, a missing cell as ""."""
    return values.astype(str).str.strip().where(values.notna(), "")


class Saved:
    """A preparation travels as JSON (with its ``kind``) in the metadata of model.safetensors."""

    kind = ""

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **asdict(self)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return cls(**{key: value for key, value in data.items() if key != "kind"})


@dataclass
class TablePrep(Saved):
    columns: list[str]  # numeric input columns, in the order of the feature matrix
    target: str = ""  # the column the model predicts (for output names; absent from new data)
    task: Task = "regression"
    classes: list[str] = field(default_factory=list)  # classification: the label of each class index
    #: column -> categories, appended in order: numbers (a value outside them is refused) or, for a user's
    #: CSV, text (a category unseen in training is all zeros, as scikit-learn's handle_unknown="ignore")
    one_hot: dict[str, list[float] | list[str]] = field(default_factory=dict)
    mean: list[float] | None = None  # standardisation of the numeric columns (training statistics)
    scale: list[float] | None = None
    missing_at_most: dict[str, float] = field(default_factory=dict)  # a value this low means "unknown"
    fill: dict[str, float | str] = field(default_factory=dict)  # what replaces an unknown or empty value

    kind = "table"

    @property
    def width(self) -> int:
        """The feature matrix's columns: the numeric ones, then every category of the one-hot ones."""
        return len(self.columns) + sum(len(categories) for categories in self.one_hot.values())

    @property
    def inputs(self) -> list[str]:
        """Every column a CSV must have, in the training file's order."""
        return list(self.columns) + list(self.one_hot)

    def fitted(self, frame: pd.DataFrame, standardize: bool = True) -> TablePrep:
        """These columns with the fill values and standardisation taken from FRAME (the training rows):
        unknown values are filled first, then the mean and the population standard deviation (a constant
        column keeps scale 1)."""
        numeric = self.numbers(frame, fill=False) if self.missing_at_most else None
        for index, column in enumerate(self.columns):
            if numeric is not None and column in self.missing_at_most:
                known = numeric[:, index][numeric[:, index] > self.missing_at_most[column]]
                self.fill[column] = float(np.median(known))
        if standardize:
            numeric = self.numbers(frame)
            mean, scale = numeric.mean(0), numeric.std(0)
            scale[scale == 0] = 1.0
            self.mean, self.scale = mean.tolist(), scale.tolist()
        return self

    def numbers(self, frame: pd.DataFrame, source: str = "", fill: bool = True) -> np.ndarray:
        """The numeric columns as float64 (n, len(columns)), unknown values filled; a column that is
        missing, a cell that is not a number or an empty cell with nothing to fill it is a UserError."""
        where = f"{source}: " if source else ""
        self.check_columns(frame, where)
        if not (fill and self.missing_at_most):
            # numbers already (a request's rows, an array): in one step, the columns picked only when they must be
            block = (frame if list(frame.columns) == self.columns else frame[self.columns]).to_numpy()
            if block.dtype.kind in "fiub":  # numbers in every column (else objects): quicker than pandas' dtypes
                numeric = block.astype(np.float64)  # a copy, whatever to_numpy shared
                if np.isfinite(numeric).all():
                    return numeric
        numeric = np.empty((len(frame), len(self.columns)), np.float64)
        for index, column in enumerate(self.columns):
            numeric[:, index] = _as_numbers(frame[column], column, where, self.fill.get(column) if fill else None)
            if fill and column in self.missing_at_most:
                unknown = numeric[:, index] <= self.missing_at_most[column]
                numeric[unknown, index] = self.fill[column]
        return numeric

    def unknown(self, frame: pd.DataFrame) -> dict[str, int]:
        """column -> how many of FRAME's cells are unknown (empty, or at most ``missing_at_most``), which
        :meth:`transform` fills; only the columns that have some and a value to fill them with."""
        counts = {}
        for column in [c for c in self.inputs if c in self.fill and c in frame.columns]:
            values = frame[column]
            empty = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
            if column in self.missing_at_most:
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
                empty |= numbers <= self.missing_at_most[column]
            if empty.any():
                counts[column] = int(empty.sum())
        return counts

    def transform(self, frame: pd.DataFrame, source: str = "") -> np.ndarray:
        """The feature matrix (float64) of FRAME's rows: numeric columns (filled, standardised), then each
        one-hot column's indicators. Extra columns are ignored."""
        where = f"{source}: " if source else ""
        blocks = [self.standardized(self.numbers(frame, source))]
        for column, categories in self.one_hot.items():
            if categories and isinstance(categories[0], str):  # a user's categories: text, unseen ones all zero
                text = text_cells(frame[column])
                text = text.where(text != "", str(self.fill.get(column, "")))
                blocks.append((text.to_numpy()[:, None] == np.asarray(categories, dtype=object)[None, :])
                              .astype(np.float64))
                continue
            values = _as_numbers(frame[column], column, where, None)
            unknown = ~np.isin(values, categories)
            if unknown.any():
                row = int(np.flatnonzero(unknown)[0])
                raise UserError(f"{where}column {column} row {row + 1}: {_shown(frame[column].iloc[row])} is not "
                                f"one of {', '.join(f'{c:g}' for c in categories)}")
            blocks.append((values[:, None] == np.asarray(categories)[None, :]).astype(np.float64))
        return np.hstack(blocks)

    def standardized(self, numeric: np.ndarray) -> np.ndarray:
        """The numeric columns (float64, filled) standardised with the training statistics, when there are some."""
        return numeric if self.mean is None else (numeric - np.asarray(self.mean)) / np.asarray(self.scale)

    @property
    def numbers_only(self) -> bool:
        """Whether the model's inputs are all numeric columns with no value that stands for "unknown": rows of
        finite numbers are then its features as they are, standardised (``TableInputs.answers`` reads them so,
        without pandas)."""
        return not self.one_hot and not self.missing_at_most

    def check_columns(self, frame: pd.DataFrame, where: str = "") -> None:
        found = [str(column) for column in frame.columns]
        if found == self.inputs:  # a request's usual case, in one comparison
            return
        for column in self.inputs:
            if column not in found:
                close = difflib.get_close_matches(column, found, n=1, cutoff=0.5)
                hint = f" (the closest is {close[0]!r})" if close else ""
                raise UserError(f"{where}no column {column!r}{hint}; the model needs the columns "
                                f"{', '.join(self.inputs)}")


def _shown(value: Any) -> str:
    """A cell as a user wrote it: text quoted, numbers plain (not NumPy's repr)."""
    return repr(value) if isinstance(value, str) else repr(value.item() if hasattr(value, "item") else value)


def _as_numbers(values: pd.Series, column: str, where: str, fill: float | None) -> np.ndarray:
    try:
        numbers = np.array(pd.to_numeric(values, errors="coerce"), dtype=np.float64)  # a writable copy
    except OverflowError:  # an integer past float64's range (JSON's numbers have no limit), refused by its row
        for row, value in enumerate(values):
            try:
                float(value)
            except OverflowError:
                raise UserError(f"{where}column {column} row {row + 1}: an integer of {len(str(abs(value)))} digits, "
                                "beyond the range of float64") from None
            except (TypeError, ValueError):
                continue
        raise
    unparsed = np.isnan(numbers)
    broken = unparsed  # (no NaN: nothing to look at, and no text conversion of the whole column)
    if unparsed.any():
        broken = unparsed & values.notna().to_numpy() & (values.astype(str).str.strip() != "").to_numpy()
    if broken.any():
        row = int(np.flatnonzero(broken)[0])
        raise UserError(f"{where}column {column} row {row + 1}: {_shown(values.iloc[row])} is not a number")
    empty = np.isnan(numbers)
    if empty.any():
        if fill is None:
            raise UserError(f"{where}column {column} row {int(np.flatnonzero(empty)[0]) + 1} is empty; give a number")
        numbers[empty] = fill
    if not np.isfinite(numbers).all():
        row = int(np.flatnonzero(~np.isfinite(numbers))[0])
        raise UserError(f"{where}column {column} row {row + 1}: {_shown(values.iloc[row])} is not a finite number")
    return numbers


@dataclass
class SeriesPrep(Saved):
    """A forecaster's inputs: the series column, its scaling (x -> (x - offset) / factor), the window
    the model reads and how far ahead it forecasts."""

    column: str
    offset: float
    factor: float
    window: int
    horizon: int
    residual: bool = False

    kind = "series"


@dataclass
class ImagePrep(Saved):
    """What an image classifier needs to label new pictures: the class names and the pixel form."""

    classes: list[str]
    shape: list[int]  # (28, 28) grayscale or (32, 32, 3) RGB

    kind = "image"


@dataclass
class VocabularyPrep(Saved):
    """A character model's inputs: the characters it knows, in the order of their indices."""

    vocabulary: list[str]

    kind = "vocabulary"


PREPARATIONS = {prep.kind: prep for prep in (TablePrep, SeriesPrep, ImagePrep, VocabularyPrep)}


@dataclass
class Prepared:
    """A trained project's data, as tensors (``mlprojects.engine.TensorData``), and what it says of itself."""

    train: Any
    test: Any
    meta: dict[str, Any] = field(default_factory=dict)
    #: how raw inputs become model inputs (a ``Saved``): sizes the model, and is saved with it for predict
    preparation: Any = None
    #: the test split's raw rows (a DataFrame of the input columns and the target), as a user's file holds them
    raw_test: Any = None


@dataclass
class Table:
    """An estimator project's data: numeric arrays; ``y_*`` is None for clustering."""

    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    meta: dict[str, Any] = field(default_factory=dict)
    preparation: Any = None  # as Prepared.preparation
    raw_test: Any = None  # as Prepared.raw_test


def from_json(text: str | None):
    """The preparation a model was saved with, or None."""
    if not text:
        return None
    data = json.loads(text)
    return PREPARATIONS[data["kind"]].from_dict(data)


def test_frame(prep: TablePrep, X: np.ndarray, y: np.ndarray | None) -> pd.DataFrame:
    """Raw rows (before any preparation) as a user's CSV would hold them: the input columns, then the target."""
    frame = pd.DataFrame(X, columns=prep.inputs)
    if y is not None and prep.target:
        frame[prep.target] = [prep.classes[int(v)] for v in y] if prep.task == "classification" and prep.classes \
            and np.issubdtype(np.asarray(y).dtype, np.integer) else y
    return frame
