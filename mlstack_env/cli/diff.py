"""``mlstack diff [OLD] [NEW]``: the declaration; the body is ``cli/diff_results.py``."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstack_env.cli import diff_results
from mlstack_env.cli.signature import JsonOpt


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
        as_json: JsonOpt = False,
    ) -> int:
        """What changed between two locks, entry by entry: packages added, removed,
        upgraded, downgraded; wheels whose hash changed (!!); variables; system packages."""
        return diff_results.diff(**locals())
