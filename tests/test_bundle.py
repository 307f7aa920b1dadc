"""`mlstack bundle` and `env create --wheels DIR`: the air-gapped path, end to end through
the real console script, the loopback index and uv."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

from mlstack_env.core import paths
from tests.envfixtures import error_lines, failing_uv, team_lock, torch_entry, write_lock
from tests.wheelindex import WheelIndex, serve, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
BUNDLE_KEYS = {"directory", "lock", "entries", "downloaded", "cached", "present", "wheels"}
WHEEL_KEYS = {"filename", "url", "sha256", "size", "status"}
TEAM_WHEELS = [
    "filelock-3.18.0-py3-none-any.whl",
    "pytorch_triton_rocm-3.4.0-cp312-cp312-manylinux_2_28_x86_64.whl",
    "torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl",
]
TORCH = TEAM_WHEELS[2]


def one_error(stderr: str) -> tuple[str, str]:
    lines = error_lines(stderr)
    assert len(lines) == 2, stderr
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), stderr
    return lines[0], lines[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nothing_created(home: Path | None = None) -> bool:
    """No store entry, no temporary, no env directory (lock files are bookkeeping)."""
    store = home / "store" if home else paths.store_dir()
    envs = home / "envs" if home else paths.envs_dir()
    store_items = [p for p in store.iterdir() if p.name not in (".lock", ".locks")] \
        if store.is_dir() else []
    env_items = list(envs.iterdir()) if envs.is_dir() else []
    return not store_items and not env_items


def bundle(cli: Cli, lock: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("bundle", "--lock", str(lock), "-o", str(out), *args)


def test_bundle_downloads_checks_and_skips(mirrored: WheelIndex, tmp_path: Path,
                                           cli: Cli) -> None:
    lock = team_lock(tmp_path / "mlstack.lock")
    out = tmp_path / "wheels"
    r = bundle(cli, lock, out, "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --json is silent on stderr
    doc = json.loads(r.stdout)
    assert set(doc) == BUNDLE_KEYS
    assert doc["entries"] == ["demo@rocm6.4:gfx1031@py3.12", "demo@rocm6.4:gfx1100@py3.12"]
    # Both entries share their wheels: each is downloaded once.
    assert [w["filename"] for w in doc["wheels"]] == TEAM_WHEELS
    assert (doc["downloaded"], doc["cached"], doc["present"]) == (3, 0, 0)
    for w in doc["wheels"]:
        assert set(w) == WHEEL_KEYS
        assert w["status"] == "downloaded"
        assert w["url"].startswith("https://")  # the lock's canonical URL, not the mirror's
        path = out / w["filename"]
        assert sha256(path) == w["sha256"] == mirrored.sha256(w["filename"])
        assert path.stat().st_size == w["size"]
    assert sorted(p.name for p in out.iterdir()) == TEAM_WHEELS  # no .part-* left

    again = bundle(cli, lock, out)
    assert again.returncode == 0, again.stderr
    assert "0 downloaded, 0 from mlstack's download cache, 3 already present" in again.stdout
    assert f"--lock {lock} --wheels {out} --offline" in again.stdout
    for name in TEAM_WHEELS:
        assert f"present     {name} (sha256 matches the lock)" in again.stderr
    assert all(w["status"] == "present"
               for w in json.loads(bundle(cli, lock, out, "--json").stdout)["wheels"])


def test_a_wrong_file_in_the_folder_is_replaced(mirrored: WheelIndex, tmp_path: Path,
                                                cli: Cli) -> None:
    lock = team_lock(tmp_path / "mlstack.lock")
    out = tmp_path / "wheels"
    assert bundle(cli, lock, out).returncode == 0
    (out / TORCH).write_bytes(b"not a wheel")
    (out / ".part-torch-leftover").write_bytes(b"half")  # a killed run's leftover
    doc = json.loads(bundle(cli, lock, out, "--json").stdout)
    # the right bytes are in mlstack's download cache since the first run: no download
    assert {w["filename"]: w["status"] for w in doc["wheels"]}[TORCH] == "cached"
    assert sha256(out / TORCH) == mirrored.sha256(TORCH)
    assert sorted(p.name for p in out.iterdir()) == TEAM_WHEELS


def test_bundle_the_project_lock_for_one_profile(mirrored: WheelIndex, tmp_path: Path,
                                                 cli: Cli) -> None:
    project = tmp_path / "team"
    write_project(project, profiles={"demo": ["torch"], "cpuonly": ["torch"]})
    write_lock(project / "mlstack.lock", [torch_entry("demo", "rocm6.4:gfx1100"),
                                          torch_entry("cpuonly", "cpu")])
    sub = project / "src"
    sub.mkdir()
    r = cli("bundle", "cpuonly", "-o", str(tmp_path / "cpu-wheels"), "--json", cwd=sub)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["lock"] == str(project / "mlstack.lock")
    assert doc["entries"] == ["cpuonly@cpu@py3.12"]
    assert [w["filename"] for w in doc["wheels"]] == [
        "filelock-3.18.0-py3-none-any.whl",
        "torch-2.8.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",
    ]
    unknown = cli("bundle", "nope", "-o", str(tmp_path / "x"), "--project", str(project))
    assert unknown.returncode == 1
    error, hint = one_error(unknown.stderr)
    assert "no entry for profile 'nope'" in error and "cpuonly, demo" in hint
    nowhere = cli("bundle", "-o", str(tmp_path / "x"), cwd=tmp_path)
    assert nowhere.returncode == 1
    assert "no mlstack.toml" in one_error(nowhere.stderr)[0]
    no_out = cli("bundle", cwd=sub)
    assert no_out.returncode == 1
    assert "-o DIR" in one_error(no_out.stderr)[0]


def test_a_tampered_wheel_is_refused_and_not_kept(wheel_index: WheelIndex, tmp_path: Path,
                                                  cli: Cli) -> None:
    wheel_index.write_config(tampered=True)
    lock = team_lock(tmp_path / "mlstack.lock")
    out = tmp_path / "wheels"
    r = bundle(cli, lock, out)
    assert r.returncode == 1
    error, hint = one_error(r.stderr)
    # Downloads run in parallel: the first to fail stops the others, and is named.
    first = next((name for name in TEAM_WHEELS if name in error), None)
    assert first is not None, r.stderr
    assert f"{wheel_index.url}/tampered/" in error
    assert "does not match the lock" in error
    assert wheel_index.sha256(first) in error  # expected
    actual = error.split("sha256 ")[1].split(",")[0]
    assert len(actual) == 64 and actual != wheel_index.sha256(first)
    assert "[mirrors]" in hint
    assert list(out.iterdir()) == []  # neither the wheel's name nor a .part-* file


def test_an_unreachable_mirror_is_a_clean_error(dead_index: str, tmp_path: Path, cli: Cli,
                                                wheel_index: WheelIndex) -> None:
    dead = dead_index
    wheel_index.write_config(mirrors={"https://download.pytorch.org/": f"{dead}/pytorch/",
                                      "https://files.pythonhosted.org/": f"{dead}/files/"})
    lock = team_lock(tmp_path / "mlstack.lock")
    r = bundle(cli, lock, tmp_path / "wheels")
    assert r.returncode == 1
    error, hint = one_error(r.stderr)
    # torch's index is mirrored: its files are looked up on the mirror's pages first.
    assert error.startswith(f"error: cannot read the mirror page {dead}/pytorch/whl/rocm6.4/")
    assert error.endswith("Connection refused")
    assert "[mirrors]" in hint
    assert list((tmp_path / "wheels").iterdir()) == []


def _bundled_then_index_down(tmp_path: Path, cli: Cli) -> tuple[Path, Path, dict[str, str]]:
    """A team lock and its bundle, made from this test's own index, which is then
    stopped; the config still routes to it (so any fetch would fail)."""
    lock = team_lock(tmp_path / "mlstack.lock")
    out = tmp_path / "wheels"
    with serve(tmp_path / "private-index") as index:
        index.write_config()
        r = bundle(cli, lock, out)
        assert r.returncode == 0, r.stderr
        hashes = index.hashes
    return lock, out, hashes


def test_air_gapped_create_from_the_bundle(fake_machine: Callable[[str], Path], tmp_path: Path,
                                           cli: Cli) -> None:
    fake_machine("7900xtx")
    lock, out, _ = _bundled_then_index_down(tmp_path, cli)
    # Another machine: its own home, so uv's cache is empty.
    home = tmp_path / "air-gapped-home"
    site = {"MLSTACK_HOME": str(home)}
    assert not home.exists()
    r = cli("env", "create", "--lock", str(lock), "--wheels", str(out), "--offline", "--json",
            env=site)
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert created["name"] == "demo" and created["reused"] is False
    assert created["target"] == "rocm6.4:gfx1100"
    run = cli("env", "run", "demo", "--", "python", "-c",
              "import torch; print(torch.__version__)", env=site)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2.8.0+rocm6.4"
    # A damaged env is repaired from the same bundle, still without network: the command
    # env verify prints carries --wheels.
    venv = (home / "envs" / "demo" / "current" / "venv").resolve()
    next(venv.glob("lib/python3.*/site-packages/torch/version.py")).write_text("# edited\n")
    bad = cli("env", "verify", "demo", env=site)
    assert bad.returncode == 1
    command = bad.stderr.splitlines()[1].split("`")[1]
    assert f"--wheels {out}" in command and "--reinstall" in command
    fixed = cli(*command.split()[1:], "--offline", env=site)
    assert fixed.returncode == 0, fixed.stderr
    assert cli("env", "verify", "demo", env=site).returncode == 0


def test_offline_with_a_wheel_missing_from_the_bundle(fake_machine: Callable[[str], Path],
                                                      tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock, out, _ = _bundled_then_index_down(tmp_path, cli)
    (out / TORCH).unlink()
    (out / TEAM_WHEELS[0]).unlink()
    # Checked before uv runs: a uv that fails loudly is never reached. On another machine:
    # this one's download cache holds the files since the bundle was made.
    r = cli("env", "create", "--lock", str(lock), "--wheels", str(out), "--offline",
            env={**failing_uv(tmp_path), "MLSTACK_HOME": str(tmp_path / "air-gapped")})
    assert r.returncode == 1
    error, hint = one_error(r.stderr)
    assert f"2 locked wheels are not in {out}: {TEAM_WHEELS[0]}, {TORCH}" in error
    assert "mlstack bundle" in hint and "-o DIR" in hint
    assert "uv must not run" not in r.stderr
    assert nothing_created()


def test_a_corrupted_bundle_file_is_refused(fake_machine: Callable[[str], Path],
                                            tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock, out, hashes = _bundled_then_index_down(tmp_path, cli)
    # A well-formed wheel with other bytes under the locked name: only the hash tells.
    torch = out / TORCH
    with zipfile.ZipFile(torch) as z:
        items = [(i.filename, z.read(i)) for i in z.infolist()]
    with zipfile.ZipFile(torch, "w") as z:
        for name, data in items:
            z.writestr(name, data.replace(b"2.8.0+rocm6.4", b"2.8.0+rocm9.9"))
    assert sha256(torch) != hashes[TORCH]
    r = cli("env", "create", "--lock", str(lock), "--wheels", str(out), "--offline")
    assert r.returncode == 1
    error, hint = one_error(r.stderr)
    assert "Hash mismatch for `torch==2.8.0+rocm6.4`" in error
    assert hashes[TORCH] in error
    assert str(out) in hint and "mlstack bundle" in hint
    assert nothing_created()


def test_bundle_wins_over_the_index_and_the_index_fills_gaps(
        wheel_index: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    wheel_index.write_config()
    lock = team_lock(tmp_path / "mlstack.lock")
    out = tmp_path / "wheels"
    assert bundle(cli, lock, out).returncode == 0
    # Every wheel served now fails its hash: the create works only from the folder.
    wheel_index.write_config(tampered=True)
    r = cli("env", "create", "--lock", str(lock), "--wheels", str(out), "--json")
    assert r.returncode == 0, r.stderr
    # Without --offline, a wheel missing from the folder comes from the index.
    wheel_index.write_config()
    (out / TORCH).unlink()
    other = write_lock(tmp_path / "other.lock",
                       [torch_entry("demo", "rocm6.4:gfx1100", env={"NEW_KEY": "1"})])
    home = {"MLSTACK_HOME": str(tmp_path / "other-home")}
    r = cli("env", "create", "--lock", str(other), "--wheels", str(out), "--json", env=home)
    assert r.returncode == 0, r.stderr
    run = cli("env", "run", "demo", "--", "python", "-c",
              "import torch; print(torch.__version__)", env=home)
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr


def test_wheels_folder_must_exist(fake_machine: Callable[[str], Path], tmp_path: Path,
                                  cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "--lock", str(lock), "--wheels", str(tmp_path / "nowhere"),
            "--offline", env=failing_uv(tmp_path))
    assert r.returncode == 1
    error, hint = one_error(r.stderr)
    assert "nowhere: no such folder" in error and "mlstack bundle" in hint
    assert nothing_created()
