"""mlprojects: the classic machine-learning projects as real, fast, tested software on PyTorch.

Importing this package is cheap (no torch): the CLI's ``--help`` and ``list`` rely on it.
"""

__version__ = "0.1.0"

from mlprojects.errors import UserError  # noqa: E402

__all__ = ["UserError", "__version__"]
