"""Checkpoints as one safetensors file: no pickle anywhere.

Tensors (model weights, optimizer buffers, RNG states) are stored under prefixed keys; everything
else (epoch, optimizer hyper-parameters, scheduler state, history, config) goes into the file's
JSON metadata. The write is atomic, so a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mlprojects.engine.io import dumps, save_safetensors
from mlprojects.errors import UserError

_NONE = "__none__"


def save_weights(path: str | Path, model: torch.nn.Module, metadata: dict[str, str] | None = None) -> Path:
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    return save_safetensors(path, state, metadata)


def load_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Weights from a ``model.safetensors`` file or from a checkpoint."""
    tensors, metadata = _read(path)
    unwrap(model).load_state_dict(_model_weights(tensors) if "format" in metadata else tensors)


def _model_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DDP and torch.compile wrappers."""
    while True:  # both wrappers hold the module as a child (a hasattr on a module's missing name raises inside)
        inner = model._modules.get("module", model._modules.get("_orig_mod"))
        if inner is None:
            return model
        model = inner


def save(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
         state: dict[str, Any]) -> Path:
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    optim = optimizer.state_dict()
    slots: dict[str, dict[str, Any]] = {}
    for param_id, param_state in optim["state"].items():
        slots[str(param_id)] = {}
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{param_id}.{name}"] = value.detach().contiguous().cpu()
            else:
                slots[str(param_id)][name] = _NONE if value is None else value
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = rng
    metadata = {
        "format": "mlprojects-checkpoint-1",
        "optimizer_groups": dumps(optim["param_groups"]),
        "optimizer_slots": dumps(slots),
        "scheduler": dumps(scheduler.state_dict() if scheduler is not None else None),
        "state": dumps(state),
    }
    return save_safetensors(path, tensors, metadata)


def _read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: the run has no checkpoint to resume from")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise UserError(f"{path} is not a readable safetensors file ({error}); it is corrupt") from None
    return tensors, metadata


def load(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict:
    """Restore model, optimizer, scheduler and RNG state; return the saved training state."""
    tensors, metadata = _read(path)
    if metadata.get("format") != "mlprojects-checkpoint-1":
        raise UserError(f"{path} is not an mlprojects checkpoint")
    unwrap(model).load_state_dict(_model_weights(tensors))
    slots = json.loads(metadata["optimizer_slots"])
    optim_state: dict[int, dict[str, Any]] = {}
    for param_id, values in slots.items():
        optim_state[int(param_id)] = {k: None if v == _NONE else v for k, v in values.items()}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            optim_state.setdefault(int(param_id), {})[name] = value
    groups = json.loads(metadata["optimizer_groups"])
    for group in groups:  # JSON turned tuples such as Adam's betas into lists
        group.update({k: tuple(v) for k, v in group.items() if k != "params" and isinstance(v, list)})
    optimizer.load_state_dict({"state": optim_state, "param_groups": groups})
    scheduler_state = json.loads(metadata["scheduler"])
    if scheduler is not None and scheduler_state is not None:
        scheduler.load_state_dict(scheduler_state)
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    return json.loads(metadata["state"])
