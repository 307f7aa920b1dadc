"""Issue 21, items 4, 5 and 6: names and variables that would make a program act.

4. a system package name apt would read as an action (``zsh-`` removes zsh) is refused
   by the one system-name rule; 5. completion inserts profile names quoted, in real bash
   and zsh; 6. the variables that make a shell, git or a library run code are refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import envvars
from mlstack_env.core.errors import MlstackError
from mlstack_env.core.system_names import check_system_package
from mlstack_env.lockfile import dumps, loads
from tests.conftest import mlstack_exe
from tests.envfixtures import error_lines, torch_entry

Cli = Callable[..., subprocess.CompletedProcess[str]]

# --- item 4 ----------------------------------------------------------------------------

ACTIONS = ["zsh-", "zsh+", "rocm-hip-runtime-", "a-", "x.+", "g+"]
NAMES = ["rocm-hip-runtime", "g++", "gcc-c++", "libstdc++6", "python3.12", "a", "lib_x"]


@pytest.mark.parametrize("name", ACTIONS)
def test_names_apt_reads_as_an_action_are_refused(name: str) -> None:
    with pytest.raises(MlstackError) as err:
        check_system_package(name)
    assert "which apt reads as remove/install" in (err.value.hint or "")


@pytest.mark.parametrize("name", NAMES)
def test_package_names_pass(name: str) -> None:
    check_system_package(name)


def test_a_profile_naming_zsh_minus_is_refused_at_load(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "mlstack.toml").write_text(
        '[profiles.ml]\npackages = ["numpy"]\nsystem = ["rocm-hip-runtime", "zsh-"]\n',
        encoding="utf-8")
    r = cli("profile", "show", "ml", cwd=tmp_path)
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert "bad system package name 'zsh-'" in lines[0] and "mlstack.toml:3" in lines[0]


def test_a_lock_naming_zsh_minus_is_refused_on_read() -> None:
    text = dumps_with_system(["rocm-hip-runtime", "zsh-"])
    with pytest.raises(MlstackError) as err:
        loads(text)
    assert "bad system package name 'zsh-'" in err.value.message


def dumps_with_system(system: list[str]) -> str:
    from dataclasses import replace

    from mlstack_env.lockfile import Lock

    entry = replace(torch_entry("demo", "rocm6.4:gfx1100"), system=("rocm-hip-runtime",))
    text = dumps(Lock((entry,), "0", "0"))
    return text.replace('system = ["rocm-hip-runtime"]',
                        "system = [" + ", ".join(f'"{s}"' for s in system) + "]")


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="not a Debian-family system")
def test_apt_reads_no_accepted_name_as_a_removal() -> None:
    """The rule against apt itself (simulation only): an accepted name is never `Remv`,
    and a refused one shows why it is refused."""
    def simulate(name: str) -> str:
        r = subprocess.run(["apt-get", "-s", "install", "--", name], capture_output=True,
                           text=True, check=False, timeout=120,
                           env=os.environ | {"LC_ALL": "C"})
        return r.stdout + r.stderr

    assert "Remv" not in simulate("g++")
    if "Remv" not in simulate("dash-"):  # dash is essential: installed everywhere
        pytest.fail("apt no longer reads a trailing '-' as remove; revisit system_names.py")


# --- item 5 ----------------------------------------------------------------------------

HOSTILE_PROFILE = "mlx$(touch PWN)"


def _project(tmp_path: Path) -> None:
    (tmp_path / "mlstack.toml").write_text(
        f'[profiles."{HOSTILE_PROFILE}"]\npackages = ["numpy"]\n', encoding="utf-8")


def _completion(cli: Cli, tmp_path: Path, shell: str) -> tuple[str, dict[str, str]]:
    """The shell's path (skip without it) and the environment that has ``$SCRIPT``, the
    completion script mlstack prints for it, in the project with the hostile profile."""
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"{shell} is not installed")
    _project(tmp_path)
    script = tmp_path / f"completion.{shell}"
    script.write_text(cli("completion", shell).stdout, encoding="utf-8")
    env = dict(os.environ)
    env["PATH"] = f"{Path(mlstack_exe()[0]).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SCRIPT"] = str(script)
    env["HOME"] = str(tmp_path)
    return exe, env


def test_bash_inserts_a_hostile_profile_name_quoted(cli: Cli, tmp_path: Path) -> None:
    bash, env = _completion(cli, tmp_path, "bash")
    # What TAB puts on the line, then what Enter does with that line: `printf` stands in
    # for mlstack and shows the word the shell made of it.
    code = ('source "$SCRIPT"; COMP_LINE="mlstack profile show ml"; '
            'COMP_POINT=${#COMP_LINE}; _mlstack; '
            'eval "printf \'%s\\n\' ${COMPREPLY[0]}"')
    r = subprocess.run([bash, "-c", code], capture_output=True, text=True, check=False,
                       env=env, cwd=tmp_path, timeout=60)
    assert r.stdout == f"{HOSTILE_PROFILE}\n", r.stderr
    assert not (tmp_path / "PWN").exists()


ZPTY = r"""
zmodload zsh/zpty
zpty -b z zsh -f -i
zpty -w z 'PS1="> "; autoload -Uz compinit; compinit -u -D; source "$SCRIPT"'
zpty -w -n z $'mlstack profile show ml\t'
sleep 3
# Ctrl-A, then a printf that shows the completed words as the shell parsed them.
zpty -w z $'\x01printf "<%s>" '
sleep 1
zpty -w z 'exit'
while zpty -r z line; do print -rn -- "$line"; done
"""


def test_zsh_inserts_a_hostile_profile_name_quoted(cli: Cli, tmp_path: Path) -> None:
    """Real zsh completion (compinit, a pty): TAB, then Enter."""
    zsh, env = _completion(cli, tmp_path, "zsh")
    r = subprocess.run([zsh, "-f", "-c", ZPTY], capture_output=True, text=True, check=False,
                       env=env, cwd=tmp_path, timeout=60)
    assert f"<mlstack><profile><show><{HOSTILE_PROFILE}>" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "PWN").exists()


# --- item 6 ----------------------------------------------------------------------------

REFUSED = ["HOME", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_HOME", "XDG_DATA_DIRS",
           "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CONFIG_GLOBAL",
           "GIT_CONFIG_SYSTEM", "GIT_CONFIG_PARAMETERS", "GIT_EXEC_PATH", "GIT_ALLOW_PROTOCOL",
           "GIT_TRACE", "MAILPATH", "MAILCHECK", "MAIL", "HISTFILE", "FCEDIT", "STTY",
           "PROMPT_EOL_MARK", "OPENSSL_CONF", "OPENSSL_MODULES", "SUDO_EDITOR",
           "SYSTEMD_PAGER"]


@pytest.mark.parametrize("name", REFUSED)
def test_variables_that_run_code_are_refused_at_load(tmp_path: Path, cli: Cli,
                                                     name: str) -> None:
    (tmp_path / "mlstack.toml").write_text(
        f'[profiles.ml]\npackages = ["numpy"]\n[profiles.ml.env]\n{name} = "/tmp/x"\n',
        encoding="utf-8")
    r = cli("profile", "show", "ml", cwd=tmp_path)
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert f"environment variable {name} cannot be set by an env" in lines[0], r.stderr
    assert lines[1].startswith("hint: remove it from the profile's [env]")


def test_the_table_is_documented() -> None:
    """docs/profiles.md names every refused name and prefix (one table, kept in step)."""
    doc = (Path(__file__).parents[1] / "docs" / "profiles.md").read_text(encoding="utf-8")
    for name in REFUSED:
        assert f"`{name}`" in doc or (name.startswith("GIT_") and "every `GIT_*`" in doc), name
    for prefix in envvars.FORBIDDEN_PREFIXES:
        assert f"`{prefix}" in doc or prefix == "__fish", prefix


@pytest.mark.parametrize("name", ["HSA_OVERRIDE_GFX_VERSION", "http_proxy", "TMPDIR",
                                  "HF_HOME", "OMP_NUM_THREADS"])
def test_ordinary_variables_still_pass(name: str) -> None:
    envvars.check_variable(name, "x")
