"""Lifetimes (issue 13, item 4) and planted links (item 8): `env remove` never pulls a
generation from under a running `env run`; rollback and `env run` refuse an env whose
Python is gone; leftover build folders are reclaimed; a lost `current` is repaired; links
planted in MLSTACK_HOME are refused, not followed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlstack_env.core import paths
from mlstack_env.core.locks import file_lock
from mlstack_env.store.entries import Store, store_key
from tests.conftest import mlstack_exe
from tests.envfixtures import (
    LATE_IMPORT,
    create_demo,
    error_lines,
    team_lock,
    torch_entry,
    write_lock,
)
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]



@pytest.fixture
def demo(mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
         cli: Cli) -> Path:
    return create_demo(cli, fake_machine, tmp_path)


@contextmanager
def running_in(name: str) -> Iterator[subprocess.Popen[str]]:
    """`env run NAME -- python …LATE_IMPORT`, started and waiting; closes stdin on exit."""
    child = subprocess.Popen(
        [*mlstack_exe(), "env", "run", name, "--", "python", "-c", LATE_IMPORT],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        yield child
    finally:
        if child.returncode is None:
            child.communicate(input="", timeout=120)


def second_generation(tmp_path: Path, cli: Cli, value: str = "2") -> Path:
    lock = write_lock(tmp_path / f"gen{value}.lock", [torch_entry(
        "demo", "rocm6.4:gfx1100", env={"GEN": value})])
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    return lock


def env_names(cli: Cli) -> list[str]:
    return [e["name"] for e in json.loads(cli("env", "list", "--json").stdout)["envs"]]


def store_entries() -> list[str]:
    return [e.key for e in Store().entries()]


def one_error(r: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = error_lines(r.stderr)
    assert len(lines) == 2 and lines[0].startswith("error: ") and \
        lines[1].startswith("hint: "), r.stderr
    return lines[0], lines[1]


# --- env remove while env run runs ------------------------------------------------------


def test_remove_during_env_run_leaves_the_command_working(demo: Path, cli: Cli) -> None:
    key = store_key(torch_entry("demo", "rocm6.4:gfx1100"))
    with running_in("demo") as child:
        r = cli("env", "remove", "demo")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == (
            "removed env demo; generation 1 still in use by a running command, kept with "
            "its store entry until it ends: `mlstack gc` frees them then")
        # The name is gone at once …
        assert env_names(cli) == []
        gone = cli("env", "run", "demo", "--", "python", "-c", "pass")
        assert one_error(gone)[0] == "error: no env named 'demo'"
        # … but gc keeps what the command runs in.
        held = json.loads(cli("gc", "--json").stdout)
        assert held["kept_in_use"] == [{"env": "demo", "generation": 1}]
        assert held["store_entries"] == [] and store_entries() == [key]
        out, err = child.communicate(input="", timeout=120)
    assert child.returncode == 0, err
    assert out.strip() == "torch 2.8.0+rocm6.4"
    freed = json.loads(cli("gc", "--json").stdout)
    assert freed["generations"] == [{"env": "demo", "generation": 1}]
    assert freed["store_entries"] == [key]
    assert not (paths.envs_dir() / "demo").exists()


def test_a_name_removed_while_running_can_be_created_again(demo: Path, tmp_path: Path,
                                                           cli: Cli) -> None:
    with running_in("demo") as child:
        assert cli("env", "remove", "demo").returncode == 0
        again = cli("env", "create", "demo", "--lock", str(demo))
        assert again.returncode == 0, again.stderr
        info = json.loads(cli("env", "info", "demo", "--json").stdout)
        # A new life: the held generation of the removed env is not its past.
        assert info["generation"] == 2 and info["generations"] == [2]
        assert info["previous"] is None
        back = cli("env", "rollback", "demo")
        assert one_error(back)[0] == "error: env demo has no generation before 2"
        child.communicate(input="", timeout=120)
    assert child.returncode == 0
    # Once free, the next create (or gc) deletes the removed env's generation.
    second_generation(tmp_path, cli)
    assert sorted(p.name for p in (paths.envs_dir() / "demo").glob("gen-*")) == \
        ["gen-2", "gen-3"]
    report = json.loads(cli("gc", "--json").stdout)
    assert report["generations"] == [] and report["store_entries"] == []
    assert cli("env", "run", "demo", "--", "python", "-c", "import torch").returncode == 0


def test_remove_with_nothing_running_removes_everything(demo: Path, cli: Cli) -> None:
    r = cli("env", "remove", "demo")
    assert r.returncode == 0
    assert r.stdout.strip() == \
        "removed env demo; run `mlstack gc` to free store entries no env uses"
    assert not (paths.envs_dir() / "demo").exists()


# --- a generation without its Python -------------------------------------------------------


def test_rollback_refuses_a_generation_whose_store_entry_is_gone(demo: Path, tmp_path: Path,
                                                                  cli: Cli) -> None:
    second_generation(tmp_path, cli)
    first = store_key(torch_entry("demo", "rocm6.4:gfx1100"))
    Store().remove(first)  # deleted by hand (or by another tool)
    error, hint = one_error(cli("env", "rollback", "demo"))
    assert error == (
        f"error: env demo: generation 1 cannot be used, its store entry {first} is gone "
        f"({paths.envs_dir() / 'demo' / 'gen-1' / 'venv' / 'bin' / 'python'} is missing)")
    assert hint == f"hint: make a new generation instead: `mlstack env create demo --name " \
                   f"demo --lock {demo}`"
    info = json.loads(cli("env", "info", "demo", "--json").stdout)
    assert info["generation"] == 2
    probe = cli("env", "run", "demo", "--", "python", "-c",
                "import os; print(os.environ['GEN'])")
    assert probe.stdout.strip() == "2"


def test_env_run_refuses_an_env_whose_store_entry_is_gone(demo: Path, cli: Cli) -> None:
    key = store_key(torch_entry("demo", "rocm6.4:gfx1100"))
    Store().remove(key)
    for args in (["env", "run", "demo", "--", "python", "-c", "print('ran')"],
                 ["env", "activate", "demo"]):
        r = cli(*args)
        error, hint = one_error(r)
        assert error == (
            f"error: env 'demo' cannot run: its store entry {key} is gone "
            f"({paths.envs_dir() / 'demo' / 'gen-1' / 'venv' / 'bin' / 'python'} is missing)")
        assert hint == f"hint: re-create it: `mlstack env create demo --name demo --lock {demo}`"
        assert "ran" not in r.stdout


def test_env_run_refuses_an_env_whose_interpreter_is_gone(demo: Path, cli: Cli) -> None:
    venv = (paths.envs_dir() / "demo" / "current" / "venv").resolve()
    (venv / "bin" / "python").unlink()  # as if pyenv uninstalled the base interpreter
    error, _hint = one_error(cli("env", "run", "demo", "--", "python", "-c", "pass"))
    assert error.startswith("error: env 'demo' cannot run: the Python it was made with is no "
                            "longer installed")


# --- leftovers of killed builds and removes ----------------------------------------------


def test_the_next_create_reclaims_stale_build_folders_but_not_live_ones(
        demo: Path, tmp_path: Path, cli: Cli) -> None:
    store = Store()
    stale = store.root / f".tmp-{'a' * 32}-x1y2z3"
    (stale / "venv" / "lib").mkdir(parents=True)
    live = store.root / f".tmp-{'b' * 32}-q7r8s9"
    (live / "venv").mkdir(parents=True)
    removed = paths.envs_dir() / ".tmp-removed-old-4242"
    (removed / "gen-1").mkdir(parents=True)
    # A build of key bbbb… is running: it holds its key's lock (here, this test does).
    with file_lock(store.root / ".locks" / f"{'b' * 32}.lock"):
        second_generation(tmp_path, cli)
        assert not stale.exists() and not removed.exists()
        assert live.is_dir()
    report = json.loads(cli("gc", "--json").stdout)
    assert str(live) in report["temporaries"] and not live.exists()


def test_gc_leaves_a_removed_tree_that_a_running_remove_holds(demo: Path, cli: Cli) -> None:
    from mlstack_env.core.locks import try_lock_dir

    removing = paths.envs_dir() / ".tmp-removed-other-77"
    removing.mkdir(parents=True)
    fd = try_lock_dir(removing, shared=False)
    assert fd is not None
    try:
        assert str(removing) not in json.loads(cli("gc", "--json").stdout)["temporaries"]
        assert removing.is_dir()
    finally:
        os.close(fd)
    assert str(removing) in json.loads(cli("gc", "--json").stdout)["temporaries"]
    assert not removing.exists()


# --- a lost `current` ----------------------------------------------------------------------


def test_gc_repairs_a_lost_current_instead_of_deleting_everything(demo: Path, tmp_path: Path,
                                                                  cli: Cli) -> None:
    second_generation(tmp_path, cli)
    (paths.envs_dir() / "demo" / "current").unlink()
    dry = json.loads(cli("gc", "--dry-run", "--json").stdout)
    assert dry["generations"] == [] and dry["store_entries"] == []
    report = json.loads(cli("gc", "--json").stdout)
    assert report["generations"] == [] and report["store_entries"] == []
    assert (paths.envs_dir() / "demo" / "current").readlink() == Path("gen-2")
    info = json.loads(cli("env", "info", "demo", "--json").stdout)
    assert info["generation"] == 2 and info["previous"] == 1


def test_env_run_repairs_a_lost_current(demo: Path, tmp_path: Path, cli: Cli) -> None:
    second_generation(tmp_path, cli)
    current = paths.envs_dir() / "demo" / "current"
    current.unlink()
    current.symlink_to("gen-9")  # dangling: as lost as a missing one
    r = cli("env", "run", "demo", "--", "python", "-c", "import os; print(os.environ['GEN'])")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"
    assert current.readlink() == Path("gen-2")


def test_a_lost_current_skips_generations_without_their_python(demo: Path, tmp_path: Path,
                                                               cli: Cli) -> None:
    second_generation(tmp_path, cli)
    Store().remove(store_key(torch_entry("demo", "rocm6.4:gfx1100", env={"GEN": "2"})))
    (paths.envs_dir() / "demo" / "current").unlink()
    assert env_names(cli) == ["demo"]
    assert (paths.envs_dir() / "demo" / "current").readlink() == Path("gen-1")


# --- links planted in MLSTACK_HOME -------------------------------------------------------


def test_create_refuses_a_linked_env_directory(mirrored: WheelIndex,
                                               fake_machine: Callable[[str], Path],
                                               tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths.envs_dir().mkdir(parents=True)
    (paths.envs_dir() / "demo").symlink_to(elsewhere)
    error, hint = one_error(cli("env", "create", "demo", "--lock", str(lock)))
    assert error == (f"error: env demo: {paths.envs_dir() / 'demo'} is a symbolic link "
                     f"(to {elsewhere}); mlstack does not use it")
    assert hint.startswith("hint: mlstack makes that directory itself: move ")
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    assert store_entries() == []
    run = cli("env", "run", "demo", "--", "python", "-c", "pass")
    assert "is a symbolic link" in one_error(run)[0]
    gc = cli("gc", "--json")
    assert gc.returncode == 0 and (paths.envs_dir() / "demo").is_symlink()


def test_create_refuses_a_linked_store_entry(mirrored: WheelIndex,
                                             fake_machine: Callable[[str], Path],
                                             tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    key = store_key(torch_entry("demo", "rocm6.4:gfx1100"))
    planted = tmp_path / "planted-venv"
    (planted / "bin").mkdir(parents=True)
    (planted / "mlstack-store.json").write_text("{}")
    paths.store_dir().mkdir(parents=True)
    (paths.store_dir() / key).symlink_to(planted)
    error, _hint = one_error(cli("env", "create", "demo", "--lock", str(lock)))
    assert error == (f"error: store entry {paths.store_dir() / key} is a symbolic link "
                     f"(to {planted}); mlstack does not use it")
    assert env_names(cli) == []


def test_verify_refuses_a_store_entry_replaced_by_a_link(demo: Path, tmp_path: Path,
                                                         cli: Cli) -> None:
    key = store_key(torch_entry("demo", "rocm6.4:gfx1100"))
    entry = paths.store_dir() / key
    moved = tmp_path / "moved-entry"
    entry.rename(moved)
    entry.symlink_to(moved)
    error, _hint = one_error(cli("env", "verify", "demo"))
    assert error == (f"error: store entry {entry} is a symbolic link (to {moved}); "
                     "mlstack does not use it")


def test_a_linked_lock_file_is_refused_not_created(demo: Path, tmp_path: Path,
                                                   cli: Cli) -> None:
    lock_file = paths.envs_dir() / "demo" / ".lock"
    lock_file.unlink()
    target = tmp_path / "not-a-lock"
    lock_file.symlink_to(target)
    error, _hint = one_error(cli("env", "remove", "demo"))
    assert error == f"error: lock file {lock_file} is a symbolic link; mlstack does not use it"
    assert not target.exists()
    assert env_names(cli) == ["demo"]
