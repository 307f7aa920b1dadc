"""Commands return data; this is the one place that prints it (rich text or --json)."""

from __future__ import annotations

import json
import sys

from mlstack_env.cli.plain import console, printable
from mlstack_env.cli.progress import is_quiet
from mlstack_env.core.errors import ExitCode
from mlstack_env.core.units import human_bytes

__all__ = ["Result", "console", "emit", "human_bytes", "printable"]

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from rich.console import Console


class Result:
    """What a command returns, for :func:`emit`: data for ``--json`` (``to_json``), a
    human rendering (``render``), the exit status it means and whether ``-q`` silences
    it. Each command's result subclasses this and overrides what differs."""

    #: A result that reports work done (lock, add, export, pack, bundle) is a summary:
    #: ``-q`` silences it, while what a command shows (detect, lists, trees, diffs) is
    #: printed anyway.
    summary: ClassVar[bool] = False

    @property
    def exit_code(self) -> ExitCode:
        """OK; a result that reports a failure (a failed check, ``diff --exit-code``
        with changes) says USER_ERROR."""
        return ExitCode.OK

    def to_json(self) -> Any:
        raise NotImplementedError

    def render(self, console: Console) -> None:
        raise NotImplementedError


def emit(result: Result, as_json: bool) -> int:
    """Print ``result`` (rich text or ``--json``) and return its exit code, for the command
    to return: the one path from a result to the exit status."""
    code = result.exit_code
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        sys.stdout.flush()
    elif code == ExitCode.OK and result.summary and is_quiet():
        pass  # -q: a command that did its work says nothing (lock changes are announced)
    else:
        result.render(console())
    return code

