"""``mlstack detect``: the GPUs, ROCm, distro and the target they imply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from mlstack_env.cli.output import Result, emit, human_bytes
from mlstack_env.cli.signature import JsonOpt
from mlstack_env.gpu.gpu_assessment import assess, target_summary
from mlstack_env.hardware import Machine, detect

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.resolve.request import PythonChoice



@dataclass(frozen=True)
class DetectResult(Result):
    """`detect`'s result: the machine, and the Python a lock would use."""
    machine: Machine
    lock_python: tuple[str, PythonChoice] | None = None  # (profile, the Python it locks for)

    def to_json(self) -> dict[str, Any]:
        data = self.machine.to_json()
        lp = self.lock_python
        data["lock_python"] = ({"profile": lp[0], "version": lp[1].version, "why": lp[1].why}
                               if lp else None)
        support = {a.gpu.index: a.to_json() for a in assess(self.machine)}
        for gpu in data["gpus"]:
            s = support[gpu["index"]]
            gpu["in_target"] = s["in_target"]
            gpu["code"] = s["code"]
            gpu["override"] = s["override"]
            gpu["official"] = s["official"]
        data["summary"] = target_summary(self.machine)
        return data

    def render(self, console: Console) -> None:
        from mlstack_env.cli.tables import print_table

        m = self.machine
        if m.gpus:
            rows = []
            for a in assess(m):
                g = a.gpu
                kind = g.kind
                if not a.in_target:
                    kind += " (left out)"
                rows.append([
                    str(g.index),
                    g.name,
                    g.gfx,
                    g.device_id or "-",
                    human_bytes(g.vram_bytes),
                    kind,
                    a.code.describe() if a.code else "-",
                    ("yes" if a.official.supported else "no") if a.official else "-",
                ])
            print_table(console, ("#", "GPU", "gfx", "PCI id", "VRAM", "kind", "wheels",
                                  "official"), rows, heading=2)
        else:
            console.print("GPUs:    none found")
        rocm = f"{m.rocm.version} at {m.rocm.path}" if m.rocm else "not installed"
        console.print(f"ROCm:    {rocm}")
        console.print(f"Distro:  {m.distro.name if m.distro else 'unknown'}")
        console.print(f"Kernel:  {m.kernel or 'unknown'}")
        console.print(f"Python:  {m.python}")
        if self.lock_python:
            profile, choice = self.lock_python
            console.print(f"Locks:   {profile} for Python {choice}", soft_wrap=True)
        console.print(f"Target:  {target_summary(m)}", soft_wrap=True)
        for note in m.notes:
            console.print(f"note: {note}", style="dim", soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("detect")
    def detect_cmd(as_json: JsonOpt = False) -> int:
        """Show the GPUs, gfx targets, ROCm, distro, kernel, Python and the implied target."""
        machine = detect()
        return emit(DetectResult(machine, _lock_python(machine)), as_json)


def _lock_python(machine: Machine) -> tuple[str, PythonChoice] | None:
    """The Python `lock`/`env create` would choose here without --python, for the project's
    default-env (else its first profile, else the built-in minimal), and why."""
    from pathlib import Path

    from mlstack_env.core.errors import LockError, ManifestError, TargetError
    from mlstack_env.manifest.profiles import ProfileSet
    from mlstack_env.manifest.project import find_project
    from mlstack_env.resolve.locking import existing_lock
    from mlstack_env.resolve.request import choose_python

    try:
        project = find_project(Path.cwd())
        if project is None:
            return "minimal", choose_python(ProfileSet.load().get("minimal"), None, None)
        name = project.default_env or project.lock_profiles()[0]
        lock = existing_lock(project.lock_path)
        profile = project.profile_set().get(name)
        return name, choose_python(profile, None, project, lock, [machine.target])
    except (ManifestError, LockError, TargetError):  # a broken project or lock is for
        # `lock` to report; detect still works
        return None
