"""Applying a finished run to new data: ``mlprojects predict RUN INPUT...``, ``mlprojects.load(run).predict``
and the web app of any run all come here, with inputs in the form a user has them.

- a table (``project.inputs == "table"``): a CSV or DataFrame with the training columns, in any order,
  extra columns carried through; prepared by the preparation saved with the model (imputation, one-hot,
  standardisation with the training statistics); out come the predicted value (in the target's unit),
  the class and each class's probability, or the cluster;
- images: files, folders, PIL images or arrays, any size and mode, through the same preprocessing as the
  web app; out come the top-k labels with their probabilities;
- a series: recent readings (a CSV or DataFrame with the series column and, optionally, a time column);
  out come the next ``horizon`` forecasts with their times, or, with ``backtest``, a forecast for every
  reading of the file that has a full window before it, beside the reading itself;
- texts (fine-tuned transformers): strings or text files, one input per line; out come the label and
  its score, or the entities.

The result is a pandas DataFrame; bad input is one UserError naming what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from mlprojects.errors import UserError
from mlprojects.rundir import Run

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


ENGINES = ("auto", "torch", "onnxruntime")


def predict(run: Run, inputs: Any, *, top_k: int = 3, backtest: bool = False, engine: str = "auto") -> pd.DataFrame:
    """RUN's predictions for INPUTS (see the module docstring for what each kind of project takes).
    ENGINE: the networks on images run in onnxruntime by default where it is installed (it fuses each
    convolution with its bias and activation and keeps the weights pre-packed: 1.4-2.4x PyTorch eager
    here, outputs within 1e-5), everything else in PyTorch, as in training; "torch" or "onnxruntime" choose."""
    if engine not in ENGINES:
        raise UserError(f"engine={engine}: one of {', '.join(ENGINES)}")
    kind = run.project.inputs
    if not kind:
        what = "samples with `mlprojects generate`" if hasattr(run.project, "generate") else "computes its figures"
        raise UserError(f"{run.name} has nothing to predict: it {what}")
    if kind in ("table", "series") and run.preparation is None:
        raise UserError(f"{run.path} was trained before runs kept their input preparation; run it again "
                        f"(mlprojects run {run.name} ...) to predict with it")
    if backtest and kind != "series":
        raise UserError(f"backtest is for forecasting projects, not {run.name}")
    if top_k < 1:
        raise UserError(f"top_k={top_k}: must be at least 1")
    return {"table": _table, "image": _images, "series": _series, "text": _texts}[kind](
        run, inputs, top_k=top_k, backtest=backtest, engine=engine)


# --- reading what a user has -----------------------------------------------------------------------

def read_csv(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path}: not a readable CSV ({str(error).strip().splitlines()[0]}); give a CSV file "
                        "with a header line") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    if frame.empty:
        raise UserError(f"{path}: no rows to predict")
    return frame


def as_frame(inputs: Any, columns: list[str]) -> tuple[pd.DataFrame, str]:
    """(the rows, where they came from) from a DataFrame, CSV path(s), a dict of columns, or an array whose
    columns are COLUMNS in order."""
    if isinstance(inputs, pd.DataFrame):
        return inputs.reset_index(drop=True), ""
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


def image_items(inputs: Any) -> list[tuple[str, Any]]:
    """(name, image) pairs: files, the image files of folders (sorted), PIL images or arrays."""
    items: list[tuple[str, Any]] = []
    singles = (str, Path, np.ndarray)
    for index, item in enumerate([inputs] if isinstance(inputs, singles) or hasattr(inputs, "getbands") else inputs):
        if isinstance(item, (str, Path)):
            path = Path(item)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
                if not found:
                    raise UserError(f"{path}: no image files in this folder ({', '.join(IMAGE_SUFFIXES)})")
                items += [(str(p), p) for p in found]
            elif path.is_file():
                items.append((str(path), path))
            else:
                raise UserError(f"{path}: no such file or folder")
        else:
            items.append((f"image {index + 1}", item))
    if not items:
        raise UserError("no images given: name image files or folders")
    return items


# --- one function per kind of input ----------------------------------------------------------------

def _outputs(run: Run, inputs, engine: str = "torch") -> np.ndarray:
    """The trained model's float outputs for float32 INPUTS: in onnxruntime (ENGINE onnxruntime), or as the
    trainer computed them in training."""
    import contextlib

    import torch

    if engine == "onnxruntime":
        array = inputs.numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs, dtype=np.float32)
        session = onnx_session(run)
        feed = session.get_inputs()[0].name
        size = run.cfg.eval_batch_size
        return np.concatenate([session.run(None, {feed: array[i:i + size]})[0] for i in range(0, len(array), size)])

    from mlprojects.engine.trainer import predict as forward

    cfg = run.cfg
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cfg.precision == "bf16" else contextlib.nullcontext()
    memory_format = torch.channels_last if getattr(cfg, "channels_last", False) else None
    tensor = inputs if isinstance(inputs, torch.Tensor) else torch.tensor(inputs, dtype=torch.float32)
    return forward(run.model, tensor, cfg.eval_batch_size, "cpu", autocast, memory_format).numpy()


def _class_columns(names: list[str], probabilities: np.ndarray, target: str) -> dict[str, Any]:
    best = probabilities.argmax(1)
    columns: dict[str, Any] = {f"predicted_{target or 'class'}": [names[i] for i in best],
                               "probability": probabilities[np.arange(len(best)), best]}
    columns.update({f"probability_{name}": probabilities[:, i] for i, name in enumerate(names)})
    return columns


def _table(run: Run, inputs: Any, **_) -> pd.DataFrame:
    prep = run.preparation
    frame, source = as_frame(inputs, prep.inputs)
    X = prep.transform(frame, source)
    target = prep.target or "value"
    if run.project.kind == "estimator":
        estimator = run.model
        X = run.project.features(run.cfg, X)
        if prep.task == "clustering":
            columns = {"cluster": estimator.predict(X)}
        elif prep.task == "classification":
            names = [str(c) for c in estimator.classes_]
            columns = _class_columns(names, np.asarray(estimator.predict_proba(X)), target)
        else:
            columns = {f"predicted_{target}": estimator.predict(X)}
    else:
        outputs = _outputs(run, X.astype(np.float32)).astype(np.float64)
        if prep.task == "classification":
            from scipy.special import softmax

            columns = _class_columns(run.class_names(), softmax(outputs, axis=1), target)
        else:
            columns = {f"predicted_{target}": outputs[:, 0]}
    result = frame.copy()
    for name, values in columns.items():
        result[name] = values
    return result


def image_engine(engine: str) -> str:
    """auto: onnxruntime where it is installed (the measured faster path for networks on images)."""
    if engine != "auto":
        if engine == "onnxruntime" and not _has_onnxruntime():
            raise UserError("engine=onnxruntime needs onnx, onnxscript and onnxruntime: pip install "
                            "'mlprojects[export]'")
        return engine
    return "onnxruntime" if _has_onnxruntime() else "torch"


def _has_onnxruntime() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript", "onnxruntime"))


_SESSIONS: dict[str, Any] = {}


def onnx_session(run: Run):
    """An onnxruntime session of RUN's model: exported once to RUN/model.onnx (or a temporary file when the run
    directory is read-only), checked against PyTorch on random inputs, and kept for the next call."""
    import onnxruntime

    path = run.path / "model.onnx"
    key = f"{path}:{(run.path / 'model.safetensors').stat().st_mtime_ns}"
    if key not in _SESSIONS:
        if not path.is_file() or path.stat().st_mtime_ns < (run.path / "model.safetensors").stat().st_mtime_ns:
            from mlprojects.export import for_inference

            path = for_inference(run, path)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        _SESSIONS[key] = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _SESSIONS[key]


def _images(run: Run, inputs: Any, *, top_k: int = 3, engine: str = "auto", **_) -> pd.DataFrame:
    from scipy.special import softmax

    items = image_items(inputs)
    pixels = []
    for name, image in items:
        try:
            pixels.append(run.project.image_pixels(run.cfg, image))
        except UserError as error:
            raise UserError(f"{name}: {error}") from None
    outputs = _outputs(run, run.project.images_to_inputs(run.cfg, np.stack(pixels)), image_engine(engine))
    probabilities = softmax(outputs.astype(np.float64), axis=1)
    names = run.class_names()
    k = min(top_k, len(names))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    rows = []
    for (name, _), best, row in zip(items, order, probabilities):
        entry: dict[str, Any] = {"image": name}
        for rank, index in enumerate(best, 1):
            entry[f"label_{rank}"] = names[index]
            entry[f"probability_{rank}"] = float(row[index])
        rows.append(entry)
    return pd.DataFrame(rows)


TIME_COLUMNS = ("time", "timestamp", "date", "datetime")


def _series(run: Run, inputs: Any, *, backtest: bool = False, **_) -> pd.DataFrame:
    import torch

    prep = run.preparation
    frame, source = as_frame(inputs, [prep.column])
    where = f"{source}: " if source else ""
    from mlprojects.data.preparation import TablePrep

    values = TablePrep([prep.column]).numbers(frame, source)[:, 0]
    window, horizon = prep.window, prep.horizon
    if len(values) < window:
        raise UserError(f"{where}{len(values)} readings: the model reads windows of {window}; give at least that many")
    scaled = torch.from_numpy((values - prep.offset) / prep.factor)
    if backtest:
        targets = np.arange(window + horizon - 1, len(values))
        if not len(targets):
            raise UserError(f"{where}{len(values)} readings: a backtest needs more than {window + horizon - 1}")
    else:  # the next `horizon` readings, each from the latest window that ends `horizon` readings before it
        targets = np.arange(len(values), len(values) + horizon)
    starts = targets - horizon - window + 1
    usable = starts >= 0
    targets, starts = targets[usable], starts[usable]
    windows = torch.stack([scaled[start:start + window] for start in starts]).unsqueeze(-1).float()
    forecast = _outputs(run, windows)[:, 0].astype(np.float64) * prep.factor + prep.offset
    result = pd.DataFrame({"reading": targets})
    times = _times(frame, targets)
    if times is not None:
        result["time"] = times
    result[f"forecast_{prep.column}"] = forecast
    if backtest:
        result[prep.column] = values[targets]
        result["error"] = forecast - values[targets]
    return result


def _times(frame: pd.DataFrame, targets: np.ndarray):
    """The time of each target reading, from a time column (the step after the last reading is the last step
    seen), or None when the file has no time column."""
    column = next((c for c in frame.columns if c.lower() in TIME_COLUMNS), None)
    if column is None:
        return None
    stamps = pd.to_datetime(frame[column], errors="coerce")
    if stamps.isna().any() or len(stamps) < 2:
        raise UserError(f"column {column}: give a date and time on every row (e.g. 2014-12-31 23:45:00)")
    step = stamps.iloc[-1] - stamps.iloc[-2]
    last = len(stamps) - 1
    return [stamps.iloc[t] if t <= last else stamps.iloc[-1] + (t - last) * step for t in targets]


def _texts(run: Run, inputs: Any, *, top_k: int = 3, **_) -> pd.DataFrame:
    from mlprojects.nlp.tasks import run_task, to_json

    texts = text_items(inputs)
    task = run.project.text_task
    results = run_task(task, str(run.path / "model"), texts, device="cpu")
    rows = []
    for text, result in zip(texts, results):
        if task == "text-classification":
            rows.append({"text": text, "label": result["label"], "score": result["score"]})
        else:
            rows.append({"text": text, "entities": json.dumps(to_json(result))})
    return pd.DataFrame(rows)


def text_items(inputs: Any) -> list[str]:
    """Texts from strings, and from text files (one input per line) among them."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    texts: list[str] = []
    for item in items:
        path = Path(item)
        if isinstance(item, Path) or (len(str(item)) < 4096 and "\n" not in str(item) and path.is_file()):
            try:
                texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError):
                raise UserError(f"{path}: not a UTF-8 text file; give one input per line") from None
        elif str(item).strip():
            texts.append(str(item))
    if not texts:
        raise UserError("no texts given: write them as arguments, or name a file with one text per line")
    return texts


def write(frame: pd.DataFrame, out: str | Path | None, echo: Callable[[str], None] = print) -> None:
    """The predictions as CSV, to OUT (written whole or not at all) or to the screen."""
    if out is None:
        echo(frame.to_csv(index=False).rstrip("\n"))
        return
    from mlprojects.engine.io import write_text

    write_text(out, frame.to_csv(index=False))


__all__: Sequence[str] = ("predict", "write", "read_csv")
