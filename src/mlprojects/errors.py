"""The one exception type for mistakes a user can fix; the CLI prints it as one line, exit code 2."""


class UserError(Exception):
    """Bad input: unknown project or setting, wrong value, missing or corrupt data.

    The message is one line that says what is wrong and what to do about it.
    """

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """IPython and Jupyter show a user's mistake as its one line, not as a traceback."""
        return [f"UserError: {self}"]
