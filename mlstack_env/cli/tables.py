"""Tables for people: aligned columns when they fit, stacked fields when they do not.

A terminal narrower than the table (or than 80 columns) gets one block per row, each
field on its own line, so a gfx name is never cut or wrapped mid-word. Output that is
not a terminal is never wrapped (``COLUMNS`` sets a width if you want one), and no line
carries trailing padding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

NARROW = 80
GAP = "  "


def width(console: Console) -> int | None:
    """The width to fit, or None for no limit (piped, and no COLUMNS)."""
    if console.is_terminal:
        return console.width
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def columns_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    return [
        GAP.join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]


def stacked_text(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 heading: int = 1) -> list[str]:
    """Each row as a block: its first ``heading`` cells on one line, then one indented
    ``field  value`` line per other cell; a blank line between blocks."""
    label = max(len(h) for h in headers[heading:]) if len(headers) > heading else 0
    out: list[str] = []
    for n, row in enumerate(rows):
        if n:
            out.append("")
        out.append(GAP.join(row[:heading]).rstrip())
        out.extend(f"  {h.ljust(label)}  {v}".rstrip()
                   for h, v in zip(headers[heading:], row[heading:], strict=True))
    return out


def print_table(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]],
                heading: int = 1) -> None:
    lines = columns_text(headers, rows)
    limit = width(console)
    if limit is not None and (limit < NARROW or max(len(line) for line in lines) > limit):
        lines = [*stacked_text(headers, rows, heading), ""]
    for line in lines:
        console.out(line, highlight=False)
