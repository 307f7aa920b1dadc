"""The team-behind-mirrors scenario, shared by tests/test_mirrors.py (static mirrors of
tests/layoutmirror.py) and tests/real/test_mirrors_real.py (pypiserver and devpi).

PYTEST_DONT_REWRITE is not set: the asserts here are the tests' own.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from tests.wheelindex import PYPI, PYTORCH, write_mirrors, write_project

Cli = Callable[..., subprocess.CompletedProcess[str]]
TARGET = "rocm6.4:gfx1100"
KEY = f"ml@{TARGET}@py3.12"
TORCH_INDEX = f"{PYTORCH}whl/rocm6.4"


def use_mirrors(table: dict[str, str]) -> None:
    """This test's user config: ``[mirrors]`` = ``table``."""
    write_mirrors(Path(os.environ["MLSTACK_CONFIG"]), table)


def project(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_project(directory, profiles={"ml": ["torch", "numpy"]}, targets=[TARGET])
    return directory


def lock_through(cli: Cli, directory: Path, mirrors: dict[str, str]) -> str:
    """``mlstack lock`` of a fresh copy of the project through ``mirrors``; the lock's
    text, checked to hold no mirror URL and canonical indexes."""
    use_mirrors(mirrors)
    (directory / "mlstack.lock").unlink(missing_ok=True)
    r = cli("lock", cwd=directory)
    assert r.returncode == 0, r.stderr
    text = (directory / "mlstack.lock").read_text(encoding="utf-8")
    for mirror in mirrors.values():
        host = urlsplit(mirror).netloc.rpartition("@")[2]  # 127.0.0.1:PORT, no login
        assert host not in text, text
    packages = {p["name"]: p for p in tomllib.loads(text)["entry"][0]["package"]}
    assert packages["torch"]["index"] == TORCH_INDEX
    assert packages["pytorch-triton-rocm"]["index"] == TORCH_INDEX
    assert packages["numpy"]["index"] == PYPI
    assert packages["filelock"]["index"] == PYPI
    return text


def create_and_import(cli: Cli, lock: Path, name: str) -> None:
    r = cli("env", "create", "ml", "--name", name, "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    run = cli("env", "run", name, "--", "python", "-c",
              "import torch, numpy; print(torch.__version__)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2.8.0+rocm6.4"


def create_behind_each(cli: Cli, lock: Path, mirrors: dict[str, dict[str, str]]) -> None:
    """A teammate behind each mirror (name -> ``[mirrors]``) creates an env from ``lock``."""
    for name, table in mirrors.items():
        use_mirrors(table)
        create_and_import(cli, lock, f"behind-{name}")
