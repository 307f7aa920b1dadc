"""The headers of a distribution's ``METADATA`` (core metadata), read as
``email.parser.HeaderParser`` reads them (the ``compat32`` policy, headers only), without
importing the ``email`` package and the dozen modules it loads (``tree`` reads a
``METADATA`` per package on its fast path).

The rules are the email parser's: the headers end at the first empty line or the first
line that is not a header (``Name: value``, a name of printable ASCII other than ``:``)
nor a continuation (a line starting with a space or a tab, appended to the value before
it with its line break); a value's leading spaces and tabs and its final line break are
dropped. Lines end at ``\\r\\n``, ``\\r`` or ``\\n``; a ``\\r\\n`` inside a folded value
is kept as ``\\n``. Names compare case-insensitively.
"""

from __future__ import annotations

import re


def canonical_name(name: str) -> str:
    """A project (or extra) name as PEP 503 normalizes it: packaging's
    ``canonicalize_name``, without packaging (its ``utils`` loads ``packaging.tags`` with
    ``logging``, ``subprocess`` and ``platform``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_name(text: str) -> bool:
    return all("!" <= c <= "~" and c != ":" for c in text)


def metadata_headers(text: str) -> dict[str, list[str]]:
    """Every header of ``text`` by lower-cased name, values in order of appearance."""
    headers: dict[str, list[str]] = {}
    name: str | None = None
    value: list[str] = []

    def close() -> None:
        if name is not None:
            headers.setdefault(name.lower(), []).append("".join(value).rstrip("\r\n"))

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line[:1] in (" ", "\t"):
            if name is not None:
                value.append("\n" + line)
            continue
        colon = line.find(":")
        if not line.startswith("From ") and (colon < 0 or not _is_name(line[:colon])):
            break  # an empty line, or the body: the headers end
        close()
        if line.startswith("From ") or colon == 0:  # skipped, and ends the value before
            name = None
            continue
        name, value = line[:colon], [line[colon + 1:].lstrip(" \t")]
    close()
    return headers
