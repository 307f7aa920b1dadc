"""``mlstack tree [NAME]``: the declaration; the body is ``cli/tree_results.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlstack_env.cli import tree_results
from mlstack_env.cli.signature import JsonOpt


def register(app: typer.Typer) -> None:
    @app.command("tree")
    def tree_cmd(  # noqa: PLR0917 - typer maps each option to a parameter
        name: Annotated[str | None, typer.Argument(
            metavar="[NAME]", help="The env (default: the project's default-env, else the "
            "only env).")] = None,
        lock_file: Annotated[Path | None, typer.Option(
            "--lock", metavar="FILE", help="Show an entry of this lock instead of an env.")]
        = None,
        profile: Annotated[str | None, typer.Option(
            "--profile", metavar="P", help="With --lock: the entry's profile.")] = None,
        target: Annotated[str | None, typer.Option(
            "--target", metavar="T", help="With --lock: the entry's target (default: this "
            "machine's).")] = None,
        python: Annotated[str | None, typer.Option(
            "--python", metavar="X.Y", help="With --lock: the entry's Python.")] = None,
        as_json: JsonOpt = False,
    ) -> int:
        """An env's packages with versions and sizes, and which profile requirement pulled
        each in (or a lock entry's, with --lock)."""
        return tree_results.tree(**locals())
