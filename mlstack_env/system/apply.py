"""Run a plan's steps, one shell command at a time, output streaming to the terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import TextIO

from mlstack_env.core.errors import SystemPackagesError
from mlstack_env.system.plan import Plan

# Runs one line of shell, stdout/stderr inherited; returns its exit status.
ShellRunner = Callable[[str], int]


def run_shell(command: str) -> int:
    """Run one step with pipefail: a pipeline fails when any command in it fails, so a
    failed key download (``wget … | gpg --dearmor | tee KEYRING``) stops the plan instead
    of passing as an empty keyring. bash has pipefail everywhere; a sh without it (older
    dash) refuses ``set -o pipefail``, and the step fails rather than run unchecked."""
    bash = shutil.which("bash")
    argv = [bash, "-o", "pipefail", "-c", command] if bash else \
        ["sh", "-c", "set -o pipefail\n" + command]
    return subprocess.run(argv, check=False).returncode


def needs_sudo() -> bool:
    return os.geteuid() != 0


def require_sudo() -> None:
    if shutil.which("sudo") is None:
        raise SystemPackagesError(
            "installing system packages needs root, and sudo is not installed",
            hint="run `mlstack system plan` and paste its commands into a root shell",
        )


def apply_plan(plan: Plan, run: ShellRunner = run_shell, out: TextIO | None = None) -> None:
    """Run every step in order; stop at the first that fails."""
    stream = out or sys.stdout
    total = len(plan.steps)
    for i, step in enumerate(plan.steps, start=1):
        stream.write(f"[{i}/{total}] {step.title}\n$ {step.command}\n")
        stream.flush()
        status = run(step.command)
        if status != 0:
            raise SystemPackagesError(
                f"step {i}/{total} ({step.title}) failed with exit status {status}",
                hint="fix the cause shown above and rerun `mlstack system apply --yes`; "
                "the steps are safe to repeat",
            )
