"""``mlstack diff``: two locks compared entry by entry, and the git default."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from mlstack_env.cli import main
from mlstack_env.lockfile import LockEntry, Wheel
from tests.envfixtures import torch_entry, write_lock

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
       "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def _with_package(entry: LockEntry, name: str, **changes: object) -> LockEntry:
    packages = tuple(replace(p, **changes) if p.name == name else p  # type: ignore[arg-type]
                     for p in entry.packages)
    return replace(entry, packages=packages)


def _rehash(entry: LockEntry, name: str) -> LockEntry:
    """The same version and file name with other bytes: a re-uploaded wheel."""
    pkg = entry.package(name)
    assert pkg is not None
    wheels = tuple(Wheel(w.url, "f" * 64, w.size) for w in pkg.wheels)
    return _with_package(entry, name, wheels=wheels)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def locks(tmp_path: Path) -> tuple[Path, Path]:
    old_gfx1100 = torch_entry("ml", "rocm6.4:gfx1100", env={"PYTORCH_ROCM_ARCH": "gfx1100"})
    old_cpu = torch_entry("ml", "cpu")
    old_gone = torch_entry("ml", "rocm6.3:gfx1101")
    new_gfx1100 = replace(
        _rehash(_with_package(old_gfx1100, "filelock", version="3.19.1"), "torch"),
        env={"PYTORCH_ROCM_ARCH": "gfx1100", "MIOPEN_FIND_MODE": "2"},
        system=("migraphx",),
    )
    new_cpu = replace(_with_package(old_cpu, "filelock", version="3.10.0"),
                      notes=("a note the resolver added",))
    new_extra = torch_entry("ml", "rocm6.4:gfx1030")
    old = write_lock(tmp_path / "old.lock", [old_gfx1100, old_cpu, old_gone])
    new = write_lock(tmp_path / "new.lock", [new_gfx1100, new_cpu, new_extra])
    return old, new


def test_two_files_entry_by_entry(capsys: pytest.CaptureFixture[str],
                                  locks: tuple[Path, Path]) -> None:
    old, new = locks
    code, out, err = _run(capsys, str(old), str(new))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == [f"--- {old}", f"+++ {new}"]
    body = "\n".join(lines)
    # Sorted by entry key; the loud hash line first within its entry.
    assert body.index("~ entry ml@cpu@py3.12") < body.index("+ entry ml@rocm6.4:gfx1030@py3.12") \
        < body.index("~ entry ml@rocm6.4:gfx1100@py3.12")
    assert "- entry ml@rocm6.3:gfx1101@py3.12 (3 packages)" in lines
    assert "    v filelock 3.18.0 -> 3.10.0 (downgraded)" in lines
    assert "    ^ filelock 3.18.0 -> 3.19.1" in lines
    at = lines.index("    !! hash changed: torch 2.8.0+rocm6.4: same version, another file "
                     "(re-uploaded, or the lock was edited)")
    assert lines[at - 1] == "~ entry ml@rocm6.4:gfx1100@py3.12"  # first within its entry
    assert lines[at + 1].startswith(
        "       torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl sha256 ")
    assert lines[at + 1].endswith(" -> ffffffffffffffff…")
    assert "    env + MIOPEN_FIND_MODE=2" in lines
    assert "    system + migraphx" in lines
    assert "    note + a note the resolver added" in lines
    assert lines[-1] == ("1 entry added, 1 entry removed, 2 entries changed; !! 1 wheel "
                         "changed hash without a version change: do not merge before you "
                         "know why")


def test_json_keys_and_exit_code(capsys: pytest.CaptureFixture[str],
                                 locks: tuple[Path, Path]) -> None:
    old, new = locks
    code, out, _ = _run(capsys, str(old), str(new), "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"old", "new", "identical", "hash_changes", "entries", "unchanged",
                        "written_by"}
    assert doc["identical"] is False
    assert doc["hash_changes"] == 1
    by_key = {e["key"]: e for e in doc["entries"]}
    gfx1100 = by_key["ml@rocm6.4:gfx1100@py3.12"]
    assert gfx1100["status"] == "changed"
    (change,) = gfx1100["packages"]["hash_changed"]
    assert change["name"] == "torch"
    assert change["new_sha256"] == "f" * 64
    assert gfx1100["packages"]["upgraded"] == [
        {"name": "filelock", "old": "3.18.0", "new": "3.19.1"}]
    assert gfx1100["env"]["added"] == {"MIOPEN_FIND_MODE": "2"}
    assert gfx1100["system"] == {"added": ["migraphx"], "removed": []}
    assert gfx1100["platform"] is None
    assert by_key["ml@cpu@py3.12"]["notes"] == {"added": ["a note the resolver added"],
                                                "removed": []}
    assert by_key["ml@rocm6.3:gfx1101@py3.12"]["status"] == "removed"
    assert by_key["ml@rocm6.4:gfx1030@py3.12"]["status"] == "added"
    # --exit-code: 1 when they differ, 0 when they do not.
    assert _run(capsys, str(old), str(new), "--exit-code")[0] == 1
    code, out, _ = _run(capsys, str(old), str(old), "--exit-code")
    assert code == 0
    assert out.splitlines()[-1] == "no changes"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True)


def test_default_is_head_against_the_working_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "mlstack.toml").write_text('default-env = "minimal"\n')
    entry = torch_entry("ml", "rocm6.4:gfx1100")
    write_lock(project / "mlstack.lock", [entry])
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-qm", "lock")
    monkeypatch.chdir(project / "src")  # from a subfolder, like git
    code, out, _ = _run(capsys)
    assert code == 0
    assert out.splitlines()[-1] == "no changes"
    write_lock(project / "mlstack.lock",
               [_with_package(entry, "filelock", version="3.20.0")])
    code, out, _ = _run(capsys, "--json")
    doc = json.loads(out)
    assert doc["old"] == "mlstack.lock (HEAD)"
    assert doc["new"] == "mlstack.lock (working file)"
    (changed,) = doc["entries"]
    assert changed["packages"]["upgraded"] == [
        {"name": "filelock", "old": "3.18.0", "new": "3.20.0"}]
    # One argument: a revision (its mlstack.lock) or REV:PATH, against the working file.
    _git(project, "commit", "-qam", "newer filelock")
    code, out, _ = _run(capsys, "HEAD~1", "--json")
    assert json.loads(out)["entries"][0]["packages"]["upgraded"][0]["new"] == "3.20.0"
    code, out, _ = _run(capsys, "HEAD~1:../mlstack.lock", "HEAD:../mlstack.lock", "--json")
    assert code == 0
    assert json.loads(out)["entries"][0]["packages"]["upgraded"][0]["new"] == "3.20.0"


def test_a_lock_not_committed_yet_is_all_new(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "README").write_text("x\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "start")
    write_lock(tmp_path / "mlstack.lock", [torch_entry("ml", "cpu")])
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys)
    assert code == 0
    assert out.splitlines()[0] == "--- mlstack.lock (HEAD: not committed)"
    assert "+ entry ml@cpu@py3.12 (2 packages)" in out.splitlines()


def test_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_lock(tmp_path / "mlstack.lock", [torch_entry("ml", "cpu")])
    code, out, err = _run(capsys)  # not a git repository
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == (f"error: {tmp_path} is not in a git repository, so there "
                                   "is no committed mlstack.lock to compare with")
    assert err.splitlines()[1] == "hint: compare two files instead: mlstack diff OLD NEW"
    code, _, err = _run(capsys, "nope.lock", "mlstack.lock")
    assert code == 1
    assert err.splitlines()[0] == "error: nope.lock: no such lock file, and not a git revision"


def test_inputs_only_and_identical_entries(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    entry = torch_entry("ml", "cpu")
    same = torch_entry("ml", "rocm6.4:gfx1100")
    old = write_lock(tmp_path / "old.lock", [entry, same])
    new = write_lock(tmp_path / "new.lock", [replace(entry, inputs_hash="sha256:" + "1" * 64),
                                             same])
    code, out, _ = _run(capsys, str(old), str(new))
    assert code == 0
    lines = out.splitlines()
    assert lines[3:5] == ["~ entry ml@cpu@py3.12",
                          "    inputs changed (profile, sources or catalog); the same packages "
                          "were locked"]
    assert lines[-1] == "1 entry changed, 1 unchanged"



def test_each_package_change_kind_is_an_entry_diff_field() -> None:
    from mlstack_env.lockfile.lockdiff import DiffStatus, EntryDiff, PackageChange

    diff = EntryDiff("p@rocm6.4:gfx1100@py3.12", DiffStatus.CHANGED)
    for kind in PackageChange:
        assert getattr(diff, kind.value) == ()
        assert diff.to_json()["packages"][kind.value] == []


def test_two_files_load_no_rich_and_start_no_process(locks: tuple[Path, Path]) -> None:
    """A diff of two files off a terminal (and with --json) loads neither rich nor
    subprocess (only a lock at a git revision needs git)."""
    import sys

    old, new = locks
    # main(ARGS) returns (main() ends the process, before the print)
    code = ("import sys; from mlstack_env.cli import main; code = main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'subprocess', 'dataclasses')), file=sys.stderr); sys.exit(code)")
    for extra in ([], ["--json"]):
        r = subprocess.run([sys.executable, "-c", code, "diff", str(old), str(new), *extra],
                           capture_output=True, text=True, check=False, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("{" if extra else "--- ")
        assert r.stderr.splitlines()[-1] == "[]"
