"""``mlstack env shell`` through the real console script, in bash, zsh, sh and fish.

The shell reads its commands from a pipe (``printf '…; exit 3' | mlstack env shell``);
each prints marker lines (``VAL=…``) to stdout, which the test reads back. Prompts and
job-control chatter from an interactive shell without a terminal go to stderr.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.activation_envs import ROCM, fake_venv, make_env, shell_path

Cli = Callable[..., subprocess.CompletedProcess[str]]

SHELLS = ("bash", "zsh", "dash", "fish")

COMMANDS = (
    "printf 'VAL=%s\\n' \"$HSA_OVERRIDE_GFX_VERSION\"\n"
    "printf 'ENV=%s\\n' \"$MLSTACK_ENV\"\n"
    "printf 'PATH=%s\\n' \"$PATH\"\n"
    "printf 'USER_RC=%s\\n' \"$USER_RC\"\n"
    "printf 'HELPER=%s%s\\n' \"$_MLSTACK_ACTIVATE\" \"$_MLSTACK_USER_ZDOTDIR\"\n"
    "deactivate\n"
    "printf 'AFTER=%s\\n' \"$HSA_OVERRIDE_GFX_VERSION\"\n"
    "exit 3\n"
)


def _markers(stdout: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isupper() and key not in out:
            out[key] = value
    return out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME whose start-up files set USER_RC and put a directory before the env's bin."""
    home = tmp_path / "home"
    rc = 'export USER_RC={}\nPATH="/user/rc/bin:$PATH"\n'
    (home / ".config" / "fish").mkdir(parents=True)
    (home / ".bashrc").write_text(rc.format("bash"))
    (home / ".zshrc").write_text(rc.format("zsh"))
    (home / ".shrc").write_text(rc.format("sh"))
    (home / ".config" / "fish" / "config.fish").write_text(
        "set -gx USER_RC fish\nset -gx PATH /user/rc/bin $PATH\n")
    return home


@pytest.fixture
def demo(tmp_path: Path, isolated: Path) -> Path:
    venv = fake_venv(tmp_path / "venv")
    make_env(isolated, "demo", ROCM, venv)
    return venv


def _env(shell: str, home: Path) -> dict[str, str]:
    program = shell_path(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed (CI installs zsh and fish with apt-get)")
    return {"SHELL": program, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "ENV": str(home / ".shrc")}


@pytest.mark.parametrize("shell", SHELLS)
def test_shell_has_the_env_and_passes_the_exit_status(
    cli: Cli, shell: str, home: Path, demo: Path, tmp_path: Path
) -> None:
    r = cli("env", "shell", "demo", env=_env(shell, home), input=COMMANDS, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    got = _markers(r.stdout)
    assert got["VAL"] == ROCM["HSA_OVERRIDE_GFX_VERSION"]
    assert got["ENV"] == "demo"
    # The user's start-up file ran first, and the env's bin is still in front of it.
    expected_rc = "sh" if shell == "dash" else shell
    assert got["USER_RC"] == expected_rc
    path = got["PATH"].split(":")
    assert path[0] == str(demo / "bin")
    assert "/user/rc/bin" in path
    # mlstack's helper variables do not leak into the user's session.
    assert got["HELPER"] == ""
    # deactivate works in the env shell as after any `source bin/activate`.
    assert got["AFTER"] == ""


def test_zsh_keeps_the_users_zdotdir(cli: Cli, home: Path, demo: Path, tmp_path: Path) -> None:
    env = _env("zsh", home)
    zdot = tmp_path / "zdot"
    zdot.mkdir()
    (zdot / ".zshenv").write_text("export ZSHENV_READ=yes\n")
    (zdot / ".zshrc").write_text("export USER_RC=zdotdir\n")
    env["ZDOTDIR"] = str(zdot)
    commands = "printf 'ZDOTDIR=%s\\n' \"$ZDOTDIR\"\nprintf 'ZSHENV=%s\\n' \"$ZSHENV_READ\"\n"
    r = cli("env", "shell", "demo", env=env, input=commands + COMMANDS, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    got = _markers(r.stdout)
    assert got["ZDOTDIR"] == str(zdot)
    assert got["ZSHENV"] == "yes"
    assert got["USER_RC"] == "zdotdir"
    assert got["VAL"] == ROCM["HSA_OVERRIDE_GFX_VERSION"]
    assert got["HELPER"] == ""


def test_zsh_without_a_zdotdir_leaves_none(cli: Cli, home: Path, demo: Path) -> None:
    r = cli("env", "shell", "demo", env=_env("zsh", home),
            input="printf 'ZDOTDIR=%s\\n' \"${ZDOTDIR-unset}\"\nexit 0\n")
    assert r.returncode == 0, r.stderr
    assert _markers(r.stdout)["ZDOTDIR"] == "unset"


def test_no_name_uses_the_only_env(cli: Cli, home: Path, demo: Path) -> None:
    r = cli("env", "shell", env=_env("bash", home), input="printf 'ENV=%s\\n' \"$MLSTACK_ENV\"\n")
    assert r.returncode == 0, r.stderr
    assert _markers(r.stdout)["ENV"] == "demo"


def test_no_name_uses_the_projects_default_env(
    cli: Cli, home: Path, demo: Path, isolated: Path, tmp_path: Path
) -> None:
    make_env(isolated, "mine", {"HSA_OVERRIDE_GFX_VERSION": "10.3.0"}, demo)
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "mlstack.toml").write_text(
        'default-env = "mine"\n\n[profiles.mine]\npackages = []\n')
    r = cli("env", "shell", env=_env("bash", home), cwd=project / "sub",
            input="printf 'ENV=%s\\n' \"$MLSTACK_ENV\"\n")
    assert r.returncode == 0, r.stderr
    assert _markers(r.stdout)["ENV"] == "mine"


def test_no_name_with_several_envs_lists_them(
    cli: Cli, home: Path, demo: Path, isolated: Path, tmp_path: Path
) -> None:
    make_env(isolated, "other", {}, demo)
    r = cli("env", "shell", env=_env("bash", home), cwd=tmp_path, input="exit 0\n")
    assert r.returncode == 1
    error, hint = r.stderr.splitlines()
    assert error == "error: which env? there are 2: demo, other"
    assert hint.startswith("hint: ")
    assert "default-env" in hint


def test_no_name_and_no_envs(cli: Cli, home: Path, tmp_path: Path) -> None:
    r = cli("env", "shell", env=_env("bash", home), cwd=tmp_path, input="exit 0\n")
    assert r.returncode == 1
    error, hint = r.stderr.splitlines()
    assert error == "error: there are no envs yet"
    assert "mlstack env create" in hint


def test_unknown_env(cli: Cli, home: Path, demo: Path) -> None:
    r = cli("env", "shell", "nope", env=_env("bash", home), input="exit 0\n")
    assert r.returncode == 1
    error, hint = r.stderr.splitlines()
    assert error == "error: no env named 'nope'"
    assert "demo" in hint


def test_unsupported_shell(cli: Cli, home: Path, demo: Path) -> None:
    env = _env("bash", home)
    env["SHELL"] = "/bin/tcsh"
    r = cli("env", "shell", "demo", env=env, input="exit 0\n")
    assert r.returncode == 1
    error, hint = r.stderr.splitlines()
    assert error == "error: cannot start an env shell for SHELL=/bin/tcsh"
    assert hint.startswith("hint: ")


def test_top_level_shell_is_the_short_form(
    cli: Cli, home: Path, demo: Path, isolated: Path, tmp_path: Path
) -> None:
    make_env(isolated, "mine", {"HSA_OVERRIDE_GFX_VERSION": "10.3.0"}, demo)
    (tmp_path / "mlstack.toml").write_text('default-env = "mine"\n')
    r = cli("shell", env=_env("bash", home), cwd=tmp_path, input=COMMANDS)
    assert r.returncode == 3, r.stderr
    got = _markers(r.stdout)
    assert (got["ENV"], got["VAL"]) == ("mine", "10.3.0")
    r = cli("shell", "demo", env=_env("bash", home), cwd=tmp_path, input=COMMANDS)
    assert _markers(r.stdout)["ENV"] == "demo"


def test_activate_without_name_uses_the_projects_default_env(
    cli: Cli, demo: Path, isolated: Path, tmp_path: Path
) -> None:
    make_env(isolated, "mine", {"HSA_OVERRIDE_GFX_VERSION": "10.3.0"}, demo)
    (tmp_path / "mlstack.toml").write_text('default-env = "mine"\n')
    r = cli("env", "activate", "--shell", "bash", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "export MLSTACK_ENV=mine\n" in r.stdout
