"""One project discovery (core/projectdir.py): every command that looks for the project
from a folder finds the same one, the nearest ``mlstack.toml`` upward."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack_env.actions.wanted import find_project_lock
from mlstack_env.cli import completion
from mlstack_env.lockfile.lockside import project_root
from mlstack_env.manifest.project import find_project
from mlstack_env.store.lookup import project_default_env


def test_every_command_finds_the_nearest_manifest(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    outer, inner = tmp_path, tmp_path / "team" / "sub"
    (outer / "mlstack.toml").write_text('default-env = "minimal"\n')
    (outer / "mlstack.lock").write_text("")
    inner.mkdir(parents=True)
    (inner / "mlstack.toml").write_text('default-env = "minimal"\ntargets = ["cpu"]\n')
    deep = inner / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)

    project = find_project(deep)
    assert project is not None and project.root == inner
    assert project_default_env(deep) == ("minimal", str(inner / "mlstack.toml"))
    assert completion._manifest() == inner / "mlstack.toml"
    assert "cpu" in completion.target_names()
    # diff reads the nearest project's lock, even before it has one
    assert project_root(deep) == inner
    # `mlstack system` reads the nearest lock file there is
    assert find_project_lock(deep) == outer / "mlstack.lock"

