"""``mlstack profile list|show``: the profiles visible here (built-in and the project's)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlstack_env.cli import lean
from mlstack_env.cli.output import emit
from mlstack_env.cli.profile_results import ProfileShow
from mlstack_env.cli.signature import JsonOpt

ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", help="The directory holding mlstack.toml (default: search "
                 "upward from the working directory).", file_okay=False, metavar="DIR"),
]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="List and show profiles.", no_args_is_help=True)

    @group.command("list")
    def list_cmd(as_json: JsonOpt = False, project_dir: ProjectOpt = None) -> int:
        """List the built-in profiles and the project's, with extends applied."""
        return lean.profile_list(**locals())

    @group.command("show")
    def show_cmd(
        name: Annotated[str, typer.Argument(help="The profile to show.")],
        as_json: JsonOpt = False,
        project_dir: ProjectOpt = None,
    ) -> int:
        """Show one profile after `extends` is applied."""
        from mlstack_env.manifest.profiles import ProfileSet
        from mlstack_env.manifest.project import find_project

        project = find_project(Path.cwd(), project_dir)
        profiles = project.profile_set() if project else ProfileSet.load()
        return emit(ProfileShow(profiles.get(name)), as_json)

    app.add_typer(group, name="profile")
