"""``mlstack bundle``: download a lock's wheels into a folder, for air-gapped installs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import Result, emit, human_bytes
from mlstack_env.cli.signature import JsonOpt
from mlstack_env.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.export.bundle import Bundle, BundledWheel


@dataclass(frozen=True)
class BundleResult(Result):
    summary = True  # -q silences it (output.emit)
    bundle: Bundle

    def to_json(self) -> dict[str, Any]:
        from mlstack_env.export.bundle import WheelStatus

        b = self.bundle
        return {
            "directory": str(b.directory),
            "lock": str(b.lock_path),
            "entries": list(b.entries),
            "downloaded": b.count(WheelStatus.DOWNLOADED),
            "cached": b.count(WheelStatus.CACHED),
            "present": b.count(WheelStatus.PRESENT),
            "wheels": [w.to_json() for w in b.wheels],
        }

    def render(self, console: Console) -> None:
        from mlstack_env.export.bundle import WheelStatus

        b = self.bundle
        total = sum(w.size for w in b.wheels)
        count = len(b.wheels)
        console.print(
            f"bundled {count} wheel{'s' if count != 1 else ''} ({human_bytes(total)}) in "
            f"{b.directory}: {b.count(WheelStatus.DOWNLOADED)} downloaded, "
            f"{b.count(WheelStatus.CACHED)} from mlstack's download cache, "
            f"{b.count(WheelStatus.PRESENT)} already present", soft_wrap=True,
        )
        for key in b.entries:
            console.print(f"  for       {key}", soft_wrap=True)
        console.print(
            f"use it:    mlstack env create --lock {b.lock_path} --wheels {b.directory} "
            "--offline", soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    @app.command("bundle")
    def bundle_cmd(
        profiles: Annotated[
            list[str] | None,
            typer.Argument(help="Profiles whose entries to bundle (default: every entry of "
                           "the lock).", show_default=False, metavar="[PROFILE]..."),
        ] = None,
        output: Annotated[
            Path | None, typer.Option("-o", "--output", help="Folder to put the wheels in "
                                      "(made if missing; files already right are kept). "
                                      "Required.", metavar="DIR", show_default=False)
        ] = None,
        lock_file: Annotated[
            Path | None, typer.Option("--lock", metavar="FILE", help="The lock to bundle "
                                      "(default: the project's mlstack.lock).")
        ] = None,
        project_dir: Annotated[
            Path | None, typer.Option("--project", metavar="DIR", help="The project "
                                      "directory (default: found upward from here).")
        ] = None,
        as_json: JsonOpt = False,
    ) -> int:
        """Download every locked wheel into DIR, sha256-checked, for `env create --wheels`."""
        from mlstack_env.export.bundle import lock_path_for, make_bundle

        if output is None:
            raise UsageError("where to? `mlstack bundle` needs -o DIR",
                             "e.g. mlstack bundle -o wheels/  (then copy wheels/ and the "
                             "lock to the offline machine)")
        lock_path = lock_path_for(lock_file, project_dir, Path.cwd())
        from mlstack_env.cli.progress import is_quiet, say

        if as_json or is_quiet():
            bundle = make_bundle(lock_path, output, profiles or [])
        else:
            from mlstack_env.cli.progress import StepProgress

            def present(item: BundledWheel) -> None:
                say(f"present     {item.wheel.filename} (sha256 matches the lock)")

            bundle = make_bundle(lock_path, output, profiles or [],
                                 progress=StepProgress().downloads(), on_present=present)
        return emit(BundleResult(bundle), as_json)
