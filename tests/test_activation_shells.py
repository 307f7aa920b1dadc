"""``bin/activate`` and ``bin/activate.fish`` in the real shells: bash, zsh, sh (dash), fish.

Each test writes a generation with ``write_scripts``, runs a script in the shell that
records every variable at each stage into files (``printf '%s'``, so the bytes are
exact), and compares them in Python. A shell that is not installed is skipped; CI
installs zsh and fish.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from mlstack_env.activation.scripts import fish_quote, sh_quote
from tests.activation_envs import ROCM, TOOL, VARIABLES, fake_venv, make_env, shell_path

SH_FAMILY = ("bash", "zsh", "dash")
SHELLS = (*SH_FAMILY, "fish")
MANAGED = ("PATH", "VIRTUAL_ENV", "MLSTACK_ENV", "PYTHONHOME")
NAMES = (*MANAGED, "PS1", *VARIABLES)

# A previous value for some of the env's variables; the rest start unset.
BEFORE = {
    "HIP_VISIBLE_DEVICES": "previous value with spaces and 'quotes'",
    "ROCM_PATH": "/opt/rocm-old",
    "EVIL_EMPTY": "was set",
    "PYTHONHOME": "/nonexistent-python-home",
}
OLD_PS1 = "old$ "

_CHILD = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"


def _require(shell: str) -> str:
    program = shell_path(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed (CI installs zsh and fish with apt-get)")
    return program


class Script:
    """A shell script that records variables into ``out/<stage>/<NAME>`` files."""

    def __init__(self, shell: str, out: Path) -> None:
        self.fish = shell == "fish"
        self.out = out
        self.q = fish_quote if self.fish else sh_quote
        self.lines: list[str] = [] if self.fish else ["set -eu"]

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def set(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self.add(f"set -gx {name} {self.q(value)}" if self.fish
                     else f"{name}={self.q(value)}; export {name}")

    def unset(self, names: Iterable[str]) -> None:
        for name in names:
            self.add(f"set -e -g {name}" if self.fish else f"unset {name}")

    def source(self, script: Path) -> None:
        self.add(f"source {self.q(str(script))}" if self.fish else f". {self.q(str(script))}")

    def dump(self, stage: str, *, child: bool = False) -> None:
        d = self.out / stage
        d.mkdir(parents=True)
        for name in NAMES:
            f = self.q(str(d / name))
            if self.fish:
                self.add(f"if set -q {name}; printf '%s' \"${name}\" > {f}; end")
            else:
                self.add(f'if [ -n "${{{name}+x}}" ]; then printf \'%s\' "${name}" > {f}; fi')
        tool = self.q(str(d / "TOOL"))
        if self.fish:
            self.add(f"if command -q {TOOL}; {TOOL} > {tool}; end",
                     f"if functions -q fish_prompt; fish_prompt > {self.q(str(d / 'PROMPT'))}; end")
        else:
            self.add(f"if command -v {TOOL} >/dev/null 2>&1; then {TOOL} > {tool}; fi")
        if child:
            dest = self.q(str(d / "child.json"))
            self.add(f"{self.q(sys.executable)} -c {self.q(_CHILD)} {dest}")

    def run(self, program: str, cwd: Path) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / ("script.fish" if self.fish else "script.sh")
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        argv = [program, "--no-config", str(path)] if self.fish else [program, str(path)]
        if Path(program).name == "zsh":
            argv.insert(1, "-f")  # no user start-up files
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                           timeout=120)
        assert r.returncode == 0, f"{program} failed:\n{r.stdout}\n{r.stderr}"
        assert r.stderr == "", r.stderr


def _read(out: Path, stage: str) -> dict[str, str]:
    d = out / stage
    return {p.name: p.read_bytes().decode("utf-8") for p in d.iterdir()
            if p.name in NAMES}


@pytest.fixture
def demo(tmp_path: Path, isolated: Path) -> tuple[Path, Path]:
    venv = fake_venv(tmp_path / "venvs" / "demo")
    return make_env(isolated, "demo", VARIABLES, venv), venv


def _prelude(script: Script) -> None:
    script.unset([n for n in (*VARIABLES, "VIRTUAL_ENV", "MLSTACK_ENV") if n not in BEFORE])
    script.set(BEFORE)
    if script.fish:
        script.add("function fish_prompt; printf '%s' 'old> '; end")
    else:
        script.add(f"PS1={sh_quote(OLD_PS1)}")


@pytest.mark.parametrize("shell", SHELLS)
def test_activate_sets_exact_values_and_deactivate_restores(
    shell: str, demo: tuple[Path, Path], tmp_path: Path
) -> None:
    program = _require(shell)
    gen, venv = demo
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out"
    s = Script(shell, out)
    _prelude(s)
    s.dump("before")
    s.source(gen / ("bin/activate.fish" if s.fish else "bin/activate"))
    s.dump("active", child=True)
    s.add("deactivate")
    s.dump("after")
    s.run(program, work)

    before, active, after = (_read(out, st) for st in ("before", "active", "after"))
    bin_dir = str(venv / "bin")

    # Active: every variable has exactly its value, PATH starts with the venv's bin.
    for name, value in VARIABLES.items():
        assert active.get(name) == value, name
    assert active["VIRTUAL_ENV"] == str(venv)
    assert active["MLSTACK_ENV"] == "demo"
    assert "PYTHONHOME" not in active
    assert active["PATH"] == f"{bin_dir}:{before['PATH']}"
    assert (out / "active" / "TOOL").read_text() == "from-the-venv\n"
    if s.fish:
        assert (out / "active" / "PROMPT").read_text() == "(demo) old> "
    else:
        assert active["PS1"] == f"(demo) {OLD_PS1}"

    # Exported: a child process sees the same bytes.
    child = json.loads((out / "active" / "child.json").read_text(encoding="utf-8"))
    for name, value in VARIABLES.items():
        assert child[name] == value, name
    assert child["PATH"] == active["PATH"]
    assert "PYTHONHOME" not in child

    # Nothing in a value ran.
    assert list(work.iterdir()) == []

    # Deactivated: previous values back, previously unset ones unset again.
    assert after == before
    assert after["HIP_VISIBLE_DEVICES"] == BEFORE["HIP_VISIBLE_DEVICES"]
    assert after["PYTHONHOME"] == BEFORE["PYTHONHOME"]
    for name in ("HSA_OVERRIDE_GFX_VERSION", "PYTORCH_ROCM_ARCH", "VIRTUAL_ENV", "MLSTACK_ENV"):
        assert name not in after
    assert not (out / "after" / "TOOL").exists()
    if s.fish:
        assert (out / "after" / "PROMPT").read_text() == "old> "


@pytest.mark.parametrize("shell", SHELLS)
def test_activating_twice_does_not_stack(
    shell: str, demo: tuple[Path, Path], tmp_path: Path
) -> None:
    program = _require(shell)
    gen, venv = demo
    out = tmp_path / "out"
    s = Script(shell, out)
    _prelude(s)
    s.dump("before")
    script = gen / ("bin/activate.fish" if s.fish else "bin/activate")
    s.source(script)
    s.source(script)
    s.dump("twice")
    s.add("deactivate")
    s.dump("after")
    s.run(program, tmp_path)

    before, twice, after = (_read(out, st) for st in ("before", "twice", "after"))
    assert twice["PATH"] == f"{venv / 'bin'}:{before['PATH']}"
    if s.fish:
        assert (out / "twice" / "PROMPT").read_text() == "(demo) old> "
    else:
        assert twice["PS1"] == f"(demo) {OLD_PS1}"
    # One deactivate undoes both: the second activation undid the first.
    assert after == before


@pytest.mark.parametrize("shell", SHELLS)
def test_a_shell_started_inside_the_env_keeps_path_once(
    shell: str, demo: tuple[Path, Path], tmp_path: Path
) -> None:
    # What `mlstack env shell` sees when run from a shell where the env is active: the
    # env's bin is already first on the inherited PATH (activate's own state is not).
    program = _require(shell)
    gen, venv = demo
    out = tmp_path / "out"
    s = Script(shell, out)
    _prelude(s)
    if s.fish:
        s.add(f"set -gx PATH {fish_quote(str(venv / 'bin'))} $PATH")
    else:
        s.add(f"PATH={sh_quote(str(venv / 'bin'))}:\"$PATH\"; export PATH")
    s.dump("before")
    s.source(gen / ("bin/activate.fish" if s.fish else "bin/activate"))
    s.dump("inside")
    s.add("deactivate")
    s.dump("after")
    s.run(program, tmp_path)

    before, inside, after = (_read(out, st) for st in ("before", "inside", "after"))
    assert inside["PATH"] == before["PATH"]
    assert after == before


@pytest.mark.parametrize("shell", SHELLS)
def test_switching_envs_undoes_the_first(
    shell: str, tmp_path: Path, isolated: Path
) -> None:
    program = _require(shell)
    first = make_env(isolated, "first", {**ROCM, "ONLY_IN_FIRST": "1"},
                     fake_venv(tmp_path / "v1"))
    second = make_env(isolated, "second", {"HSA_OVERRIDE_GFX_VERSION": "10.3.0"},
                      fake_venv(tmp_path / "v2"))
    out = tmp_path / "out"
    s = Script(shell, out)
    _prelude(s)
    s.dump("before")
    name = "bin/activate.fish" if s.fish else "bin/activate"
    s.source(first / name)
    s.source(second / name)
    s.add(f"printf '%s' \"$ONLY_IN_FIRST\" > {s.q(str(tmp_path / 'leak'))}" if s.fish else
          f"printf '%s' \"${{ONLY_IN_FIRST-unset}}\" > {s.q(str(tmp_path / 'leak'))}")
    s.dump("second")
    s.add("deactivate")
    s.dump("after")
    s.run(program, tmp_path)

    before, active, after = (_read(out, st) for st in ("before", "second", "after"))
    assert (tmp_path / "leak").read_text() == ("" if s.fish else "unset")
    assert active["HSA_OVERRIDE_GFX_VERSION"] == "10.3.0"
    assert active["HIP_VISIBLE_DEVICES"] == BEFORE["HIP_VISIBLE_DEVICES"]
    assert active["MLSTACK_ENV"] == "second"
    assert active["PATH"] == f"{tmp_path / 'v2' / 'bin'}:{before['PATH']}"
    assert after == before


@pytest.mark.parametrize("shell", SH_FAMILY)
def test_unset_prompt_stays_unset_and_disable_prompt_is_honoured(
    shell: str, demo: tuple[Path, Path], tmp_path: Path
) -> None:
    program = _require(shell)
    gen, _ = demo
    out = tmp_path / "out"
    s = Script(shell, out)
    s.add("unset PS1")
    s.source(gen / "bin/activate")
    s.dump("active")
    s.add("deactivate")
    s.dump("after")
    s.add("VIRTUAL_ENV_DISABLE_PROMPT=1", f"PS1={sh_quote(OLD_PS1)}")
    s.source(gen / "bin/activate")
    s.dump("disabled")
    s.add("deactivate")
    s.dump("after-disabled")
    s.run(program, tmp_path)

    assert _read(out, "active")["PS1"] == "(demo) "
    assert "PS1" not in _read(out, "after")
    assert _read(out, "disabled")["PS1"] == OLD_PS1
    assert _read(out, "after-disabled")["PS1"] == OLD_PS1


@pytest.mark.parametrize("shell", SHELLS)
def test_deactivate_removes_itself(shell: str, demo: tuple[Path, Path], tmp_path: Path) -> None:
    program = _require(shell)
    gen, _ = demo
    flag = tmp_path / "flag"
    s = Script(shell, tmp_path / "out")
    if s.fish:
        s.source(gen / "bin/activate.fish")
        s.add("deactivate", f"if functions -q deactivate; echo defined > {s.q(str(flag))}; end",
              f"if set -q _MLSTACK_ACTIVE; echo active > {s.q(str(flag))}; end")
    else:
        s.source(gen / "bin/activate")
        s.add("deactivate",
              # `type`, not `command -v`: a program named deactivate may be on PATH
              # (pyenv-virtualenv has one); only the function must be gone.
              f"if type deactivate 2>/dev/null | grep -q function; then "
              f"echo defined > {s.q(str(flag))}; fi",
              f'if [ -n "${{_MLSTACK_ACTIVE+x}}" ]; then echo active > {s.q(str(flag))}; fi')
    s.run(program, tmp_path)
    assert not flag.exists()
