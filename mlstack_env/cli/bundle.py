"""``mlstack bundle``: download a lock's wheels into a folder, for air-gapped installs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import emit, human_bytes
from mlstack_env.errors import MlstackError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from mlstack_env.bundle import Bundle, BundledWheel
    from mlstack_env.lockfile import Wheel


@dataclass(frozen=True)
class BundleResult:
    summary = True  # -q silences it (output.emit)
    bundle: Bundle

    def to_json(self) -> dict[str, Any]:
        b = self.bundle
        return {
            "directory": str(b.directory),
            "lock": str(b.lock_path),
            "entries": list(b.entries),
            "downloaded": b.count("downloaded"),
            "present": b.count("present"),
            "wheels": [w.to_json() for w in b.wheels],
        }

    def render(self, console: Console) -> None:
        b = self.bundle
        total = sum(w.size for w in b.wheels)
        count = len(b.wheels)
        console.print(
            f"bundled {count} wheel{'s' if count != 1 else ''} ({human_bytes(total)}) in "
            f"{b.directory}: {b.count('downloaded')} downloaded, {b.count('present')} "
            "already present", soft_wrap=True,
        )
        for key in b.entries:
            console.print(f"  for       {key}", soft_wrap=True)
        console.print(
            f"use it:    mlstack env create --lock {b.lock_path} --wheels {b.directory} "
            "--offline", soft_wrap=True,
        )


class RichBundleProgress:
    """A line per wheel on stderr; on a terminal, a byte bar while one downloads."""

    def __init__(self) -> None:
        from mlstack_env.cli.output import console

        self._console = console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def start(self, wheel: Wheel, url: str) -> None:
        if not self._console.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                             TransferSpeedColumn(), console=self._console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(wheel.filename, total=wheel.size)

    def advance(self, nbytes: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, nbytes)

    def finish(self, item: BundledWheel) -> None:
        self._stop()
        if item.status == "present":
            line = f"present     {item.wheel.filename} (sha256 matches the lock)"
        else:
            line = f"downloaded  {item.wheel.filename} ({human_bytes(item.size)}, sha256 ok)"
        self._console.print(line, soft_wrap=True, highlight=False)

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = None
        self._task = None

    def __enter__(self) -> RichBundleProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()  # a failed download leaves no bar behind the error line


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
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> int:
        """Download every locked wheel into DIR, sha256-checked, for `env create --wheels`."""
        from mlstack_env.bundle import lock_path_for, make_bundle

        if output is None:
            raise MlstackError("where to? `mlstack bundle` needs -o DIR",
                               "e.g. mlstack bundle -o wheels/  (then copy wheels/ and the "
                               "lock to the offline machine)")
        lock_path = lock_path_for(lock_file, project_dir, Path.cwd())
        from mlstack_env.cli.progress import is_quiet

        if as_json or is_quiet():
            bundle = make_bundle(lock_path, output, profiles or [])
        else:
            with RichBundleProgress() as progress:
                bundle = make_bundle(lock_path, output, profiles or [], progress=progress)
        return emit(BundleResult(bundle), as_json)
