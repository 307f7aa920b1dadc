"""``mlstack diff``'s body and result, free of typer (the fast path runs it): what
changed between two locks, for pull-request review. The declaration is ``cli/diff.py``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.cli.output import Result, emit
from mlstack_env.core.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.lockfile.lockdiff import LockDiff


class DiffResult(Result):
    """A plain class: a dataclass costs its creation at import on this path."""

    def __init__(self, diff: LockDiff, exit_on_changes: bool = False) -> None:
        self.diff = diff
        self.exit_on_changes = exit_on_changes

    @property
    def exit_code(self) -> ExitCode:
        changed = self.exit_on_changes and not self.diff.identical
        return ExitCode.USER_ERROR if changed else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return self.diff.to_json()

    def render(self, console: Console) -> None:
        from mlstack_env.lockfile.lockdiff import render_lines

        for line in render_lines(self.diff):
            style = ""
            stripped = line.strip()
            if "!!" in line:
                style = "bold red"
            elif stripped.startswith(("+", "env +", "system +")):
                style = "green"
            elif stripped.startswith(("-", "env -", "system -")) and not line.startswith("---"):
                style = "red"
            # As rich.text.Text(line, style): the line is data, never markup or emoji.
            console.print(line, style=style or None, soft_wrap=True, markup=False,
                          highlight=False, emoji=False)


def diff(old: str | None = None, new: str | None = None, exit_code: bool = False,
         as_json: bool = False) -> int:
    """``diff``: what changed between the locks ``old`` and ``new``."""
    from mlstack_env.lockfile.lockdiff import compare
    from mlstack_env.lockfile.lockside import load_side, project_root

    root = project_root(Path.cwd())
    before = load_side(old, root, default_rev="HEAD")
    after = load_side(new, root)
    return emit(DiffResult(compare(before, after), exit_on_changes=exit_code), as_json)
