"""Issue 9's done-when, end to end: ROCm as wheels locked, built and run on a machine with
an RX 7900 XTX and no ROCm installed, from the loopback indexes (tests/rocmwheels.py)."""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import paths
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
FakeMachine = Callable[[str], Path]

AMD_714 = "https://repo.amd.com/rocm/whl-multi-arch/"


def _entry(lock: Path, target: str) -> dict:  # type: ignore[type-arg]
    data = tomllib.loads(lock.read_text())
    [entry] = [e for e in data["entry"] if e["target"] == target]
    return entry


def test_lock_rocm714_holds_rocm_itself(mirrored: WheelIndex, tmp_path: Path, cli: Cli,
                                        fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-no-rocm")
    write_project(tmp_path, profiles={"ml": ["torch", "torchvision", "numpy"]},
                  extra="")
    r = cli("lock", "ml", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    entry = _entry(tmp_path / "mlstack.lock", "rocm7.14:gfx1100")
    pkgs = {p["name"]: p for p in entry["package"]}
    assert pkgs["torch"]["version"] == "2.14.0+rocm7.14"
    # torch and torchvision are split like TheRock splits them: a host wheel and this
    # GPU's kernels (amd-torch-device-*, amd-torchvision-device-*), nothing for gfx942.
    for name in ("torch", "amd-torch-device-gfx1100", "rocm-sdk-core", "rocm-sdk-libraries",
                 "rocm-sdk-device-gfx1100", "torchvision", "amd-torchvision-device-gfx1100",
                 "triton"):
        assert pkgs[name]["index"] == AMD_714, name
    assert pkgs["amd-torchvision-device-gfx1100"]["version"] == pkgs["torchvision"]["version"]
    assert {pkgs[n]["version"] for n in pkgs if n.startswith("rocm-sdk-")} == {"7.14.0"}
    # The selector, pinned as its sdist beside the wheels (same index, same version): its
    # rocm_sdk is what torch imports; mlstack unpacks it, never builds it.
    selector = pkgs["rocm"]
    assert selector["version"] == "7.14.0" and selector["index"] == AMD_714
    assert "wheels" not in selector
    assert selector["sdist"] == {"url": AMD_714 + "rocm-7.14.0.tar.gz",
                                 "sha256": mirrored.sha256("rocm-7.14.0.tar.gz")}
    assert not [n for n in pkgs if n.startswith("nvidia-")]
    assert not [p for p in pkgs.values() if p["version"] in ("0.0.1.dev0", "0.1.0")]
    assert not [n for n in pkgs if n.startswith("amd-") and n.endswith("gfx942")]


def test_done_when(mirrored: WheelIndex, tmp_path: Path, cli: Cli,
                   fake_machine: FakeMachine) -> None:
    """Issue 9's done-when: lock, create, run, system check on a 7900 XTX without ROCm."""
    import shutil

    root = fake_machine("7900xtx-no-rocm")
    assert not (root / "opt").exists()  # no ROCm user space at all
    write_project(tmp_path, profiles={"ml": ["torch", "numpy"]})
    r = cli("lock", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pkgs = {p["name"]: p for p in
            _entry(tmp_path / "mlstack.lock", "rocm7.14:gfx1100")["package"]}
    assert pkgs["torch"]["version"] == "2.14.0+rocm7.14"
    assert {"amd-torch-device-gfx1100", "rocm-sdk-core", "rocm-sdk-libraries",
            "rocm-sdk-device-gfx1100"} <= set(pkgs)
    locked = (tmp_path / "mlstack.lock").read_text()
    # detect proposes rocm10.0 here; any ROCm-as-wheels entry fits a machine without ROCm,
    # so the project's pinned 7.14 entry is used as locked, nothing re-resolved.
    r = cli("env", "create", "ml", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["target"] == "rocm7.14:gfx1100"
    assert (tmp_path / "mlstack.lock").read_text() == locked
    r = cli("env", "run", "ml", "--", "sh", "-c", 'echo "$ROCM_PATH"; command -v hipcc; '
            "hipcc --version; amd-smi version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rocm_path, hipcc, hip_version, installed_dir, smi = r.stdout.splitlines()
    r = cli("env", "run", "ml", "--", "python", "-c", "import torch", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # torch's _rocm_init found rocm_sdk
    assert installed_dir == f"InstalledDir: {rocm_path}/lib/llvm/bin"
    store = paths.store_dir()
    assert rocm_path.startswith(str(store) + "/")
    assert rocm_path.endswith("/site-packages/_rocm_sdk_core")
    assert hipcc.startswith(str(paths.home()))  # the env's trampoline, first on PATH
    assert hip_version.startswith("HIP version: 7.14.0")
    assert smi.endswith("ROCm version: 7.14.0")
    if shutil.which("dpkg-query") is None:
        pytest.skip("system check needs dpkg (the fake machine is Ubuntu)")
    r = cli("system", "check", "--env", "ml", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["packages"] == [] and data["missing"] == []
    assert data["rocm_in_env"] == "7.14.0"


def test_import_torch_needs_the_selectors_rocm_sdk(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli, fake_machine: FakeMachine) -> None:
    """torch's _rocm_init imports rocm_sdk, which only the selector sdist ships: the env
    holds it, unpacked from the locked sdist with a RECORD `env verify` checks."""
    fake_machine("7900xtx-no-rocm")
    write_project(tmp_path, profiles={"ml": ["torch"]})
    r = cli("env", "create", "ml", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("env", "run", "ml", "--", "python", "-c",
            "import torch, rocm_sdk; print(torch.__version__); print(rocm_sdk.__file__); "
            "print(sorted(rocm_sdk.PRELOADED))", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    version, module, preloaded = r.stdout.splitlines()
    assert version == "2.14.0+rocm7.14"
    assert module.endswith("/site-packages/rocm_sdk/__init__.py")
    assert str(Path(module).resolve()).startswith(str(paths.store_dir()) + "/")
    assert preloaded == "['hipblas']"  # torch's _rocm_init ran against the env's ROCm
    r = cli("env", "run", "ml", "--", "rocm-sdk", "version", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "7.14.0\n"), r.stderr
    # Without rocm-sdk-devel, `rocm-sdk path --root` fails as TheRock's does (it needs
    # rocm[devel]); the env's ROCm root is then core's tree, where the tools run from.
    r = cli("env", "run", "ml", "--", "rocm-sdk", "path", "--root", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("ERROR: Could not load the `rocm[devel]` package")
    r = cli("env", "run", "ml", "--", "sh", "-c", 'echo "$ROCM_HOME"', cwd=tmp_path)
    assert r.stdout.strip().endswith("/site-packages/_rocm_sdk_core"), r.stderr
    site = Path(module).resolve().parent.parent
    dist_info = site / "rocm-7.14.0.dist-info"
    assert (dist_info / "INSTALLER").read_text() == "mlstack\n"
    record = (dist_info / "RECORD").read_text()
    assert "rocm_sdk/__main__.py,sha256=" in record and "../../../bin/rocm-sdk,sha256=" in record
    assert not (site / "setup.py").exists() and not (site / "src").exists()  # never built
    assert cli("env", "verify", "ml").returncode == 0
    init = site / "rocm_sdk" / "__init__.py"
    init.chmod(0o644)
    init.write_text(init.read_text() + "# changed\n")
    r = cli("env", "verify", "ml")
    assert r.returncode == 1
    assert "rocm_sdk/__init__.py was changed" in r.stdout + r.stderr


def test_lock_refuses_a_placeholder_from_pypi(mirrored: WheelIndex, tmp_path: Path,
                                              cli: Cli) -> None:
    # A bundled-ROCm target: its PyTorch index has no amd-torchvision-device-gfx1100 (only
    # ROCm-as-wheels releases do); PyPI has its empty placeholder.
    write_project(tmp_path, profiles={"ml": ["torch", "amd-torchvision-device-gfx1100"]})
    r = cli("lock", "--target", "rocm6.4:gfx1100", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout == ""
    [message, hint] = r.stderr.strip().splitlines()
    assert message == ("error: resolving ml@rocm6.4:gfx1100@py3.12 took placeholders of AMD's "
                       "ROCm wheels: amd-torchvision-device-gfx1100 0.0.1.dev0 from "
                       "https://pypi.org/simple")
    assert "placeholders" in hint
    assert not (tmp_path / "mlstack.lock").exists()


def test_env_info_and_doctor_say_which_rocm_and_how_big(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-no-rocm")
    write_project(tmp_path, profiles={"ml": ["torch"]})
    r = cli("env", "create", "ml", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = json.loads(cli("env", "info", "ml", "--json").stdout)
    assert info["rocm"]["from"] == "env" and info["rocm"]["version"] == "7.14.0"
    assert info["rocm"]["path"].startswith(str(paths.store_dir()))
    assert info["size"]["size"] > 0 and info["size"]["shared"] > 0
    assert "  rocm      7.14.0 (inside the env: rocm-sdk-* wheels)" in r.stdout.splitlines()
    human = cli("env", "info", "ml").stdout
    assert "7.14.0 inside the env (rocm-sdk-* wheels)" in human
    assert "hardlinked from uv's cache" in human
    doctor = json.loads(cli("doctor", "--env", "ml", "--json").stdout)["findings"]
    [env_rocm] = [f for f in doctor if f["check"] == "env-rocm"]
    assert env_rocm["message"].startswith("env ml uses its own ROCm 7.14.0 (rocm-sdk-* wheels)")
    [rocm] = [f for f in doctor if f["check"] == "rocm"]
    assert rocm["status"] == "ok" and "nor needed: the entry holds ROCm 7.14.0" in rocm["message"]


def test_cross_target_lock_rocm10_from_a_machine_without_gpu(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    # conftest's default machine has no GPU and no ROCm.
    write_project(tmp_path, profiles={"ml": ["torch", "torchvision", "torchaudio"]})
    r = cli("lock", "--target", "rocm10.0:gfx942,gfx90a", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    entry = _entry(tmp_path / "mlstack.lock", "rocm10.0:gfx90a,gfx942")
    pkgs = {p["name"]: p["version"] for p in entry["package"]}
    assert {n: v for n, v in pkgs.items() if n.startswith(("rocm-sdk-", "amd-torch-"))} == {
        "rocm-sdk-core": "10.0.0", "rocm-sdk-libraries": "10.0.0",
        "rocm-sdk-device-gfx90a": "10.0.0", "rocm-sdk-device-gfx942": "10.0.0",
        "amd-torch-device-gfx90a": "2.13.0+rocm10.0.0",
        "amd-torch-device-gfx942": "2.13.0+rocm10.0.0",
    }
    # torch, torchvision, torchaudio from one ROCm build
    assert {v.split("+")[1] for n, v in pkgs.items()
            if n in ("torch", "torchvision", "torchaudio")} == {"rocm10.0.0"}
    assert entry["env"] == {"PYTORCH_ROCM_ARCH": "gfx90a;gfx942"}


def test_devel_entry_is_initialized_in_the_store_and_verifies(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-no-rocm")
    # rocm[devel] names the selector; mlstack locks the wheel it stands for.
    write_project(tmp_path, profiles={"dev": ["torch", "rocm[devel]"]})
    r = cli("env", "create", "dev", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pkgs = {p["name"] for p in _entry(tmp_path / "mlstack.lock", "rocm7.14:gfx1100")["package"]}
    assert {"rocm-sdk-devel", "rocm"} <= pkgs
    r = cli("env", "run", "dev", "--", "sh", "-c",
            'ls "$ROCM_PATH/../_rocm_sdk_devel/lib/rocblas/library"')
    assert r.stdout.split() == ["TensileLibrary_gfx1100.dat"]
    r = cli("env", "verify", "dev")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_bundled_target_naming_the_selector_gets_pypis_placeholder_refused(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    # rocm6.4's PyTorch index has no `rocm`; PyPI's old rocm 0.1.0 would be taken.
    write_project(tmp_path, profiles={"ml": ["torch", "rocm[libraries]"]})
    r = cli("lock", "--target", "rocm6.4:gfx1100", cwd=tmp_path)
    assert r.returncode == 1
    assert "rocm 0.1.0 from https://pypi.org/simple" in r.stderr
    assert "lock a rocm7.14/rocm10.0 target" in r.stderr


def test_uv_saying_no_usable_wheels_is_classified() -> None:
    from mlstack_env.uv import UvFailure, classify

    reason = ("Because rocm[libraries]==7.14.0 has no usable wheels and all versions of torch "
              "depend on rocm[libraries]==7.14.0, we can conclude that all versions of torch "
              "cannot be used.")
    assert classify(reason) is UvFailure.SDIST_ONLY


def test_a_profile_that_sets_rocm_path_keeps_the_system_rocm(
        fake_machine: FakeMachine) -> None:
    from mlstack_env.catalog.target import Target
    from mlstack_env.hardware import detect
    from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel
    from mlstack_env.store.variables import env_variables

    fake_machine("7900xtx")  # ROCm 6.4 installed at /opt/rocm
    core = LockedPackage("rocm-sdk-core", "7.14.0", AMD_714,
                         (Wheel(AMD_714 + "rocm_sdk_core.whl", "0" * 64),))
    target = Target.parse("rocm7.14:gfx1100")
    own = LockEntry("ml", target, "3.12", "x86_64-manylinux_2_28", (core,))
    v = env_variables(own, detect(), Path("/store/k")).variables
    root = "/store/k/lib/python3.12/site-packages/_rocm_sdk_core"
    assert (v["ROCM_PATH"], v["ROCM_HOME"], v["HIP_PATH"]) == (root, root, root)
    system = LockEntry("ml", target, "3.12", "x86_64-manylinux_2_28", (core,),
                       env={"ROCM_PATH": "/opt/rocm"})
    v = env_variables(system, detect(), Path("/store/k")).variables
    assert v["ROCM_PATH"] == "/opt/rocm" and "ROCM_HOME" not in v and "HIP_PATH" not in v


def test_no_project_no_rocm_the_proposed_release_just_works(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-no-rocm")
    r = cli("env", "create", "minimal", "--python", "3.12", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["target"] == "rocm10.0:gfx1100"  # detect's proposal
    assert data["variables"]["ROCM_PATH"].startswith(str(paths.store_dir()))
    r = cli("env", "run", "minimal", "--", "amd-smi", "version")
    assert r.stdout.strip().endswith("ROCm version: 10.0.0")


def test_export_of_a_wheels_entry_carries_rocm_in_the_image() -> None:
    from mlstack_env.catalog.target import Target
    from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel
    from tests.envfixtures import catalog_recipe

    def pkg(name: str) -> LockedPackage:
        return LockedPackage(name, "7.14.0", AMD_714, (Wheel(f"{AMD_714}{name}.whl", "0" * 64),))

    target = Target.parse("rocm7.14:gfx1100")
    entry = LockEntry("ml", target, "3.12", "x86_64-manylinux_2_28",
                      (pkg("rocm-sdk-core"), pkg("rocm-sdk-libraries")))
    recipe = catalog_recipe("docker", entry, name="ml")
    root = "/opt/mlstack/venv/lib/python3.12/site-packages/_rocm_sdk_core"
    assert recipe.base == "ubuntu:24.04"  # no ROCm image: the venv holds ROCm
    assert f"ENV ROCM_PATH={root}" in recipe.text.splitlines()
    assert "rocm-sdk init" not in recipe.text
    devel = LockEntry("ml", target, "3.12", "x86_64-manylinux_2_28",
                      (pkg("rocm-sdk-core"), pkg("rocm-sdk-devel")))
    assert "/opt/mlstack/venv/bin/rocm-sdk init --quiet" in catalog_recipe(
        "apptainer", devel, name="ml").text


def test_unpacked_elsewhere_rocm_path_follows_the_venv(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-no-rocm")
    write_project(tmp_path, profiles={"ml": ["torch"]})
    assert cli("env", "create", "ml", "--target", "rocm7.14:gfx1100",
               cwd=tmp_path).returncode == 0
    archive = tmp_path / "ml.tar.gz"
    r = cli("env", "pack", "ml", "-o", str(archive))
    assert r.returncode == 0, r.stderr
    node = {"MLSTACK_HOME": str(tmp_path / "node-home")}
    target = tmp_path / "node-local" / "ml"
    r = cli("env", "unpack", str(archive), str(target), env=node)
    assert r.returncode == 0, r.stderr
    r = cli("env", "run", "ml", "--", "sh", "-c", 'echo "$ROCM_PATH"; hipcc --version',
            env=node)
    assert r.returncode == 0, r.stderr
    rocm_path, hip = r.stdout.splitlines()[:2]
    assert rocm_path == str(target / "venv/lib/python3.12/site-packages/_rocm_sdk_core")
    assert hip.startswith("HIP version: 7.14.0")


MIRROR_SOURCES = """
[sources.amd-rocm-wheels]
enabled = false

[sources.pytorch-rocm-wheels]
enabled = true
"""


def test_pytorchs_mirror_is_refused_for_one_gpu_and_locks_device_all(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli, fake_machine: FakeMachine) -> None:
    """PyTorch's mirror copies only rocm and rocm-sdk-*; its torch is PyTorch's own, which
    requires rocm[libraries,device-all] and has no device extras (pytorch#191688)."""
    fake_machine("7900xtx-no-rocm")
    mirror = "https://download.pytorch.org/whl/test/rocm7.14"
    write_project(tmp_path, profiles={"ml": ["torch", "torchvision"]}, extra=MIRROR_SOURCES)
    r = cli("lock", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 1
    [message, hint] = r.stderr.strip().splitlines()
    assert message == (
        f"error: resolving ml@rocm7.14:gfx1100@py3.12: torch 2.14.0+rocm7.14 from {mirror} is "
        "PyTorch's own build: it has no per-GPU kernel wheels and requires "
        "rocm[libraries,device-all], every GPU's ROCm kernels (about 10 GB to download, "
        "19 GB installed), where this lock is for gfx1100")
    assert hint.startswith("hint: take torch from AMD's index, which splits it per GPU")
    assert not (tmp_path / "mlstack.lock").exists()
    # Asked for by name: every GPU's kernels from the mirror, and the lock says the size.
    write_project(tmp_path, profiles={"ml": ["torch[device-all]", "torchvision"]},
                  extra=MIRROR_SOURCES)
    r = cli("lock", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    entry = _entry(tmp_path / "mlstack.lock", "rocm7.14:gfx1100")
    pkgs = {p["name"]: p for p in entry["package"]}
    assert pkgs["torch"]["index"] == mirror and pkgs["rocm-sdk-core"]["index"] == mirror
    devices = [n for n in pkgs if n.startswith("rocm-sdk-device-")]
    assert len(devices) == 24
    assert not [n for n in pkgs if n.startswith("amd-")]
    assert ("every GPU's ROCm kernels (24 rocm-sdk-device-* wheels, device-all): about 10 GB "
            "to download, 19 GB installed") in entry["notes"]


def test_done_when_devel_root_and_verify(mirrored: WheelIndex, tmp_path: Path, cli: Cli,
                                         fake_machine: FakeMachine) -> None:
    """Issue 20's done-when on a 7900 XTX without ROCm: torch and torchvision with their
    gfx1100 kernels; with rocm-sdk-devel, ROCM_HOME is the devel root `rocm-sdk path --root`
    answers, and `env verify` passes after the stand-in's TheRock-faithful init (tarball
    expanded, then deleted; RECORD rows appended)."""
    import csv

    fake_machine("7900xtx-no-rocm")
    write_project(tmp_path, profiles={"ml": ["torch", "torchvision", "rocm-sdk-devel"]})
    r = cli("env", "create", "ml", "--target", "rocm7.14:gfx1100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pkgs = {p["name"]: p for p in
            _entry(tmp_path / "mlstack.lock", "rocm7.14:gfx1100")["package"]}
    assert {"amd-torch-device-gfx1100", "amd-torchvision-device-gfx1100"} <= set(pkgs)
    assert pkgs["rocm-sdk-devel"]["version"] == "7.14.0"
    r = cli("env", "run", "ml", "--", "sh", "-c",
            'echo "$ROCM_HOME"; echo "$ROCM_PATH"; echo "$HIP_PATH"; rocm-sdk path --root; '
            "hipcc --version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    home, path, hip, answer, _version, installed_dir = r.stdout.splitlines()
    assert home.endswith("/site-packages/_rocm_sdk_devel") and home == path == hip == answer
    assert home.startswith(str(paths.store_dir()) + "/")
    assert installed_dir == f"InstalledDir: {home}/lib/llvm/bin"  # hipcc runs from devel
    devel = Path(home)
    site = devel.parent
    assert (devel / "include" / "hipblas" / "hipblas.h").is_file()  # core has no hipBLAS
    assert not (site / "rocm_sdk_devel" / "_devel.tar").exists()  # init deleted it
    [dist_info] = site.glob("rocm_sdk_devel-*.dist-info")
    rows = {row[0]: row[1:] for row in csv.reader(
        (dist_info / "RECORD").read_text().splitlines())}
    assert rows["rocm_sdk_devel/_devel.tar"][0].startswith("sha256=")  # still listed
    assert rows["_rocm_sdk_devel/include/hipblas/hipblas.h"] == ["", ""]  # appended
    assert rows["_rocm_sdk_devel/bin/hipcc"] == ["", ""]
    assert (devel / "bin" / "hipcc").samefile(site / "_rocm_sdk_core" / "bin" / "hipcc")
    # The device wheel's kernels are linked into the devel tree, recorded in its RECORD.
    kernels = "lib/rocblas/library/TensileLibrary_gfx1100.dat"
    assert (devel / kernels).samefile(site / "_rocm_sdk_libraries" / kernels)
    [device_info] = site.glob("rocm_sdk_device_gfx1100-*.dist-info")
    assert f"_rocm_sdk_devel/{kernels},," in (device_info / "RECORD").read_text()
    r = cli("env", "verify", "ml")
    assert r.returncode == 0, r.stdout + r.stderr
    # init again (as hipcc's first run or a user would): nothing left to do, nothing changes.
    r = cli("env", "run", "ml", "--", "rocm-sdk", "init", cwd=tmp_path)
    assert r.stdout == f"Devel contents expanded to '{home}'\n", r.stderr
    assert cli("env", "verify", "ml").returncode == 0
    # A changed expanded file is caught, and the hint's --reinstall repairs the env.
    header = devel / "include" / "hipblas" / "hipblas.h"
    header.chmod(0o644)
    header.write_text("/* changed */\n")
    r = cli("env", "verify", "ml")
    assert r.returncode == 1
    assert "_rocm_sdk_devel/include/hipblas/hipblas.h was changed" in r.stdout
    hint = r.stderr.strip().splitlines()[-1]
    command = hint.split("`")[1]
    assert command.startswith("mlstack env create") and command.endswith("--reinstall")
    import shlex

    r = cli(*shlex.split(command)[1:], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("env", "verify", "ml")
    assert r.returncode == 0, r.stdout + r.stderr
    # Packed and unpacked elsewhere, the env's ROCm root moves with it (recorded relative).
    archive, moved = tmp_path / "ml.tar.gz", tmp_path / "elsewhere"
    assert cli("env", "pack", "ml", "-o", str(archive)).returncode == 0
    r = cli("env", "unpack", str(archive), str(moved), "--name", "ml2")
    assert r.returncode == 0, r.stderr
    r = cli("env", "run", "ml2", "--", "sh", "-c", 'echo "$ROCM_HOME"; rocm-sdk path --root')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(moved / "venv/lib/python3.12/site-packages"
                                         / "_rocm_sdk_devel")] * 2
    assert cli("env", "verify", "ml2").returncode == 0
