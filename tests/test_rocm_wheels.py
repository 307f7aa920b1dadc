"""ROCm as wheels (issue 9, ROCM-FACTS §4b): catalog, sources, detection, entry rules, and
the loopback multi-arch index the rest of the tests lock from."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import uv

from mlstack_env.catalog import (
    is_rocm_wheel_name,
    propose_wheels_release,
    torch_index_name,
    wheel_gfx,
    wheels_release,
)
from mlstack_env.catalog.sources import catalog, target_rocm_version
from mlstack_env.catalog.support import code_support
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.gpu.gpu_assessment import target_summary
from mlstack_env.hardware import detect
from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel
from mlstack_env.rocmwheels.rocmroot import needs_init
from mlstack_env.rocmwheels.rocmsdk import check_entry, sdk_request
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
FakeMachine = Callable[[str], Path]

AMD_714 = "https://repo.amd.com/rocm/whl-multi-arch/"
AMD_100 = "https://stable.repo.amd.com/rocm/whl-next/"
PYPI = "https://pypi.org/simple"

# --- catalog ---------------------------------------------------------------------------


@pytest.mark.parametrize(("rocm", "index", "url"), [
    ("7.14", "rocm7.14", AMD_714), ("7.14.0", "rocm7.14", AMD_714),
    ("10.0", "rocm10.0", AMD_100), ("10.0.0", "rocm10.0", AMD_100),
])
def test_wheels_releases_and_their_indexes(rocm: str, index: str, url: str) -> None:
    assert torch_index_name(rocm) == index
    release = wheels_release(rocm)
    assert release is not None
    assert release.index == url
    assert target_rocm_version(rocm) == index.removeprefix("rocm")


@pytest.mark.parametrize("rocm", ["6.4", "7.2", "7.1.1"])
def test_older_releases_bundle_rocm_in_torch(rocm: str) -> None:
    assert wheels_release(rocm) is None


def test_wheels_carry_gpus_the_bundled_builds_only_overrode() -> None:
    # One device wheel per gfx: gfx1031 (RX 6700 XT) and gfx1103 (780M) run natively.
    for gfx in ("gfx1031", "gfx1103", "gfx1151", "gfx1100", "gfx942", "gfx90a"):
        assert code_support(gfx, wheel_gfx("10.0") or frozenset()).kind.value == "native"
    assert "gfx1250" in (wheel_gfx("10.0") or ()) and "gfx1250" not in (wheel_gfx("7.14") or ())


def test_torch_rocm_pairing_has_the_corrected_rows() -> None:
    pairing = catalog().torch_rocm
    # TheRock builds torch 2.12-2.14 for ROCm 10.0 too (issue 20).
    assert pairing["2.14"] == ("rocm7.14", "rocm10.0")
    assert pairing["2.10"] == ("rocm7.0", "rocm7.1")
    assert pairing["2.9"] == ("rocm6.3", "rocm6.4")
    assert pairing["2.11"] == ("rocm7.2",)
    for minor in ("2.12", "2.13"):
        assert pairing[minor] == ("rocm7.2", "rocm10.0")
    # torch 2.7.0 was built for rocm6.2.4 too: the 2.7 row has it (no 2.7.1 row needed).
    assert "rocm6.0" in pairing["2.4.1"] and "rocm6.2.4" in pairing["2.7"]
    assert "2.14" in catalog().torch_builds("rocm7.14")
    assert catalog().torch_builds("rocm10.0") == ["2.12", "2.13", "2.14"]


@pytest.mark.parametrize(("name", "amd"), [
    ("rocm", True), ("rocm-sdk-core", True), ("rocm-sdk-device-gfx1100", True),
    ("amd-torch-device-gfx1100", True), ("amd-torchvision-device-gfx942", True),
    ("torch", False), ("rocm-smi", False), ("amdsmi", False),
])
def test_names_only_amd_may_provide(name: str, amd: bool) -> None:
    assert is_rocm_wheel_name(name) is amd


# --- sources ---------------------------------------------------------------------------


def test_sources_of_a_wheels_target_are_amds_index_then_pypi() -> None:
    sources = catalog().for_target(Target.parse("rocm7.14:gfx1100"))
    assert [(s.name, s.url) for s in sources] == [("amd-rocm-wheels", AMD_714), ("pypi", PYPI)]
    sources = catalog().for_target(Target.parse("rocm10.0:gfx942,gfx90a"))
    assert [s.url for s in sources] == [AMD_100, PYPI]


def test_pytorch_mirror_and_nightly_only_when_a_project_opts_in() -> None:
    cat = catalog().with_overrides(
        {"amd-rocm-wheels": {"enabled": False}, "pytorch-rocm-wheels": {"enabled": True},
         "amd-rocm-nightly": {"enabled": True}}, "mlstack.toml")
    urls = [s.url for s in cat.for_target(Target.parse("rocm7.14:gfx1100"))]
    assert urls == ["https://download.pytorch.org/whl/test/rocm7.14",
                    "https://nightly.repo.amd.com/rocm/whl-next/", PYPI]


def test_bundled_targets_keep_the_pytorch_index() -> None:
    urls = [s.url for s in catalog().for_target(Target.parse("rocm6.4:gfx1100"))]
    assert urls == ["https://download.pytorch.org/whl/rocm6.4", PYPI]


# --- detection without ROCm --------------------------------------------------------------


def test_detect_without_rocm_proposes_a_release_carrying_every_gpu(
        fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("mi300x-mi210-no-rocm"))
    assert str(m.target) == "rocm10.0:gfx90a,gfx942"
    assert "rocm10.0 (2026-08) is the newest release" in target_summary(m)


def test_no_release_carries_the_gpu_then_cpu_and_why() -> None:
    proposal = propose_wheels_release(["gfx900"])
    assert proposal.release is None
    assert "CPU builds" in proposal.reason and "gfx900" in proposal.reason


def test_detect_json_says_why(cli: Cli, fake_machine: FakeMachine) -> None:
    import json

    fake_machine("7900xtx-no-rocm")
    result = cli("detect", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["target"] == "rocm10.0:gfx1100"
    assert data["rocm"] is None
    assert data["summary"] == (
        "rocm10.0:gfx1100: no ROCm installed: rocm10.0 (2026-08) is the newest release whose "
        "wheels carry gfx1100; its envs hold ROCm itself as wheels and need only the amdgpu "
        "driver from the host")
    [gpu] = data["gpus"]
    assert (gpu["code"], gpu["official"]) == ("native", None)


# --- what a wheels entry resolves -------------------------------------------------------


def test_sdk_request_device_extras_for_exactly_the_target() -> None:
    req = sdk_request(Target.parse("rocm10.0:gfx942,gfx90a"), ["torch>=2.13", "numpy"])
    assert req is not None
    assert req.requirements == (
        "torch[device-gfx90a,device-gfx942]>=2.13", "numpy",
        "rocm-sdk-core==10.0.*", "rocm-sdk-device-gfx90a==10.0.*",
        "rocm-sdk-device-gfx942==10.0.*", "rocm-sdk-libraries==10.0.*",
    )
    assert req.overrides == ('rocm; sys_platform == "never"',)
    assert sdk_request(Target.parse("rocm6.4:gfx1100"), ["torch"]) is None


def test_sdk_request_adds_torchvisions_device_extras_too() -> None:
    req = sdk_request(Target.parse("rocm7.14:gfx1100"), ["torch", "torchvision==0.29.*",
                                                         "torchaudio"])
    assert req is not None
    assert req.requirements[:3] == ("torch[device-gfx1100]",
                                    "torchvision[device-gfx1100]==0.29.*", "torchaudio")
    req = sdk_request(Target.parse("rocm7.14:gfx1100"), ["torchvision[device-all]"])
    assert req is not None and req.requirements[0] == "torchvision[device-all]"
    assert len([r for r in req.requirements if r.startswith("rocm-sdk-device-")]) == 24


def test_sdk_request_pins_rocm_sdk_devel_named_bare_to_the_release() -> None:
    req = sdk_request(Target.parse("rocm7.14:gfx1100"), ["torch", "rocm-sdk-devel"])
    assert req is not None
    assert "rocm-sdk-devel==7.14.*" in req.requirements
    assert "rocm-sdk-devel" not in req.requirements


def test_sdk_request_turns_the_selector_into_its_wheels() -> None:
    req = sdk_request(Target.parse("rocm7.14:gfx1100"), ["rocm[devel,libraries]"])
    assert req is not None
    assert "rocm-sdk-devel==7.14.*" in req.requirements
    assert not any(r.startswith("rocm[") for r in req.requirements)
    with pytest.raises(MlstackError, match=r"unknown extra rocm\[gpu\]"):
        sdk_request(Target.parse("rocm7.14:gfx1100"), ["rocm[gpu]"])


def test_device_all_only_when_the_profile_names_it() -> None:
    req = sdk_request(Target.parse("rocm7.14:gfx1100"), ["torch[device-all]"])
    assert req is not None
    assert req.requirements[0] == "torch[device-all]"
    devices = [r for r in req.requirements if r.startswith("rocm-sdk-device-")]
    assert len(devices) == len(wheel_gfx("7.14") or ()) == 24
    assert "rocm-sdk-device-gfx1201==7.14.*" in devices


def _pkg(name: str, version: str, index: str = AMD_714) -> LockedPackage:
    return LockedPackage(name, version, index, (Wheel(f"{index}{name}.whl", "0" * 64, 1),))


_GOOD = [
    _pkg("torch", "2.14.0+rocm7.14"), _pkg("amd-torch-device-gfx1100", "2.14.0+rocm7.14"),
    _pkg("torchvision", "0.29.0+rocm7.14"),
    _pkg("amd-torchvision-device-gfx1100", "0.29.0+rocm7.14"), _pkg("rocm-sdk-core", "7.14.0"),
    _pkg("rocm-sdk-libraries", "7.14.0"), _pkg("rocm-sdk-device-gfx1100", "7.14.0"),
    _pkg("numpy", "2.3.2", PYPI),
]
T714 = Target.parse("rocm7.14:gfx1100")


def test_check_entry_accepts_one_build_from_amds_index() -> None:
    check_entry(T714, _GOOD, [AMD_714], "ml@rocm7.14:gfx1100@py3.12")


@pytest.mark.parametrize("bad", [
    _pkg("amd-torchvision-device-gfx1100", "0.0.1.dev0", PYPI),
    _pkg("rocm-sdk-core", "0.1.0", PYPI),
    _pkg("rocm-sdk-device-gfx1100", "7.14.0", PYPI),
])
def test_check_entry_refuses_placeholders_naming_them(bad: LockedPackage) -> None:
    packages = [p for p in _GOOD if p.name != bad.name] + [bad]
    with pytest.raises(MlstackError) as info:
        check_entry(T714, packages, [AMD_714], "ml@rocm7.14:gfx1100@py3.12")
    assert f"{bad.name} {bad.version} from {PYPI}" in info.value.message
    assert "placeholder" in info.value.hint


def test_a_bundled_rocm_entry_refuses_placeholders_too() -> None:
    with pytest.raises(MlstackError, match=r"rocm-sdk-core 0\.1\.0"):
        check_entry(Target.parse("rocm6.4:gfx1100"), [_pkg("rocm-sdk-core", "0.1.0", PYPI)],
                    [], "k")


@pytest.mark.parametrize(("swap", "match"), [
    (_pkg("rocm-sdk-libraries", "7.14.1"), "mixed ROCm builds: rocm-sdk-core 7.14.0"),
    (_pkg("torchvision", "0.29.0+rocm7.14.1"), "mixed ROCm builds of torch"),
])
def test_check_entry_refuses_two_builds(swap: LockedPackage, match: str) -> None:
    packages = [p for p in _GOOD if p.name != swap.name] + [swap]
    with pytest.raises(MlstackError, match=match):
        check_entry(T714, packages, [AMD_714], "k")


@pytest.mark.parametrize(("host", "device"), [
    ("torch", "amd-torch-device-gfx1100"), ("torchvision", "amd-torchvision-device-gfx1100")])
def test_check_entry_refuses_a_split_package_without_its_device_kernels(
        host: str, device: str) -> None:
    # TheRock splits torch and torchvision into host + per-GPU kernel wheels.
    packages = [p for p in _GOOD if p.name != device]
    with pytest.raises(MlstackError, match="hipErrorInvalidImage") as info:
        check_entry(T714, packages, [AMD_714], "k")
    assert info.value.message.startswith(f"resolving k: {host} ")
    assert info.value.hint == (f"name {host} in the profile's packages, so mlstack adds its "
                               "device extras")


MIRROR = "https://download.pytorch.org/whl/test/rocm7.14"


def test_check_entry_refuses_pytorchs_own_torch_for_some_gpus() -> None:
    packages = [_pkg(p.name, p.version, MIRROR) if p.name.startswith(("torch", "rocm-sdk-"))
                else p for p in _GOOD if not p.name.startswith("amd-")]
    with pytest.raises(MlstackError) as info:
        check_entry(T714, packages, [MIRROR], "k")
    assert info.value.message == (
        f"resolving k: torch 2.14.0+rocm7.14 from {MIRROR} is PyTorch's own build: it has "
        "no per-GPU kernel wheels and requires rocm[libraries,device-all], every GPU's ROCm "
        "kernels (about 10 GB to download, 19 GB installed), where this lock is for gfx1100")
    assert "[sources.amd-rocm-wheels]" in info.value.hint
    # Asked for by name, every GPU's kernels: PyTorch's torch holds them itself.
    check_entry(T714, packages, [MIRROR], "k", device_all=True)


def test_init_only_with_the_devel_tree() -> None:
    from mlstack_env.lockfile import LockEntry

    entry = LockEntry("ml", T714, "3.12", "x86_64-manylinux_2_28", tuple(_GOOD))
    assert not needs_init(entry)
    devel = LockEntry("ml", T714, "3.12", "x86_64-manylinux_2_28",
                      (*_GOOD, _pkg("rocm-sdk-devel", "7.14.0")))
    assert needs_init(devel)


# --- the loopback multi-arch index is shaped like the real one --------------------------


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def test_fixture_rocm_is_an_sdist_only_and_pypi_has_placeholders(wheel_index: WheelIndex) -> None:
    page = _get(f"{wheel_index.url}/amd/rocm/whl-multi-arch/rocm/")
    assert "rocm-7.14.0.tar.gz#sha256=" in page and ".whl" not in page
    torch = _get(f"{wheel_index.url}/amd/rocm/whl-multi-arch/torch/")
    assert "torch-2.14.0%2Brocm7.14-cp312-cp312-manylinux_2_28_x86_64.whl" in torch
    assert 'data-core-metadata="sha256=' in torch
    meta = _get(f"{wheel_index.url}/amd/rocm/whl-multi-arch/"
                "torch-2.14.0%2Brocm7.14-cp312-cp312-manylinux_2_28_x86_64.whl.metadata")
    assert "Requires-Dist: rocm[libraries]==7.14.0" in meta
    assert 'Requires-Dist: amd-torch-device-gfx1100==2.14.0+rocm7.14; extra == "device-gfx1100"' \
        in meta
    assert "Provides-Extra: device-all" in meta
    for name in ("rocm-sdk-device-gfx1100", "amd-torch-device-gfx1100", "rocm-sdk-core"):
        assert "0.0.1.dev0" in _get(f"{wheel_index.url}/pypi/simple/{name}/") \
            or "0.1.0" in _get(f"{wheel_index.url}/pypi/simple/{name}/")


def test_fixture_a_wheels_only_resolver_cannot_use_the_selector(
        wheel_index: WheelIndex, tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.in"
    reqs.write_text("torch[device-gfx1100]\n")
    base = [uv.find_uv_bin(), "pip", "compile", str(reqs), "--no-config", "--offline",
            "--python-version", "3.12", "--python-platform", "x86_64-manylinux_2_28",
            "--only-binary", ":all:", "--cache-dir", str(tmp_path / "cache"),
            "--index", f"{wheel_index.url}/amd/rocm/whl-multi-arch/",
            "--default-index", f"{wheel_index.url}/pypi/simple", "--no-python-downloads"]
    base.remove("--offline")
    result = subprocess.run(base, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "rocm[libraries]==7.14.0 has no usable wheels" in result.stderr


# --- system packages shrink to the driver ----------------------------------------------


def test_system_check_asks_a_wheels_entry_for_the_driver_only(
        cli: Cli, fake_machine: FakeMachine, tmp_path: Path) -> None:
    import json
    import shutil

    from mlstack_env.lockfile import Lock, LockEntry, dumps

    if shutil.which("dpkg-query") is None:
        pytest.skip("needs dpkg (the fake machine is Ubuntu)")
    fake_machine("7900xtx-no-rocm")
    entry = LockEntry("ml", T714, "3.12", "x86_64-manylinux_2_28", tuple(_GOOD),
                      system=("coreutils", "rocm-hip-runtime", "migraphx"))
    lock = tmp_path / "mlstack.lock"
    lock.write_text(dumps(Lock((entry,), "0.1.0", "0.13.9")))
    r = cli("system", "check", "--lock", str(lock), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert [p["name"] for p in data["packages"]] == ["coreutils"]
    assert data["missing"] == [] and data["rocm_in_env"] == "7.14.0"
    assert [(f["check"], f["status"]) for f in data["host"]] == [
        ("driver", "ok"), ("device-access", "ok")]
    [note] = [n for n in data["notes"] if "inside the env" in n]
    assert "only the amdgpu driver" in note and "migraphx, rocm-hip-runtime" in note
    r = cli("system", "plan", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    assert "repo.radeon.com" not in r.stdout and "rocm-hip-runtime" in r.stdout  # the note
    assert "# nothing to do" in r.stdout


# --- the store entry: rocm-sdk init before publishing, verifiable after ----------------


def _sdk_entry(index: WheelIndex, devel: bool) -> LockEntry:
    names = ["rocm-sdk-core", "rocm-sdk-libraries", "rocm-sdk-device-gfx1100"]
    names += ["rocm-sdk-devel"] if devel else []
    packages = []
    for name in names:
        filename = f"{name.replace('-', '_')}-7.14.0-py3-none-manylinux_2_28_x86_64.whl"
        wheel = Wheel(AMD_714 + filename, index.sha256(filename), None)
        packages.append(LockedPackage(name, "7.14.0", AMD_714, (wheel,)))
    # The selector sdist, whose rocm_sdk holds the `rocm-sdk` CLI (unpacked, never built).
    sdist = Wheel(AMD_714 + "rocm-7.14.0.tar.gz", index.sha256("rocm-7.14.0.tar.gz"), None)
    packages.append(LockedPackage("rocm", "7.14.0", AMD_714, (), sdist=sdist))
    return LockEntry("sdk", T714, "3.12", "x86_64-manylinux_2_28", tuple(packages))


def test_store_entry_runs_init_and_verify_covers_what_it_made(wheel_index: WheelIndex) -> None:
    from mlstack_env.rocmwheels.rocmroot import env_variables, root_in
    from mlstack_env.store.entries import Store
    from mlstack_env.store.install import UvInstaller
    from mlstack_env.store.verify import verify_venv

    entry = _sdk_entry(wheel_index, devel=True)
    store_entry, reused = Store().ensure(entry, UvInstaller(mirrors=wheel_index.mirrors))
    assert not reused
    venv = store_entry.path
    [site] = venv.glob("lib/python3.*/site-packages")
    devel = site / "_rocm_sdk_devel"
    assert (devel / "include/hip/hip_runtime.h").is_file()  # the devel tree, expanded
    linked = devel / "lib/rocblas/library/TensileLibrary_gfx1100.dat"
    # The device wheel overlays the libraries' tree; init hard-links its files into devel.
    device = site / "_rocm_sdk_libraries/lib/rocblas/library/TensileLibrary_gfx1100.dat"
    assert linked.stat().st_ino == device.stat().st_ino  # a hardlink, as TheRock's init makes
    record = (venv / "mlstack-rocm-init.RECORD").read_text()
    assert "_rocm_sdk_devel/include/hip/hip_runtime.h,sha256=" in record
    # What init deleted (TheRock's _devel.py unlinks the tarball after expanding it).
    assert (venv / "mlstack-rocm-init.removed").read_text() == "rocm_sdk_devel/_devel.tar\n"
    assert not (site / "rocm_sdk_devel/_devel.tar").exists()
    assert verify_venv(venv, entry).ok
    # The root `rocm-sdk path --root` answered, relative to site-packages (the entry moved).
    assert (venv / "mlstack-rocm-root").read_text() == "_rocm_sdk_devel\n"
    variables = env_variables(root_in(venv, entry))
    assert variables["ROCM_PATH"] == str(site / "_rocm_sdk_devel")
    assert variables["ROCM_PATH"].startswith(str(Store().root))
    out = subprocess.run([str(venv / "bin/hipcc"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("HIP version: 7.14.0")
    (devel / "include/hip/hip_runtime.h").write_text("edited\n")
    problems = verify_venv(venv, entry).problems
    assert [(p.package, p.kind) for p in problems] == [("rocm-sdk init", "modified")]


def test_no_devel_no_init(wheel_index: WheelIndex) -> None:
    from mlstack_env.store.entries import Store
    from mlstack_env.store.install import UvInstaller

    entry = _sdk_entry(wheel_index, devel=False)
    store_entry, _ = Store().ensure(entry, UvInstaller(mirrors=wheel_index.mirrors))
    assert not (store_entry.path / "mlstack-rocm-init.RECORD").exists()
    assert not (store_entry.path / "mlstack-rocm-root").exists()  # path --root needs devel
    assert not list(store_entry.path.glob("lib/python3.*/site-packages/_rocm_sdk_devel"))


# --- doctor: which ROCm an env uses -----------------------------------------------------


def test_doctor_knows_rocm_inside_an_env(tmp_path: Path) -> None:
    from mlstack_env.actions.wanted import wanted_from_lock
    from mlstack_env.doctor import Status, machine, user
    from mlstack_env.lockfile import Lock
    from tests import machines
    from tests.test_doctor import make_ctx, one

    site = tmp_path / "venv/lib/python3.12/site-packages"
    (site / "_rocm_sdk_core").mkdir(parents=True)
    (site / "rocm_sdk_core-7.14.0.dist-info").mkdir()
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX], rocm="6.4.0-47")
    ctx = make_ctx(root, tmp_path, environ={"ROCM_PATH": str(site / "_rocm_sdk_core")})
    f = one(user.rocm_path, ctx)
    assert f.status is Status.OK and "ROCm 7.14.0 from an env's rocm-sdk-core wheels" in f.message
    # An env with rocm-sdk-devel exports its devel tree: that is the env's ROCm too.
    (site / "_rocm_sdk_devel").mkdir()
    ctx = make_ctx(root, tmp_path, environ={"ROCM_PATH": str(site / "_rocm_sdk_devel")})
    f = one(user.rocm_path, ctx)
    assert f.status is Status.OK and "ROCm 7.14.0 from an env's rocm-sdk-core wheels" in f.message
    entry = LockEntry("ml", T714, "3.12", "x86_64-manylinux_2_28", tuple(_GOOD))
    ctx = make_ctx(root, tmp_path,
                   wanted=wanted_from_lock(Lock((entry,), "0", "0"), detect(root, {}), "x"))
    f = one(machine.rocm_installed, ctx)
    assert f.status is Status.OK
    assert f.message == ("ROCm 6.4.0 at /opt/rocm; the entry ignores it and uses its "
                         "own ROCm 7.14.0 (wheels)")


def test_two_entries_on_one_rocm_build_share_one_copy(wheel_index: WheelIndex) -> None:
    from mlstack_env.core.diskusage import usage
    from mlstack_env.store.entries import Store
    from mlstack_env.store.install import UvInstaller

    installer = UvInstaller(mirrors=wheel_index.mirrors)
    a, _ = Store().ensure(_sdk_entry(wheel_index, devel=False), installer)
    b, _ = Store().ensure(_sdk_entry(wheel_index, devel=True), installer)
    assert a.key != b.key
    [hipcc_a] = a.path.glob("lib/python3.*/site-packages/_rocm_sdk_core/bin/hipcc")
    [hipcc_b] = b.path.glob("lib/python3.*/site-packages/_rocm_sdk_core/bin/hipcc")
    assert hipcc_a.stat().st_ino == hipcc_b.stat().st_ino  # hardlinks from uv's cache
    both = usage(a.path.parent)  # the two entries (and nothing else of the store) together
    assert both.total < usage(a.path).total + usage(b.path).total  # one copy of shared files


@pytest.mark.parametrize(("a", "b", "same"), [
    ("7.14", "10.0", True), ("10.0", "10.0", True), ("6.4.1", "6.4", True),
    ("6.4", "7.14", False), ("7.2", "7.14", False), (None, None, True), ("7.14", None, False),
])
def test_any_two_wheels_releases_ask_the_same_of_a_host(
        a: str | None, b: str | None, same: bool) -> None:
    from mlstack_env.catalog import same_host_rocm

    assert same_host_rocm(a, b) is same


def test_a_pinned_wheels_entry_fits_a_machine_without_rocm() -> None:
    from mlstack_env.lockfile import fits

    entry = LockEntry("ml", T714, "3.12", "x86_64-manylinux_2_28", ())
    assert fits(entry, Target.parse("rocm10.0:gfx1100"))
    assert not fits(entry, Target.parse("rocm7.2:gfx1100"))
