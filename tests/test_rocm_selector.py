"""ROCm's `rocm` selector in the lock: pinned as its sdist, unpacked (never built) at env
create, in a bundle, and in a container recipe (mlstack_env/rocmwheels/rocmselector.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.lockfile import Lock as LockFile
from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel, dumps, loads, to_pylock
from tests.rocmwheels import ROCM_714_GFX, selector
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
AMD_714 = "https://repo.amd.com/rocm/whl-multi-arch/"
T714 = Target.parse("rocm7.14:gfx1100")
SDIST = selector("7.14.0", ROCM_714_GFX).build()
SHA = hashlib.sha256(SDIST).hexdigest()


def _entry(sha: str = SHA) -> LockEntry:
    core = LockedPackage("rocm-sdk-core", "7.14.0", AMD_714,
                         (Wheel(AMD_714 + "rocm_sdk_core-7.14.0-py3-none-any.whl", "1" * 64),))
    sel = LockedPackage("rocm", "7.14.0", AMD_714, (),
                        sdist=Wheel(AMD_714 + "rocm-7.14.0.tar.gz", sha, len(SDIST)))
    return LockEntry("ml", T714, "3.12", "x86_64-manylinux_2_28", (sel, core))


def test_the_lock_holds_the_selector_as_an_sdist_and_pylock_leaves_it_out() -> None:
    text = dumps(LockFile((_entry(),), "0.1.0", "0.13.9"))
    assert (f'sdist = {{ url = "{AMD_714}rocm-7.14.0.tar.gz", sha256 = "{SHA}", '
            f"size = {len(SDIST)} }}") in text
    again = loads(text)
    assert again.entries[0] == _entry()
    assert dumps(again) == text  # deterministic
    pylock = to_pylock(_entry())
    assert 'name = "rocm-sdk-core"' in pylock and 'name = "rocm"' not in pylock


A64 = "a" * 64


@pytest.mark.parametrize("package, body", [
    ("torch", f'sdist = {{ url = "https://x/torch-1.tar.gz", sha256 = "{A64}" }}'),
    ("rocm", f'sdist = {{ url = "https://x/rocm-1.zip", sha256 = "{A64}" }}'),
    ("rocm", f'sdist = {{ url = "https://x/rocm-1.tar.gz", sha256 = "{A64}" }}\n'
             f'wheels = [{{ url = "https://x/rocm-1-py3-none-any.whl", sha256 = "{A64}" }}]'),
])
def test_only_the_selector_may_be_an_sdist(package: str, body: str) -> None:
    text = (f'version = 1\n[[entry]]\nprofile = "ml"\ntarget = "rocm7.14:gfx1100"\n'
            f'python = "3.12"\nplatform = "x86_64-manylinux_2_28"\ninputs-hash = ""\n'
            f'[[entry.package]]\nname = "{package}"\nversion = "1"\n{body}\n')
    with pytest.raises(MlstackError) as err:
        loads(text, "mlstack.lock")
    assert f"package {package}" in err.value.message


def test_a_relock_keeps_the_selector_and_offline_needs_it() -> None:
    from mlstack_env.fetch.config import UserConfig
    from mlstack_env.rocmwheels.rocmselector import locate

    kept = locate(AMD_714, "7.14.0", UserConfig(), offline=True, previous=_entry(),
                  key="ml@rocm7.14:gfx1100@py3.12")
    assert kept == _entry().package("rocm")
    with pytest.raises(MlstackError) as err:  # another version: the page must be read
        locate(AMD_714, "7.14.1", UserConfig(), offline=True, previous=_entry(),
               key="ml@rocm7.14:gfx1100@py3.12")
    assert "--offline reads no index page" in err.value.message


def test_the_selector_is_read_from_the_index_page(tmp_path: Path) -> None:
    from mlstack_env.fetch.config import UserConfig
    from mlstack_env.rocmwheels.rocmselector import locate

    page = tmp_path / "rocm" / "index.html"
    page.parent.mkdir()
    page.write_text(f'<a href="../rocm-7.14.0.tar.gz#sha256={SHA}">rocm-7.14.0.tar.gz</a>\n'
                    f'<a href="../rocm-7.14.1.tar.gz#sha256={A64}">rocm-7.14.1.tar.gz</a>\n')
    mirror = UserConfig(mirrors={AMD_714: tmp_path.as_uri() + "/"})
    found = locate(AMD_714, "7.14.0", mirror, offline=False, previous=None, key="k")
    # Canonical URLs in the lock, whatever mirror served the page.
    assert found.sdist == Wheel(AMD_714 + "rocm-7.14.0.tar.gz", SHA)
    with pytest.raises(MlstackError) as err:
        locate(AMD_714, "7.14.2", mirror, offline=False, previous=None, key="k")
    assert f"{AMD_714}rocm/ has no rocm-7.14.2.tar.gz" in err.value.message


def _tarball(*members: tuple[str, str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return buf.getvalue()


def test_only_the_rocm_sdk_package_is_taken_from_the_tarball() -> None:
    from mlstack_env.rocmwheels.rocmselector import package_files

    files = package_files(SDIST, "rocm-7.14.0.tar.gz")
    assert sorted(files) == ["rocm_sdk/__init__.py", "rocm_sdk/__main__.py",
                             "rocm_sdk/_dist_info.py"]  # no setup.py, no PKG-INFO
    assert files["rocm_sdk/_dist_info.py"] == b'__version__ = "7.14.0"\n'


@pytest.mark.parametrize("member", [
    ("rocm-7.14.0/src/rocm_sdk/evil.py", "symlink", b""),
    ("rocm-7.14.0/src/rocm_sdk/../../../x.py", "file", b"x"),
    ("/etc/rocm_sdk.py", "file", b"x"),
])
def test_links_and_paths_leaving_the_package_are_refused(member: tuple[str, str, bytes]) -> None:
    from mlstack_env.rocmwheels.rocmselector import package_files

    data = _tarball(("rocm-7.14.0/src/rocm_sdk/__init__.py", "file", b""), member)
    with pytest.raises(MlstackError) as err:
        package_files(data, "rocm-7.14.0.tar.gz")
    assert member[0] in err.value.message and "does not unpack" in err.value.message


def test_container_recipe_unpacks_the_selector_as_env_create_does(tmp_path: Path) -> None:
    """The recipe runs the very file env create's unpacking lives in (copied beside it),
    with the same METADATA: the image's selector is byte for byte a store entry's."""
    import shlex

    from mlstack_env.export.containers import write_recipe
    from mlstack_env.rocmwheels import rocmselector
    from tests.envfixtures import catalog_recipe

    entry = _entry()
    recipe = catalog_recipe("docker", entry, name="ml")
    assert f"{AMD_714}rocm-7.14.0.tar.gz {SHA} 7.14.0 /opt/mlstack/venv" in recipe.text
    assert "COPY selectorunpack.py /opt/mlstack/selectorunpack.py" in recipe.text
    assert 'name = "rocm"' not in recipe.lock_text  # uv never builds it
    write_recipe(recipe, tmp_path / "ctx" / "Dockerfile")
    script = tmp_path / "ctx" / "selectorunpack.py"
    line = next(w for w in recipe.text.splitlines() if "/selectorunpack.py https" in w)
    args = shlex.split(line.split("selectorunpack.py", 1)[1].rstrip("; \\"))
    # Run here against the stand-in sdist via a mirror, into a venv of this test's own.
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "rocm-7.14.0.tar.gz").write_bytes(SDIST)
    venv, site = tmp_path / "venv", tmp_path / "venv/lib/python3.12/site-packages"
    (venv / "bin").mkdir(parents=True)
    env = {**os.environ, "MLSTACK_MIRRORS": f"{AMD_714}={(tmp_path / 'mirror').as_uri()}/"}
    url, _, version, _, _, variable, meta = args

    def run(sha: str, where: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-I", str(script), url, sha, version,
                               str(where), str(where / "lib/python3.12/site-packages"),
                               variable, meta],
                              env=env, capture_output=True, text=True, check=False)

    bad = run("0" * 64, venv)
    assert bad.returncode == 1 and "does not match the lock" in bad.stderr
    assert not site.exists()
    ok = run(SHA, venv)
    assert ok.returncode == 0, ok.stderr
    assert (site / "rocm_sdk/__init__.py").is_file()
    assert not (site / "setup.py").exists()
    assert os.access(venv / "bin/rocm-sdk", os.X_OK)
    # What env create writes for the same entry and sdist: the same files and bytes.
    store_venv = tmp_path / "store-venv"
    store_site = store_venv / "lib/python3.12/site-packages"
    (store_venv / "bin").mkdir(parents=True)
    files = rocmselector.install(entry, store_venv, store_site, SDIST)
    for rel in files:
        if not rel.startswith(".."):
            assert (site / rel).read_bytes() == (store_site / rel).read_bytes(), rel
    assert (venv / "bin/rocm-sdk").read_bytes() == (store_venv / "bin/rocm-sdk").read_bytes()


def test_bundle_holds_the_selector_and_an_offline_create_uses_it(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli,
        fake_machine: Callable[[str], Path]) -> None:
    fake_machine("7900xtx-no-rocm")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm7.14:gfx1100"])
    assert cli("lock", cwd=tmp_path).returncode == 0
    out = tmp_path / "wheels"
    r = cli("bundle", "-o", str(out), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "rocm-7.14.0.tar.gz" in [w["filename"] for w in json.loads(r.stdout)["wheels"]]
    (out / "rocm-7.14.0.tar.gz").unlink()
    # on a machine whose download cache does not hold it (this one's does, since bundle)
    r = cli("env", "create", "ml", "--wheels", str(out), "--offline", cwd=tmp_path,
            env={"MLSTACK_HOME": str(tmp_path / "air-gapped")})
    assert r.returncode == 1
    assert "rocm-7.14.0.tar.gz" in r.stderr and "not in" in r.stderr
    assert cli("bundle", "-o", str(out), cwd=tmp_path).returncode == 0
    r = cli("env", "create", "ml", "--wheels", str(out), "--offline", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("env", "run", "ml", "--", "python", "-c", "import torch", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
