"""The one exception type for mistakes a user can fix (the CLI prints it as one line, exit code 2), and helpers
for its messages."""

import importlib
from typing import Any

#: where the processes of `mlprojects run --nproc` leave a user error's exit code for the launcher, which
#: exits with it (torchrun then reports no failure of its own: the one line the error printed is enough)
EXIT_FILE = "MLPROJECTS_EXIT_FILE"


class UserError(Exception):
    """Bad input: unknown project or setting, wrong value, missing or corrupt data.

    The message is one line that says what is wrong and what to do about it.
    """

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """IPython and Jupyter show a user's mistake as its one line, not as a traceback."""
        return [f"UserError: {self}"]


def require(module: str, extra: str, need: str) -> Any:
    """MODULE, imported; else one line: NEED (who needs it), why it cannot be imported, and the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        why = "is not installed" if error.name in (None, module) else f"cannot be imported ({error.name} is missing)"
        raise UserError(f"{need}, which {why}: pip install 'mlprojects[{extra}]'") from None


def first_line(error: BaseException, limit: int = 200) -> str:
    """An exception's message as one line for a user's message (its first line, at most LIMIT characters), or its
    type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def counted(count: int, noun: str) -> str:
    """'1 file', '2 files': a count and its noun, for messages."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
