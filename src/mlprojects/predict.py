"""Applying a finished run to new data: ``mlprojects predict RUN INPUT...``, ``mlprojects.load(run).predict``
and the web app of any run all come here, with inputs in the form a user has them.

The project's kind of input (``project.inputs``, one of ``mlprojects.inputs``) reads them and writes the
answer: a table's rows with their predicted value, class or cluster; images' top-k labels; a series'
forecasts; texts' labels or entities. This module runs the model in between, in PyTorch as in training
or in onnxruntime. The result is a pandas DataFrame; bad input is one UserError naming what is wrong.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from mlprojects.errors import UserError
from mlprojects.inputs.image import image_items
from mlprojects.inputs.table import read_csv
from mlprojects.rundir import Run

ENGINES = ("auto", "torch", "onnxruntime")


def predict(run: Run, inputs: Any, *, top_k: int = 3, backtest: bool = False, engine: str = "auto",
            strict: bool = False) -> pd.DataFrame:
    """RUN's predictions for INPUTS, read and answered by the project's kind of input (``mlprojects.inputs``).
    ENGINE: a kind that prefers it (the networks on images) runs in onnxruntime where it is installed (it fuses
    each convolution with its bias and activation and keeps the weights pre-packed: 1.4-2.4x PyTorch eager
    here, outputs within 1e-5), unless its model was trained in bfloat16 on a CPU that computes it; everything
    else in PyTorch, as in training; "torch" or "onnxruntime" choose.
    STRICT: refuse a table's missing values instead of filling them as training did (a warning says so)."""
    return _through(run.project.inputs.predict, run, inputs, top_k, backtest, engine, strict)


def answers(run: Run, inputs: Any, *, top_k: int = 3, backtest: bool = False, engine: str = "auto",
            strict: bool = False) -> dict[str, Any]:
    """The answer of :func:`predict` alone, as columns (name -> one value per input), without the inputs it
    carries through: what a request to ``mlprojects serve`` is answered with."""
    return _through(run.project.inputs.answers, run, inputs, top_k, backtest, engine, strict)[1]


def _through(method, run: Run, inputs: Any, top_k: int, backtest: bool, engine: str, strict: bool):
    """METHOD of RUN's kind of input, applied to INPUTS with the model run by ENGINE, once the options are checked."""
    if engine not in ENGINES:
        raise UserError(f"engine={engine}: one of {', '.join(ENGINES)}")
    run.project.inputs.check(run, backtest)
    if top_k < 1:
        raise UserError(f"top_k={top_k}: must be at least 1")
    chosen = choose_engine(engine, run.project.inputs.prefers_onnxruntime and not _bf16_as_trained(run))
    return method(run, inputs, forward=lambda prepared: _outputs(run, prepared, chosen), top_k=top_k,
                  backtest=backtest, strict=strict)


def _outputs(run: Run, inputs, engine: str = "torch") -> np.ndarray:
    """The trained model's float outputs for float32 INPUTS: in onnxruntime (ENGINE onnxruntime), or as the
    trainer computed them in training."""
    import torch

    if engine == "onnxruntime":
        array = inputs.numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs, dtype=np.float32)
        session = onnx_session(run)
        feed = session.get_inputs()[0].name
        size = run.cfg.eval_batch_size
        return np.concatenate([session.run(None, {feed: array[i:i + size]})[0] for i in range(0, len(array), size)])

    from mlprojects.engine import device as devices
    from mlprojects.engine.trainer import predict as forward

    cfg = run.cfg
    # as the model was trained (an fp16 run, a GPU's, predicts in float32 here)
    context = devices.autocast("bf16" if _trained_in(run) == "bf16" else "fp32", "cpu")
    memory_format = torch.channels_last if run.project.channels_last(cfg) else None
    if isinstance(inputs, torch.Tensor):
        tensor = inputs
    else:  # shared, not copied (a copy was a tenth of a one-row prediction), unless NumPy holds it read-only
        array = np.asarray(inputs, dtype=np.float32)
        tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
    return forward(run.model, tensor, cfg.eval_batch_size, "cpu", context, memory_format).numpy()


def _trained_in(run: Run) -> str:
    """The precision RUN's model was trained in: its run's choice (precision=auto), else its settings' (a run from
    before the choice was recorded)."""
    return run.metrics.get("precision", run.cfg.precision)


def _bf16_as_trained(run: Run) -> bool:
    """Whether RUN's model was trained in bfloat16 and this CPU computes bfloat16 natively: PyTorch then predicts
    as the run was evaluated, so its test figure exactly, and faster than onnxruntime's float32 (LeNet at batch
    1000: 13,150 against 6,000-7,500 images/s on a Xeon with AMX; 8,136 against 6,653 on an EPYC with
    AVX512-BF16)."""
    if _trained_in(run) != "bf16":
        return False
    import torch

    from mlprojects.engine import device as devices

    return devices.bf16_is_fast(torch.device("cpu"))


def choose_engine(engine: str, prefers_onnxruntime: bool) -> str:
    """auto: onnxruntime where the kind of input prefers it and it is installed, else PyTorch."""
    if engine != "auto":
        if engine == "onnxruntime" and not _has_onnxruntime():
            raise UserError("engine=onnxruntime needs onnx, onnxscript and onnxruntime: pip install "
                            "'mlprojects[export]'")
        return engine
    return "onnxruntime" if prefers_onnxruntime and _has_onnxruntime() else "torch"


@functools.cache  # asked on every prediction; looking for the modules is 0.3 ms
def _has_onnxruntime() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript", "onnxruntime"))


_SESSIONS: dict[str, Any] = {}


def onnx_session(run: Run):
    """An onnxruntime session of RUN's model: exported once to RUN/model.onnx (or, when the run directory is
    read-only, to a temporary folder deleted once the session has read it), checked against PyTorch on random
    inputs, and kept for the next call."""
    path = run.path / "model.onnx"
    key = f"{path}:{(run.path / 'model.safetensors').stat().st_mtime_ns}"
    if key not in _SESSIONS:
        if not path.is_file() or path.stat().st_mtime_ns < (run.path / "model.safetensors").stat().st_mtime_ns:
            from mlprojects.export import for_inference

            path = for_inference(run, path)
        try:
            _SESSIONS[key] = open_session(path)
        finally:
            if path.parent != run.path:  # the temporary folder: every process would otherwise leave a model there
                import shutil

                shutil.rmtree(path.parent, ignore_errors=True)
    return _SESSIONS[key]


def open_session(path: str | Path):
    """An onnxruntime session of the model at PATH, on the CPU, as ``predict`` and ``serve`` run it (and
    ``benchmarks/bench_cnn.py`` measures it)."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = torch.get_num_threads()  # as many as PyTorch (OMP_NUM_THREADS) uses
    # its threads sleep between runs instead of spinning: spinning took the cores a server's other requests
    # needed (mnist-cnn served to 8 clients on 2 cores: x0.75 -> x0.98 the fixed peer); a batch prediction loses
    # nothing by it (LeNet, batches of 1,000 on a 2-core EPYC of family 25: 6,102-6,382 images/s without
    # spinning, 5,826-6,836 with it, alternated)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def write(frame: pd.DataFrame, out: str | Path | None, echo: Callable[[str], None] = print) -> None:
    """The predictions as CSV, to OUT (written whole or not at all) or to the screen."""
    if out is None:
        echo(frame.to_csv(index=False).rstrip("\n"))
        return
    from mlprojects.engine.io import write_text

    write_text(out, frame.to_csv(index=False))


__all__: Sequence[str] = ("predict", "answers", "write", "read_csv", "image_items")
