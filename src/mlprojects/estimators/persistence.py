"""A fitted estimator in one safetensors file: its tensors and arrays as tensors, its parameters and
other state as JSON in the file's metadata, nothing pickled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlprojects.errors import UserError
from mlprojects.estimators.kmeans import KMeans
from mlprojects.estimators.linear import LinearRegression, LogisticRegression
from mlprojects.estimators.neighbors import KNeighborsClassifier

CLASSES = {cls.__name__: cls for cls in (KMeans, KNeighborsClassifier, LinearRegression, LogisticRegression)}


def save(estimator: Any, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write a fitted estimator: arrays as tensors, everything else as JSON metadata (plus METADATA, such as
    the preparation of its inputs, which ``load`` leaves to the caller)."""
    from mlprojects.engine.io import save_safetensors

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
    metadata = {**(metadata or {}), "class": type(estimator).__name__, "kinds": json.dumps(kinds),
                "values": json.dumps(scalars)}
    return save_safetensors(path, tensors, metadata)


def load(path: str | Path, device: str | None = None) -> Any:
    """Read what :func:`save` wrote; ``device`` overrides the saved device (e.g. ``cpu``)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        name, kinds, values = metadata["class"], json.loads(metadata["kinds"]), json.loads(metadata["values"])
    except (KeyError, ValueError, OSError, SafetensorError) as error:
        raise UserError(f"{path} is not a saved mlprojects estimator ({error})") from None
    if name not in CLASSES:
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
    estimator = CLASSES[name](**params)
    target = estimator._torch_device()
    for key, value in merged.items():
        if key.startswith("state."):
            value = value.to(target) if isinstance(value, torch.Tensor) else value
            setattr(estimator, key.removeprefix("state."), value)
    return estimator
