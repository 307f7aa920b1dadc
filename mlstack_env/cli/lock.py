"""``mlstack lock``: resolve profiles x targets into mlstack.lock (or check it is fresh)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import emit
from mlstack_env.errors import MlstackError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.resolve import LockOutcome, Upgrade


@dataclass(frozen=True)
class LockResult:
    outcome: LockOutcome

    def to_json(self) -> dict[str, Any]:
        o = self.outcome
        entries = []
        for item in o.outcomes:
            e = item.entry
            torch = e.package("torch") if e else None
            entries.append({
                "key": item.request.key,
                "profile": item.request.profile.name,
                "target": str(item.request.target),
                "python": item.request.python,
                "python_why": item.request.python_why,
                "status": item.status,
                "inputs_hash": item.request.inputs_hash(),
                "packages": len(e.packages) if e else None,
                "torch": torch.version if torch else None,
                "notes": list(e.notes) if e else [],
            })
        return {
            "lock": str(o.path),
            "check": o.checked,
            "up_to_date": o.up_to_date,
            "written": o.written,
            "entries": entries,
            "exported": [str(p) for p in o.exported],
            "change": o.change.to_json() if o.change else None,
        }

    def render(self, console: Console) -> None:
        from rich.table import Table

        o = self.outcome
        table = Table(box=None, pad_edge=False)
        for col in ("entry", "status", "packages", "torch"):
            table.add_column(col)
        for item in o.outcomes:
            e = item.entry
            torch = e.package("torch") if e else None
            table.add_row(item.request.key, item.status, str(len(e.packages)) if e else "-",
                          torch.version if torch else "-")
        console.print(table)
        pythons: dict[str, str] = {}
        for item in o.outcomes:
            pythons.setdefault(f"{item.request.python} ({item.request.python_why})",
                               item.request.profile.name)
        for text, profile in pythons.items():
            console.print(f"python: {text}" + (f" for {profile}" if len(pythons) > 1 else ""),
                          soft_wrap=True)
        for item in o.outcomes:
            for note in item.entry.notes if item.entry else ():
                console.print(f"note: {item.request.key}: {note}", soft_wrap=True)
        if o.checked:
            if o.up_to_date:
                console.print(f"{o.path} is up to date", soft_wrap=True)
        elif o.written:
            console.print(f"wrote {o.path}", soft_wrap=True)
        else:
            console.print(f"{o.path} is up to date (unchanged)", soft_wrap=True)
        for path in o.exported:
            console.print(f"exported {path}", soft_wrap=True)


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
        from mlstack_env.project import find_project
        from mlstack_env.resolve import lock
        from mlstack_env.target import Target, parse_python

        targets = [Target.parse(t) for t in target or []]
        if python is not None:
            parse_python(python)
        wanted = _upgrade(upgrade, upgrade_package or [], check=check, locked=locked,
                          offline=offline)
        project = find_project(Path.cwd(), project_dir)
        if project is None:
            _check_profiles(profiles or [])
        if check and export_pylock is not None:
            raise MlstackError("--check writes nothing; it cannot be used with "
                               "--export-pylock", "drop one of them")
        with _progress(quiet=as_json) as progress:
            outcome = lock(
                project=project,
                profiles=profiles or [],
                targets=targets,
                python=python,
                output=output,
                check=check,
                export_dir=export_pylock,
                offline=offline,
                progress=progress,
                upgrade=wanted,
                locked=locked,
                on_wait=_say,
            )
        for line in outcome.change.lines() if outcome.change else ():
            _say(line)
        code = emit(LockResult(outcome), as_json)
        if check and not outcome.up_to_date:
            stale = [f"{o.request.key} ({o.status})" for o in outcome.outcomes
                     if not o.status.up_to_date]
            raise MlstackError(
                f"{outcome.path} is not up to date: {', '.join(stale)}",
                "run `mlstack lock` and commit the result",
            )
        return code


def _check_profiles(names: list[str]) -> None:
    """Outside a project only built-in profiles exist: an unknown name is the error to
    report, before the missing mlstack.toml."""
    from mlstack_env.profiles import ProfileSet, unknown_profile_error

    known = ProfileSet.load().names()
    for name in names:
        if name not in known:
            err = unknown_profile_error(name, known)
            raise MlstackError(f"{err.message} (no mlstack.toml here defines profiles)",
                               err.hint)


def _say(message: str) -> None:
    import sys

    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _upgrade(everything: bool, packages: list[str], *, check: bool, locked: bool,
             offline: bool) -> Upgrade | None:
    from packaging.utils import canonicalize_name

    from mlstack_env.resolve import Upgrade

    if not everything and not packages:
        return None
    flag = "--upgrade" if everything else "--upgrade-package"
    for other, name in ((check, "--check"), (locked, "--locked"), (offline, "--offline")):
        if other:
            raise MlstackError(f"{flag} changes the lock from fresh index pages; it cannot "
                               f"be used with {name}", f"drop {name} or {flag}")
    names = []
    for p in packages:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", p):
            raise MlstackError(f"--upgrade-package {p!r} is not a package name",
                               "give a distribution name, e.g. --upgrade-package tqdm")
        names.append(str(canonicalize_name(p)))
    return Upgrade(everything, tuple(dict.fromkeys(names)))


class _progress:
    """One step per entry uv resolves, as ``env create`` shows its steps (a spinner, then
    ``resolving KEY: done in …``; in a log or a pipe only that line); nothing with -q or
    --json. An entry that fails gets no line: the error says it."""

    def __init__(self, quiet: bool = False) -> None:
        self._quiet = quiet
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Any:
        from mlstack_env.cli.progress import StepProgress, is_quiet

        if self._quiet or is_quiet():
            return None
        progress = StepProgress()

        def update(key: str) -> None:
            self._stack.close()  # the previous entry is done
            self._stack = contextlib.ExitStack()
            self._stack.enter_context(progress.step(f"resolving {key}"))

        return update

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)
