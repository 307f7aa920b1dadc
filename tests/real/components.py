"""What the real tier runs, and how a test asks for it.

One line per component in COMPONENTS: the argv that prints its version and the
`.ci/real/` script that installs it. ``pytest -m real`` (and every CI run) prints each
component with the version it reports, in the run's header (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# PyPI tools' own venvs (.ci/real/*.sh installs them there).
_REAL = Path(__file__).resolve().parents[2] / ".real"

# name -> (argv that prints the version, the .ci/real script that installs it)
COMPONENTS: dict[str, tuple[list[str], str]] = {
    "munge": (["munged", "--version"], "slurm.sh"),
    # slurmd, not sinfo: Slurm's clients print their version only once they find a
    # slurm.conf, and the tests write their own.
    "slurm": (["slurmd", "-V"], "slurm.sh"),
    "pypiserver": ([str(_REAL / "pypiserver/bin/pypi-server"), "--version"], "mirrors.sh"),
    "devpi-server": ([str(_REAL / "devpi/bin/devpi-server"), "--version"], "mirrors.sh"),
    "pip": ([str(_REAL / "pylock/bin/pip"), "--version"], "pylock.sh"),
    "packaging": ([str(_REAL / "pylock/bin/python"), "-c",
                   "import packaging; print('packaging', packaging.__version__)"], "pylock.sh"),
    "dockerd": (["/usr/sbin/dockerd", "--version"], "containers.sh"),
    "buildah": (["/usr/bin/buildah", "--version"], "containers.sh"),
    "debootstrap": (["dpkg-query", "-W", "-f", "debootstrap ${Version}", "debootstrap"],
                    "containers.sh"),
    "hadolint": ([str(_REAL / "containers/hadolint/bin/hadolint"), "--version"],
                 "containers.sh"),
}


def version_of(name: str) -> str:
    argv, _ = COMPONENTS[name]
    exe = shutil.which(argv[0]) or argv[0]
    try:
        done = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        return f"not runnable ({exc.strerror})"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else f"exit {done.returncode}"


def need(name: str, what: str) -> None:
    """Fail (under CI) or skip (a developer's machine) when COMPONENTS[name] is absent or
    cannot start; ``what`` says what is wrong, in the component's own words."""
    _, installer = COMPONENTS[name]
    message = f"{name}: {what} (install with: sudo bash .ci/real/{installer})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def header() -> list[str]:
    return [f"real component {name}: {version_of(name)}" for name in sorted(COMPONENTS)]
