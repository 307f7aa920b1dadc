"""The team's lock lifecycle (issue 10) and concurrent writers (issue 13): the Python is
chosen and said, lock writes are announced or refused, files follow the umask, `add` /
`remove` / `lock --upgrade-package` change only what was asked, and concurrent creates
lose no entry. Against the loopback index (tests/wheelindex.py)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlstack_env.core.userfile import write_atomic
from mlstack_env.lockfile import Lock, read_lock
from mlstack_env.manifest.profiles import ProfileSet
from mlstack_env.resolve.request import choose_python
from tests.conftest import mlstack_exe
from tests.envfixtures import torch_entry, uv_wrapper
from tests.wheelindex import Dist, WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
def umask022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def no_resolving(directory: Path) -> dict[str, str]:
    """A uv that installs but refuses to resolve: proves an entry was used as locked."""
    script = uv_wrapper(directory / "uv-no-compile", 'case "$*" in *"pip compile"*)\n'
                        '  echo "uv must not resolve here: $*" >&2; exit 97;;\nesac\n'
                        'exec "$REAL_UV" "$@"')
    return {"MLSTACK_UV": str(script)}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the Python -----------------------------------------------------------------------


def test_python_is_chosen_in_order() -> None:
    minimal = ProfileSet.load().get("minimal")
    other = "3.13" if RUNNING != "3.13" else "3.12"
    lock = Lock((torch_entry("minimal", "rocm6.4:gfx1100", python=other),), "0", "0")
    from mlstack_env.catalog.target import Target

    gfx1100 = Target.parse("rocm6.4:gfx1100")
    assert str(choose_python(minimal, "3.12", None, lock, [gfx1100])) == "3.12 (--python)"
    chosen = choose_python(minimal, None, None, lock, [gfx1100])
    assert (chosen.version, chosen.why) == (
        other, "from the lock's entries for minimal on rocm6.4:gfx1100")
    elsewhere = choose_python(minimal, None, None, lock, [Target.parse("rocm6.4:gfx1030")])
    assert (elsewhere.version, elsewhere.why) == (
        other, "from the lock's other entries for minimal")
    mine = choose_python(minimal, None, None, None, [gfx1100])
    assert (mine.version, mine.why) == (RUNNING, "the Python mlstack runs on")


def test_env_create_uses_the_python_the_lock_was_made_for(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    """Done-when (issue 10): a lock made with --python X; env create uses its entry, no
    resolving (uv may install, never compile)."""
    fake_machine("7900xtx")
    other = "3.13" if RUNNING != "3.13" else "3.12"
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  python=None, default_env="ml")
    locked = cli("lock", "--python", other, cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr
    assert f"python: {other} (--python)" in locked.stdout
    before = (tmp_path / "mlstack.lock").read_bytes()
    r = cli("env", "create", "--json", cwd=tmp_path, env=no_resolving(tmp_path))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["python"] == other
    assert data["python_why"] == "from the lock's entries for ml on rocm6.4:gfx1100"
    assert data["lock_change"] is None
    assert (tmp_path / "mlstack.lock").read_bytes() == before
    human = cli("env", "create", cwd=tmp_path, env=no_resolving(tmp_path))
    assert f"  python    {other} (from the lock's entries for ml on rocm6.4:gfx1100)" \
        in human.stdout
    assert "  torch     2.8.0+rocm6.4 (ROCm 6.4 build)" in human.stdout


def test_no_wheels_for_the_python_names_python_not_the_torch_pin(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  python="3.10")  # the loopback torch has cp311-cp313 wheels only
    r = cli("lock", cwd=tmp_path)
    assert r.returncode == 1
    hint = r.stderr.splitlines()[-1]
    assert hint.startswith("hint: Python 3.10 (python in mlstack.toml) has no wheels")
    assert "--python" in hint and "pin torch" not in hint


# --- announced writes, refusals, modes ---------------------------------------------------


def test_a_new_target_is_announced_refused_under_ci_and_0644(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli, umask022: None) -> None:
    """Done-when (issue 10): a teammate whose machine is missing from `targets`."""
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
    assert cli("lock", cwd=tmp_path).returncode == 0
    lock_path = tmp_path / "mlstack.lock"
    assert _mode(lock_path) == 0o644
    before = lock_path.read_bytes()
    fake_machine("6700xt")  # gfx1031
    for env, why in (({"CI": "1"}, "CI=1"), ({"CI": "true"}, "CI=true")):
        r = cli("env", "create", "ml", cwd=tmp_path, env=env)
        assert r.returncode == 1, r.stderr
        error, hint = r.stderr.splitlines()
        assert error == (f"error: {lock_path} has no entry for ml on rocm6.4:gfx1031 "
                         "(Python 3.12); locked targets: rocm6.4:gfx1100; "
                         f"adding one is refused by {why}")
        assert hint == ("hint: run `mlstack lock --target rocm6.4:gfx1031 --python 3.12` and "
                        "commit the lock")
        assert lock_path.read_bytes() == before
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  extra="")
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text("locked = true\n" + manifest.read_text())
    r = cli("env", "create", "ml", cwd=tmp_path)
    assert r.returncode == 1 and f"adding one is refused by locked = true in {manifest}" in r.stderr
    manifest.write_text(manifest.read_text().replace("locked = true\n", ""))

    # -q silences progress, never a change to the committed lock.
    r = cli("env", "create", "ml", "-q", cwd=tmp_path, env={"CI": "0"})
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("added target rocm6.4:gfx1031 to mlstack.toml — commit it\n"
                        "added ml@rocm6.4:gfx1031@py3.12 to mlstack.lock — commit it\n")
    assert r.stdout == ""
    assert tomllib.loads(manifest.read_text())["targets"] == ["rocm6.4:gfx1100",
                                                              "rocm6.4:gfx1031"]
    assert [e.key for e in read_lock(lock_path).entries] == [
        "ml@rocm6.4:gfx1031@py3.12", "ml@rocm6.4:gfx1100@py3.12"]
    assert _mode(lock_path) == 0o644

    # The profile changes: this machine's entry is re-resolved, the other named stale.
    write_project(tmp_path, profiles={"ml": ["torch", "numpy"]}, targets=["rocm6.4:gfx1100"])
    r = cli("env", "create", "ml", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "re-resolved ml@rocm6.4:gfx1031@py3.12 in mlstack.lock — commit it" in r.stderr
    assert "left stale in mlstack.lock: ml@rocm6.4:gfx1100@py3.12" in r.stderr
    change = json.loads(r.stdout)["lock_change"]
    assert change["re_resolved"] == ["ml@rocm6.4:gfx1031@py3.12"]
    assert change["stale"] == ["ml@rocm6.4:gfx1100@py3.12"]


def test_write_atomic_follows_the_umask_and_keeps_an_existing_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        new = tmp_path / "out" / "new.toml"
        write_atomic(new, "a = 1\n")
        assert _mode(new) == 0o640
        new.chmod(0o664)
        write_atomic(new, "a = 2\n")
        assert _mode(new) == 0o664 and new.read_text() == "a = 2\n"
        assert [p.name for p in new.parent.iterdir()] == ["new.toml"]  # no temporary left
    finally:
        os.umask(old)


def test_lock_locked_refuses_a_change(mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["cpu"])
    r = cli("lock", "--locked", cwd=tmp_path)
    assert r.returncode == 1
    assert "ml@cpu@py3.12 (missing); refused by --locked" in r.stderr
    assert not (tmp_path / "mlstack.lock").exists()


# --- concurrency ----------------------------------------------------------------------


CONCURRENT_TARGETS = ["rocm6.4:gfx1100", "rocm6.4:gfx1030", "rocm6.4:gfx1101",
                      "rocm6.4:gfx90a", "rocm6.3:gfx1100", "rocm6.3:gfx1030",
                      "rocm6.3:gfx942", "cpu"]


def test_concurrent_creates_lose_no_lock_entry(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path) -> None:
    """Done-when (issue 13): 8 concurrent `env create --target T_i` in one project (real
    processes) leave 8 entries."""
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
    env = dict(os.environ)
    procs = [subprocess.Popen(
        [*mlstack_exe(), "env", "create", "ml", "--name", f"ml{i}", "--target", t, "--json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, t in enumerate(CONCURRENT_TARGETS)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    lock = read_lock(tmp_path / "mlstack.lock")
    assert sorted(str(e.target) for e in lock.entries) == sorted(CONCURRENT_TARGETS)
    added = [line for _out, err in results for line in err.splitlines()
             if line.startswith("added ml@")]
    assert len(added) == 8
    # Each new target joined mlstack.toml, none lost to a concurrent edit (issue 19).
    manifest = tomllib.loads((tmp_path / "mlstack.toml").read_text())
    assert sorted(manifest["targets"]) == sorted(CONCURRENT_TARGETS)


# --- add / remove ---------------------------------------------------------------------


TORCH_ML = '''# the team's project
default-env = "ml"
python = "3.12"
targets = ["rocm6.4:gfx1100"]

[profiles.ml]
# PEP 508 requirements
packages = [
    "torch", # PyTorch
]
'''


def test_add_and_remove_change_the_profile_the_lock_and_the_default_env(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    """Done-when (issue 10): `mlstack add tqdm` adds it to the profile, the lock and the
    default env."""
    fake_machine("7900xtx")
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text(TORCH_ML)
    assert cli("env", "create", cwd=tmp_path).returncode == 0
    info = json.loads(cli("env", "info", "ml", "--json").stdout)
    assert info["size"]["size"] > 0
    assert "size       " in cli("env", "info", "ml").stdout
    torch_before = read_lock(tmp_path / "mlstack.lock").entries[0].package("torch")

    r = cli("add", "tqdm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert manifest.read_text() == TORCH_ML.replace('"torch", # PyTorch\n',
                                                    '"torch", # PyTorch\n    "tqdm",\n')
    assert "re-resolved ml@rocm6.4:gfx1100@py3.12 in mlstack.lock — commit it" in r.stderr
    assert "added tqdm to profile ml" in r.stdout and "env ml: generation 2" in r.stdout
    (entry,) = read_lock(tmp_path / "mlstack.lock").entries
    assert entry.package("tqdm").version == "4.67.1"  # type: ignore[union-attr]
    assert entry.package("torch") == torch_before
    run = cli("run", "--", "python", "-c", "import tqdm; print(tqdm.__version__)",
              cwd=tmp_path)
    assert run.stdout.strip() == "4.67.1", run.stderr

    r = cli("remove", "tqdm", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["removed"], doc["env"]["generation"]) == (["tqdm"], 3)
    assert manifest.read_text() == TORCH_ML
    assert read_lock(tmp_path / "mlstack.lock").entries[0].package("tqdm") is None


def test_add_is_all_or_nothing_across_targets(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text(TORCH_ML.replace('["rocm6.4:gfx1100"]', '["rocm6.4:gfx1100", "cpu"]'))
    assert cli("lock", cwd=tmp_path).returncode == 0
    before = manifest.read_bytes(), (tmp_path / "mlstack.lock").read_bytes()
    # cuda-kernels pulls nvidia-cublas-cu12: fine for cpu, refused in a ROCm entry.
    r = cli("add", "cuda-kernels", cwd=tmp_path)
    assert r.returncode == 1
    assert "ml@rocm6.4:gfx1100@py3.12" in r.stderr.splitlines()[0]
    assert (manifest.read_bytes(), (tmp_path / "mlstack.lock").read_bytes()) == before


@pytest.mark.parametrize(("args", "message"), [
    (("add", "tqdm>=>1"), "error: 'tqdm>=>1' is not a PEP 508 requirement"),
    (("add", "tqdm", "--profile", "inference"),
     "error: profile 'inference' is built in, not a profile of"),
    (("remove", "numpy"), "does not list numpy: it is not among its packages"),
])
def test_add_and_remove_refuse_cleanly(tmp_path: Path, cli: Cli, args: tuple[str, ...],
                                       message: str) -> None:
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text(TORCH_ML)
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 1
    assert message in r.stderr.splitlines()[0]
    assert r.stderr.splitlines()[1].startswith("hint: ")
    assert manifest.read_text() == TORCH_ML


# --- upgrades -------------------------------------------------------------------------


def test_upgrade_package_takes_only_that_package_and_diff_shows_it(
        own_index: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    """Done-when (issue 10): a newer tqdm appears; `lock --upgrade-package tqdm` takes it
    and changes no other package (a newer filelock appeared too), `mlstack diff` shows it."""
    write_project(tmp_path, profiles={"ml": ["torch", "tqdm"]}, targets=["cpu"])
    assert cli("lock", cwd=tmp_path).returncode == 0
    lock_path = tmp_path / "mlstack.lock"
    old = tmp_path / "old.lock"
    shutil.copy(lock_path, old)
    own_index.publish(Dist("tqdm", "4.67.2", (), requires_python=">=3.7"),
                      Dist("filelock", "3.19.1", (), requires_python=">=3.9"))

    assert "unchanged" in cli("lock", cwd=tmp_path).stdout  # fresh: not even re-resolved
    r = cli("lock", "--upgrade-package", "tqdm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "re-resolved ml@cpu@py3.12 in mlstack.lock — commit it" in r.stderr
    diff = cli("diff", str(old), str(lock_path), "--json")
    assert diff.returncode == 0, diff.stderr
    (entry,) = json.loads(diff.stdout)["entries"]
    changes = {k: v for k, v in entry["packages"].items() if v and k != "count"}
    assert changes == {"upgraded": [{"name": "tqdm", "old": "4.67.1", "new": "4.67.2"}]}
    human = cli("diff", str(old), str(lock_path)).stdout
    assert "    ^ tqdm 4.67.1 -> 4.67.2" in human

    r = cli("lock", "--upgrade", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = tomllib.loads(lock_path.read_text())
    versions = {p["name"]: p["version"] for p in data["entry"][0]["package"]}
    assert (versions["filelock"], versions["tqdm"]) == ("3.19.1", "4.67.2")


def test_upgrade_refuses_offline_and_bad_names(tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["cpu"])
    r = cli("lock", "--upgrade", "--offline", cwd=tmp_path)
    assert r.returncode == 1 and "cannot be used with --offline" in r.stderr
    r = cli("lock", "--upgrade-package", "tqdm; rm", cwd=tmp_path)
    assert r.returncode == 1 and "is not a package name" in r.stderr


def test_detect_says_which_python_a_lock_would_take(
        fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    data = json.loads(cli("detect", "--json", cwd=tmp_path).stdout)
    assert data["lock_python"] == {"profile": "minimal", "version": RUNNING,
                                   "why": "the Python mlstack runs on"}
    write_project(tmp_path, profiles={"ml": ["torch"]}, python="3.12", default_env="ml")
    r = cli("detect", cwd=tmp_path)
    assert "Locks:   ml for Python 3.12 (python in mlstack.toml)" in r.stdout


def test_a_bare_lock_keeps_every_python_the_lock_holds(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles={"ml": ["tqdm"]}, targets=["cpu"], python=None)
    assert cli("lock", "--python", "3.12", cwd=tmp_path).returncode == 0
    assert cli("lock", "ml", "--python", "3.13", "-t", "cpu", cwd=tmp_path).returncode == 0
    write_project(tmp_path, profiles={"ml": ["tqdm", "filelock"]}, targets=["cpu"],
                  python=None)
    r = cli("lock", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "python: 3.13 (from the lock's entries for ml on cpu) for ml" in r.stdout
    assert "python: 3.12 (the Python of this entry of the lock) for ml" in r.stdout
    assert [e.key for e in read_lock(tmp_path / "mlstack.lock").entries] == [
        "ml@cpu@py3.12", "ml@cpu@py3.13"]
    assert "re-resolved ml@cpu@py3.12" in r.stderr and "re-resolved ml@cpu@py3.13" in r.stderr


def test_interpreters_are_found_once_by_real_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack_env import uv
    from mlstack_env.core import paths

    version, base = uv.running_python()
    assert base == Path(os.path.realpath(base))
    if sys.prefix != sys.base_prefix:  # mlstack in a venv (uv tool, pipx): its base Python
        assert not base.is_relative_to(Path(sys.prefix).resolve())
    other = "3.12" if version != "3.12" else "3.13"
    found = uv.find_python(other)
    assert "shims" not in found.parts and found == Path(os.path.realpath(found))
    memo = json.loads((paths.uv_cache_dir().parent / "pythons.json").read_text())
    assert memo[other] == str(found)

    def no_probe(path: Path) -> None:
        raise AssertionError(f"probed {path}")

    monkeypatch.setattr(uv, "_probe", no_probe)
    assert uv.find_python(other) == found  # remembered: no interpreter is run again


def test_add_relocks_the_profiles_that_extend_the_one_changed(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "mlstack.toml").write_text(
        'python = "3.12"\ntargets = ["cpu"]\n\n[profiles.base]\npackages = ["torch"]\n\n'
        '[profiles.child]\nextends = ["base"]\npackages = ["numpy"]\n\n'
        '[profiles.other]\npackages = ["filelock"]\n')
    assert cli("lock", cwd=tmp_path).returncode == 0
    other_before = read_lock(tmp_path / "mlstack.lock").get("other@cpu@py3.12")
    r = cli("add", "tqdm", "--profile", "base", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lock"]["re_resolved"] == ["base@cpu@py3.12",
                                                            "child@cpu@py3.12"]
    lock = read_lock(tmp_path / "mlstack.lock")
    assert lock.get("child@cpu@py3.12").package("tqdm") is not None  # type: ignore[union-attr]
    assert lock.get("other@cpu@py3.12") == other_before
