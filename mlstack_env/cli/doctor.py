"""``mlstack doctor``: what stands between this machine and working ROCm envs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import Result, emit
from mlstack_env.cli.signature import JsonOpt
from mlstack_env.core.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.actions.wanted import Wanted
    from mlstack_env.doctor import Context, Finding
    from mlstack_env.hardware.machine import Machine

EnvOpt = Annotated[
    str | None,
    typer.Option("--env", metavar="NAME",
                 help="Also check the machine against this named env (its lock and "
                 "fingerprint)."),
]
LockOpt = Annotated[
    Path | None,
    typer.Option("--lock", metavar="FILE",
                 help="Also check the machine against this lock (default: the project's "
                 "mlstack.lock, if any)."),
]

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


@dataclass(frozen=True)
class DoctorResult(Result):
    findings: tuple[Finding, ...]

    @property
    def exit_code(self) -> ExitCode:
        from mlstack_env.doctor import Status

        failed = any(f.status is Status.FAIL for f in self.findings)
        return ExitCode.USER_ERROR if failed else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        """One object, as every --json prints: the worst status, then each finding."""
        from mlstack_env.doctor import Status

        worst = next((s for s in (Status.FAIL, Status.WARN)
                      if any(f.status is s for f in self.findings)), Status.OK)
        return {"status": worst.value, "findings": [f.to_json() for f in self.findings]}

    def render(self, console: Console) -> None:
        from rich.table import Table
        from rich.text import Text

        from mlstack_env.cli.plain import printable
        from mlstack_env.doctor import Status

        table = Table(box=None, pad_edge=False, show_header=True)
        table.add_column("status")
        table.add_column("check")
        table.add_column("finding", overflow="fold")
        for f in self.findings:
            cell = Text(printable(f.message, newlines=True))
            if f.hint and f.status is not Status.OK:
                cell.append(f"\nhint: {printable(f.hint, newlines=True)}", style="dim")
            elif f.hint:
                cell.append(f"\n{printable(f.hint, newlines=True)}", style="dim")
            table.add_row(Text(f.status.value, style=_STYLE[f.status.value]), f.check, cell)
        console.print(table)
        warns = sum(f.status is Status.WARN for f in self.findings)
        fails = sum(f.status is Status.FAIL for f in self.findings)
        console.print(
            f"{fails} failed, {warns} warning{'s' if warns != 1 else ''}, "
            f"{len(self.findings) - warns - fails} ok",
            highlight=False, markup=False,
        )


def build_context(lock: Path | None, env: str | None) -> Context:
    from mlstack_env.actions.wanted import load_wanted
    from mlstack_env.hardware import detect

    machine = detect(environ=dict(os.environ))
    return live_context(machine, load_wanted(lock, env, machine))


def live_context(machine: Machine, wanted: Wanted | None) -> Context:
    """The doctor's view of this live system, for a machine already detected."""
    from mlstack_env.core import paths
    from mlstack_env.doctor import Context
    from mlstack_env.doctor.seams import SystemAccess, disk_free, probe_uv
    from mlstack_env.system import package_db

    environ = dict(os.environ)
    return Context(
        machine=machine,
        root=paths.machine_root(),
        environ=environ,
        home=Path(environ.get("HOME") or Path.home()),
        store=paths.home(),
        access=SystemAccess(),
        disk_free=disk_free,
        uv=probe_uv,
        package_db=package_db,
        wanted=wanted,
    )


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_cmd(env: EnvOpt = None, lock: LockOpt = None, as_json: JsonOpt = False
                   ) -> int:
        """Check the GPU, driver, device access, ROCm, support, distro, your shell setup,
        disk and uv; exit 1 when a check fails."""
        from mlstack_env.doctor import run

        result = DoctorResult(tuple(run(build_context(lock, env))))
        return emit(result, as_json)
