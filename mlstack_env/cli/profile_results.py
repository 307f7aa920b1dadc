"""The results of ``mlstack profile list|show``, rendered by :func:`mlstack_env.cli.output.emit`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstack_env.cli.output import Result

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.manifest.profiles import Profile


@dataclass(frozen=True)
class ProfileList(Result):
    """`profile list`'s result: the built-in profiles and the project's."""
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
        from mlstack_env.cli.tables import print_table

        rows = [[p.name, p.origin, ", ".join(p.extends) or "-", p.description]
                for p in self.profiles]
        print_table(console, ("profile", "from", "extends", "description"), rows)
        if self.project:
            console.print(f"project: {self.project}", style="dim")


@dataclass(frozen=True)
class ProfileShow(Result):
    """`profile show`'s result: one profile, merged with what it extends."""
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
