"""Commands return data; this is the one place that prints it (rich text or --json)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Protocol

from mlstack_env.units import human_bytes

__all__ = ["Result", "console", "emit", "exit_code", "human_bytes"]

if TYPE_CHECKING:
    from rich.console import Console


class Result(Protocol):
    """What a command returns: data for --json, and a human rendering."""

    def to_json(self) -> Any: ...

    def render(self, console: Console) -> None: ...


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit(result: Result, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        sys.stdout.flush()
        return
    result.render(console())


def exit_code(result: object) -> int:
    code = getattr(result, "exit_code", 0)
    return code if isinstance(code, int) else 0
