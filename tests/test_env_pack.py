"""`mlstack env pack` / `env unpack`: an env moved to another path (and home) works with the
index down, passes `env verify`, and says which Python it needs when the node lacks it."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core.errors import InternalError, MlstackError, TargetError
from mlstack_env.store.pack import MANIFEST
from mlstack_env.store.unpack import unpack_env
from tests.envfixtures import team_lock
from tests.wheelindex import WheelIndex, closed_port_url, write_mirrors

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
IMPORT_TORCH = "import torch, sys; print(torch.__version__); print(sys.prefix)"


def _created(cli: Cli, tmp_path: Path) -> None:
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 0, r.stderr


def _index_down(tmp_path: Path) -> dict[str, str]:
    """A fresh home and a config whose mirrors lead nowhere: nothing can be fetched."""
    dead = closed_port_url()
    config = write_mirrors(tmp_path / "dead.toml", {
        k: f"{dead}/" for k in ("https://download.pytorch.org/",
                                "https://files.pythonhosted.org/", "https://pypi.org/simple")})
    return {"MLSTACK_HOME": str(tmp_path / "node-home"), "MLSTACK_CONFIG": str(config)}


SQUASHFS = pytest.mark.skipif(shutil.which("mksquashfs") is None
                              or shutil.which("unsquashfs") is None,
                              reason="squashfs-tools is not installed")


@pytest.mark.parametrize("suffix", ["tar.zst", "tar.gz", pytest.param("sqsh", marks=SQUASHFS)])
def test_pack_unpack_elsewhere_offline(  # noqa: PLR0917 - pytest fixtures
        mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                                       tmp_path: Path, cli: Cli, isolated: Path,
                                       suffix: str) -> None:
    fake_machine("7900xtx")
    _created(cli, tmp_path)
    archive = tmp_path / f"demo.{suffix}"
    r = cli("env", "pack", "demo", "-o", str(archive), "--json")
    assert r.returncode == 0, r.stderr
    packed = json.loads(r.stdout)
    assert packed["format"] == ("squashfs" if suffix == "sqsh" else suffix)
    assert packed["python"] == "3.12"
    assert archive.stat().st_size == packed["size"]
    # The packing node's home goes away entirely: the copy must not need it.
    shutil.rmtree(isolated)
    node = _index_down(tmp_path)
    target = tmp_path / "node-local" / "demo"
    r = cli("env", "unpack", str(archive), str(target), "--json", env=node)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["registered"] is True and data["directory"] == str(target)
    run = cli("env", "run", "demo", "--", "python", "-c", IMPORT_TORCH, env=node)
    assert run.returncode == 0, run.stderr
    version, prefix = run.stdout.split()
    assert version == "2.8.0+rocm6.4"
    assert Path(prefix).resolve() == (target / "venv").resolve()
    verify = cli("env", "verify", "demo", env=node)
    assert verify.returncode == 0, verify.stderr + verify.stdout
    assert "match the lock" in verify.stdout
    # gc leaves an unpacked env (its venv lives outside the store) and its directory alone.
    gc = cli("gc", env=node)
    assert gc.returncode == 0, gc.stderr
    again = cli("env", "run", "demo", "--", "python", "-c", IMPORT_TORCH, env=node)
    assert again.returncode == 0 and again.stdout.split()[0] == "2.8.0+rocm6.4", again.stderr
    # Without mlstack: the activation script written into DIR for its new path.
    sh = subprocess.run(["sh", "-c", f'. "{target}/bin/activate" && python -c "{IMPORT_TORCH}"'],
                        capture_output=True, text=True, check=False)
    assert sh.returncode == 0, sh.stderr
    assert sh.stdout.split()[0] == "2.8.0+rocm6.4"
    # MIOpen's caches follow the new home, not the packing node's.
    info = json.loads(cli("env", "info", "demo", "--json", env=node).stdout)
    miopen = info["fingerprint"]["variables"]["MIOPEN_USER_DB_PATH"]
    assert miopen.startswith(node["MLSTACK_HOME"])
    assert info["fingerprint"]["source"] == f"unpacked from {archive}"


def test_unpack_again_same_dir_is_a_no_op_and_other_dir_is_refused(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    _created(cli, tmp_path)
    archive = tmp_path / "demo.tar.gz"
    assert cli("env", "pack", "demo", "-o", str(archive)).returncode == 0
    node = {"MLSTACK_HOME": str(tmp_path / "shared-home")}
    first = cli("env", "unpack", str(archive), str(tmp_path / "n1" / "demo"), "--json", env=node)
    assert first.returncode == 0, first.stderr
    # Another node of the job, same node-local path, same shared home: nothing changes.
    shutil.rmtree(tmp_path / "n1" / "demo")
    again = cli("env", "unpack", str(archive), str(tmp_path / "n1" / "demo"), "--json", env=node)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["registered"] is False
    assert json.loads(again.stdout)["generation"] == 1
    other = cli("env", "unpack", str(archive), str(tmp_path / "elsewhere"), env=node)
    assert other.returncode == 1
    assert "an env named 'demo' exists already" in other.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_verify_of_an_unpacked_env_says_unpack_again(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    _created(cli, tmp_path)
    archive = tmp_path / "demo.tar.gz"
    assert cli("env", "pack", "demo", "-o", str(archive)).returncode == 0
    node = _index_down(tmp_path)
    target = tmp_path / "node-local" / "demo"
    assert cli("env", "unpack", str(archive), str(target), env=node).returncode == 0
    edited = next(target.glob("venv/lib/python3.*/site-packages/torch/version.py"))
    edited.write_text("hip = None  # edited\n")
    bad = cli("env", "verify", "demo", env=node)
    assert bad.returncode == 1
    hint = bad.stderr.splitlines()[1]
    assert hint == (f"hint: unpack the archive again: `mlstack env remove demo`, delete "
                    f"{target}, then `mlstack env unpack {archive} {target} --name demo`")
    assert "--reinstall" not in bad.stderr
    # Following it, with the index still down, gives the env back.
    remove, unpack = hint.split("`")[1], hint.split("`")[3]
    assert cli(*remove.split()[1:], env=node).returncode == 0
    shutil.rmtree(target)
    again = cli(*unpack.split()[1:], env=node)
    assert again.returncode == 0, again.stderr
    assert cli("env", "verify", "demo", env=node).returncode == 0


@SQUASHFS
def test_squashfs_image_holds_what_the_tar_holds(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    _created(cli, tmp_path)
    tgz, sqsh = tmp_path / "demo.tar.gz", tmp_path / "demo.squashfs"
    for archive in (tgz, sqsh):
        assert cli("env", "pack", "demo", "-o", str(archive)).returncode == 0
    with tarfile.open(tgz) as tar:
        in_tar = {m.name for m in tar.getmembers()}
    listing = subprocess.run(["unsquashfs", "-l", "-d", "", str(sqsh)], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    in_image = {line.lstrip("/") for line in listing if line.startswith("/")}
    assert in_image == in_tar | {"venv"}  # tar names only what is inside it
    assert {"mlstack-pack.json", "lock.toml", "fingerprint.json"} <= in_image
    assert not any(n.endswith("bin/python") for n in in_image)  # relinked at unpack
    assert sorted(p.name for p in tmp_path.iterdir() if "stage" in p.name) == []


def test_squashfs_without_squashfs_tools_is_one_clear_error(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack_env.store.pack import pack_env

    fake_machine("7900xtx")
    _created(cli, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(MlstackError) as err:
        pack_env("demo", out / "demo.sqsh")
    assert err.value.message == "packing demo.sqsh needs mksquashfs, and it is not on PATH"
    assert "apt-get install squashfs-tools" in (err.value.hint or "")
    assert ".tar.zst" in (err.value.hint or "")
    assert list(out.iterdir()) == []  # no image, no staging tree
    image = tmp_path / "made-elsewhere.sqsh"
    image.write_bytes(b"hsqs")  # unsquashfs is asked for before the bytes are read
    with pytest.raises(MlstackError) as err:
        unpack_env(image, tmp_path / "node" / "demo")
    assert err.value.message == ("unpacking made-elsewhere.sqsh needs unsquashfs, and it is "
                                 "not on PATH")
    assert not (tmp_path / "node" / "demo").exists()


def test_missing_python_is_named_and_nothing_is_left(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine("7900xtx")
    _created(cli, tmp_path)
    archive = tmp_path / "demo.tar.zst"
    assert cli("env", "pack", "demo", "-o", str(archive)).returncode == 0
    monkeypatch.setenv("MLSTACK_HOME", str(tmp_path / "node-home"))

    def no_python(version: str) -> Path:
        raise TargetError(f"Python {version} is not installed")  # as uv.find_python does

    target = tmp_path / "node" / "demo"
    with pytest.raises(TargetError) as err:
        unpack_env(archive, target, find_python=no_python)
    assert err.value.message.startswith("env demo needs Python 3.12 (packed with 3.12.")
    assert err.value.message.endswith("), and this node has none")
    assert "install Python 3.12" in (err.value.hint or "")
    # Nothing is left, not even the parent folder unpack made for it.
    assert not target.exists() and not (tmp_path / "node").exists()
    assert not (tmp_path / "node-home" / "envs" / "demo").exists()

    def broken(version: str) -> Path:
        raise InternalError(f"no candidates for {version}")

    # Only a missing Python is reworded: a bug in finding one is not "this node has none"
    # (exit 1) but reported as the bug it is (exit 2), and still leaves nothing.
    with pytest.raises(InternalError) as bug:
        unpack_env(archive, target, find_python=broken)
    assert (bug.value.message, bug.value.exit_code) == ("no candidates for 3.12", 2)
    assert not target.exists() and not (tmp_path / "node").exists()


def test_archive_member_leaving_dir_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    bad = work / "evil.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = 0
        tar.addfile(info)
        link = tarfile.TarInfo("venv/escape")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(MlstackError) as err:
        unpack_env(bad, work / "out")
    assert "refusing archive member 'venv/escape'" in err.value.message
    assert [p.name for p in work.iterdir()] == ["evil.tar.gz"]


def test_pack_needs_a_known_archive_name(mirrored: WheelIndex,
                                         fake_machine: Callable[[str], Path],
                                         tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    _created(cli, tmp_path)
    r = cli("env", "pack", "demo", "-o", str(tmp_path / "demo.zip"))
    assert r.returncode == 1
    assert "unknown archive type" in r.stderr and "NAME.tar.zst" in r.stderr
    assert not (tmp_path / "demo.zip").exists()
