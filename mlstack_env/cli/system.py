"""``mlstack system check|plan|apply``: a lock's system packages on this machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.actions.wanted import Wanted, require_wanted
from mlstack_env.cli.output import Result, emit
from mlstack_env.cli.signature import JsonOpt
from mlstack_env.core.errors import ExitCode, SystemPackagesError, UsageError
from mlstack_env.hardware import Distro, Machine, detect
from mlstack_env.system import (
    Family,
    PackageStatus,
    Plan,
    check_packages,
    make_plan,
    package_db,
    parse_distro,
    system_catalog,
)

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.doctor import Finding

EnvOpt = Annotated[
    str | None,
    typer.Option("--env", metavar="NAME", help="The lock of this named env."),
]
LockOpt = Annotated[
    Path | None,
    typer.Option("--lock", metavar="FILE",
                 help="The lock to read (default: the project's mlstack.lock)."),
]


def _print(console: Console, text: str, style: str | None = None) -> None:
    # Commands hold brackets ("deb [arch=amd64 …]"): no markup, and never wrapped.
    console.print(text, markup=False, highlight=False, soft_wrap=True, style=style)


def machine_family(machine: Machine) -> tuple[Distro, Family]:
    if machine.distro is None:
        raise SystemPackagesError(
            "cannot tell this machine's distribution: etc/os-release is missing",
            hint="plan for a distribution with --distro ID:VERSION, e.g. ubuntu:24.04",
        )
    return machine.distro, system_catalog().family_of(machine.distro)


def host_findings(machine: Machine, wanted: Wanted) -> tuple[Finding, ...]:
    """What the host must give an entry that holds ROCm as wheels: the amdgpu driver and
    device access (doctor's own checks); nothing for other entries."""
    if wanted.rocm_in_env is None:
        return ()
    from mlstack_env.cli.doctor import live_context
    from mlstack_env.doctor import machine as checks
    from mlstack_env.doctor import run

    return tuple(run(live_context(machine, wanted), [checks.driver_loaded,
                                                     checks.device_access]))


@dataclass(frozen=True)
class CheckResult(Result):
    wanted: Wanted
    distro: Distro
    family: Family
    statuses: tuple[PackageStatus, ...]
    host: tuple[Finding, ...] = ()

    @property
    def missing(self) -> list[str]:
        return [s.name for s in self.statuses if not s.installed]

    @property
    def exit_code(self) -> ExitCode:
        failed = any(f.failed for f in self.host)
        return ExitCode.USER_ERROR if self.missing or failed else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.wanted.source,
            "distro": f"{self.distro.id}:{self.distro.version_id}",
            "manager": self.family.manager,
            "rocm": self.wanted.rocm,
            "rocm_in_env": self.wanted.rocm_in_env,
            "packages": [s.to_json() for s in self.statuses],
            "missing": self.missing,
            "host": [f.to_json() for f in self.host],
            "notes": list(self.wanted.notes),
        }

    def render(self, console: Console) -> None:
        from rich.table import Table

        _print(console, f"System packages of {self.wanted.source}")
        _print(console, f"on {self.distro.name} ({self.family.manager})")
        for note in self.wanted.notes:
            _print(console, f"note: {note}", style="dim")
        for f in self.host:
            _print(console, f"host: {f.status.value}: {f.message}")
            if f.status.value != "ok" and f.hint:
                _print(console, f"  {f.hint}", style="dim")
        if not self.statuses:
            _print(console, "the entry lists no system packages")
            return
        table = Table(box=None, pad_edge=False)
        for col in ("package", "installed", "version", "as"):
            table.add_column(col)
        for s in self.statuses:
            state = "yes" if s.installed else ("no package" if not s.available else "no")
            table.add_row(s.name, state, s.version or "-", " ".join(s.packages) or "-")
        console.print(table)
        if self.missing:
            _print(console, f"missing: {', '.join(self.missing)}; "
                   "see the commands that install them with `mlstack system plan`")
        else:
            _print(console, "all installed")


def _nothing(wanted: Wanted) -> str:
    """Why a plan has no step: the entry lists no system package, or all are installed."""
    if not wanted.system:
        return "the entry lists no system packages"
    return "every system package is installed"


@dataclass(frozen=True)
class PlanResult(Result):
    wanted: Wanted
    plan: Plan
    local: bool  # for this machine (missing packages only) or another (--distro)

    def to_json(self) -> dict[str, Any]:
        data = self.plan.to_json()
        data["source"] = self.wanted.source
        data["notes"] = [*self.wanted.notes, *data["notes"]]
        return data

    def render(self, console: Console) -> None:
        # Valid shell from the first line to the last: prose goes into comments.
        where = "this machine" if self.local else self.plan.distro.name
        _print(console, f"# System packages of {self.wanted.source}")
        _print(console, f"# for {where} ({self.plan.distro.id}:{self.plan.distro.version_id}, "
               f"{self.plan.family.manager})")
        for note in (*self.wanted.notes, *self.plan.notes):
            _print(console, f"# note: {note}")
        if not self.plan.steps:
            _print(console, "# nothing to do: " + _nothing(self.wanted))
            return
        for step in self.plan.steps:
            _print(console, f"# {step.title}")
            _print(console, step.command)


def _local_plan(wanted: Wanted, machine: Machine, sudo: bool) -> Plan:
    distro, family = machine_family(machine)
    statuses = check_packages(wanted.system, family, system_catalog(), package_db(family.database))
    missing = [s.name for s in statuses if not s.installed]
    return make_plan(missing, distro, system_catalog(), _rocm(wanted, machine), sudo)


def _rocm(wanted: Wanted, machine: Machine) -> str | None:
    return wanted.rocm or (machine.rocm.version if machine.rocm else None)


def register(app: typer.Typer) -> None:
    sub = typer.Typer(
        help="System packages a lock expects: check, plan, apply.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )

    @sub.command("check")
    def check_cmd(env: EnvOpt = None, lock: LockOpt = None, as_json: JsonOpt = False) -> int:
        """Which of the lock's system packages are installed (exit 1 when some are missing)."""
        machine = detect()
        wanted = require_wanted(lock, env, machine)
        distro, family = machine_family(machine)
        statuses = check_packages(
            wanted.system, family, system_catalog(), package_db(family.database)
        )
        result = CheckResult(wanted, distro, family, tuple(statuses),
                             host_findings(machine, wanted))
        return emit(result, as_json)

    @sub.command("plan")
    def plan_cmd(
        env: EnvOpt = None,
        lock: LockOpt = None,
        distro: Annotated[
            str | None,
            typer.Option("--distro", metavar="ID:VERSION",
                         help="Plan for another machine's distribution, e.g. ubuntu:24.04."),
        ] = None,
        as_json: JsonOpt = False,
    ) -> int:
        """Print the commands that install the lock's missing system packages. Runs nothing."""
        from mlstack_env.system.apply import needs_sudo

        machine = detect()
        wanted = require_wanted(lock, env, machine)
        if distro is None:
            plan = _local_plan(wanted, machine, needs_sudo())
        else:
            # Another machine: its database is out of reach, so plan every package; its
            # user is rarely root.
            plan = make_plan(wanted.system, parse_distro(distro), system_catalog(),
                             _rocm(wanted, machine), sudo=True)
        return emit(PlanResult(wanted, plan, local=distro is None), as_json)

    @sub.command("apply")
    def apply_cmd(
        env: EnvOpt = None,
        lock: LockOpt = None,
        yes: Annotated[bool, typer.Option("--yes", help="Really run the plan.")] = False,
    ) -> None:
        """Run `mlstack system plan`'s commands (with sudo when not root)."""
        _apply(env, lock, yes)

    app.add_typer(sub, name="system")


def _apply(env: str | None, lock: Path | None, yes: bool) -> None:
    """``system apply``: the local plan run, after --yes and sudo are checked."""
    from mlstack_env.system.apply import apply_plan, needs_sudo, require_sudo

    if not yes:
        raise UsageError(
            "`mlstack system apply` changes the system and runs only with --yes",
            hint="review the commands with `mlstack system plan`, then run "
            "`mlstack system apply --yes`",
        )
    machine = detect()
    wanted = require_wanted(lock, env, machine)
    sudo = needs_sudo()
    plan = _local_plan(wanted, machine, sudo)
    if not plan.steps:
        typer.echo("nothing to do: " + _nothing(wanted))
        return
    if sudo:
        require_sudo()
    for note in plan.notes:
        typer.echo(f"note: {note}")
    apply_plan(plan)
    typer.echo(f"done: installed {' '.join(plan.install)}")
