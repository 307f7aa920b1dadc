"""``mlstack env activate`` through the real console script, evaluated by real shells."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.activation.scripts import sh_quote
from tests.activation_envs import VARIABLES, fake_venv, make_env, shell_path
from tests.conftest import mlstack_exe

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def demo(tmp_path: Path, isolated: Path) -> Path:
    venv = fake_venv(tmp_path / "venv")
    make_env(isolated, "demo", VARIABLES, venv)
    return venv


def _mlstack() -> str:
    return " ".join(sh_quote(a) for a in mlstack_exe())


@pytest.mark.parametrize("shell", ["bash", "zsh", "dash"])
def test_output_evals_in_sh_family(shell: str, demo: Path, tmp_path: Path) -> None:
    program = shell_path(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed")
    kind = "sh" if shell == "dash" else shell
    out = tmp_path / "out"
    out.mkdir()
    script = (
        f'eval "$({_mlstack()} env activate demo --shell {kind})"\n'
        f"printf '%s' \"$EVIL_NEWLINE\" > {out}/newline\n"
        f"printf '%s' \"$EVIL_FISH\" > {out}/fish\n"
        f"printf '%s' \"$EVIL_CR\" > {out}/cr\n"
        f"printf '%s' \"$PATH\" > {out}/path\n"
        "deactivate\n"
        f"printf '%s' \"${{HSA_OVERRIDE_GFX_VERSION-unset}}\" > {out}/after\n"
    )
    args = [program, "-f", "-c", script] if shell == "zsh" else [program, "-c", script]
    r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, check=False,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert (out / "newline").read_text() == VARIABLES["EVIL_NEWLINE"]
    assert (out / "fish").read_text() == VARIABLES["EVIL_FISH"]
    assert (out / "cr").read_bytes() == VARIABLES["EVIL_CR"].encode()
    assert (out / "path").read_text().startswith(f"{demo / 'bin'}:")
    assert (out / "after").read_text() == "unset"
    assert not (tmp_path / "pwned").exists()


def test_output_sources_in_fish(demo: Path, tmp_path: Path) -> None:
    program = shell_path("fish")
    if program is None:
        pytest.skip("fish is not installed")
    script = (
        f"{_mlstack()} env activate demo --shell fish | source\n"
        "printf '%s' \"$EVIL_BACKSLASH\"\n"
    )
    r = subprocess.run([program, "--no-config", "-c", script], cwd=tmp_path,
                       capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == VARIABLES["EVIL_BACKSLASH"]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("shell_var", "expected"),
    [("/usr/bin/fish", "activate.fish"), ("/bin/zsh", "activate"), ("/bin/dash", "activate"),
     ("/bin/tcsh", "activate"), ("", "activate")],
)
def test_default_shell_comes_from_the_shell_variable(
    cli: Cli, demo: Path, isolated: Path, shell_var: str, expected: str
) -> None:
    r = cli("env", "activate", "demo", env={"SHELL": shell_var})
    assert r.returncode == 0, r.stderr
    gen = isolated / "envs" / "demo" / "current"
    # the script byte for byte: its CRs (EVIL_CR) are not turned into newlines
    assert r.stdout == (gen / "bin" / expected).read_bytes().decode("utf-8")


def test_unknown_shell_option(cli: Cli, demo: Path) -> None:
    r = cli("env", "activate", "demo", "--shell", "tcsh")
    assert r.returncode == 1
    error, hint = r.stderr.splitlines()
    assert error == "error: unknown shell 'tcsh'"
    assert hint == "hint: use --shell bash, zsh, sh or fish"
    assert r.stdout == ""


def test_unknown_env(cli: Cli, demo: Path) -> None:
    r = cli("env", "activate", "nope")
    assert r.returncode == 1
    error, hint = r.stderr.splitlines()
    assert error == "error: no env named 'nope'"
    assert "demo" in hint
    assert r.stdout == ""
