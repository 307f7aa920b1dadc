"""The consoles results and progress render on, and the text they may send a terminal.

:func:`printable` escapes what a value from a profile or lock could smuggle to a
terminal; :func:`console` is the console a result renders on.

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

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import IO, Any

    from rich.console import Console

# C0 controls but tab and newline, DEL, C1 controls (U+009B is a CSI by itself), and the
# bidi overrides that reorder what a terminal shows: each mapped to its escape, for
# str.translate (a regular expression cost 0.4 ms to compile on every command).
_UNPRINTABLE = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for first, last in ((0x00, 0x08), (0x0B, 0x1F), (0x7F, 0x9F), (0x200E, 0x200F),
                        (0x202A, 0x202E), (0x2066, 0x2069))
    for code in range(first, last + 1)
}
_UNPRINTABLE_LINE = {**_UNPRINTABLE, 0x0A: "\\x0a"}


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` safe to show on a terminal: escape sequences and other control characters
    (values from profiles and locks may hold any) shown escaped, ``\\x1b``, never sent raw.
    Tabs stay; newlines stay only with ``newlines=True`` (text mlstack laid out itself,
    where ``mlstack`` commands are also named as the user ran it: progname.commands)."""
    if not newlines:
        return text.translate(_UNPRINTABLE_LINE)
    from mlstack_env.core.progname import commands

    # Text mlstack laid out: the commands in it name mlstack as the user ran it.
    return commands(text.translate(_UNPRINTABLE))


def console(stderr: bool = False) -> Console:
    """The console results render on. Every string it renders goes through
    :func:`printable`; result renderers get no markup, so a ``[link=…]`` in a value is
    text, not a hyperlink escape (the stderr console keeps markup for progress lines).
    Output that is no terminal (a pipe, a file, ``--json``'s neighbours) gets a
    :class:`PlainConsole`, which prints the same bytes without
    loading rich."""
    if not rich_would_style(sys.stderr if stderr else sys.stdout):
        # The part of Console the renderers use (PlainConsole), without typing's cast.
        return PlainConsole(stderr)  # type: ignore[return-value]
    return rich_console(stderr)


def rich_console(stderr: bool = False) -> Console:
    """A rich console (:func:`console` on a terminal)."""
    from rich.console import Console
    from rich.text import Text

    class DataConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            return super().render_str(printable(text, newlines=True), **kwargs)

    return DataConsole(stderr=stderr, highlight=False, soft_wrap=False, markup=stderr)


# What rich's emoji replacement could take for a name: text between two colons, with a
# letter in it or one of the few codes without one (``:+1:``). A time's ``18:17:00`` is not.
# Compiled on first use (re's cache): most text has no two colons.
_EMOJI = r"(?=:(\S*?):)"
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
    if text.count(":") < 2:
        return False
    return any(re.search("[^\\W\\d_]", m.group(1)) or m.group(1) in _LETTERLESS_EMOJI
               for m in re.finditer(_EMOJI, text))


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
