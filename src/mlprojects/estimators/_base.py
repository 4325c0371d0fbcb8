"""What the estimators share: input checks, the device, numpy <-> torch, persistence in safetensors.

Learned attributes (``coef_``, ``cluster_centers_`` ...) are numpy arrays, as scikit-learn users
expect; the arithmetic runs in torch on ``device``. Inputs are checked with scikit-learn's own
``validate_data`` so NaN, infinities, wrong shapes and feature-count mismatches fail with its
messages, and pandas column names are tracked the same way.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlprojects.errors import UserError

FLOATS = [np.float64, np.float32]


class TorchEstimatorMixin:
    """``device``: ``cpu`` (default), ``cuda``, ``cuda:N``, ``mps`` or ``auto``."""

    def _torch_device(self) -> torch.device:
        from mlprojects.engine.device import resolve

        try:
            return resolve(self.device)
        except UserError as error:
            raise ValueError(str(error).replace("--device ", "device=")) from None


def as_tensor(array: Any, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A tensor sharing memory with ``array`` where it can (inputs are never written to)."""
    with warnings.catch_warnings():  # read-only arrays (memmaps) are fine: nothing writes to them
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(np.ascontiguousarray(array), device=device, dtype=dtype)


def rows_per_chunk(row_bytes: int, working_memory_mib: float) -> int:
    """How many rows of ``row_bytes`` fit in the working-memory budget (at least one)."""
    return max(1, int(working_memory_mib * 2**20) // max(1, row_bytes))


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


# --- persistence: parameters and learned state in one safetensors file, no pickle -----------------

def save(estimator: Any, path: str | Path) -> Path:
    """Write a fitted estimator: arrays as tensors, everything else as JSON metadata."""
    from safetensors.torch import save_file

    from mlprojects.engine.io import atomic_write

    tensors: dict[str, torch.Tensor] = {}
    kinds: dict[str, str] = {}
    scalars: dict[str, Any] = {}
    params = estimator.get_params(deep=False)
    state = {f"param.{k}": v for k, v in params.items()}
    state.update({f"state.{k}": v for k, v in vars(estimator).items() if k not in params})
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            tensors[key], kinds[key] = value.detach().cpu().contiguous(), "torch"
        elif isinstance(value, np.ndarray) and value.dtype != object:
            tensors[key], kinds[key] = torch.from_numpy(np.ascontiguousarray(value)), "numpy"
        elif isinstance(value, np.ndarray):  # string class labels: JSON
            scalars[key], kinds[key] = value.tolist(), "strings"
        elif isinstance(value, (np.generic,)):
            scalars[key] = value.item()
        else:
            scalars[key] = value
    metadata = {"class": type(estimator).__name__, "kinds": json.dumps(kinds), "values": json.dumps(scalars)}
    return atomic_write(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))


def load(path: str | Path, device: str | None = None) -> Any:
    """Read what :func:`save` wrote; ``device`` overrides the saved device (e.g. ``cpu``)."""
    from safetensors import safe_open

    from mlprojects import estimators

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        name, kinds, values = metadata["class"], json.loads(metadata["kinds"]), json.loads(metadata["values"])
    except (KeyError, ValueError, OSError) as error:
        raise UserError(f"{path} is not a saved mlprojects estimator ({error})") from None
    if name not in estimators.__all__:
        raise UserError(f"{path} holds an unknown estimator class {name!r}")
    merged: dict[str, Any] = dict(values)
    for key, tensor in tensors.items():
        merged[key] = tensor.numpy() if kinds[key] == "numpy" else tensor
    for key, kind in kinds.items():
        if kind == "strings":
            merged[key] = np.asarray(values[key], dtype=object)
    params = {k.removeprefix("param."): v for k, v in merged.items() if k.startswith("param.")}
    if device is not None:
        params["device"] = device
    estimator = getattr(estimators, name)(**params)
    target = estimator._torch_device()
    for key, value in merged.items():
        if key.startswith("state."):
            setattr(estimator, key.removeprefix("state."), value.to(target) if isinstance(value, torch.Tensor) else value)
    return estimator
