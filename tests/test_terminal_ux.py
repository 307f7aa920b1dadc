"""Terminal conventions of issue 19: -q, unknown commands, the init picker's keys, hints
naming mlstack as it was run, and plans for locks without system packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.actions.manifest_init import PickerQuit, pick
from mlstack_env.catalog.target import Target
from tests.envfixtures import torch_entry, write_lock
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_quiet_prints_only_lock_changes(mirrored: WheelIndex,
                                        fake_machine: Callable[[str], Path],
                                        tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  default_env="ml")
    lock = cli("-q", "lock", cwd=tmp_path)
    assert (lock.returncode, lock.stdout) == (0, "")
    assert lock.stderr == "added ml@rocm6.4:gfx1100@py3.12 to mlstack.lock — commit it\n"
    add = cli("add", "tqdm", "-q", cwd=tmp_path)
    assert (add.returncode, add.stdout) == (0, "")
    assert add.stderr == "re-resolved ml@rocm6.4:gfx1100@py3.12 in mlstack.lock — commit it\n"
    assert cli("-q", "env", "create", cwd=tmp_path).returncode == 0
    for args in (("export", "docker", "ml", "-o", str(tmp_path / "c" / "Dockerfile")),
                 ("env", "pack", "ml", "-o", str(tmp_path / "ml.tar.zst")),
                 ("bundle", "-o", str(tmp_path / "wheels"))):
        r = cli("-q", *args, cwd=tmp_path)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), args
    # What a command shows is printed with -q too; only work summaries are silenced.
    assert "ml" in cli("-q", "env", "list", cwd=tmp_path).stdout
    # The summaries are there without -q (the switch is what silences them).
    assert "wrote" in cli("export", "docker", "ml", "-o", str(tmp_path / "d" / "Dockerfile"),
                          cwd=tmp_path).stdout


@pytest.mark.parametrize(("word", "suggested"), [
    ("snyc", "mlstack sync"), ("install", "mlstack sync"),
    ("lok", "mlstack lock"), ("uninstall", "mlstack remove"),
])
def test_unknown_commands_suggest_the_nearest(cli: Cli, word: str, suggested: str) -> None:
    r = cli(word)
    assert r.returncode == 1
    assert r.stderr.splitlines()[1].startswith(f"hint: did you mean `{suggested}`?")


def test_hints_name_mlstack_as_it_was_run(tmp_path: Path) -> None:
    """Run by a path not on PATH (the README's .venv/bin/mlstack), hints name that path."""
    exe = Path(sys.executable).parent / "mlstack"
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if Path(p) != exe.parent)
    env = {**os.environ, "PATH": path}
    r = subprocess.run([str(exe), "env", "create", "--lock", "missing.lock"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert f"`{exe} lock`" in r.stderr
    on_path = subprocess.run(["mlstack", "env", "create", "--lock", "missing.lock"],
                             cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "`mlstack lock`" in on_path.stderr


def _picker(*answers: str) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    it = iter(answers)
    chosen = pick([Target.parse("rocm6.4:gfx1100")], None, lambda _p: next(it), lines.append)
    return chosen, lines


def test_picker_ignores_arrow_keys_and_takes_numbers() -> None:
    chosen, lines = _picker("\x1b[A\x1b[B", "3\x1b[C", "")
    assert "  (arrow keys do nothing here: type the numbers to toggle)" in lines
    assert not any("not a number" in line for line in lines)
    assert chosen == ["pytorch", "transformers"]


def test_picker_q_quits_without_error(tmp_path: Path) -> None:
    with pytest.raises(PickerQuit):
        _picker("q")


def test_system_plan_says_the_lock_lists_no_system_packages(
        fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = write_lock(tmp_path / "mlstack.lock", [torch_entry("ml", "rocm6.4:gfx1100")])
    r = cli("system", "plan", "--lock", str(lock), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "# nothing to do: the entry lists no system packages" in r.stdout
    assert "every system package is installed" not in r.stdout


def test_export_names_the_commands_that_pick_one_entry(
        fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    write_lock(tmp_path / "mlstack.lock", [torch_entry("ml", "rocm6.4:gfx1100"),
                                           torch_entry("ml", "cpu")])
    r = cli("export", "docker", "--lock", "mlstack.lock", "-o", "Dockerfile", cwd=tmp_path)
    assert r.returncode == 1
    hint = r.stderr.splitlines()[1]
    for target in ("cpu", "rocm6.4:gfx1100"):
        cmd = (f"`mlstack export docker -o Dockerfile --lock mlstack.lock --profile ml "
               f"--target {target}`")
        assert cmd in hint
        args = cmd.strip("`").split()[1:]
        assert cli(*args, cwd=tmp_path).returncode == 0, target


def test_doctor_json_is_one_object(tmp_path: Path, cli: Cli) -> None:
    data = json.loads(cli("doctor", "--json", cwd=tmp_path).stdout)
    assert isinstance(data, dict) and data["status"] in ("ok", "warn", "fail")


def _read_until(fd: int, marker: bytes, seen: bytearray) -> None:
    import select

    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no {marker!r} on the terminal; got {bytes(seen)[-400:]!r}"
        seen += os.read(fd, 4096)


def test_init_picker_on_a_terminal_arrow_keys_then_q(tmp_path: Path) -> None:
    """On a real terminal: an arrow key (ESC [ A) is ignored, `q` quits with 0 and
    writes nothing."""
    import pty

    master, slave = pty.openpty()
    exe = Path(sys.executable).parent / "mlstack"
    proc = subprocess.Popen([str(exe), "init"], stdin=slave, stdout=slave, stderr=slave,
                            cwd=tmp_path, env=dict(os.environ))
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"q to quit: ", seen)
        os.write(master, b"\x1b[A\r")
        _read_until(master, b"arrow keys do nothing here", seen)
        _read_until(master, b"q to quit: ", seen)
        os.write(master, b"q\r")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"not a number" not in seen
    assert not (tmp_path / "mlstack.toml").exists()


def test_printed_commands_name_mlstack_as_it_was_run(tmp_path: Path) -> None:
    """Not only hints: the commands a result prints (init's `next:`) too."""
    exe = Path(sys.executable).parent / "mlstack"
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if Path(p) != exe.parent)
    r = subprocess.run([str(exe), "init", "--yes"], cwd=tmp_path, capture_output=True,
                       text=True, check=False, env={**os.environ, "PATH": path})
    assert r.returncode == 0, r.stderr
    assert f"next:      {exe} lock   then   {exe} env create" in r.stdout
    assert "mlstack.toml" in r.stdout  # file names are no commands
