"""Each doctor check on fake machines, with fakes for access, disk, uv and packages."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlstack_env.actions.wanted import Wanted, wanted_from_lock
from mlstack_env.catalog.target import Target
from mlstack_env.doctor import Check, Context, Finding, Status, envs, machine, run, user
from mlstack_env.doctor import distro as doctor_distro
from mlstack_env.doctor.seams import SystemAccess, UvInfo, disk_free
from mlstack_env.hardware import detect
from mlstack_env.lockfile import Lock, LockEntry
from mlstack_env.system.packagedb import PackageDb
from mlstack_env.uv import PINNED_VERSION
from tests import machines

GiB = 1 << 30


@dataclass
class FakeAccess:
    root: bool = False
    denied: frozenset[str] = frozenset()  # file names that cannot be opened
    now: frozenset[str] = frozenset({"render", "video"})
    listed: frozenset[str] = frozenset({"render", "video"})

    def is_root(self) -> bool:
        return self.root

    def can_use(self, path: Path) -> bool:
        return path.name not in self.denied

    def groups(self) -> frozenset[str]:
        return self.now

    def listed_groups(self) -> frozenset[str]:
        return self.listed


@dataclass
class FakeDb:
    installed: dict[str, str] = field(default_factory=dict)

    def query(self, names: Iterable[str]) -> dict[str, str | None]:
        return {n: self.installed.get(n) for n in names}


def make_ctx(
    root: Path,
    tmp_path: Path,
    *,
    environ: dict[str, str] | None = None,
    access: FakeAccess | None = None,
    free: int = 100 * GiB,
    uv: UvInfo | None = None,
    db: PackageDb | None = None,
    wanted: Wanted | None = None,
) -> Context:
    env = environ or {}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    fake_db = db or FakeDb()
    return Context(
        machine=detect(root, env),
        root=root,
        environ=env,
        home=home,
        store=tmp_path / "store",
        access=access or FakeAccess(),
        disk_free=lambda _path: free,
        uv=lambda: uv or UvInfo("/venv/bin/uv", PINNED_VERSION),
        package_db=lambda _name: fake_db,
        wanted=wanted,
    )


def one(check: Check, ctx: Context) -> Finding:
    found = list(check(ctx))
    assert len(found) == 1, found
    return found[0]


def statuses(check: Check, ctx: Context) -> list[Status]:
    return [f.status for f in check(ctx)]


def lock_wanting(machine_root: Path, target: str, system: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> Wanted:
    entry = LockEntry(profile="minimal", target=Target.parse(target), python="3.12",
                      platform="x86_64-manylinux_2_28", packages=(), system=system,
                      env=env or {})
    return wanted_from_lock(Lock((entry,), "0.1.0", "0.13.9"), detect(machine_root, {}),
                            "mlstack.lock")


# --- gpu, driver, devices --------------------------------------------------------------


def test_gpu_present(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["7900xtx"](tmp_path / "m"), tmp_path)
    f = one(machine.gpu_present, ctx)
    assert f.status is Status.OK and "Radeon RX 7900 XTX" in f.message


def test_no_gpu_says_so(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["no-gpu"](tmp_path / "m"), tmp_path)
    f = one(machine.gpu_present, ctx)
    assert f.status is Status.FAIL and f.message.startswith("no AMD GPU found")
    assert f.hint and "modprobe amdgpu" in f.hint
    # checks about a GPU have nothing to say
    assert list(machine.driver_loaded(ctx)) == []
    assert list(machine.device_access(ctx)) == []
    assert list(machine.gpu_support(ctx)) == []


def test_unreadable_gpu_node_warns(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["unreadable"](tmp_path / "m"), tmp_path)
    assert statuses(machine.gpu_present, ctx) == [Status.OK, Status.WARN]


def test_unknown_gpu_beside_a_dgpu_warns(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["7900xtx-unknown"](tmp_path / "m"), tmp_path)
    ok_, unknown = list(machine.gpu_present(ctx))
    assert ok_.status is Status.OK
    assert unknown.status is Status.WARN
    assert "GPU 1 gfx1310 (0x75f0): a gfx mlstack does not know" in unknown.message
    assert "left out of envs" in unknown.message
    assert unknown.hint and "MLSTACK_GPU" in unknown.hint and "report the GPU" in unknown.hint
    # it is judged nowhere else, and is not taken for the discrete GPU beside the iGPU check
    assert all("gfx1310" not in f.message for f in machine.gpu_support(ctx))
    assert statuses(machine.integrated_gpu, ctx) == [Status.OK]


def test_unknown_gpu_alone_fails_without_guessing(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["unknown-gpu"](tmp_path / "m"), tmp_path)
    _, unknown = list(machine.gpu_present(ctx))
    assert unknown.status is Status.FAIL
    assert "no GPU target is guessed (detected target: cpu)" in unknown.message
    assert unknown.hint and "MLSTACK_GPU" in unknown.hint


def test_driver_loaded_ok_warn_fail(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    (root / "sys/module/amdgpu/version").write_text("6.12.12\n")
    f = one(machine.driver_loaded, make_ctx(root, tmp_path))
    assert f.status is Status.OK and "6.12.12" in f.message
    no_kfd = machines.build(tmp_path / "drm-only", [machines.RX_7900_XTX], kfd=False)
    f = one(machine.driver_loaded, make_ctx(no_kfd, tmp_path))
    assert f.status is Status.WARN and "no KFD" in f.message
    shutil.rmtree(root / "sys/module/amdgpu")
    f = one(machine.driver_loaded, make_ctx(root, tmp_path))
    assert f.status is Status.FAIL and f.hint and "modprobe amdgpu" in f.hint


def _with_render_nodes(root: Path, count: int) -> Path:
    for i in range(count):
        node = root / f"dev/dri/renderD{128 + i}"
        node.parent.mkdir(parents=True, exist_ok=True)
        node.write_text("")
    return root


def test_device_access_ok_for_a_member_of_render_and_video(tmp_path: Path) -> None:
    root = _with_render_nodes(machines.MACHINES["7900xtx"](tmp_path / "m"), 1)
    f = one(machine.device_access, make_ctx(root, tmp_path))
    assert f.status is Status.OK
    assert "/dev/kfd, /dev/dri/renderD128 usable by this user" in f.message


def test_device_access_fails_outside_the_groups(tmp_path: Path) -> None:
    root = _with_render_nodes(machines.MACHINES["7900xtx"](tmp_path / "m"), 1)
    access = FakeAccess(denied=frozenset({"kfd", "renderD128"}), now=frozenset({"users"}),
                        listed=frozenset({"users"}))
    f = one(machine.device_access, make_ctx(root, tmp_path, access=access))
    assert f.status is Status.FAIL
    assert "cannot open /dev/kfd, /dev/dri/renderD128" in f.message
    assert "render, video" in f.message
    assert f.hint and "sudo usermod -aG render,video $USER" in f.hint


def test_device_access_after_usermod_before_relogin(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    access = FakeAccess(denied=frozenset({"kfd"}), now=frozenset({"users"}))
    f = one(machine.device_access, make_ctx(root, tmp_path, access=access))
    assert f.status is Status.FAIL and f.hint and "log out and back in" in f.hint


def test_device_access_root_passes(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    access = FakeAccess(root=True, denied=frozenset({"kfd"}), now=frozenset())
    f = one(machine.device_access, make_ctx(root, tmp_path, access=access))
    assert f.status is Status.OK and "root" in f.message


def test_device_access_without_dev_kfd(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    (root / "dev/kfd").unlink()
    f = one(machine.device_access, make_ctx(root, tmp_path))
    assert f.status is Status.FAIL and f.message == "/dev/kfd does not exist"
    assert f.hint and "--device=/dev/kfd" in f.hint


def test_system_access_seam_is_real() -> None:
    access = SystemAccess()
    assert isinstance(access.is_root(), bool)
    assert access.groups()  # every process has a group
    assert access.can_use(Path("/dev/null"))


# --- ROCm and support ------------------------------------------------------------------


def test_rocm_installed_ok_warn(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    f = one(machine.rocm_installed, make_ctx(root, tmp_path))
    assert f.status is Status.OK and f.message == "ROCm 6.4.0 at /opt/rocm"
    no_rocm = machines.build(tmp_path / "n", [machines.RX_7900_XTX], rocm=None)
    f = one(machine.rocm_installed, make_ctx(no_rocm, tmp_path))
    assert f.status is Status.WARN and "not installed" in f.message
    wanted = lock_wanting(root, "rocm7.1:gfx1100")
    f = one(machine.rocm_installed, make_ctx(root, tmp_path, wanted=wanted))
    assert f.status is Status.WARN and "the lock targets ROCm 7.1" in f.message


def test_7800xt_on_rocm_6_3_runs_natively_but_is_not_official(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["7800xt-780m"](tmp_path / "m"), tmp_path)
    found = list(machine.gpu_support(ctx))
    igpu, dgpu = found
    assert igpu.status is Status.OK and "left out of envs" in igpu.message
    assert dgpu.status is Status.WARN
    assert "runs natively with the rocm6.3 PyTorch wheels" in dgpu.message
    assert "ROCm 6.3.0 does not officially support the Radeon RX 7800 XT" in dgpu.message
    assert "(from 6.4.1 on)" in dgpu.message
    assert dgpu.hint and "6.4.1" in dgpu.hint


def test_supported_gpu_is_ok(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["2xmi300x"](tmp_path / "m"), tmp_path)
    found = list(machine.gpu_support(ctx))
    assert [f.status for f in found] == [Status.OK, Status.OK]
    assert "officially supported on ROCm 7.1.1" in found[0].message


def test_override_gpu_warns_with_the_value(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["6700xt"](tmp_path / "m"), tmp_path)
    f = one(machine.gpu_support, ctx)
    assert f.status is Status.WARN
    assert "HSA_OVERRIDE_GFX_VERSION=10.3.0" in f.message and "gfx1030" in f.message


def test_gpu_the_wheels_cannot_run_fails(tmp_path: Path) -> None:
    root = machines.MACHINES["9070xt"](tmp_path / "m")
    ctx = make_ctx(root, tmp_path, wanted=lock_wanting(root, "rocm6.2:gfx1201"))
    f = one(machine.gpu_support, ctx)
    assert f.status is Status.FAIL
    assert "rocm6.2 PyTorch wheels carry no code it can run" in f.message
    assert f.hint and "rocm6.4" in f.hint


def test_lock_fit(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    fits = lock_wanting(root, "rocm6.4:gfx1100")
    f = one(envs.lock_fits, make_ctx(root, tmp_path, wanted=fits))
    assert f.status is Status.OK
    other = lock_wanting(root, "rocm7.1:gfx942")
    f = one(envs.lock_fits, make_ctx(root, tmp_path, wanted=other))
    assert f.status is Status.FAIL and "no entry of mlstack.lock fits" in f.message
    assert list(envs.lock_fits(make_ctx(root, tmp_path))) == []


def test_glibc_against_the_entry_platform(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    wanted = lock_wanting(root, "rocm6.4:gfx1100")  # x86_64-manylinux_2_28
    monkeypatch.setenv("MLSTACK_GLIBC", "2.39")  # Ubuntu 24.04
    f = one(envs.glibc, make_ctx(root, tmp_path, wanted=wanted))
    assert f.status is Status.OK
    assert f.message == ("glibc 2.39 runs the wheels of minimal@rocm6.4:gfx1100@py3.12 "
                         "(x86_64-manylinux_2_28)")
    monkeypatch.setenv("MLSTACK_GLIBC", "2.17")  # CentOS 7
    f = one(envs.glibc, make_ctx(root, tmp_path, wanted=wanted))
    assert f.status is Status.FAIL
    assert f.message == ("entry minimal@rocm6.4:gfx1100@py3.12 needs glibc 2.28 "
                         "(x86_64-manylinux_2_28); this host has glibc 2.17")
    assert list(envs.glibc(make_ctx(root, tmp_path))) == []


# --- iGPU ------------------------------------------------------------------------------


def test_igpu_beside_dgpu_warns_with_rocr_and_firmware_advice(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["7800xt-780m"](tmp_path / "m"), tmp_path)
    f = one(machine.integrated_gpu, ctx)
    assert f.status is Status.WARN
    # The 780M enumerates first: the 7800 XT is ROCr index 1 (no UUID on consumer cards).
    assert "ROCR_VISIBLE_DEVICES=1" in f.message and "Radeon 780M" in f.message
    assert f.hint and "firmware" in f.hint and "export ROCR_VISIBLE_DEVICES=1" in f.hint


def test_igpu_hidden_by_rocr_is_ok_but_hip_alone_is_not(tmp_path: Path) -> None:
    root = machines.MACHINES["7800xt-780m"](tmp_path / "m")
    f = one(machine.integrated_gpu, make_ctx(root, tmp_path,
                                             environ={"ROCR_VISIBLE_DEVICES": "1"}))
    assert f.status is Status.OK and "firmware" in f.message
    f = one(machine.integrated_gpu, make_ctx(root, tmp_path,
                                             environ={"ROCR_VISIBLE_DEVICES": "0,1"}))
    assert f.status is Status.WARN
    # AMD: HIP_VISIBLE_DEVICES alone may not keep the runtime off the iGPU.
    f = one(machine.integrated_gpu, make_ctx(root, tmp_path,
                                             environ={"HIP_VISIBLE_DEVICES": "1"}))
    assert f.status is Status.WARN


def test_lone_igpu_and_dgpu_only_are_ok(tmp_path: Path) -> None:
    strix = make_ctx(machines.MACHINES["strix-halo"](tmp_path / "s"), tmp_path)
    assert statuses(machine.integrated_gpu, strix) == [Status.OK]
    xtx = make_ctx(machines.MACHINES["7900xtx"](tmp_path / "x"), tmp_path)
    assert statuses(machine.integrated_gpu, xtx) == [Status.OK]


# --- distro and kernel -----------------------------------------------------------------


def test_distro_listed_ok_unlisted_warns(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    f = one(doctor_distro.distro_release, make_ctx(root, tmp_path))
    assert f.status is Status.OK and "supported by ROCm 6.4.0" in f.message
    old = machines.build(tmp_path / "o", [machines.RX_7900_XTX], version="20.04",
                         codename="focal", kernel="5.4.0-100-generic")
    f = one(doctor_distro.distro_release, make_ctx(old, tmp_path))
    assert f.status is Status.WARN and "ubuntu 24.04, 22.04" in f.message
    rocky = machines.build(tmp_path / "r", [machines.RX_7900_XTX], distro="rocky",
                           version="9.4", codename="", kernel="5.14.0-427.el9.x86_64")
    f = one(doctor_distro.distro_release, make_ctx(rocky, tmp_path))
    assert f.status is Status.OK and "(as rhel 9.4)" in f.message


@pytest.mark.parametrize(
    ("distro", "version", "rocm", "status"),
    [
        # ROCM-FACTS §7: Debian 12 from 6.3.1; SLES 15 SP5/SP6 and Oracle Linux 8.x across
        # 6.x; Azure Linux 3.0 from 6.3.2.
        ("debian", "12", "6.3.0", Status.WARN),
        ("debian", "12", "6.3.1", Status.OK),
        ("sles", "15.6", "6.2.4", Status.OK),
        ("sles", "15.4", "6.4.0", Status.WARN),
        ("ol", "8.9", "6.4.0", Status.OK),  # 8.x: RHEL's row lists only 8.10 for 6.4
        ("azurelinux", "3.0", "6.3.1", Status.WARN),
        ("azurelinux", "3.0", "6.3.2", Status.OK),
    ],
)
def test_distro_rows_of_the_historical_matrix(tmp_path: Path, distro: str, version: str,
                                              rocm: str, status: Status) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX], rocm=rocm, distro=distro,
                          version=version, codename="")
    f = one(doctor_distro.distro_release, make_ctx(root, tmp_path))
    assert f.status is status, f.message


def test_kernel_listed_ok_unlisted_warns(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    assert statuses(doctor_distro.kernel_release, make_ctx(root, tmp_path)) == [Status.OK]
    odd = machines.build(tmp_path / "k", [machines.RX_7900_XTX], kernel="6.5.0-14-generic")
    f = one(doctor_distro.kernel_release, make_ctx(odd, tmp_path))
    assert f.status is Status.WARN and "6.5.0-14-generic" in f.message
    rocky = machines.build(tmp_path / "r", [machines.RX_7900_XTX], distro="rocky",
                           version="9.4", codename="", kernel="5.14.0-427.el9.x86_64")
    assert statuses(doctor_distro.kernel_release, make_ctx(rocky, tmp_path)) == [Status.OK]


def test_system_packages_from_the_lock(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    wanted = lock_wanting(root, "rocm6.4:gfx1100", ("coreutils", "rocm-hip-runtime"))
    db = FakeDb({"coreutils": "9.4-3"})
    f = one(doctor_distro.system_packages, make_ctx(root, tmp_path, wanted=wanted, db=db))
    assert f.status is Status.WARN and "1 of 2 system packages missing: rocm-hip-runtime" \
        in f.message
    db.installed["rocm-hip-runtime"] = "6.4.0.60400-47~24.04"
    f = one(doctor_distro.system_packages, make_ctx(root, tmp_path, wanted=wanted, db=db))
    assert f.status is Status.OK


# --- the user's environment ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "status", "text"),
    [
        ("7900xtx", None, Status.OK, "not set"),
        ("6700xt", "10.3.0", Status.OK, "right for this machine"),
        ("7900xtx", "11.0.0", Status.OK, "right"),  # its own ISA: harmless
        ("7900xtx", "10.3.0", Status.FAIL, "needs none"),  # set on a native card
        ("6700xt", "11.0.0", Status.FAIL, "another family"),
        ("6700xt", "10.3", Status.FAIL, "not a major.minor.step"),
        ("no-gpu", "11.0.0", Status.WARN, "no known GPU"),
    ],
)
def test_hsa_override(tmp_path: Path, name: str, value: str | None, status: Status,
                      text: str) -> None:
    env = {} if value is None else {"HSA_OVERRIDE_GFX_VERSION": value}
    ctx = make_ctx(machines.MACHINES[name](tmp_path / "m"), tmp_path, environ=env)
    f = one(user.hsa_override, ctx)
    assert f.status is status and text in f.message, f


def test_hsa_override_of_gfx1030_with_10_0_0_is_wrong(tmp_path: Path) -> None:
    root = machines.build(tmp_path / "m", [machines.FakeGpu(100300, 0x73BF, 16 * GiB)])
    f = one(user.hsa_override, make_ctx(root, tmp_path,
                                        environ={"HSA_OVERRIDE_GFX_VERSION": "10.0.0"}))
    assert f.status is Status.FAIL and "gfx1000" in f.message
    assert f.hint and f.hint.startswith("unset HSA_OVERRIDE_GFX_VERSION")


@pytest.mark.parametrize(("value", "status"), [(None, Status.OK), ("1", Status.FAIL),
                                               ("/opt/rocm/lib/librocprofiler64.so",
                                                Status.OK)])
def test_hsa_tools_lib(tmp_path: Path, value: str | None, status: Status) -> None:
    env = {} if value is None else {"HSA_TOOLS_LIB": value}
    ctx = make_ctx(machines.MACHINES["7900xtx"](tmp_path / "m"), tmp_path, environ=env)
    assert statuses(user.hsa_tools_lib, ctx) == [status]


@pytest.mark.parametrize(
    ("value", "status"),
    [(None, Status.OK), ("gfx1100", Status.OK), ("gfx90a;gfx1100", Status.OK),
     ("gfx1030", Status.WARN), ("gfx1100;gfx9999", Status.WARN)],
)
def test_pytorch_rocm_arch(tmp_path: Path, value: str | None, status: Status) -> None:
    env = {} if value is None else {"PYTORCH_ROCM_ARCH": value}
    ctx = make_ctx(machines.MACHINES["7900xtx"](tmp_path / "m"), tmp_path, environ=env)
    f = one(user.pytorch_rocm_arch, ctx)
    assert f.status is status, f


def test_pytorch_rocm_arch_accepts_the_override_isa(tmp_path: Path) -> None:
    ctx = make_ctx(machines.MACHINES["6700xt"](tmp_path / "m"), tmp_path,
                   environ={"PYTORCH_ROCM_ARCH": "gfx1030"})
    assert statuses(user.pytorch_rocm_arch, ctx) == [Status.OK]
    # A wrong value gets the hint an mlstack env would follow: the ISA the GPU runs as.
    ctx = make_ctx(machines.MACHINES["6700xt"](tmp_path / "m"), tmp_path,
                   environ={"PYTORCH_ROCM_ARCH": "gfx90a"})
    f = one(user.pytorch_rocm_arch, ctx)
    assert f.status is Status.WARN and f.hint == "export PYTORCH_ROCM_ARCH='gfx1030', or unset it"


def test_rocm_path(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    assert statuses(user.rocm_path, make_ctx(root, tmp_path)) == [Status.OK]
    f = one(user.rocm_path, make_ctx(root, tmp_path, environ={"ROCM_PATH": "/opt/rocm-5.7.1"}))
    assert f.status is Status.FAIL and "holds no ROCm" in f.message
    machines.write_rocm(root, "6.2.4-120", "rocm-6.2.4")
    f = one(user.rocm_path, make_ctx(root, tmp_path, environ={"ROCM_HOME": "/opt/rocm-6.2.4"}))
    assert f.status is Status.WARN and "but /opt/rocm is ROCm 6.4.0" in f.message
    f = one(user.rocm_path, make_ctx(root, tmp_path, environ={"ROCM_PATH": "/opt/rocm"}))
    assert f.status is Status.OK


def test_old_env_files(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    ctx = make_ctx(root, tmp_path)
    assert statuses(user.old_env_files, ctx) == [Status.OK]
    (ctx.home / ".mlstack_env").write_text("export HSA_TOOLS_LIB=1\n")
    f = one(user.old_env_files, ctx)
    assert f.status is Status.OK and "no shell startup file sources it" in f.message
    (ctx.home / ".bashrc").write_text(
        "# source ~/.rocmrc\nalias ll='ls -l'\n[ -f ~/.mlstack_env ] && source ~/.mlstack_env\n"
    )
    fish = ctx.home / ".config/fish/config.fish"
    fish.parent.mkdir(parents=True)
    fish.write_text('source "$HOME/.rocmrc"\n')
    f = one(user.old_env_files, ctx)
    assert f.status is Status.WARN
    assert "~/.bashrc line 3 sources ~/.mlstack_env" in f.message
    assert "~/.config/fish/config.fish line 1 sources ~/.rocmrc" in f.message
    assert ".rocmrc" not in f.message.split("~/.config")[0]  # the commented line is not use
    assert f.hint and "~/.mlstack_env" in f.hint


@pytest.mark.parametrize(
    "line",
    [". ~/.rocmrc", "source $HOME/.rocmrc", "source ${HOME}/.rocmrc",
     "if [ -f ~/.rocmrc ]; then . ~/.rocmrc; fi", "source /home/ann/.rocmrc"],
)
def test_sourcing_line_forms(tmp_path: Path, line: str) -> None:
    (tmp_path / ".zshrc").write_text(line + "\n")
    assert user.sourcing_lines(tmp_path) == [("~/.zshrc", 1, ".rocmrc")]


@pytest.mark.parametrize("line", ["echo ~/.rocmrc", "cat ~/.rocmrc.bak", "vim ~/.mlstack_env"])
def test_lines_that_do_not_source(tmp_path: Path, line: str) -> None:
    (tmp_path / ".bashrc").write_text(line + "\n")
    assert user.sourcing_lines(tmp_path) == []


@pytest.mark.parametrize(("free", "status"), [(100 * GiB, Status.OK), (10 * GiB, Status.WARN),
                                              (1 * GiB, Status.FAIL)])
def test_store_disk(tmp_path: Path, free: int, status: Status) -> None:
    ctx = make_ctx(machines.MACHINES["7900xtx"](tmp_path / "m"), tmp_path, free=free)
    assert statuses(user.store_disk, ctx) == [status]


def test_disk_free_seam_finds_an_existing_parent(tmp_path: Path) -> None:
    assert disk_free(tmp_path / "not" / "yet") > 0


def test_uv(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx"](tmp_path / "m")
    assert statuses(user.uv_binary, make_ctx(root, tmp_path)) == [Status.OK]
    f = one(user.uv_binary, make_ctx(root, tmp_path, uv=UvInfo("/x/uv", "0.4.0"),
                                     environ={"MLSTACK_UV": "/x/uv"}))
    assert f.status is Status.WARN and f"tested with uv {PINNED_VERSION}" in f.message
    assert f.hint and "unset MLSTACK_UV" in f.hint
    f = one(user.uv_binary, make_ctx(root, tmp_path, uv=UvInfo(None, None, "uv is not installed")))
    assert f.status is Status.FAIL and f.message == "uv is not installed"


def test_real_uv_probe_finds_the_pinned_uv() -> None:
    from mlstack_env.doctor.seams import probe_uv

    info = probe_uv()
    assert info.error is None and info.version == PINNED_VERSION


# --- all together ----------------------------------------------------------------------


def test_every_finding_has_a_hint_unless_ok(tmp_path: Path) -> None:
    root = machines.MACHINES["no-gpu"](tmp_path / "m")
    env = {"HSA_TOOLS_LIB": "1", "HSA_OVERRIDE_GFX_VERSION": "x", "ROCM_PATH": "/nope"}
    for f in run(make_ctx(root, tmp_path, environ=env, free=0)):
        assert f.status is Status.OK or f.hint, f


# Doctor and env creation answer "which override?" with one rule (gpuvars): the value an
# env created on the machine sets is the value doctor calls right, and doctor refuses a
# global value where the env sets one per GPU.
@pytest.mark.parametrize("name", ["6700xt", "7900xtx", "780m", "7800xt-rocm624", "9070xt",
                                  "strix-halo", "renoir-6800", "ryzen9000-7900xtx",
                                  "7800xt-780m"])
def test_doctor_agrees_with_the_env_on_the_override(tmp_path: Path, name: str) -> None:
    from mlstack_env.store.variables import env_variables
    from tests.envfixtures import torch_entry

    root = machines.MACHINES[name](tmp_path / "m")
    found = detect(root)
    entry = torch_entry("demo", str(found.target))
    env = env_variables(entry, found, tmp_path / "venv").variables
    override = "HSA_OVERRIDE_GFX_VERSION"
    per_node = sorted(k for k in env if k.startswith(override + "_"))
    value = env.get(override) or (env[per_node[0]] if per_node else None)
    if value is None:
        # Nothing to override: unset is right, and a value naming another ISA is wrong.
        assert statuses(user.hsa_override, make_ctx(root, tmp_path)) == [Status.OK]
        f = one(user.hsa_override, make_ctx(root, tmp_path, environ={override: "9.0.6"}))
        assert f.status is Status.FAIL and "needs none" in f.message
        return
    f = one(user.hsa_override, make_ctx(root, tmp_path, environ={override: value}))
    if per_node:  # the env sets HSA_OVERRIDE_GFX_VERSION_<node>: a global one is wrong
        assert f.status is Status.FAIL and f"{per_node[0]}={value}" in f.message, f
    else:
        assert f.status is Status.OK, f
