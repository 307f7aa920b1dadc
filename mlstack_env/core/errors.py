"""One root error type: a message, a hint, an exit code.

The CLI turns it into one line on stderr plus a hint; a traceback only with ``-v``.
Exit codes: 1 for a user or input error, 2 for an internal error.
"""

from __future__ import annotations

USER_ERROR = 1
INTERNAL_ERROR = 2


class MlstackError(Exception):
    """An error the user can act on."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = USER_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


class InternalError(MlstackError):
    """Something mlstack did not expect; not the user's fault."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(
            message,
            hint or "this is a bug in mlstack; rerun with -v and report the traceback",
            exit_code=INTERNAL_ERROR,
        )


def toml_problem(exc: Exception, text: str) -> str:
    """tomllib's complaint, with a line number even where it says "at end of document"
    (Python 3.11's TOMLDecodeError carries no position of its own)."""
    message = str(exc)
    if "(at end of document)" in message:
        last = max(1, len(text.rstrip("\n").splitlines()))
        message = message.replace(
            "(at end of document)",
            f"(at the end of the file, line {last}: something opened earlier is not closed)",
        )
    return message
