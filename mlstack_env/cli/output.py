"""Commands return data; this is the one place that prints it (rich text or --json)."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any, Protocol, cast

from mlstack_env.core.units import human_bytes

__all__ = ["Result", "console", "emit", "human_bytes", "printable"]

if TYPE_CHECKING:
    from rich.console import Console


class Result(Protocol):
    """What a command returns: data for --json, a human rendering, and an ``exit_code``
    (0, or 1 for a result that reports a failure); :func:`emit` returns it. A result with
    ``summary = True`` reports work done (lock, add, export, pack, bundle): ``-q`` silences
    it, while what a command shows (detect, lists, trees, diffs) is printed anyway."""

    @property
    def exit_code(self) -> int: ...

    def to_json(self) -> Any: ...

    def render(self, console: Console) -> None: ...


# C0 controls but tab and newline, DEL, C1 controls (U+009B is a CSI by itself), and the
# bidi overrides that reorder what a terminal shows.
_OTHERS = "\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNPRINTABLE = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")
_UNPRINTABLE_LINE = re.compile(f"[\x00-\x08\x0a-\x1f{_OTHERS}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` safe to show on a terminal: escape sequences and other control characters
    (values from profiles and locks may hold any) shown escaped, ``\\x1b``, never sent raw.
    Tabs stay; newlines stay only with ``newlines=True`` (text mlstack laid out itself,
    where ``mlstack`` commands are also named as the user ran it: progname.commands)."""
    if not newlines:
        return _UNPRINTABLE_LINE.sub(_escape, text)
    from mlstack_env.core.progname import commands

    # Text mlstack laid out: the commands in it name mlstack as the user ran it.
    return commands(_UNPRINTABLE.sub(_escape, text))


def console(stderr: bool = False) -> Console:
    """The console results render on. Every string it renders goes through
    :func:`printable`; result renderers get no markup, so a ``[link=…]`` in a value is
    text, not a hyperlink escape (the stderr console keeps markup for progress lines).
    Output that is no terminal (a pipe, a file, ``--json``'s neighbours) gets a
    :class:`~mlstack_env.cli.plain.PlainConsole`, which prints the same bytes without
    loading rich."""
    from mlstack_env.cli.plain import PlainConsole, rich_would_style

    if not rich_would_style(sys.stderr if stderr else sys.stdout):
        return cast("Console", PlainConsole(stderr))
    return rich_console(stderr)


def rich_console(stderr: bool = False) -> Console:
    """A rich console (:func:`console` on a terminal)."""
    from rich.console import Console
    from rich.text import Text

    class DataConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            return super().render_str(printable(text, newlines=True), **kwargs)

    return DataConsole(stderr=stderr, highlight=False, soft_wrap=False, markup=stderr)


def emit(result: Result, as_json: bool) -> int:
    """Print ``result`` (rich text or ``--json``) and return its exit code, for the command
    to return: the one path from a result to the exit status."""
    code = result.exit_code
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        sys.stdout.flush()
    elif code == 0 and getattr(result, "summary", False) and _quiet():
        pass  # -q: a command that did its work says nothing (lock changes are announced)
    else:
        result.render(console())
    return code


def _quiet() -> bool:
    from mlstack_env.cli.progress import is_quiet

    return is_quiet()
