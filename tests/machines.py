"""Fake machine trees: KFD topology, DRM sysfs, /opt/rocm, os-release, /dev/kfd.

Each builder writes the files real Linux exposes, with the numbers a real card shows,
under a root that tests pass to mlstack as MLSTACK_ROOT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

GiB = 1 << 30


@dataclass(frozen=True)
class FakeGpu:
    gfx_target_version: int  # KFD encoding: 110000 for gfx1100
    device_id: int  # PCI device id
    vram_bytes: int
    simd_count: int = 192  # CUs x SIMDs per CU: 96 x 2 on a 7900 XTX
    # KFD ``unique_id`` (decimal in sysfs). Instinct cards report one; many consumer cards
    # report 0, and rocminfo then shows ``GPU-XX`` (ROCM-FACTS §1).
    unique_id: int = 0


# The cards the issues name, with their real PCI ids (ROCM-FACTS §1).
RX_7900_XTX = FakeGpu(110000, 0x744C, 24 * GiB)
RX_7800_XT = FakeGpu(110001, 0x747E, 16 * GiB)
RADEON_780M = FakeGpu(110003, 0x15BF, 512 << 20, simd_count=24)
MI300X = FakeGpu(90402, 0x74A1, 192 * GiB, simd_count=1216, unique_id=0x3A1F6C2D9E8B7045)
# The "AMD Radeon Graphics" of a Ryzen 7000/9000 desktop (Raphael / Granite Ridge): 2 CUs
# (simd_count 4) and a 512 MiB carve-out; KFD reports 100306 (gfx1036).
RAPHAEL_IGPU = FakeGpu(100306, 0x164E, 512 << 20, simd_count=4)
# Renoir's Vega 8: 8 GCN CUs of 4 SIMDs; KFD reports 90012, which is gfx90c (hex step).
RENOIR_IGPU = FakeGpu(90012, 0x1636, 512 << 20, simd_count=32)
RX_6800 = FakeGpu(100300, 0x73BF, 16 * GiB, simd_count=120)
# A GPU mlstack does not know: gfx1310 is an LLVM target (GFX13, no product names yet)
# outside mlstack's table and LLVM's APU list; the PCI id is made up, in no table.
UNKNOWN_GFX1310 = FakeGpu(130100, 0x75F0, 64 * GiB, simd_count=256)
RX_6700_XT = FakeGpu(100301, 0x73DF, 12 * GiB)
RX_9070_XT = FakeGpu(120001, 0x7550, 16 * GiB)
RX_9060_XT = FakeGpu(120000, 0x7590, 16 * GiB)
STRIX_HALO = FakeGpu(110501, 0x1586, 512 << 20, simd_count=80)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_kfd(root: Path, gpus: list[FakeGpu], unreadable: tuple[int, ...] = ()) -> None:
    """Node 0 is the CPU; GPUs follow. Nodes in ``unreadable`` cannot be read (EPERM-like)."""
    nodes = root / "sys/class/kfd/kfd/topology/nodes"
    _write(
        nodes / "0/properties",
        "cpu_cores_count 16\nsimd_count 0\nmem_banks_count 1\ngfx_target_version 0\n"
        "vendor_id 0\ndevice_id 0\nlocation_id 0\ndrm_render_minor 0\nlocal_mem_size 0\n",
    )
    _write(nodes / "0/gpu_id", "0\n")
    _write(nodes / "0/name", "\n")
    for i, gpu in enumerate(gpus, start=1):
        node = nodes / str(i)
        if i in unreadable:
            # Root can read anything, so an unreadable file is a directory in its place:
            # reading it fails with an OSError, as EPERM under a device cgroup does.
            (node / "properties").mkdir(parents=True)
            continue
        _write(
            node / "properties",
            f"cpu_cores_count 0\nsimd_count {gpu.simd_count}\nmem_banks_count 1\n"
            f"gfx_target_version {gpu.gfx_target_version}\nvendor_id {0x1002}\n"
            f"device_id {gpu.device_id}\nlocation_id {i * 256}\ndomain 0\n"
            f"drm_render_minor {127 + i}\nunique_id {gpu.unique_id}\nlocal_mem_size 0\n",
        )
        _write(node / "gpu_id", f"{4000 + i}\n")
        _write(node / "name", "ip discovery\n")
        _write(
            node / "mem_banks/0/properties",
            f"heap_type 1\nsize_in_bytes {gpu.vram_bytes}\nflags 0\nwidth 64\n",
        )


def write_drm(root: Path, gpus: list[FakeGpu]) -> None:
    for i, gpu in enumerate(gpus):
        device = root / f"sys/class/drm/card{i}/device"
        _write(device / "vendor", "0x1002\n")
        _write(device / "device", f"0x{gpu.device_id:04x}\n")
        _write(device / "mem_info_vram_total", f"{gpu.vram_bytes}\n")
        render = root / f"sys/class/drm/renderD{128 + i}/device"
        _write(render / "vendor", "0x1002\n")
        _write(render / "device", f"0x{gpu.device_id:04x}\n")
        _write(render / "mem_info_vram_total", f"{gpu.vram_bytes}\n")


def write_rocm(root: Path, version_file: str, dirname: str | None = None) -> None:
    """``/opt/rocm-X.Y.Z`` with ``.info/version``, and ``/opt/rocm`` pointing at it."""
    plain = version_file.split("-", maxsplit=1)[0]
    target = root / "opt" / (dirname or f"rocm-{plain}")
    _write(target / ".info/version", version_file + "\n")
    link = root / "opt/rocm"
    if not link.exists():
        link.symlink_to(target.name)


def write_os(root: Path, distro: str = "ubuntu", version: str = "24.04",
             codename: str = "noble", kernel: str = "6.8.0-45-generic") -> None:
    pretty = {"ubuntu": f"Ubuntu {version} LTS", "debian": f"Debian GNU/Linux {version}"}.get(
        distro, f"{distro} {version}"
    )
    like = {"ubuntu": "debian", "rocky": "rhel centos fedora", "rhel": "fedora"}.get(distro, "")
    _write(
        root / "etc/os-release",
        f'NAME="{pretty}"\nID={distro}\nVERSION_ID="{version}"\n'
        f'PRETTY_NAME="{pretty}"\nVERSION_CODENAME={codename}\n'
        + (f"ID_LIKE={like}\n" if like else ""),
    )
    _write(root / "proc/sys/kernel/osrelease", kernel + "\n")


def build(root: Path, gpus: list[FakeGpu], rocm: str | None = "6.4.0-47",
          unreadable: tuple[int, ...] = (), kfd: bool = True, **os_args: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_os(root, **os_args)
    if kfd:
        write_kfd(root, gpus, unreadable)
    write_drm(root, gpus)
    if rocm:
        write_rocm(root, rocm)
    if gpus:
        (root / "sys/module/amdgpu").mkdir(parents=True, exist_ok=True)
        _write(root / "dev/kfd", "")
    return root


MACHINES: dict[str, Callable[[Path], Path]] = {
    "7900xtx": lambda r: build(r, [RX_7900_XTX]),
    "7800xt-780m": lambda r: build(r, [RADEON_780M, RX_7800_XT], rocm="6.3.0-39"),
    "2xmi300x": lambda r: build(
        r, [MI300X, replace(MI300X, unique_id=0x5BD2E8A4C1F09E37)], rocm="7.1.1"
    ),
    "6700xt": lambda r: build(r, [RX_6700_XT]),
    "9070xt": lambda r: build(r, [RX_9070_XT]),
    # The issue-19 headline machines: `env create inference` on each (tests/test_headline.py).
    "9070xt-rocm70": lambda r: build(r, [RX_9070_XT], rocm="7.0.0"),
    "mi300x-rocm64": lambda r: build(r, [MI300X]),
    "strix-halo": lambda r: build(r, [STRIX_HALO], rocm="7.2.0"),
    "no-gpu": lambda r: build(r, [], rocm=None),
    "unreadable": lambda r: build(r, [RX_7900_XTX, RX_7900_XTX], unreadable=(1,)),
}

# Added for the foundation tests: detection paths beside the KFD one.
MACHINES.update({
    # amdgpu bound but no KFD topology (old kernel, KFD disabled): GPUs come from DRM.
    "7900xtx-no-kfd": lambda r: build(r, [RX_7900_XTX], kfd=False),
    # A GPU and no ROCm user space: detect proposes a ROCm-as-wheels release (issue 9).
    "7900xtx-no-rocm": lambda r: build(r, [RX_7900_XTX], rocm=None),
    "9060xt": lambda r: build(r, [RX_9060_XT]),
    # ROCm 6.2.4 has its own PyTorch index, with gfx1101 (rocm6.2 lacks it).
    "7800xt-rocm624": lambda r: build(r, [RX_7800_XT], rocm="6.2.4-121"),
    # A lone Phoenix iGPU: counts when alone, runs through the 11.0.0 override.
    "780m": lambda r: build(r, [RADEON_780M]),
})

# Issue 8: machines as they are sold, where iGPUs sit beside discrete GPUs (ROCM-FACTS §1).
MACHINES.update({
    # Ryzen 9000 desktop + RX 7900 XTX: KFD enumerates the dGPU first and the Granite Ridge
    # iGPU second (node 2).
    "ryzen9000-7900xtx": lambda r: build(r, [RX_7900_XTX, RAPHAEL_IGPU]),
    # Renoir laptop + RX 6800: the Vega iGPU on node 1, the dGPU on node 2.
    "renoir-6800": lambda r: build(r, [RENOIR_IGPU, RX_6800]),
    # A GPU whose gfx mlstack does not know, alone and beside a known discrete GPU.
    "unknown-gpu": lambda r: build(r, [UNKNOWN_GFX1310], rocm="7.2.0"),
    "7900xtx-unknown": lambda r: build(r, [RX_7900_XTX, UNKNOWN_GFX1310]),
})

# ROCm as wheels (issue 9, ROCM-FACTS §4b): GPUs with the amdgpu driver loaded and /dev/kfd,
# and no ROCm user space at all (no /opt/rocm*): the env brings ROCm itself.
MI210 = FakeGpu(90010, 0x740F, 64 * GiB, simd_count=416)
MACHINES.update({
    "mi300x-mi210-no-rocm": lambda r: build(r, [MI300X, MI210], rocm=None),
})

# Issue 20: RDNA 1 (no PyTorch ROCm wheel carries it; ROCm as wheels does) — an RX 5700 XT
# (Navi 10, pci.ids 0x731f; 40 CUs x 2 SIMDs, 8 GiB) with the driver and no ROCm; and a host
# on ROCm 7.2.2, whose exact release picks vLLM's rocm722 variant.
RX_5700_XT = FakeGpu(100100, 0x731F, 8 * GiB, simd_count=80)
MACHINES.update({
    "5700xt-no-rocm": lambda r: build(r, [RX_5700_XT], rocm=None),
    "7900xtx-rocm722": lambda r: build(r, [RX_7900_XTX], rocm="7.2.2"),
})
