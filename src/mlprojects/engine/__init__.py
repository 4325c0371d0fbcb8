"""The training engine. It knows tensors, models and losses, and nothing about any project.

``TensorData`` and ``Trainer`` are imported when first asked for (PEP 562), so that the engine's small modules
(``mlprojects.engine.io``: files written whole or not at all) come without torch's import, seconds of a command
that only reads or writes a run's files."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlprojects.engine.data import TensorData
    from mlprojects.engine.trainer import Trainer

__all__ = ["TensorData", "Trainer"]


def __getattr__(name: str):
    if name == "TensorData":
        from mlprojects.engine.data import TensorData

        return TensorData
    if name == "Trainer":
        from mlprojects.engine.trainer import Trainer

        return Trainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
