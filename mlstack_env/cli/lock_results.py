"""``mlstack lock``'s result, its progress lines and its ``--upgrade`` options."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstack_env.cli.output import Result
from mlstack_env.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.resolve.locking import LockOutcome
    from mlstack_env.resolve.uvcompile import Upgrade


@dataclass(frozen=True)
class LockResult(Result):
    """`lock`'s result: a line per entry, and where the lock was written."""
    summary = True  # -q silences it (output.emit)
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
        from mlstack_env.cli.tables import print_table

        o = self.outcome
        rows = []
        for item in o.outcomes:
            e = item.entry
            torch = e.package("torch") if e else None
            rows.append([item.request.key, str(item.status), str(len(e.packages)) if e else "-",
                         torch.version if torch else "-"])
        print_table(console, ("entry", "status", "packages", "torch"), rows)
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


class LockProgress:
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


def upgrade_request(everything: bool, packages: list[str], *, check: bool, locked: bool,
                    offline: bool) -> Upgrade | None:
    """``--upgrade`` / ``--upgrade-package P`` as the resolver's :class:`Upgrade`."""
    if not everything and not packages:
        return None
    from packaging.utils import canonicalize_name

    from mlstack_env.resolve.uvcompile import Upgrade
    flag = "--upgrade" if everything else "--upgrade-package"
    for other, name in ((check, "--check"), (locked, "--locked"), (offline, "--offline")):
        if other:
            raise UsageError(f"{flag} changes the lock from fresh index pages; it cannot "
                             f"be used with {name}", f"drop {name} or {flag}")
    names = []
    for p in packages:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", p):
            raise UsageError(f"--upgrade-package {p!r} is not a package name",
                             "give a distribution name, e.g. --upgrade-package tqdm")
        names.append(str(canonicalize_name(p)))
    return Upgrade(everything, tuple(dict.fromkeys(names)))
