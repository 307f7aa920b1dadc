"""Shared fixtures: every test is isolated; fake machines; the real CLI entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import machines

# Variables from the developer's shell that would change what mlstack does.
_LEAKY_PREFIXES = ("UV_", "MLSTACK_", "HSA_", "HIP_", "ROCR_", "PYTORCH_", "MIOPEN_")
_LEAKY = ("ROCM_PATH", "ROCM_HOME", "VIRTUAL_ENV", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Own MLSTACK_HOME and config, no colour, a wide terminal, an empty machine."""
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) or name in _LEAKY:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "mlstack-home"
    monkeypatch.setenv("MLSTACK_HOME", str(home))
    monkeypatch.setenv("MLSTACK_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    empty = machines.build(tmp_path / "machine-default", [], rocm=None)
    monkeypatch.setenv("MLSTACK_ROOT", str(empty))
    from mlstack_env.catalog import gpu_table

    gpu_table.cache_clear()
    yield home


@pytest.fixture
def fake_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """``fake_machine("7900xtx")`` builds that machine and points MLSTACK_ROOT at it."""

    def make(name: str) -> Path:
        root = machines.MACHINES[name](tmp_path / f"machine-{name}")
        monkeypatch.setenv("MLSTACK_ROOT", str(root))
        return root

    return make


def mlstack_exe() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "mlstack"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlstack_env"]


def run_mlstack(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [*mlstack_exe(), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        input=input,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_mlstack
