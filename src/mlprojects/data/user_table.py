"""A user's own CSV for the tabular projects: ``--set data=PATH.csv --set target=COLUMN`` (and
``features=a,b,c``, all other columns by default; ``categorical=c,d`` to treat numbers as categories).

Each feature column's type is inferred: numeric when at least 90% of its non-empty cells are numbers
(the others are refused by row, as likely typos), categorical otherwise. Categorical columns are
one-hot encoded with the categories of the training split; missing values (empty cells) are filled
from the training split only (a numeric column's median, a categorical column's most frequent value)
and counted; rows whose target is empty are left out and counted. The numeric columns are then
standardised with training statistics. Everything a new row needs (columns, categories, fill values,
scaling, class names) is a :class:`~mlprojects.data.preparation.TablePrep` saved with the model, so
``predict`` and ``serve`` prepare a user's rows exactly as training did.

A file that cannot be used is one line naming the file, and the row and column where it can.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlprojects.data import csvfile, tfrecord
from mlprojects.data.image_folder import held_out
from mlprojects.data.preparation import TablePrep, text_cells
from mlprojects.errors import UserError, counted


@dataclass
class UserTable:
    X_train: np.ndarray
    y_train: np.ndarray  # class indices (classification) or float64 values
    X_test: np.ndarray
    y_test: np.ndarray
    prep: TablePrep
    raw_test: pd.DataFrame  # the test rows as the file holds them: input columns, then the target
    report: dict[str, Any] = field(default_factory=dict)  # types, missing values, rows left out


def read(path: str | Path) -> pd.DataFrame:
    """The table as text cells (nothing converted yet), headers stripped: a CSV (malformed: one line with the
    row), a Parquet file, or TFRecord's tf.train.Example records (``tfrecord:PATH``, one column per feature)."""
    records = tfrecord.path_of(str(path))
    if records is not None:
        return tfrecord.read_table(records)
    path = Path(path)
    if path.is_dir() or str(path).startswith("folder:"):
        raise UserError(f"data={path}: a folder; this project takes a table (a CSV, a .parquet file or tfrecord:PATH), "
                        "and folders of images go to the image projects (mnist-mlp, mnist-cnn, cifar10-cnn)")
    if path.suffix == ".parquet" and path.is_file():
        return read_parquet(path)
    return csvfile.read(path)


def read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise UserError(f"{path}: reading Parquet needs pyarrow: pip install 'mlprojects[parquet]'") from None
    except (OSError, ValueError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0].split(". ")[0]  # pyarrow's first sentence
        shown = first if len(first) <= 300 else first[:299] + "…"
        raise UserError(f"{path}: not a readable Parquet file ({shown})") from None
    return frame.apply(text_cells)


def _column(frame: pd.DataFrame, name: str, path: Path, what: str) -> str:
    if name in frame.columns:
        return name
    close = difflib.get_close_matches(name, list(frame.columns), n=1, cutoff=0.5)
    hint = f" (the closest is {close[0]!r})" if close else ""
    raise UserError(f"{path}: no column {name!r} for {what}{hint}; its columns: {', '.join(frame.columns)}")


def is_numeric(values: pd.Series) -> bool:
    """Numbers in at least 90% of the non-empty cells: a numeric column (the rest are refused by row, being
    more likely typos than categories; categorical=COLUMN says otherwise)."""
    present = values[values != ""]
    return bool(len(present)) and float(pd.to_numeric(present, errors="coerce").notna().mean()) >= 0.9


def _numbers(values: pd.Series, column: str, path: Path) -> np.ndarray:
    numbers = pd.to_numeric(values.replace("", np.nan), errors="coerce").to_numpy(np.float64)
    broken = np.isnan(numbers) & (values != "").to_numpy()
    if broken.any():
        row = int(np.flatnonzero(broken)[0])
        raise UserError(f"{path}: row {row + 1}, column {column}: {values.iloc[row]!r} is not a number (the column's "
                        f"other cells are); fix the cell, or set categorical={column}")
    return numbers


def choose_columns(frame: pd.DataFrame, path: Path, target: str, features: str,
                   categorical: str) -> tuple[str, list[str], set[str]]:
    """(the target, the feature columns, the columns forced categorical) that the settings name in FRAME's
    header: the target is required, the features are all other columns by default."""
    if not target:
        raise UserError(f"data={path} needs target=COLUMN, the column to predict; its columns: "
                        f"{', '.join(frame.columns)}")
    target = _column(frame, target, path, "target")
    names = [n.strip() for n in features.split(",") if n.strip()] if features else \
        [c for c in frame.columns if c != target]
    names = [_column(frame, name, path, "features") for name in names]
    if target in names or not names:
        raise UserError(f"{path}: features={features or '(all others)'}: give at least one column other than the "
                        f"target {target!r}")
    forced = {_column(frame, n.strip(), path, "categorical") for n in categorical.split(",") if n.strip()}
    return target, names, forced


def class_codes(values: pd.Series, classes: list[str]) -> np.ndarray:
    """Each cell's index among CLASSES (every cell one of them)."""
    return pd.Categorical(text_cells(values), categories=classes).codes.astype(np.int64)


MAX_CLASSES = 100  # the default of the max_classes setting
MAX_CATEGORIES = 1000  # of a categorical feature column (each is one input of the model)


def too_many_categories(path: Path, column: str) -> str:
    return (f"{path}: column {column} has more than {MAX_CATEGORIES} categories (each would be one input of the "
            "model); give it as a number, or leave it out with features=")

REGRESSIONS = "a regression project (auto-mpg, linreg-boston)"


def class_names(labels: set[str], path: Path, target: str, max_classes: int = MAX_CLASSES) -> list[str]:
    """A classifier's classes, in the order people expect: by value when all are numbers, else alphabetical.
    A target that looks continuous is refused: numbers of which one is not whole (3.5), or more distinct values
    than MAX_CLASSES."""
    labels = sorted(labels - {""})
    if not labels:
        raise UserError(f"{path}: column {target} is empty on every row; a classifier needs two or more classes")
    if len(labels) < 2:
        raise UserError(f"{path}: column {target} holds one class ({labels[0]!r}); a classifier needs two or more")
    numbers = pd.to_numeric(pd.Series(labels), errors="coerce")
    if numbers.notna().all() and (numbers % 1 != 0).any():
        example = labels[int(np.flatnonzero((numbers % 1 != 0).to_numpy())[0])]
        raise UserError(f"{path}: column {target} looks continuous (numbers such as {example} that are not whole), "
                        f"not classes; predict it with {REGRESSIONS}, or choose a column of labels")
    if len(labels) > max_classes:
        raise UserError(f"{path}: column {target} holds {len(labels)} distinct values, more than max_classes="
                        f"{max_classes}: it looks continuous, not classes; predict it with {REGRESSIONS}, or set "
                        f"max_classes={len(labels)} if they truly are classes")
    return sorted(labels, key=float) if numbers.notna().all() else labels


def infer(frame: pd.DataFrame, features: list[str], categorical: set[str]) -> dict[str, str]:
    return {column: "categorical" if column in categorical or not is_numeric(frame[column]) else "numeric"
            for column in features}


def load(path: str | Path, target: str, task: str, features: str = "", categorical: str = "",
         test_fraction: float = 0.2, seed: int = 42, warn: bool = True, max_classes: int = MAX_CLASSES) -> UserTable:
    """PATH's rows split (stratified for classification) and prepared from the training split; cached, so a
    project's data and its model's width come from one reading. WARN: say what was filled or left out."""
    records = tfrecord.path_of(str(path))
    path = Path(path)
    stat = (records or path).stat() if (records or path).is_file() else None
    table = _load(path, stat and (stat.st_mtime_ns, stat.st_size), target, task, features, categorical,
                  test_fraction, seed, max_classes)
    if warn:
        announce(path.name, table.report, "the training split (median, or most frequent category)")
    return table


def announce(name: str, report: dict[str, Any], filled_from: str) -> None:
    """One warning saying what a table's REPORT filled (from FILLED_FROM) and left out, if anything."""
    notes = [f"{n} missing in {c}" for c, n in report["missing_values"].items()]
    dropped = report["rows_without_target"]
    if notes or dropped:
        import warnings

        filled = f"{', '.join(notes)}: filled from {filled_from}" if notes else ""
        left = f"{counted(dropped, 'row')} without a {report['target']} left out" if dropped else ""
        warnings.warn(f"{name}: {'; '.join(part for part in (filled, left) if part)}", stacklevel=3)


@functools.lru_cache(maxsize=4)
def _load(path: Path, _version, target: str, task: str, features: str, categorical: str, test_fraction: float,
          seed: int, max_classes: int) -> UserTable:
    frame = read(path)
    target, names, forced = choose_columns(frame, path, target, features, categorical)
    for column in [target, *names]:
        if frame[column].str.match(tfrecord.BINARY).any():
            raise UserError(f"{path}: column {column} holds bytes that are not text ({frame[column].iloc[0]}): leave "
                            "it out with features=, or train an image project on image records")
    types = infer(frame, names, forced)

    for column in names:
        if types[column] == "numeric":
            _numbers(frame[column], column, path)  # a non-number in a numeric column: refused here, with its row
    keep = (frame[target] != "").to_numpy()
    dropped = int((~keep).sum())
    rows = np.flatnonzero(keep)  # positions in the file, for messages
    frame = frame.iloc[rows].reset_index(drop=True)
    if task == "classification":
        classes = class_names(set(frame[target]), path, target, max_classes)
        y = class_codes(frame[target], classes)
    else:
        numbers = pd.to_numeric(frame[target], errors="coerce").to_numpy(np.float64)
        if np.isnan(numbers).any():
            at = int(np.flatnonzero(np.isnan(numbers))[0])
            raise UserError(f"{path}: row {rows[at] + 1}, column {target}: {frame[target].iloc[at]!r} is not a "
                            "number; this project predicts a number (a regression)")
        classes, y = [], numbers
    if len(frame) < 4:
        raise UserError(f"{path}: {counted(len(frame), 'row')} with a target; at least 4 are needed to train and test")

    train_rows, test_rows = held_out(len(frame), y if task == "classification" else None, test_fraction, seed)
    train, test = frame.iloc[train_rows], frame.iloc[test_rows]
    numeric = [c for c in names if types[c] == "numeric"]
    one_hot, fill, missing = {}, {}, {}
    for column in names:
        present = train[column][train[column] != ""]
        missing[column] = int((frame[column] == "").sum())
        if types[column] == "numeric":
            values = _numbers(present, column, path)
            fill[column] = float(np.median(values)) if len(values) else 0.0
        else:
            one_hot[column] = sorted(set(present)) or [""]
            if len(one_hot[column]) > MAX_CATEGORIES:
                raise UserError(too_many_categories(path, column))
            fill[column] = present.mode().iloc[0] if len(present) else ""
    prep = TablePrep(numeric, target, task, [str(c) for c in classes], one_hot=one_hot, fill=fill)
    prep.fitted(train)
    unseen = {c: int((~test[c].isin(one_hot[c]) & (test[c] != "")).sum()) for c in one_hot}
    raw_test = test[prep.inputs + [target]].reset_index(drop=True)
    report = {"data": str(path), "rows": int(len(frame)), "rows_without_target": dropped,
              "train_rows": int(len(train)), "test_rows": int(len(test)), "target": target,
              "column_types": types, "missing_values": {c: n for c, n in missing.items() if n},
              "categories": {c: len(v) for c, v in one_hot.items()},
              "test_categories_unseen_in_training": {c: n for c, n in unseen.items() if n}}
    return UserTable(prep.transform(train, str(path)), y[train_rows], prep.transform(test, str(path)), y[test_rows],
                     prep, raw_test, report)

