"""``mlstack profile list|show``: the profiles visible here (built-in and the project's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import emit

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.profiles import Profile

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", help="The directory holding mlstack.toml (default: search "
                 "upward from the working directory).", file_okay=False, metavar="DIR"),
]


@dataclass(frozen=True)
class ProfileList:
    profiles: tuple[Profile, ...]  # merged
    project: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "profiles": [
                {"name": p.name, "origin": p.origin, "description": p.description,
                 "extends": list(p.extends), "source": p.source}
                for p in self.profiles
            ],
        }

    def render(self, console: Console) -> None:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for col in ("profile", "from", "extends", "description"):
            table.add_column(col)
        for p in self.profiles:
            table.add_row(p.name, p.origin, ", ".join(p.extends) or "-", p.description)
        console.print(table)
        if self.project:
            console.print(f"project: {self.project}", style="dim")


@dataclass(frozen=True)
class ProfileShow:
    profile: Profile  # merged

    def to_json(self) -> dict[str, Any]:
        return self.profile.to_json()

    def render(self, console: Console) -> None:
        p = self.profile
        console.print(f"{p.name} ({p.origin}: {p.source})", soft_wrap=True)
        if p.description:
            console.print(f"  {p.description}", soft_wrap=True)
        console.print(f"extends:  {', '.join(p.extends) or '-'}")
        console.print(f"python:   {p.python or 'any'}")
        console.print("packages:")
        for req in p.packages:
            console.print(f"  {req}", soft_wrap=True)
        console.print(f"system:   {', '.join(p.system) or '-'}", soft_wrap=True)
        console.print("env:" if p.env else "env:      -")
        for k, v in sorted(p.env.items()):
            console.print(f"  {k}={v}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="List and show profiles.", no_args_is_help=True)

    @group.command("list")
    def list_cmd(as_json: JsonOpt = False, project_dir: ProjectOpt = None) -> int:
        """List the built-in profiles and the project's, with extends applied."""
        from mlstack_env.profiles import ProfileSet
        from mlstack_env.project import find_project

        project = find_project(Path.cwd(), project_dir)
        profiles = project.profile_set() if project else ProfileSet.load()
        merged = tuple(profiles.get(n) for n in profiles.names())
        return emit(ProfileList(merged, str(project.manifest_path) if project else None), as_json)

    @group.command("show")
    def show_cmd(
        name: Annotated[str, typer.Argument(help="The profile to show.")],
        as_json: JsonOpt = False,
        project_dir: ProjectOpt = None,
    ) -> int:
        """Show one profile after `extends` is applied."""
        from mlstack_env.profiles import ProfileSet
        from mlstack_env.project import find_project

        project = find_project(Path.cwd(), project_dir)
        profiles = project.profile_set() if project else ProfileSet.load()
        return emit(ProfileShow(profiles.get(name)), as_json)

    app.add_typer(group, name="profile")
