"""What every kind of input answers; :class:`NoInputs` for projects with nothing to predict.

A kind reaches a finished run (``mlprojects.rundir.Run``) only through what it is handed: the run's
``name``, ``path``, ``project``, ``cfg``, ``preparation`` (how raw inputs became model inputs, saved with
the model), ``class_names()``, and, for ``predict``, a ``forward`` function that turns prepared float
inputs into the model's outputs (PyTorch or onnxruntime: ``mlprojects.predict`` chooses).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, ClassVar

from mlprojects.errors import UserError


def split_spec(spec: str) -> tuple[str, str]:
    """A data= setting as (its ``folder:`` or ``tfrecord:`` prefix, or "", the path after it)."""
    prefix = next((p for p in ("folder:", "tfrecord:") if spec.startswith(p)), "")
    return prefix, spec[len(prefix):]


def absolute(spec: str) -> str:
    """A data= setting with its path made absolute (``~`` expanded), keeping a ``folder:`` or ``tfrecord:``
    prefix, so that a run's saved settings name the same file from any folder (``run --resume``)."""
    prefix, path = split_spec(spec)
    return prefix + str(Path(path).expanduser().resolve()) if spec else spec


def bytes_as_text(values: Any) -> list[str]:
    """A BYTES tensor's elements (bytes or str) as text."""
    return [value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            for value in list(getattr(values, "ravel", lambda: values)())]


def v2_column(name: str, values: Any, hint: str = "") -> Any:
    """An Open Inference Protocol tensor that is one column (shape [N] or [N, 1]): its N values, as text for a BYTES
    tensor. Any other shape is one UserError (HINT: what else the kind takes): flattening it would read a reading
    or a row out of several."""
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise UserError(f"input {name}: shape {list(values.shape)}; a column is [N] or [N, 1]{hint}")
    return bytes_as_text(values) if values.dtype == object else values


def columns_frame(columns: dict[str, Any], where: str = ""):
    """A DataFrame of COLUMNS (name -> its values, one a row); columns of different lengths are one UserError naming
    them (pandas' own error named none)."""
    import pandas as pd

    lengths = {str(name): len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} {count}" for name, count in list(lengths.items())[:8]) + \
            (", ..." if len(lengths) > 8 else "")
        raise UserError(f"{where}the columns hold different numbers of values ({shown}); give each column one "
                        "value a row")
    return pd.DataFrame(columns)


def softmax(scores):
    """Class probabilities of a (rows, classes) array of scores: scipy.special.softmax's arithmetic, without its
    array-API checks (half of its time on a row)."""
    import numpy as np

    shifted = np.exp(scores - scores.max(1, keepdims=True))
    return shifted / shifted.sum(1, keepdims=True)


def _records_frame(records: list):
    """Records (JSON objects) as a DataFrame, as pandas reads them: records of the same keys holding numbers only
    (a request's usual form) in one float block, 4x quicker than pandas' reading of dicts."""
    import numpy as np
    import pandas as pd

    keys = list(records[0]) if records and isinstance(records[0], dict) else None
    if keys and all(isinstance(r, dict) and list(r) == keys for r in records) and all(
            type(v) in (int, float) for r in records for v in r.values()):
        return pd.DataFrame(np.array([list(r.values()) for r in records], dtype=np.float64),
                            columns=column_index(tuple(keys)))
    return pd.DataFrame(records)


@functools.lru_cache(maxsize=64)
def column_index(names: tuple[str, ...]):
    """The columns' Index, made once per set of names: making it is most of what a one-row DataFrame costs. Of
    Python strings: pandas' Arrow-backed strings take 8x longer to list, which every check of the columns does."""
    import pandas as pd

    return pd.Index(names, dtype=object)


def body_frame(body: Any, columns: list[str]):
    """A DataFrame from an MLflow scoring request: a CSV's text, ``dataframe_split`` (columns and data),
    ``dataframe_records``, or ``instances``/``inputs`` as records, a dict of columns, or rows in COLUMNS' order."""
    import pandas as pd

    from mlprojects.data import csvfile

    if isinstance(body, str):
        return csvfile.read_text(body, "the request's CSV")
    try:
        if "dataframe_split" in body:
            split = body["dataframe_split"]
            return pd.DataFrame(split["data"], columns=split.get("columns") or columns)
        if "dataframe_records" in body:
            if body["dataframe_records"] == []:
                raise UserError("no rows to predict")
            return _records_frame(list(body["dataframe_records"]))
        data = body["instances"] if "instances" in body else body["inputs"]
    except (KeyError, TypeError, ValueError) as problem:
        raise UserError(f"a request of {', '.join(columns)}: {type(problem).__name__} {problem}; send "
                        '{"dataframe_split": {"columns": [...], "data": [[...]]}}, {"dataframe_records": [{...}]}, '
                        '{"instances": ...} or {"inputs": ...}') from None
    if isinstance(data, dict):
        return columns_frame({key: list(value) if isinstance(value, (list, tuple)) else [value]
                              for key, value in data.items()}, "inputs: ")
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return _records_frame(data)
    rows = [data] if isinstance(data, list) and data and not isinstance(data[0], (list, tuple)) else data
    if not isinstance(rows, list) or not rows or any(len(row) != len(columns) for row in rows):
        shape = f"rows of {len(columns)} values in the order" if len(columns) > 1 else "rows of one value, a"
        raise UserError(f"instances: give records, a dict of columns, or {shape} {', '.join(columns)}")
    return pd.DataFrame(rows, columns=columns)


def fingerprint(path: Path) -> str:
    """The sha256 of a file, or of a folder's listing (each file's relative path, size and modification time)."""
    from mlprojects.data.store import sha256_of

    if path.is_file():
        return sha256_of(path)
    import hashlib

    listing = sorted(f"{p.relative_to(path)}\t{stat.st_size}\t{stat.st_mtime_ns}" for p in path.rglob("*")
                     if p.is_file() for stat in [p.stat()])
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()


Forward = Callable[[Any], Any]  # prepared inputs (a float32 array or tensor) -> the model's outputs (an array)
Apply = Callable[..., Any]  # (inputs, **options) -> predict's DataFrame; a user error shown on the page


class Inputs:
    """A kind of input: reading a user's data for training and for predict, the page that serves it, what export
    says of it."""

    #: its name, for people and an exported model's metadata (never compared by other modules)
    kind: ClassVar[str] = ""
    #: the exported graph's input name
    tensor_name: ClassVar[str] = "inputs"
    #: what predict's engine ``auto`` picks: onnxruntime where installed (measured faster for the networks on
    #: images), unless the model was trained in bf16 on a CPU that computes it; else PyTorch as in training
    prefers_onnxruntime: ClassVar[bool] = False
    #: the command line's predict takes one input (a CSV of readings), not several
    one_input: ClassVar[bool] = False
    #: the model is built from the preparation saved with it (runs from before it was saved cannot be loaded)
    needs_preparation: ClassVar[bool] = False
    #: predict takes ``backtest`` (a forecast for every reading that has a full window before it)
    backtests: ClassVar[bool] = False

    def reads(self, cfg: Any) -> bool:
        """Whether a project's settings name the user's own data (``data=``), which this kind reads for training."""
        return False

    def data_file(self, cfg: Any) -> Path | None:
        """The user's file or folder that CFG names for training (checked unchanged when a run resumes), or None."""
        if not self.reads(cfg):
            return None
        return Path(split_spec(cfg.data)[1])

    def data_name(self, cfg: Any, own: str) -> str:
        """What a report's titles call the run's data: the user's file or folder, else OWN (the project's)."""
        path = self.data_file(cfg)
        return own if path is None else path.name

    def training_data(self, project, cfg: Any) -> Any:
        """The user's data that CFG names, prepared for PROJECT: a ``Prepared`` (or a ``Table`` for an estimator)."""
        raise NotImplementedError

    def check(self, run, backtest: bool = False) -> None:
        """Refuse, in one line, a run or an option this kind cannot predict with."""
        if backtest and not self.backtests:
            raise UserError(f"backtest is for forecasting projects, not {run.name}")

    def predict(self, run, inputs: Any, *, forward: Forward, top_k: int = 3, backtest: bool = False,
                strict: bool = False):
        """RUN's predictions for INPUTS, in the form a user has them, as a pandas DataFrame: what the kind carries
        through of the inputs (a table's own columns, the images' names), then the answer. STRICT: refuse inputs
        with missing values rather than fill them (as training filled them), which is said in a warning. A kind
        defines this or :meth:`answers`."""
        import pandas as pd

        carried, answer = self.answers(run, inputs, forward=forward, top_k=top_k, backtest=backtest, strict=strict)
        if isinstance(carried, dict):
            return pd.DataFrame({**carried, **answer})
        return pd.concat([carried, pd.DataFrame(answer, index=carried.index)], axis=1)  # 3x quicker than a column each

    def answers(self, run, inputs: Any, *, forward: Forward, top_k: int = 3, backtest: bool = False,
                strict: bool = False) -> tuple[Any, dict[str, Any]]:
        """(what :meth:`predict` carries through of INPUTS: a DataFrame, or a dict of columns; the answer: column
        -> a list or array of one value per input). A request is answered with the answer alone, which spares
        building DataFrames (most of a one-row request's time in pandas)."""
        if type(self).predict is Inputs.predict:
            raise NotImplementedError(f"{type(self).__name__} defines neither predict nor answers")
        result = self.predict(run, inputs, forward=forward, top_k=top_k, backtest=backtest, strict=strict)
        return {}, {column: result[column].to_numpy() for column in result.columns}

    def from_request(self, run, body: Any) -> Any:
        """MLflow's scoring protocol (``POST /invocations``): a request's body, parsed JSON (a dict holding
        ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``) or a CSV's text, as predict's
        inputs."""
        raise UserError(f"{run.name} takes no requests")

    def v2_inputs(self, run) -> list[dict[str, Any]]:
        """The Open Inference Protocol's description of the inputs: each one's name, datatype and shape."""
        return []

    def from_v2(self, run, tensors: dict[str, Any]) -> Any:
        """The Open Inference Protocol's input tensors (name -> a NumPy array; BYTES as an object array of bytes
        or str) as predict's inputs."""
        raise UserError(f"{run.name} takes no requests")

    def join(self, run, items: list) -> Any:
        """One input of several requests' inputs (from ``from_request`` or ``from_v2``), whose predictions are
        theirs in order, one row per input; None where this kind answers requests one by one."""
        return None

    def classifies(self, run) -> bool:
        """Whether the model's outputs are class scores (export then checks the same argmax)."""
        return False

    def export_metadata(self, run) -> dict[str, Any]:
        """What an exported model's metadata says, beyond the saved preparation, of how raw inputs are prepared."""
        return {}

    def random_inputs(self, run, count: int):
        """COUNT prepared inputs made without the run's data, to check an export on (images only)."""
        raise UserError(f"{run.name}: its model is exported with its data (mlprojects export)")

    def page(self, run, apply: Apply) -> None:
        """The Gradio controls of ``mlprojects serve RUN`` (inside the page's Blocks), calling APPLY."""
        raise NotImplementedError

    def describe_in_tensorboard(self, folder: Path, model, project, cfg, data) -> None:
        """Anything TensorBoard shows of this kind after training (images: the embedding projector)."""


class NoInputs(Inputs):
    """A project with nothing to predict: a demonstration, or a generator (``mlprojects generate``)."""

    def __init__(self, does: str = "computes its figures"):
        self.does = does

    def check(self, run, backtest: bool = False) -> None:
        raise UserError(f"{run.name} has nothing to predict: it {self.does}")

    def page(self, run, apply: Apply) -> None:
        raise UserError(f"{run.name} has nothing to predict, so nothing to serve")
