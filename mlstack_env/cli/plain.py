"""Rendering without rich where rich would print plain text anyway.

Off a terminal rich prints no colour, no spinner and (for results) no markup: what it
writes is the text itself, wrapped at the console width unless ``soft_wrap``. Loading
rich for that costs about 30 ms per command, so :func:`mlstack_env.cli.output.console`
hands a :class:`PlainConsole` to renderers there. It writes the text itself when that is
exactly what rich would write, and hands everything else (a rich renderable, a line
rich would wrap, tabs, wide characters, a possible ``:emoji:`` code, markup on stderr)
to a real rich console, so the bytes are the same either way.
"""

from __future__ import annotations

import os
import re
import sys
from typing import IO, TYPE_CHECKING, Any

from mlstack_env.cli.output import printable

if TYPE_CHECKING:
    from rich.console import Console

# What rich's emoji replacement could take for a name: text between two colons, with a
# letter in it or one of the few codes without one (``:+1:``). A time's ``18:17:00`` is not.
_EMOJI = re.compile(r"(?=:(\S*?):)")
_LETTERLESS_EMOJI = {"100", "1234", "+1", "-1", "__1"}


def rich_would_style(stream: IO[str]) -> bool:
    """Whether rich would treat ``stream`` as a terminal (rich's own rule: TTY_COMPATIBLE,
    then FORCE_COLOR, then isatty)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _maybe_emoji(text: str) -> bool:
    return any(re.search("[^\\W\\d_]", m.group(1)) or m.group(1) in _LETTERLESS_EMOJI
               for m in _EMOJI.finditer(text))


def _simple_width(text: str) -> bool:
    """Every character takes one cell, so ``len`` is rich's cell length (``printable``
    has escaped the control characters already)."""
    if text.isascii():
        return True
    import unicodedata

    return all(unicodedata.east_asian_width(c) not in "WF"
               and unicodedata.category(c) not in ("Mn", "Me", "Cf")
               for c in text if not c.isascii())


class PlainConsole:
    """The part of rich's ``Console`` the renderers use, for output that is no terminal."""

    is_terminal = False

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._rich: Console | None = None

    @property
    def file(self) -> IO[str]:
        return sys.stderr if self._stderr else sys.stdout

    @property
    def width(self) -> int:
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() and int(columns) > 0 else 80

    def _fallback(self) -> Console:
        if self._rich is None:
            from mlstack_env.cli.output import rich_console

            self._rich = rich_console(self._stderr)
        return self._rich

    def _write(self, text: str, end: str) -> None:
        self.file.write(text + end)
        self.file.flush()

    def print(self, *objects: Any, sep: str = " ", end: str = "\n",
              soft_wrap: bool | None = None, style: str | None = None,
              **kwargs: Any) -> None:
        # markup=False, highlight=False and emoji=False only switch off what plain text
        # never does; any other keyword is rich's to honour.
        plain = {k: v for k, v in kwargs.items()
                 if not (k in ("markup", "highlight", "emoji") and v is False)}
        if plain or not all(isinstance(o, str) for o in objects):
            self._fallback().print(*objects, sep=sep, end=end, soft_wrap=soft_wrap,
                                   style=style, **kwargs)
            return
        text = printable(sep.join(objects), newlines=True)
        wraps = not soft_wrap and any(len(line) > self.width for line in text.split("\n"))
        emoji = kwargs.get("emoji", True) and _maybe_emoji(text)
        markup = kwargs.get("markup", True) and self._stderr and "[" in text
        if wraps or "\t" in text or not _simple_width(text) or emoji or markup:
            self._fallback().print(*objects, sep=sep, end=end, soft_wrap=soft_wrap,
                                   style=style, **kwargs)
            return
        self._write(text, end)

    def out(self, *objects: Any, sep: str = " ", end: str = "\n",
            style: str | None = None, highlight: bool | None = None) -> None:
        text = printable(sep.join(str(o) for o in objects), newlines=True)
        if "\t" in text or not _simple_width(text):
            self._fallback().out(*objects, sep=sep, end=end, style=style,
                                 highlight=highlight)
            return
        self._write(text, end)
