"""Progress on stderr, and the global ``-q/--quiet``.

On a terminal each step is a spinner with its elapsed time, then one dim line saying how
long it took. Anywhere else (CI logs, ``| tee``, a file) each step is one plain line when it
ends, with its duration: a log that says what happened, not spinner frames. ``-q`` and
``--json`` print nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from mlstack_env.core.units import seconds

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.cli.downloads import DownloadLines

_quiet = False


def set_quiet(value: bool) -> None:
    global _quiet  # noqa: PLW0603 - one process-wide switch, set once by the root callback
    _quiet = value


def is_quiet() -> bool:
    return _quiet


class StepProgress:
    """Each step of a long command, on stderr (store.entries.Progress)."""

    def __init__(self, console: Console | None = None) -> None:
        from mlstack_env.cli.plain import console as make_console

        self._console = console or make_console(stderr=True)

    @contextmanager
    def _step(self, message: str) -> Iterator[None]:
        start = time.monotonic()
        if self._console.is_terminal:
            with self._console.status(message, spinner="dots"):
                yield
            took = seconds(time.monotonic() - start)
            self._console.print(f"[dim]{message}: done in {took}[/dim]", soft_wrap=True)
        else:
            yield
            took = seconds(time.monotonic() - start)
            self._console.out(f"{message}: done in {took}", highlight=False)

    def step(self, message: str) -> AbstractContextManager[None]:
        return self._step(message)

    def say(self, message: str) -> None:
        self._console.out(message, highlight=False)

    def downloads(self) -> DownloadLines:
        """How mlstack's own downloads are shown (mlstack_env/cli/downloads.py)."""
        from mlstack_env.cli.downloads import DownloadBars, DownloadLines

        if self._console.is_terminal:
            return DownloadBars(self._console)
        return DownloadLines(self._console)


def say(message: str) -> None:
    """One informational line on stderr, unless -q."""
    if _quiet:
        return
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def announce(message: str) -> None:
    """A line on stderr even with -q or --json: a changed lock must never go unnoticed."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
