"""``mlstack lock``: resolve profiles x targets into mlstack.lock (or check it is fresh)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlstack_env.cli import lean
from mlstack_env.cli.lock_results import LockResult

__all__ = ["LockResult", "register"]


def register(app: typer.Typer) -> None:
    @app.command("lock")
    def lock_cmd(  # noqa: PLR0917 - typer maps parameters to options
        profiles: Annotated[
            list[str] | None,
            typer.Argument(help="Profiles to lock (default: the project's, or its "
                           "default-env).", show_default=False, metavar="[PROFILE]..."),
        ] = None,
        target: Annotated[
            list[str] | None,
            typer.Option("--target", "-t", help="Target to lock for, e.g. rocm6.4:gfx1100 or "
                         "cpu; repeatable (default: the project's targets, else this "
                         "machine's).", show_default=False, metavar="T"),
        ] = None,
        python: Annotated[
            str | None, typer.Option("--python", help="Python X.Y to lock for.", metavar="X.Y")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("-o", "--output", help="Lock file to write (default: "
                                      "mlstack.lock beside mlstack.toml).", dir_okay=False,
                                      metavar="FILE")
        ] = None,
        check: Annotated[
            bool, typer.Option("--check", help="Exit 1 if the lock is missing or stale; "
                               "write nothing.")
        ] = False,
        project_dir: Annotated[
            Path | None, typer.Option("--project", help="The directory holding mlstack.toml.",
                                      file_okay=False, metavar="DIR")
        ] = None,
        export_pylock: Annotated[
            Path | None, typer.Option("--export-pylock", help="Also write one PEP 751 "
                                      "pylock.<name>.toml per entry into DIR.",
                                      metavar="DIR", file_okay=False)
        ] = None,
        offline: Annotated[
            bool, typer.Option("--offline", help="Resolve from uv's cache only.")
        ] = False,
        upgrade: Annotated[
            bool, typer.Option("--upgrade", "-U", help="Take the newest versions the profiles "
                               "allow, from fresh index pages (default: re-locked entries "
                               "keep their versions).")
        ] = False,
        upgrade_package: Annotated[
            list[str] | None,
            typer.Option("--upgrade-package", "-P", help="Take the newest version of P (from a "
                         "fresh index page) and keep every other package; repeatable.",
                         show_default=False, metavar="P"),
        ] = None,
        locked: Annotated[
            bool, typer.Option("--locked", help="Fail instead of changing the lock.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> int:
        """Resolve profiles x targets into a hash-pinned lock (mlstack.lock)."""
        return lean.lock(**locals())
