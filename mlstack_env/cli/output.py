"""Commands return data; this is the one place that prints it (rich text or --json)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console


class Result(Protocol):
    """What a command returns: data for --json, and a human rendering. A result that can
    fail also has an ``exit_code`` (0 or 1); :func:`emit` returns it."""

    def to_json(self) -> Any: ...

    def render(self, console: Console) -> None: ...


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit(result: Result, as_json: bool) -> int:
    """Print ``result`` (rich text or ``--json``) and return its exit code, for the command
    to return: the one path from a result to the exit status."""
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        sys.stdout.flush()
    else:
        result.render(console())
    code = getattr(result, "exit_code", 0)
    return code if isinstance(code, int) else 0


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
