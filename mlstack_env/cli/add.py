"""``mlstack add`` / ``mlstack remove``: a profile's packages, its lock entries and the
default env, changed in one command (:mod:`mlstack_env.actions.project_edit`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.options import CACHE_ONLY, MANIFEST_DIR
from mlstack_env.cli.output import Result, emit
from mlstack_env.cli.progress import announce, say
from mlstack_env.cli.signature import JsonOpt, param

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.actions.project_edit import EditOutcome, EditRequest

ProfileOpt = Annotated[str | None, typer.Option(
    "--profile", "-p", metavar="P", help="The profile of mlstack.toml to change (default: "
    "the project's default-env, or its only profile).")]
ProjectOpt = Annotated[Path | None, param(MANIFEST_DIR)]
OfflineOpt = Annotated[bool, param(CACHE_ONLY)]


@dataclass(frozen=True)
class EditResult(Result):
    summary = True  # -q silences it (output.emit)
    outcome: EditOutcome

    def to_json(self) -> dict[str, Any]:
        o = self.outcome
        env = None
        if o.env is not None:
            env = {"name": o.env.created.name, "generation": o.env.created.generation.number,
                   "reused": o.env.created.reused}
        return {
            "manifest": str(o.manifest),
            "profile": o.profile,
            "added": list(o.added),
            "removed": list(o.removed),
            "lock": o.lock.change.to_json() if o.lock.change else None,
            "entries": [{"key": i.request.key, "status": i.status} for i in o.lock.outcomes],
            "env": env,
        }

    def render(self, console: Console) -> None:
        o = self.outcome
        for req in o.added:
            console.print(f"added {req} to profile {o.profile} ({o.manifest})", soft_wrap=True)
        for req in o.removed:
            console.print(f"removed {req} from profile {o.profile} ({o.manifest})",
                          soft_wrap=True)
        if not (o.added or o.removed):
            console.print(f"profile {o.profile} already says so; nothing changed",
                          soft_wrap=True)
        for item in o.lock.outcomes:
            console.print(f"  {item.status:<10}{item.request.key}", soft_wrap=True)
        if o.env is not None:
            c = o.env.created
            state = "up to date" if c.up_to_date else f"generation {c.generation.number}"
            console.print(f"env {c.name}: {state}", soft_wrap=True)


def _run(request: EditRequest, as_json: bool) -> int:
    from mlstack_env.actions.project_edit import edit_packages

    outcome = edit_packages(request, on_wait=say, announce=announce)
    return emit(EditResult(outcome), as_json)


def register(app: typer.Typer) -> None:
    @app.command("add")
    def add_cmd(
        packages: Annotated[list[str], typer.Argument(
            metavar="PKG...", help="PEP 508 requirements, e.g. tqdm or 'transformers>=4.50'.")],
        profile: ProfileOpt = None,
        project: ProjectOpt = None,
        offline: OfflineOpt = False,
        as_json: JsonOpt = False,
    ) -> int:
        """Add packages to a profile, re-lock its entries, update the default env."""
        from mlstack_env.actions.project_edit import EditRequest

        return _run(EditRequest(add=tuple(packages), profile=profile, project_dir=project,
                                offline=offline), as_json)

    @app.command("remove")
    def remove_cmd(
        packages: Annotated[list[str], typer.Argument(
            metavar="PKG...", help="Package names to take out of the profile.")],
        profile: ProfileOpt = None,
        project: ProjectOpt = None,
        offline: OfflineOpt = False,
        as_json: JsonOpt = False,
    ) -> int:
        """Remove packages from a profile, re-lock its entries, update the default env."""
        from mlstack_env.actions.project_edit import EditRequest

        return _run(EditRequest(remove=tuple(packages), profile=profile, project_dir=project,
                                offline=offline), as_json)
