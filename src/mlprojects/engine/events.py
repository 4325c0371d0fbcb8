"""TensorBoard's event files, written by PyTorch's ``SummaryWriter`` without TensorFlow.

TensorBoard imports all of TensorFlow when it is installed (seconds of start-up, and its log lines on stderr)
unless the marker module ``tensorboard.compat.notf`` exists; its own TensorFlow-free stub then writes the same event
files. Importing this module sets the marker and imports the writer, so that a process that forks runs (a sweep's
trials' server) can import it once, by name, for all of them.
"""

from __future__ import annotations

import sys
import types

sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

from torch.utils.tensorboard import SummaryWriter  # noqa: E402  (after the marker)

__all__ = ["SummaryWriter"]
