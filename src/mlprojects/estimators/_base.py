"""What the estimators share: input checks, the device, numpy <-> torch, persistence in safetensors.

Learned attributes (``coef_``, ``cluster_centers_`` ...) are numpy arrays, as scikit-learn users
expect; the arithmetic runs in torch on ``device``. Inputs are checked with scikit-learn's own
``validate_data`` so NaN, infinities, wrong shapes and feature-count mismatches fail with its
messages, and pandas column names are tracked the same way.
"""

from __future__ import annotations

import warnings
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
