"""``mlstack diff [OLD] [NEW]``: what changed between two locks, for pull-request review."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import emit

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.lockdiff import LockDiff


@dataclass(frozen=True)
class DiffResult:
    diff: LockDiff
    exit_on_changes: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.exit_on_changes and not self.diff.identical else 0

    def to_json(self) -> dict[str, Any]:
        return self.diff.to_json()

    def render(self, console: Console) -> None:
        from rich.text import Text

        from mlstack_env.lockdiff import render_lines

        # Printed in batches: a print per line cost rich's per-call work 220,000 times
        # for a 36 MiB lock, one Text of every line doubled the memory (issue 21).
        lines = render_lines(self.diff)
        for start in range(0, len(lines), _BATCH):
            out = Text()
            for line in lines[start:start + _BATCH]:
                out.append(line + "\n", style=_style(line))
            out.rstrip()
            console.print(out, soft_wrap=True)


_BATCH = 2000


def _style(line: str) -> str | None:
    stripped = line.strip()
    if "!!" in line:
        return "bold red"
    if stripped.startswith(("+", "env +", "system +")):
        return "green"
    if stripped.startswith(("-", "env -", "system -")) and not line.startswith("---"):
        return "red"
    return None


def register(app: typer.Typer) -> None:
    @app.command("diff")
    def diff_cmd(
        old: Annotated[str | None, typer.Argument(
            metavar="[OLD]", help="A lock file, a git revision (its mlstack.lock) or "
            "REV:PATH. Default: the committed mlstack.lock (git HEAD).")] = None,
        new: Annotated[str | None, typer.Argument(
            metavar="[NEW]", help="Like OLD. Default: the working mlstack.lock.")] = None,
        exit_code: Annotated[bool, typer.Option(
            "--exit-code", help="Exit 1 when the locks differ (like `git diff "
            "--exit-code`); without it the exit status is 0 either way.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
        = False,
    ) -> int:
        """What changed between two locks, entry by entry: packages added, removed,
        upgraded, downgraded; wheels whose hash changed (!!); variables; system packages."""
        from mlstack_env.lockdiff import compare, load_side, project_root

        root = project_root(Path.cwd())
        before = load_side(old, root, default_rev="HEAD")
        after = load_side(new, root)
        result = DiffResult(compare(before, after), exit_on_changes=exit_code)
        return emit(result, as_json)
