"""A CSV larger than memory, trained on in bounded memory: ``--set data=big.csv --set target=y --set stream=true``.

Two passes over the file in chunks (pandas' C parser, ``CHUNK_ROWS`` rows at a time), never the whole
file in memory:

1. Statistics. Column types come from the first chunk (numeric when at least 90% of its non-empty cells
   are numbers, as for a file read whole); then, over the training rows of every chunk: the count, sum
   and sum of squares of each numeric column (exact means and standard deviations for standardisation),
   the categories of each categorical column, missing cells, the classes of a classifier's target, and a
   reservoir sample of ``SAMPLE_ROWS`` rows whose medians fill missing numbers (the median of the whole
   column would need it all in memory). The held-out test rows (up to ``test_limit``) are kept.
2. Training, every epoch: chunks are read again, their training rows prepared exactly as the saved
   :class:`~mlprojects.data.preparation.TablePrep` prepares a new row, and pass through a shuffle buffer
   of ``BUFFER_ROWS`` rows (shuffled anew each epoch, as ``tf.data``'s ``shuffle(buffer_size)``) from
   which batches of the asked size go to the engine, the last one partial.

A row belongs to the test split when a number drawn for it from a generator seeded by (seed, chunk)
falls under ``test_fraction``: the same rows in both passes and every epoch, without a list of them.
Peak memory therefore depends on the chunk, the buffer and the test rows kept, not on the file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from mlprojects.data import csvfile, user_table
from mlprojects.data.preparation import TablePrep, text_cells
from mlprojects.errors import UserError

CHUNK_ROWS = 100_000
BUFFER_ROWS = 200_000
SAMPLE_ROWS = 100_000


def _chunks(path: Path, dtypes: dict[str, Any] | None = None) -> Iterator[pd.DataFrame]:
    return csvfile.chunks(path, CHUNK_ROWS, dtypes)


def _split(chunk: pd.DataFrame, target: str, seed: int, index: int, test_fraction: float):
    """(training rows, test rows, rows without a target) of chunk INDEX."""
    has_target = (text_cells(chunk[target]) != "").to_numpy()
    kept = chunk[has_target]
    in_test = np.random.default_rng([seed, index]).random(len(kept)) < test_fraction
    return kept[~in_test], kept[in_test], int((~has_target).sum())


@dataclass
class Stream:
    """The first pass's findings and what the second pass needs."""

    path: Path
    target: str
    task: str
    prep: TablePrep
    dtypes: dict[str, Any]
    test_fraction: float
    seed: int
    train_rows: int
    test: pd.DataFrame  # the held-out rows kept (raw cells)
    targets_sample: np.ndarray  # of the training rows (a Rescale's statistics)
    report: dict[str, Any] = field(default_factory=dict)

    def y(self, values: pd.Series) -> np.ndarray:
        if self.task == "classification":
            return user_table.class_codes(values, self.prep.classes)
        return values.to_numpy(np.float64)


@functools.lru_cache(maxsize=2)
def scan(path: Path, target: str, task: str, features: str, categorical: str, test_fraction: float, seed: int,
         test_limit: int, _version=None, max_classes: int = user_table.MAX_CLASSES) -> Stream:
    """The first pass (see the module's docstring)."""
    if not path.is_file():
        raise UserError(f"data={path}: no such file; give the path of a CSV file with a header line")
    csvfile.check_rows(path, csvfile.dialect(path))  # a pass of Python's csv reader: no row may be read shifted
    first = next(_chunks(path), None)
    if first is None or first.empty:
        raise UserError(f"{path}: a header and no rows")
    target, names, forced = user_table.choose_columns(first, path, target, features, categorical)
    numeric = [c for c in names if c not in forced and user_table.is_numeric(first[c].str.strip())]
    text = [c for c in names if c not in numeric]
    dtypes: dict[str, Any] = {c: np.float64 for c in numeric}
    dtypes.update({c: str for c in text})
    dtypes[target] = np.float64 if task == "regression" else str

    count, total, squares = np.zeros(len(numeric)), np.zeros(len(numeric)), np.zeros(len(numeric))
    categories: dict[str, set] = {c: set() for c in text}
    classes: set[str] = set()
    missing = dict.fromkeys(names, 0)
    dropped, train_rows, kept = 0, 0, []
    rng = np.random.default_rng(seed)
    # a reservoir (Algorithm R) of training rows' values, filled as the chunks pass
    kept_columns = [*numeric, *text, target]
    sample = {c: np.full(SAMPLE_ROWS, np.nan) if dtypes[c] is np.float64 else np.full(SAMPLE_ROWS, "", object)
              for c in kept_columns}
    for index, chunk in enumerate(_chunks(path, dtypes)):
        train, test, without = _split(chunk, target, seed, index, test_fraction)
        dropped += without
        if len(test) and sum(map(len, kept)) < test_limit:
            kept.append(test.iloc[:test_limit - sum(map(len, kept))])
        for column in numeric:  # parsed as floats: an empty cell is NaN
            missing[column] += int(train[column].isna().sum() + test[column].isna().sum())
        for column in text:
            values = pd.concat([train[column], test[column]])
            missing[column] += int((text_cells(values) == "").sum())
        values = train[numeric].to_numpy(np.float64)
        present = ~np.isnan(values)
        count += present.sum(0)
        total += np.where(present, values, 0).sum(0)
        squares += np.where(present, values ** 2, 0).sum(0)
        for column in text:
            categories[column].update(text_cells(train[column]).unique())
            if len(categories[column]) > user_table.MAX_CATEGORIES:
                raise UserError(user_table.too_many_categories(path, column))
        if task == "classification":  # the test rows' too: a class may be met there only
            classes.update(text_cells(pd.concat([train[target], test[target]])).unique())
        position = train_rows + np.arange(len(train))  # 0-based count of training rows before each
        slots = np.where(position < SAMPLE_ROWS, position, (rng.random(len(train)) * (position + 1)).astype(np.int64))
        chosen = slots < SAMPLE_ROWS
        for column in kept_columns:
            sample[column][slots[chosen]] = train[column].to_numpy()[chosen]
        train_rows += len(train)
    if train_rows < 2 or not kept:
        raise UserError(f"{path}: {train_rows} training rows; too few to train and test")
    sampled = pd.DataFrame({c: values[:min(train_rows, SAMPLE_ROWS)] for c, values in sample.items()})
    fill: dict[str, float | str] = {}
    for column in numeric:
        known = sampled[column].dropna()
        fill[column] = float(known.median()) if len(known) else 0.0
    one_hot = {}
    for column in text:
        cells = text_cells(sampled[column])
        cells = cells[cells != ""]
        fill[column] = cells.mode().iloc[0] if len(cells) else ""
        one_hot[column] = sorted(categories[column] - {""}) or [""]
    ordered = user_table.class_names(classes, path, target, max_classes) if task == "classification" else []
    prep = TablePrep(numeric, target, task, ordered, one_hot=one_hot, fill=fill)
    # standardisation: exact training statistics, missing cells counted at their fill value
    filled = train_rows - count
    mean = (total + filled * np.array([fill[c] for c in numeric])) / train_rows
    second = (squares + filled * np.array([fill[c] for c in numeric]) ** 2) / train_rows
    scale = np.sqrt(np.maximum(second - mean ** 2, 0))
    scale[scale == 0] = 1.0
    prep.mean, prep.scale = mean.tolist(), scale.tolist()
    test = pd.concat(kept, ignore_index=True)
    report = {"data": str(path), "streamed": True, "train_rows": int(train_rows), "test_rows": int(len(test)),
              "rows_without_target": dropped, "target": target,
              "column_types": {c: "numeric" if c in numeric else "categorical" for c in names},
              "missing_values": {c: n for c, n in missing.items() if n}, "categories": {c: len(v) for c, v in
                                                                                         one_hot.items()},
              "fill": "medians of a reservoir sample of training rows", "sample_rows": len(sampled)}
    stream = Stream(path, target, task, prep, dtypes, test_fraction, seed, train_rows, test,
                    np.zeros(0), report)
    stream.targets_sample = stream.y(sampled[target])
    return stream


class StreamingTable:
    """The training rows of a Stream as the engine's streaming data: ``len()`` rows, and ``batches()``."""

    def __init__(self, stream: Stream, buffer_rows: int = BUFFER_ROWS):
        import torch

        self.stream, self.buffer_rows = stream, buffer_rows
        self.device = torch.device("cpu")
        sample = np.array(stream.targets_sample)  # a copy the tensor may own
        self.targets = torch.as_tensor(sample, dtype=torch.float32).reshape(-1, 1) \
            if stream.task == "regression" else torch.as_tensor(sample)

    def __len__(self) -> int:
        return self.stream.train_rows

    def to(self, device) -> StreamingTable:
        self.device = device
        return self

    def batches(self, batch_size: int, seed: int, epoch: int | None, rank: int = 0, world: int = 1):
        import torch

        if world != 1:
            raise UserError("stream=true trains in one process; leave out --nproc")
        s = self.stream
        rng = np.random.default_rng([seed, 7, epoch or 0])
        inputs, targets = [], []
        held = 0
        regression = s.task == "regression"

        def emit(final: bool):
            nonlocal inputs, targets, held
            X, y = np.concatenate(inputs), np.concatenate(targets)
            if epoch is not None:
                order = rng.permutation(len(X))
                X, y = X[order], y[order]
            cut = len(X) if final else len(X) - len(X) % batch_size
            for start in range(0, cut, batch_size):
                xb = torch.from_numpy(X[start:start + batch_size].astype(np.float32))
                yb = torch.from_numpy(y[start:start + batch_size])
                yield xb.to(self.device), (yb.float().reshape(-1, 1) if regression else yb).to(self.device)
            inputs, targets, held = [X[cut:]], [y[cut:]], len(X) - cut

        for index, chunk in enumerate(_chunks(s.path, s.dtypes)):
            train, _, _ = _split(chunk, s.target, s.seed, index, s.test_fraction)
            if not len(train):
                continue
            inputs.append(s.prep.transform(train, str(s.path)))
            targets.append(s.y(train[s.target]))
            held += len(train)
            if held >= self.buffer_rows:
                yield from emit(final=False)
        if held:
            yield from emit(final=True)


def load(path: str | Path, target: str, task: str, features: str = "", categorical: str = "",
         test_fraction: float = 0.2, seed: int = 42, test_limit: int = 100_000,
         max_classes: int = user_table.MAX_CLASSES) -> Stream:
    path = Path(path)
    stat = path.stat() if path.is_file() else None
    return scan(path, target, task, features, categorical, test_fraction, seed, test_limit,
                stat and (stat.st_mtime_ns, stat.st_size), max_classes)

