"""``mlstack sync``: create or update the project's default env from its lock (uv's word
for it). The same create as ``mlstack env create`` with no profile: the project's lock
entry for this machine, re-locked first when stale (announced; refused under
``--locked``, ``locked = true`` or ``CI``), a store hit when the store holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlstack_env.cli.env import OfflineOpt, ProjectOpt, ReinstallOpt
from mlstack_env.cli.signature import JsonOpt
from mlstack_env.core.errors import ManifestError, UsageError


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync_cmd(  # noqa: PLR0917 - typer maps each option to a parameter
        locked: Annotated[bool, typer.Option(
            "--locked", help="Fail if mlstack.lock would change instead of re-locking.")]
            = False,
        frozen: Annotated[bool, typer.Option(
            "--frozen", help="Install the lock as it is: never re-lock, even when stale.")]
            = False,
        offline: OfflineOpt = False,
        reinstall: ReinstallOpt = False,
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> int:
        """Create or update the project's default env from mlstack.lock."""
        from mlstack_env.cli.lean import env_create
        from mlstack_env.cli.options import CreateOptions
        from mlstack_env.manifest.project import find_project

        found = find_project(Path.cwd(), project)
        if found is None:
            raise ManifestError(
                "no mlstack.toml here or in any parent directory: `mlstack sync` updates a "
                "project's default env",
                "create one with `mlstack init`, pass --project DIR, or make an env from a "
                "built-in profile: `mlstack env create minimal`")
        if not found.default_env:
            raise ManifestError(
                f"{found.manifest_path} sets no default-env: `mlstack sync` does not know "
                "which env to update",
                'add default-env = "NAME" to mlstack.toml, or name the profile: '
                "`mlstack env create NAME`")
        if frozen and locked:
            raise UsageError("--frozen and --locked do not go together",
                             "--frozen already installs the lock as it is, never re-locking")
        return env_create(CreateOptions(
            profile=found.default_env, offline=offline, locked=locked, project=found.root,
            reinstall=reinstall, lock_file=found.lock_path if frozen else None,
            as_json=as_json))
