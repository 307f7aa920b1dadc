"""One root error type: a message, a hint, an exit code.

The CLI turns it into one line on stderr plus a hint; a traceback only with ``-v``.
Exit codes: 1 for a user or input error, 2 for an internal error.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """mlstack's exit statuses: the one table every exit code comes from (a command that
    runs a program in an env, ``env run``/``run``/``shell``, exits with that program's
    status instead once it ran)."""

    OK = 0  # the command did what was asked
    USER_ERROR = 1  # an error the user can act on (MlstackError), a usage error, a failed
    # check (`lock --check`, `env verify`, `doctor`), `diff --exit-code` with changes
    INTERNAL_ERROR = 2  # a bug in mlstack (InternalError, an exception nobody expected)
    NOT_EXECUTABLE = 126  # run/shell: the command is in the env but cannot be executed
    NOT_FOUND = 127  # run/shell: no such command in the env (the shell's 127)
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


USER_ERROR = ExitCode.USER_ERROR
INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


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
