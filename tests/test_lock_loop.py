"""The team's day without surprises (issue 19): the committed lock changes only when the
project does, runs sync an env behind its lock, and no tool changes an env behind it.
Against the loopback index (tests/wheelindex.py) and a fake 7900 XTX."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.lockfile import read_lock
from tests.wheelindex import Dist, WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=team@example.com", "-c", "user.name=team", *args],
        cwd=project, capture_output=True, text=True, check=True)
    return done.stdout


def _changed(project: Path) -> set[str]:
    """The files `git status` shows changed or new since the last commit."""
    return {line[3:] for line in _git(project, "status", "--porcelain").splitlines()}


def _lock_rows_changed(project: Path) -> set[str]:
    """The packages whose rows of mlstack.lock changed since the last commit."""
    names = set()
    old = read_lock_text(_git(project, "show", "HEAD:mlstack.lock"))
    new = read_lock_text((project / "mlstack.lock").read_text())
    for key in old.keys() | new.keys():
        before, after = old.get(key, {}), new.get(key, {})
        names |= {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
    return names


def read_lock_text(text: str) -> dict[str, dict[str, object]]:
    data = tomllib.loads(text)
    return {f"{e['profile']}@{e['target']}@py{e['python']}":
            {p["name"]: p for p in e.get("package", [])} for e in data.get("entry", [])}


def test_the_cycle_changes_only_what_each_step_means_and_a_second_pass_nothing(
        own_index: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    """Done-when (issue 19): init → lock → commit → env create (each built-in profile and a
    new target) → lock → add → remove → lock --upgrade-package → run; `git status` after
    each step shows only what it is meant to change; the second pass changes nothing."""
    fake_machine("7900xtx")
    project = tmp_path / "proj"
    project.mkdir()

    def ok(*args: str) -> subprocess.CompletedProcess[str]:
        r = cli(*args, cwd=project)
        assert r.returncode == 0, (args, r.stderr)
        return r

    ok("init", "--yes")
    ok("lock")
    ok("sync")  # the default env
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "init")
    assert _changed(project) == set()

    for cycle in (1, 2):
        # Envs from the built-in profiles the project does not use: the team's files stay.
        r = ok("env", "create", "minimal")
        assert "for you in" in r.stderr and "mlstack.lock is left as it is" in r.stderr \
            if cycle == 1 else True
        ok("env", "create", "training", "--name", "train")
        ok("env", "create", "inference", "--python", "3.12", "--target", "rocm7.0:gfx1100")
        assert _changed(project) == set(), cycle
        # A new machine's target joins the project: announced, in both files.
        r = ok("env", "create", "--target", "rocm6.3:gfx1101", "--name", "other")
        if cycle == 1:
            assert "added target rocm6.3:gfx1101 to mlstack.toml — commit it" in r.stderr
            assert _changed(project) == {"mlstack.toml", "mlstack.lock"}
            assert tomllib.loads((project / "mlstack.toml").read_text())["targets"] == [
                "rocm6.4:gfx1100", "rocm6.3:gfx1101"]
            _git(project, "commit", "-qam", "a teammate's machine")
        assert _changed(project) == set(), cycle
        r = ok("lock")
        assert "is up to date (unchanged)" in r.stdout
        assert _changed(project) == set(), cycle
        # add / remove change the profile and its entries, and undo each other.
        ok("add", "tqdm")
        assert _changed(project) == {"mlstack.toml", "mlstack.lock"}
        assert _lock_rows_changed(project) == {"tqdm"}
        ok("remove", "tqdm")
        assert _changed(project) == set(), cycle
        # --upgrade-package takes only that package's new version.
        if cycle == 1:
            own_index.publish(Dist("numpy", "2.3.3", (), requires_python=">=3.11"),
                              Dist("filelock", "3.19.1", (), requires_python=">=3.9"))
        ok("lock", "--upgrade-package", "numpy")
        if cycle == 1:
            assert _changed(project) == {"mlstack.lock"}
            assert _lock_rows_changed(project) == {"numpy"}
            _git(project, "commit", "-qam", "numpy 2.3.3")
        assert _changed(project) == set(), cycle
        r = ok("run", "--", "python", "-c", "import numpy; print(numpy.__version__)")
        assert r.stdout == "2.3.3\n"  # the default env was synced to the new lock
        r = ok("run", "other", "--", "python", "-c", "import numpy; print(numpy.__version__)")
        assert r.stdout == "2.3.3\n"  # and the other machine's env, on its own target:
        assert json.loads(ok("env", "info", "other", "--json").stdout)["fingerprint"][
            "target"] == "rocm6.3:gfx1101"
        assert _changed(project) == set(), cycle


def test_upgrade_package_not_locked_is_an_error_naming_the_closest(
        own_index: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles={"ml": ["torch", "tqdm"]}, targets=["cpu"])
    assert cli("lock", cwd=tmp_path).returncode == 0
    before = (tmp_path / "mlstack.lock").read_bytes()
    r = cli("lock", "--upgrade-package", "tqdn", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"error: --upgrade-package tqdn: no entry of {tmp_path / 'mlstack.lock'} holds tqdn; "
        "closest locked packages: tqdm",
        "hint: name a locked package: `mlstack lock --upgrade-package tqdm`"]
    r = cli("lock", "--upgrade-package", "zzz", cwd=tmp_path)
    assert r.returncode == 1 and "closest" not in r.stderr and "`mlstack tree`" in r.stderr
    assert (tmp_path / "mlstack.lock").read_bytes() == before


def test_an_unused_builtin_profile_is_locked_per_user_and_verify_repairs_it(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    """Issue 19 item 1: `env create minimal` in a project of other profiles leaves the
    team's lock alone, and `env verify minimal`'s repair hint works when pasted."""
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  default_env="ml")
    assert cli("lock", cwd=tmp_path).returncode == 0
    lock = (tmp_path / "mlstack.lock").read_bytes()
    r = cli("env", "create", "minimal", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mlstack.lock").read_bytes() == lock
    info = json.loads(cli("env", "info", "minimal", "--json").stdout)
    user_lock = Path(info["fingerprint"]["source"])
    assert user_lock.parent == Path(os.environ["MLSTACK_HOME"]) / "user-locks"
    assert [e.key for e in read_lock(user_lock).entries] == [
        "minimal@rocm6.4:gfx1100@py3.12"]
    site = next(Path(info["venv"]).glob("lib/python*/site-packages"))
    (site / "torch" / "version.py").write_text("hip = None  # edited by hand\n")
    bad = cli("env", "verify", "minimal", cwd=tmp_path)
    assert bad.returncode == 1
    hint = bad.stderr.splitlines()[-1].split("`")[1]
    assert f"--lock {user_lock}" in hint
    fixed = cli(*shlex.split(hint)[1:], cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert cli("env", "verify", "minimal").returncode == 0
    assert (tmp_path / "mlstack.lock").read_bytes() == lock


# --- runs sync --------------------------------------------------------------------------


@pytest.fixture
def project_env(mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
                cli: Cli) -> Path:
    """A locked project (profile ml: torch) on a 7900 XTX and its default env ml."""
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  default_env="ml")
    assert cli("lock", cwd=tmp_path).returncode == 0
    assert cli("env", "create", cwd=tmp_path).returncode == 0
    return tmp_path


@pytest.fixture
def stale_env(project_env: Path, tmp_path: Path, cli: Cli) -> Path:
    """A project whose default env is behind its lock: tqdm added to the profile, locked."""
    write_project(tmp_path, profiles={"ml": ["torch", "tqdm"]},
                  targets=["rocm6.4:gfx1100"], default_env="ml")
    assert cli("lock", cwd=tmp_path).returncode == 0
    return tmp_path


IMPORT_TQDM = ("python", "-c", "import tqdm; print(tqdm.__version__)")


def test_frozen_refuses_an_env_behind_its_lock_and_no_sync_runs_it(
        stale_env: Path, cli: Cli) -> None:
    lock = stale_env / "mlstack.lock"
    r = cli("run", "--frozen", "--", *IMPORT_TQDM, cwd=stale_env)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"error: env 'ml' is behind its lock {lock}: its entry changed (`mlstack lock` "
        "re-resolved it); --frozen runs only an env that matches its lock",
        "hint: sync it (drop --frozen), or run it as it is with --no-sync; by hand: "
        f"`mlstack env create ml --name ml --lock {lock}`"]
    r = cli("run", "--no-sync", "--", *IMPORT_TQDM, cwd=stale_env)
    assert r.returncode == 1 and "ModuleNotFoundError" in r.stderr
    assert r.stderr.startswith(f"warning: env 'ml' is behind its lock {lock}")
    # env list and doctor say so too.
    listed = json.loads(cli("env", "list", "--json").stdout)["envs"]
    assert [(e["name"], e["behind_lock"]) for e in listed] == [("ml", str(lock))]
    assert "behind their lock (the next `mlstack run` syncs them, or `mlstack sync`): ml" \
        in cli("env", "list").stdout
    doctor = json.loads(cli("doctor", "--json", cwd=stale_env).stdout)
    findings = doctor["findings"] if isinstance(doctor, dict) else doctor
    assert [f["status"] for f in findings if f["check"] == "env-lock"] == ["warn"]


def test_run_syncs_an_env_behind_its_lock_first(stale_env: Path, cli: Cli) -> None:
    """Done-when (issue 19): after a profile edit + `lock`, `mlstack run -- python -c
    "import tqdm"` works; the next run takes the fast path (nothing to sync)."""
    r = cli("run", "--", *IMPORT_TQDM, cwd=stale_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "4.67.1\n"
    assert "syncing it (+tqdm 4.67.1)" in r.stderr
    assert "env ml: generation 2 from mlstack.lock (installed)" in r.stderr
    again = cli("run", "--frozen", "--", *IMPORT_TQDM, cwd=stale_env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "4.67.1\n", "")
    listed = json.loads(cli("env", "list", "--json").stdout)["envs"]
    assert [e["behind_lock"] for e in listed] == [None]


def test_a_rewritten_lock_with_the_same_entry_is_not_a_sync(stale_env: Path,
                                                          cli: Cli) -> None:
    """A lock touched (git checkout) but holding the same entry: no create, stamp renewed."""
    assert cli("sync", cwd=stale_env).returncode == 0
    lock = stale_env / "mlstack.lock"
    lock.write_bytes(lock.read_bytes())
    os.utime(lock, ns=(1, 1))
    r = cli("run", "--", *IMPORT_TQDM, cwd=stale_env)
    assert (r.returncode, r.stderr) == (0, "")
    gens = json.loads(cli("env", "info", "ml", "--json").stdout)["generations"]
    assert gens == [1, 2]


def test_sync_updates_the_default_env_and_needs_a_project(stale_env: Path, cli: Cli,
                                                          tmp_path_factory: pytest.
                                                          TempPathFactory) -> None:
    r = cli("sync", "--json", cwd=stale_env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["name"], data["generation"]) == ("ml", 2)
    again = cli("sync", cwd=stale_env)
    assert again.stdout.startswith("env ml is up to date (generation 2)")
    elsewhere = tmp_path_factory.mktemp("no-project")
    r = cli("sync", cwd=elsewhere)
    assert r.returncode == 1 and r.stderr.startswith("error: no mlstack.toml here")


# --- envs no tool changes behind the lock ----------------------------------------------


def test_uv_pip_and_python_m_pip_are_refused_and_root_writes_are_named_and_repaired(
        mirrored: WheelIndex, project_env: Path, tmp_path: Path, cli: Cli) -> None:
    """Done-when (issue 19): `uv pip install`, `python -m pip install`, `pip install` inside
    an env are refused; the second env on the same store entry stays verify-clean. What
    cannot be stopped (the real uv by its full path, a write as root) is named by
    `env verify`, and the command it prints restores the env."""
    from mlstack_env import uv

    assert cli("env", "create", "ml", "--name", "scratch", cwd=tmp_path).returncode == 0
    path = {"PATH": f"{uv.binary().parent}{os.pathsep}{os.environ['PATH']}"}
    refused = {
        ("uv", "pip", "install", "tqdm"): "`uv pip install` cannot change mlstack env scratch",
        ("uv", "pip", "sync", "reqs.txt"): "`uv pip sync` cannot change mlstack env scratch",
        ("uv", "add", "--active", "tqdm"): "`uv add` cannot change mlstack env scratch",
        ("python", "-m", "pip", "install", "tqdm"): "`pip install` cannot change",
        ("pip", "install", "tqdm"): "`pip install` cannot change mlstack env scratch",
    }
    for argv, message in refused.items():
        r = cli("run", "scratch", "--", *argv, cwd=tmp_path, env=path)
        assert r.returncode == 1, (argv, r.stderr)
        assert message in r.stderr, (argv, r.stderr)
        assert "mlstack add" in r.stderr
    # What changes nothing in the env goes to the real uv.
    r = cli("run", "scratch", "--", "uv", "pip", "list", cwd=tmp_path, env=path)
    assert r.returncode == 0 and "torch" in r.stdout
    r = cli("run", "scratch", "--", "python", "-m", "pip", "list", cwd=tmp_path)
    assert r.returncode == 0 and "torch" in r.stdout
    for name in ("ml", "scratch"):
        assert cli("env", "verify", name).returncode == 0, name

    # The real uv by its full path cannot be stopped (root); verify names what it did.
    r = cli("run", "scratch", "--", str(uv.binary()), "pip", "install", "tqdm",
            "--index-url", f"{mirrored.url}/pypi/simple", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    bad = cli("env", "verify", "scratch")
    assert bad.returncode == 1 and "tqdm: 4.67.1 is not in the lock" in bad.stdout
    hint = bad.stderr.splitlines()[-1]
    assert "which env ml also uses" in hint
    assert cli(*shlex.split(hint.split("`")[1])[1:], cwd=tmp_path).returncode == 0
    site = next((Path(os.environ["MLSTACK_HOME"]) / "envs" / "ml" / "current" / "venv")
                .glob("lib/python*/site-packages"))
    (site / "sitecustomize.py").write_text("print('planted')\n")
    bad = cli("env", "verify", "ml")
    assert bad.returncode == 1
    assert "sitecustomize.py is in no package's RECORD" in bad.stdout
    assert cli(*shlex.split(bad.stderr.splitlines()[-1].split("`")[1])[1:],
               cwd=tmp_path).returncode == 0
    for name in ("ml", "scratch"):
        assert cli("env", "verify", name).returncode == 0, name


def test_shell_syncs_or_refuses_like_run(stale_env: Path, cli: Cli) -> None:
    r = cli("shell", "--frozen", cwd=stale_env, env={"SHELL": "/bin/sh"}, input="exit 0\n")
    assert r.returncode == 1 and "error: env 'ml' is behind its lock" in r.stderr
    r = cli("shell", cwd=stale_env, env={"SHELL": "/bin/sh"},
            input='python -c "import tqdm; print(tqdm.__version__)"\nexit 0\n')
    assert r.returncode == 0, r.stderr
    assert "syncing it (+tqdm 4.67.1)" in r.stderr and "4.67.1" in r.stdout


def test_an_env_for_another_python_than_the_project_locks_is_the_users_own(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    """`python = "3.12"` in mlstack.toml: `env create --python 3.11` would add an entry
    the next `mlstack lock` drops, so it goes to the user's own lock."""
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  python="3.12")
    assert cli("lock", cwd=tmp_path).returncode == 0
    lock = (tmp_path / "mlstack.lock").read_bytes()
    r = cli("env", "create", "ml", "--python", "3.11", "--name", "old", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mlstack.toml locks Python 3.12, not 3.11, so mlstack.lock is left as it is" \
        in r.stderr
    assert (tmp_path / "mlstack.lock").read_bytes() == lock
    assert "unchanged" in cli("lock", cwd=tmp_path).stdout
    assert (tmp_path / "mlstack.lock").read_bytes() == lock


@pytest.mark.parametrize(("argv", "refused"), [
    (["pip", "install", "tqdm"], "pip install"),
    (["-q", "pip", "sync", "requirements.txt"], "pip sync"),
    (["pip", "uninstall", "torch"], "pip uninstall"),
    (["pip", "install", "-p", "3.12", "tqdm"], "pip install"),  # a version: may be this env
    (["pip", "install", "--python", "{prefix}/bin/python", "tqdm"], "pip install"),
    (["pip", "install", "--python", "/usr/bin/python3", "tqdm"], None),
    (["pip", "install", "--python=/usr/bin/python3", "tqdm"], None),
    (["pip", "install", "--system", "tqdm"], None),
    (["pip", "install", "--target", "/tmp/t", "tqdm"], None),
    (["pip", "list"], None),
    (["pip", "compile", "requirements.in"], None),
    (["add", "--active", "tqdm"], "add --active"),
    (["sync", "--active"], "sync --active"),
    (["add", "tqdm"], None),  # the uv project's own .venv, not this env
    (["lock"], None),
    (["tool", "install", "ruff"], None),
])
def test_the_envs_uv_refuses_only_what_would_install_into_it(argv: list[str],
                                                             refused: str | None) -> None:
    import sys

    from mlstack_env.store.pip_shim_main import uv_target_is_this_env

    args = [a.replace("{prefix}", sys.prefix) for a in argv]
    assert uv_target_is_this_env(args) == refused


def test_the_envs_uv_without_a_real_uv_says_so(project_env: Path, tmp_path: Path,
                                               cli: Cli) -> None:
    r = cli("run", "--", "uv", "--version", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "error: uv is not installed outside this env",
        "hint: install uv (https://docs.astral.sh/uv/) or put it on PATH"]


def test_verify_repairs_an_env_whose_lock_lost_its_entry_and_one_made_outside_a_project(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    """The hint verify prints always works: from the lock the env came from while it holds
    the entry, else from the generation's own copy of it."""
    fake_machine("7900xtx")
    project = tmp_path / "p"
    project.mkdir()
    write_project(project, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
    assert cli("lock", cwd=project).returncode == 0
    assert cli("env", "create", "ml", cwd=project).returncode == 0
    write_project(project, profiles={"other": ["torch"]}, targets=["rocm6.4:gfx1100"])
    assert cli("lock", cwd=project).returncode == 0  # the ml entry is gone
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert cli("env", "create", "minimal", cwd=outside).returncode == 0
    home = Path(os.environ["MLSTACK_HOME"])
    for name in ("ml", "minimal"):
        site = next((home / "envs" / name / "current" / "venv").glob(
            "lib/python*/site-packages"))
        (site / "torch" / "version.py").write_text("hip = None  # edited\n")
        bad = cli("env", "verify", name)
        assert bad.returncode == 1
        hint = bad.stderr.splitlines()[-1].split("`")[1]
        assert f"--lock {home / 'envs' / name / 'gen-1' / 'lock.toml'} --reinstall" in hint
        fixed = cli(*shlex.split(hint)[1:], cwd=outside)
        assert fixed.returncode == 0, fixed.stderr
        assert cli("env", "verify", name).returncode == 0, name


SEAL_PROBE = """
import os, pathlib, sys
from mlstack_env.store.files import remove_tree
copy = pathlib.Path(sys.argv[1])
site = next(copy.glob("lib/python*/site-packages"))
dist = next(site.glob("torch-*.dist-info"))
for what, attempt in (
        ("a module in site-packages", lambda: (site / "planted.py").write_text("x")),
        ("a script in bin", lambda: (copy / "bin" / "planted").write_text("x")),
        ("an uninstall", lambda: dist.rename(copy / "gone")),
):
    try:
        attempt()
    except PermissionError:
        print("refused:", what)
(site / "torch" / "__pycache__").mkdir()  # Python's bytecode cache still works
print("bytecode cache: ok")
remove_tree(copy)
print("removed:", not copy.exists())
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv")
                    or not Path("/usr/bin/python3").is_file(),
                    reason="needs root (to act as another user), setpriv and /usr/bin/python3")
def test_a_store_entry_is_sealed_against_users_who_are_not_root(project_env: Path) -> None:
    """Where the kernel stops a tool (a user who is not root), nothing can be added to or
    removed from a store entry's site-packages and bin, by any tool; mlstack still
    removes it (gc)."""
    entry = (Path(os.environ["MLSTACK_HOME"]) / "envs" / "ml" / "current" / "venv").resolve()
    site = next(entry.glob("lib/python*/site-packages"))
    for folder in (entry / "bin", site):
        assert stat.S_IMODE(folder.stat().st_mode) & 0o222 == 0, folder
    assert (site / "__pycache__").is_dir()
    base = Path(tempfile.mkdtemp(prefix="mlstack-seal-"))
    try:
        base.chmod(0o755)
        copy = base / "entry"
        subprocess.run(["cp", "-a", str(entry), str(copy)], check=True)
        # mlstack's own code, where the other user can read it (the clone may sit in a
        # folder only root can enter).
        repo = Path(__file__).resolve().parent.parent
        shutil.copytree(repo / "mlstack_env", base / "src" / "mlstack_env",
                        ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(["chown", "-R", "65534:65534", str(base)], check=True)
        r = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "/usr/bin/python3", "-c", SEAL_PROBE, str(copy)],
            env={"PYTHONPATH": str(base / "src"), "PATH": "/usr/bin:/bin",
                 "PYTHONDONTWRITEBYTECODE": "1"}, cwd=base,
            capture_output=True, text=True, check=False)
        assert (r.returncode, r.stderr) == (0, ""), r.stderr
        assert r.stdout.splitlines() == [
            "refused: a module in site-packages", "refused: a script in bin",
            "refused: an uninstall", "bytecode cache: ok", "removed: True"]
    finally:
        shutil.rmtree(base)
