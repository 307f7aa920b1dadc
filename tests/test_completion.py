"""``mlstack completion bash|zsh|fish``: the table, the helper, and each script in its
real shell (skipped when the shell is not installed; CI installs zsh and fish)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlstack_env.activation.data import ENV_JSON
from mlstack_env.cli.app import full_command
from mlstack_env.cli.completion import FILES, complete, table_of
from mlstack_env.core import paths
from tests.conftest import mlstack_exe

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def table() -> dict[str, Any]:
    return table_of(full_command())


@pytest.fixture
def envs() -> list[str]:
    """Two envs as the store lays them out (only `current/mlstack-env.json` is read)."""
    names = ["demo", "train-big"]
    for name in names:
        gen = paths.envs_dir() / name / "gen-1"
        gen.mkdir(parents=True)
        (gen / ENV_JSON).write_text("{}", encoding="utf-8")
        (paths.envs_dir() / name / "current").symlink_to("gen-1")
    return names


def test_commands_and_subcommands(table: dict[str, Any]) -> None:
    assert complete(table, ["env", "cr"]) == ["create"]
    assert complete(table, ["d"]) == ["detect", "diff", "doctor"]
    assert "completion" in complete(table, [""])
    assert complete(table, ["-q", "env", "ro"]) == ["rollback"]


def test_options(table: dict[str, Any]) -> None:
    found = complete(table, ["env", "create", "--"])
    assert {"--name", "--lock", "--target", "--python", "--offline", "--json",
            "--quiet", "--help"} <= set(found)
    assert complete(table, ["lock", "--ch"]) == ["--check"]


def test_env_names(table: dict[str, Any], envs: list[str]) -> None:
    for command in ("info", "remove", "verify", "rollback", "export", "shell", "activate",
                    "run"):
        assert complete(table, ["env", command, ""]) == envs, command
    assert complete(table, ["env", "info", "tr"]) == ["train-big"]
    assert complete(table, ["doctor", "--env", ""]) == envs


def test_profile_names(table: dict[str, Any], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete(table, ["lock", ""]) == ["inference", "minimal", "training"]
    assert complete(table, ["lock", "minimal", "tr"]) == ["training"]  # PROFILE... repeats
    assert complete(table, ["profile", "show", "inf"]) == ["inference"]
    (tmp_path / "mlstack.toml").write_text('[profiles.serve]\nextends = ["inference"]\n',
                                           encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert complete(table, ["env", "create", "s"]) == ["serve"]


def test_targets(table: dict[str, Any], fake_machine: Callable[[str], Path], tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine("7900xtx")
    assert complete(table, ["env", "create", "--target", ""]) == ["cpu", "rocm6.4:gfx1100"]
    (tmp_path / "mlstack.toml").write_text('targets = ["rocm7.0:gfx942"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert complete(table, ["lock", "-t", "rocm"]) == ["rocm6.4:gfx1100", "rocm7.0:gfx942"]


def test_values_that_are_paths_or_choices(table: dict[str, Any], envs: list[str]) -> None:
    assert complete(table, ["env", "create", "--lock", ""]) == [FILES]
    assert complete(table, ["env", "run", "demo", "--", ""]) == [FILES]
    assert complete(table, ["env", "activate", "demo", "--shell", "f"]) == ["fish"]
    assert complete(table, ["env", "create", "--name", ""]) == []  # a new name: free text


def test_unknown_shell(cli: Cli) -> None:
    r = cli("completion", "tcsh")
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["error: no completion for shell 'tcsh'",
                                     "hint: choose one of: bash, zsh, fish"]


# --- in the real shells ----------------------------------------------------------------


def _shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (CI installs zsh and fish with apt-get)")
    return found


def _run_in(shell: list[str], script: str, code: str, tmp_path: Path,
            **extra: str) -> list[str]:
    path = tmp_path / "completion-script"
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, **extra}
    env["PATH"] = f"{Path(mlstack_exe()[0]).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SCRIPT"] = str(path)
    r = subprocess.run([*shell, code], capture_output=True, text=True, env=env, timeout=60,
                       check=False, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


BASH = """
source "$SCRIPT"
COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_mlstack
printf '%s\\n' "${COMPREPLY[@]}"
"""


def _bash(line: str, cli: Cli, tmp_path: Path) -> list[str]:
    script = cli("completion", "bash").stdout
    return _run_in([_shell("bash"), "-c"], script, BASH, tmp_path, LINE=line)


def test_bash_completes_env_cr_to_create(cli: Cli, tmp_path: Path) -> None:
    assert _bash("mlstack env cr", cli, tmp_path) == ["create"]


def test_bash_env_names_and_targets_with_a_colon(cli: Cli, tmp_path: Path, envs: list[str],
                                                 fake_machine: Callable[[str], Path]) -> None:
    assert _bash("mlstack env shell ", cli, tmp_path) == envs
    fake_machine("7900xtx")
    # bash replaces only what follows the ':' (COMP_WORDBREAKS); the script answers so.
    assert _bash("mlstack env create --target rocm6.4:gf", cli, tmp_path) == ["gfx1100"]


ZSH = """
source "$SCRIPT"
# Stands in for zsh's completion builtin: prints the candidates (the words after --).
compadd() { while [[ $1 != -- ]]; do shift; done; shift; printf '%s\\n' "$@"; }
words=(mlstack env cr); CURRENT=3
_mlstack
words=(mlstack env info ''); CURRENT=4
_mlstack
"""


def test_zsh(cli: Cli, tmp_path: Path, envs: list[str]) -> None:
    script = cli("completion", "zsh").stdout
    assert _run_in([_shell("zsh"), "-f", "-c"], script, ZSH, tmp_path) == ["create", *envs]


FISH = """
source $SCRIPT
complete -C 'mlstack env cr'
complete -C 'mlstack env info '
"""


def test_fish(cli: Cli, tmp_path: Path, envs: list[str]) -> None:
    script = cli("completion", "fish").stdout
    out = _run_in([_shell("fish"), "--no-config", "-c"], script, FISH, tmp_path)
    assert [line.split("\t")[0] for line in out] == ["create", *envs]
