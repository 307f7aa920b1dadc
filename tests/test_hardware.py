"""Hardware detection: the pure parsers on captured text, then detect() on fake machines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.catalog import gpu_table
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.gpu.gpu_assessment import target_summary
from mlstack_env.hardware import detect
from mlstack_env.hardware.osinfo import parse_os_release, read_distro, read_kernel
from mlstack_env.hardware.probe import detect_rocm
from mlstack_env.hardware.rocm import newest_versioned_dir, parse_version_file, read_install
from mlstack_env.hardware.sysfs import (
    format_uuid,
    parse_properties,
    read_drm_cards,
    read_kfd_nodes,
)
from tests import machines
from tests.machines import GiB

FakeMachine = Callable[[str], Path]

# --- pure parsers --------------------------------------------------------------------

# A gfx1100 node's properties as the kernel prints them (values trimmed to a few keys).
KFD_PROPERTIES = """\
cpu_cores_count 0
simd_count 192
mem_banks_count 1
caches_count 206
io_links_count 1
cpu_core_id_base 0
simd_id_base 2147487744
gfx_target_version 110000
vendor_id 4098
device_id 29772
location_id 768
domain 0
drm_render_minor 128
local_mem_size 0
unique_id 10327321232432443
"""


def test_parse_properties() -> None:
    props = parse_properties(KFD_PROPERTIES)
    assert props["gfx_target_version"] == 110000
    assert props["vendor_id"] == 0x1002
    assert props["device_id"] == 0x744C
    assert props["simd_count"] == 192
    assert props["drm_render_minor"] == 128
    assert props["unique_id"] == 10327321232432443
    assert len(props) == 15


def test_parse_properties_skips_junk() -> None:
    text = "gfx_target_version 90402\nname gfx942 extra\nflags abc\n\n  simd_count   304  \n"
    assert parse_properties(text) == {"gfx_target_version": 90402, "simd_count": 304}


OS_RELEASE = """\
# written by the distro
PRETTY_NAME="Ubuntu 24.04.2 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.2 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
HOME_URL='https://www.ubuntu.com/'
BROKEN="unterminated
"""


def test_parse_os_release() -> None:
    values = parse_os_release(OS_RELEASE)
    assert values["ID"] == "ubuntu"
    assert values["VERSION_ID"] == "24.04"
    assert values["PRETTY_NAME"] == "Ubuntu 24.04.2 LTS"
    assert values["VERSION"] == "24.04.2 LTS (Noble Numbat)"
    assert values["HOME_URL"] == "https://www.ubuntu.com/"
    assert "BROKEN" not in values
    assert not any(key.startswith("#") for key in values)


def test_os_release_values_are_what_shlex_reads() -> None:
    """The bare and plainly quoted values read without shlex give what shlex.split gives,
    as does every other shape (escapes, two words, unbalanced quotes: shlex's own)."""
    import itertools
    import shlex

    def first_word(raw: str) -> str | None:
        try:
            parts = shlex.split(raw)
        except ValueError:
            return None
        return parts[0] if parts else ""

    for n in range(5):
        for chars in itertools.product(["a", " ", '"', "'", "\\", "\t", "#"], repeat=n):
            raw = "".join(chars).strip()  # as the line is
            assert parse_os_release(f"K={raw}\n").get("K") == first_word(raw), raw


def test_read_distro_rhel_like(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/os-release").write_text(
        'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n'
    )
    distro = read_distro(tmp_path)  # no etc/os-release: the usr/lib one is read
    assert distro is not None
    assert distro.id == "rocky"
    assert distro.version_id == "9.4"
    assert distro.id_like == ("rhel", "centos", "fedora")
    assert distro.name == "Rocky Linux"
    assert distro.codename is None


def test_read_distro_and_kernel_missing(tmp_path: Path) -> None:
    assert read_distro(tmp_path) is None
    assert read_kernel(tmp_path) is None  # a fake root never falls back to this host's


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("6.4.0-47\n", "6.4.0"),
        ("6.2.4-121", "6.2.4"),
        ("7.1.1\n", "7.1.1"),
        ("7.2.0", "7.2.0"),
        ("6.3", "6.3"),
        ("", None),
        ("unknown\n", None),
    ],
)
def test_parse_version_file(text: str, version: str | None) -> None:
    assert parse_version_file(text) == version


def _rocm_dir(root: Path, name: str, version_file: str | None) -> None:
    info = root / "opt" / name / ".info"
    info.mkdir(parents=True)
    if version_file is not None:
        (info / "version").write_text(version_file + "\n")


def test_newest_versioned_dir_when_opt_rocm_is_absent(tmp_path: Path) -> None:
    _rocm_dir(tmp_path, "rocm-6.4.1", "6.4.1-103")
    _rocm_dir(tmp_path, "rocm-6.10.0", "6.10.0")  # 6.10 > 6.4: versions, not strings
    _rocm_dir(tmp_path, "rocm-6.3.0", "6.3.0-39")
    _rocm_dir(tmp_path, "rocm-old", "9.9.9")  # not a rocm-X.Y.Z directory
    assert read_install(tmp_path, "/opt/rocm") is None
    assert newest_versioned_dir(tmp_path) == ("/opt/rocm-6.10.0", "6.10.0")
    install = detect_rocm(tmp_path, {}, [])
    assert install is not None
    assert (install.version, install.path) == ("6.10.0", "/opt/rocm-6.10.0")


def test_versioned_dir_without_version_file_uses_its_name(tmp_path: Path) -> None:
    _rocm_dir(tmp_path, "rocm-7.1.1", None)
    assert newest_versioned_dir(tmp_path) == ("/opt/rocm-7.1.1", "7.1.1")


def test_no_rocm_at_all(tmp_path: Path) -> None:
    assert newest_versioned_dir(tmp_path) is None
    assert detect_rocm(tmp_path, {}, []) is None


def test_opt_rocm_wins_over_versioned_dirs(tmp_path: Path) -> None:
    machines.write_rocm(tmp_path, "6.3.0-39")
    _rocm_dir(tmp_path, "rocm-7.0.0", "7.0.0")
    install = detect_rocm(tmp_path, {}, [])
    assert install is not None
    assert (install.version, install.path) == ("6.3.0", "/opt/rocm")


def test_rocm_path_is_honoured(tmp_path: Path) -> None:
    machines.write_rocm(tmp_path, "6.4.0-47")
    _rocm_dir(tmp_path, "rocm-6.2.4", "6.2.4-121")
    notes: list[str] = []
    install = detect_rocm(tmp_path, {"ROCM_PATH": "/opt/rocm-6.2.4"}, notes)
    assert install is not None
    assert (install.version, install.path) == ("6.2.4", "/opt/rocm-6.2.4")
    assert notes == []


def test_rocm_path_without_rocm_falls_back_with_a_note(tmp_path: Path) -> None:
    machines.write_rocm(tmp_path, "6.4.0-47")
    notes: list[str] = []
    install = detect_rocm(tmp_path, {"ROCM_PATH": "/usr/local/nothing"}, notes)
    assert install is not None
    assert (install.version, install.path) == ("6.4.0", "/opt/rocm")
    assert any("/usr/local/nothing" in n for n in notes)


def test_rocm_version_override(tmp_path: Path) -> None:
    machines.write_rocm(tmp_path, "6.4.0-47")
    notes: list[str] = []
    install = detect_rocm(tmp_path, {"MLSTACK_ROCM_VERSION": "7.1"}, notes)
    assert install is not None
    assert (install.version, install.path) == ("7.1", "/opt/rocm")
    assert any("MLSTACK_ROCM_VERSION" in n for n in notes)


@pytest.mark.parametrize("bad", ["abc", "7", "6.4rc1", "6.4.0-47"])
def test_bad_rocm_version_override(tmp_path: Path, bad: str) -> None:
    with pytest.raises(MlstackError, match="MLSTACK_ROCM_VERSION") as info:
        detect_rocm(tmp_path, {"MLSTACK_ROCM_VERSION": bad}, [])
    assert info.value.exit_code == 1
    assert info.value.hint is not None


# --- detect() on fake machines ---------------------------------------------------------


def test_rx_7900_xtx(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("7900xtx"))
    assert len(m.gpus) == 1
    gpu = m.gpus[0]
    assert (gpu.index, gpu.gfx, gpu.device_id, gpu.integrated) == (0, "gfx1100", "0x744c", False)
    assert "7900 XTX" in gpu.name
    assert gpu.vram_bytes == 24 * GiB
    assert gpu.node == 1
    assert gpu.source == "kfd"
    assert m.rocm is not None
    assert (m.rocm.version, m.rocm.path) == ("6.4.0", "/opt/rocm")
    assert m.distro is not None
    assert (m.distro.id, m.distro.version_id, m.distro.codename) == ("ubuntu", "24.04", "noble")
    assert m.kernel == "6.8.0-45-generic"
    assert m.target == Target.parse("rocm6.4:gfx1100")
    assert m.notes == ()


def test_rx_7800_xt_beside_780m(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("7800xt-780m"))
    assert [(g.index, g.gfx, g.integrated) for g in m.gpus] == [
        (0, "gfx1103", True),
        (1, "gfx1101", False),
    ]
    assert [g.gfx for g in m.compute_gpus] == ["gfx1101"]
    assert str(m.target) == "rocm6.3:gfx1101"  # the APU is left out
    summary = target_summary(m)
    assert "natively supported by the rocm6.3" in summary
    assert "not officially supported by ROCm 6.3.0: gfx1101" in summary
    assert "780M" in summary
    assert "left out" in summary


def test_two_mi300x(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("2xmi300x"))
    assert [(g.index, g.gfx, g.name, g.node) for g in m.gpus] == [
        (0, "gfx942", "Instinct MI300X", 1),
        (1, "gfx942", "Instinct MI300X", 2),
    ]
    assert all(g.vram_bytes == 192 * GiB for g in m.gpus)
    assert m.rocm is not None
    assert m.rocm.version == "7.1.1"  # the 7.x version file has no build suffix
    assert str(m.target) == "rocm7.1:gfx942"


def test_rx_6700_xt_needs_override(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("6700xt"))
    assert [(g.gfx, g.device_id) for g in m.gpus] == [("gfx1031", "0x73df")]
    assert str(m.target) == "rocm6.4:gfx1031"
    assert "HSA_OVERRIDE_GFX_VERSION=10.3.0" in target_summary(m)


def test_rx_9070_xt(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("9070xt"))
    assert [(g.gfx, g.device_id) for g in m.gpus] == [("gfx1201", "0x7550")]
    assert "9070 XT" in m.gpus[0].name
    assert str(m.target) == "rocm6.4:gfx1201"
    assert "natively supported by the rocm6.4" in target_summary(m)


def test_rx_9060_xt(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("9060xt"))
    assert [(g.gfx, g.device_id) for g in m.gpus] == [("gfx1200", "0x7590")]
    assert "9060 XT" in m.gpus[0].name


def test_strix_halo_alone_counts(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("strix-halo"))
    assert [(g.gfx, g.integrated) for g in m.gpus] == [("gfx1151", True)]
    assert m.compute_gpus == m.gpus
    assert str(m.target) == "rocm7.2:gfx1151"
    assert "natively supported by the rocm7.2" in target_summary(m)


def test_lone_780m_runs_as_gfx1102(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("780m"))
    assert str(m.target) == "rocm6.4:gfx1103"
    # rocm6.4 wheels carry gfx1102, whose VGPR budget fits gfx1103 (FACTS §1).
    assert "gfx1103 needs an override (HSA_OVERRIDE_GFX_VERSION=11.0.2" in target_summary(m)


def test_no_gpu(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("no-gpu"))
    assert m.gpus == ()
    assert m.rocm is None
    assert m.target == Target.cpu()
    assert "no AMD GPU" in target_summary(m)


def test_unreadable_node_is_skipped(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("unreadable"))
    # Node 1 cannot be read; sysfs node 2 is the first GPU HIP sees, so its index is 0,
    # and libhsakmt renumbers it node 1 (CPU node 0 counts, the unreadable one does not).
    assert [(g.index, g.node, g.gfx) for g in m.gpus] == [(0, 1, "gfx1100")]
    assert len(m.notes) == 1
    assert "node 1" in m.notes[0]
    assert "skipped" in m.notes[0]
    assert str(m.target) == "rocm6.4:gfx1100"


def test_drm_fallback_without_kfd(fake_machine: FakeMachine) -> None:
    root = fake_machine("7900xtx-no-kfd")
    assert not (root / "sys/class/kfd").exists()
    m = detect(root)
    assert [(g.index, g.gfx, g.device_id, g.source, g.node) for g in m.gpus] == [
        (0, "gfx1100", "0x744c", "drm", None)
    ]
    assert m.gpus[0].vram_bytes == 24 * GiB
    assert any("DRM" in n for n in m.notes)
    assert str(m.target) == "rocm6.4:gfx1100"


def test_drm_ignores_other_vendors_and_notes_unknown_amd_ids(tmp_path: Path) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_9070_XT], kfd=False)
    intel = root / "sys/class/drm/card1/device"
    intel.mkdir(parents=True)
    (intel / "vendor").write_text("0x8086\n")
    (intel / "device").write_text("0x56a0\n")
    unknown = root / "sys/class/drm/card2/device"
    unknown.mkdir(parents=True)
    (unknown / "vendor").write_text("0x1002\n")
    (unknown / "device").write_text("0x1234\n")
    (root / "sys/class/drm/card0-DP-1").mkdir()  # a connector, not a card
    assert [c.card for c in read_drm_cards(root)] == ["card0", "card2"]
    m = detect(root)
    assert [(g.gfx, g.device_id) for g in m.gpus] == [("gfx1201", "0x7550")]
    assert any("0x1234" in n for n in m.notes)


def test_gpu_without_rocm_proposes_the_newest_wheels_release(fake_machine: FakeMachine) -> None:
    # ROCM-FACTS §4b: with ROCm as wheels the env brings ROCm; only the driver is needed.
    m = detect(fake_machine("7900xtx-no-rocm"))
    assert [g.gfx for g in m.gpus] == ["gfx1100"]
    assert m.rocm is None
    assert str(m.target) == "rocm10.0:gfx1100"
    why = target_summary(m)
    assert "rocm10.0" in why and "gfx1100" in why and "amdgpu driver" in why


def test_rocm_624_keeps_its_own_index(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("7800xt-rocm624"))
    assert m.rocm is not None
    assert m.rocm.version == "6.2.4"
    # rocm6.2 wheels lack gfx1101; the rocm6.2.4 ones carry it.
    assert str(m.target) == "rocm6.2.4:gfx1101"
    assert "natively supported by the rocm6.2.4" in target_summary(m)


def test_vram_from_mem_banks(tmp_path: Path) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_7800_XT])
    # DRM says something else: the KFD memory bank must be what is read.
    drm = root / "sys/class/drm/renderD128/device/mem_info_vram_total"
    drm.write_text(f"{3 * GiB}\n")
    nodes = read_kfd_nodes(root, [])
    assert nodes is not None
    assert [n.vram_bytes for n in nodes] == [16 * GiB]


def test_vram_from_drm_when_no_mem_banks(tmp_path: Path) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_7800_XT])
    bank = root / "sys/class/kfd/kfd/topology/nodes/1/mem_banks/0/properties"
    bank.unlink()
    bank.parent.rmdir()
    drm = root / "sys/class/drm/renderD128/device/mem_info_vram_total"
    drm.write_text(f"{3 * GiB}\n")
    m = detect(root)
    assert [g.vram_bytes for g in m.gpus] == [3 * GiB]


def test_system_memory_banks_are_not_vram(tmp_path: Path) -> None:
    root = machines.build(tmp_path / "m", [machines.MI300X])
    extra = root / "sys/class/kfd/kfd/topology/nodes/1/mem_banks/1/properties"
    extra.parent.mkdir()
    extra.write_text(f"heap_type 0\nsize_in_bytes {64 * GiB}\n")  # system memory
    m = detect(root)
    assert [g.vram_bytes for g in m.gpus] == [192 * GiB]


def test_kfd_without_gpu_nodes_does_not_fall_back_to_drm(tmp_path: Path) -> None:
    # KFD present and every GPU node unreadable: ROCm sees no GPU, and neither do we.
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX], unreadable=(1,))
    m = detect(root)
    assert m.gpus == ()
    assert m.target == Target.cpu()
    assert any("node 1" in n for n in m.notes)


def test_unknown_gfx_alone_decides_no_target(tmp_path: Path) -> None:
    # gfx1310 is in neither the table nor LLVM's APU list: it may be an iGPU, so mlstack
    # guesses no target from it (cpu) and says what to do.
    root = machines.MACHINES["unknown-gpu"](tmp_path / "m")
    m = detect(root)
    [gpu] = m.gpus
    assert (gpu.gfx, gpu.known, gpu.kind, gpu.device_id) == ("gfx1310", False, "unknown",
                                                             "0x75f0")
    assert m.compute_gpus == ()
    assert m.target == Target.cpu()
    [note] = [n for n in m.notes if "gfx1310" in n]
    assert "no target is guessed" in note and "MLSTACK_GPU" in note


def test_unknown_gfx_beside_a_known_dgpu_is_left_out(tmp_path: Path) -> None:
    root = machines.MACHINES["7900xtx-unknown"](tmp_path / "m")
    m = detect(root)
    assert [(g.gfx, g.kind) for g in m.gpus] == [("gfx1100", "discrete"),
                                                 ("gfx1310", "unknown")]
    assert [g.gfx for g in m.compute_gpus] == ["gfx1100"]
    assert str(m.target) == "rocm6.4:gfx1100"
    assert any("gfx1310" in n and "left out of the target" in n for n in m.notes)


def test_apu_list_gfx_outside_the_table_counts_as_integrated(tmp_path: Path) -> None:
    raven = machines.FakeGpu(90002, 0x15DD, 512 << 20, simd_count=44)  # gfx902, APU in LLVM
    root = machines.build(tmp_path / "m", [raven, machines.RX_7900_XTX])
    m = detect(root)
    assert [(g.gfx, g.kind) for g in m.gpus] == [("gfx902", "integrated"),
                                                 ("gfx1100", "discrete")]
    assert str(m.target) == "rocm6.4:gfx1100"


def test_ryzen9000_igpu_enumerated_second_stays_out(tmp_path: Path) -> None:
    m = detect(machines.MACHINES["ryzen9000-7900xtx"](tmp_path / "m"))
    assert [(g.index, g.node, g.gfx, g.kind) for g in m.gpus] == [
        (0, 1, "gfx1100", "discrete"), (1, 2, "gfx1036", "integrated"),
    ]
    assert m.gpus[1].name == "Radeon Graphics (Raphael)"
    assert m.gpus[1].vram_bytes == 512 << 20
    assert str(m.target) == "rocm6.4:gfx1100"


def test_renoir_laptop_target_is_the_rx6800(tmp_path: Path) -> None:
    m = detect(machines.MACHINES["renoir-6800"](tmp_path / "m"))
    assert [(g.gfx, g.kind) for g in m.gpus] == [("gfx90c", "integrated"),
                                                 ("gfx1030", "discrete")]
    assert str(m.target) == "rocm6.4:gfx1030"


def test_uuid_from_kfd_unique_id(tmp_path: Path) -> None:
    # MI300X report a unique_id; rocminfo prints it as GPU- and 16 hex digits.
    m = detect(machines.MACHINES["2xmi300x"](tmp_path / "m"))
    assert [g.uuid for g in m.gpus] == ["GPU-3a1f6c2d9e8b7045", "GPU-5bd2e8a4c1f09e37"]
    # Consumer cards that report 0 have none (rocminfo: GPU-XX): never a made-up one.
    m = detect(machines.MACHINES["ryzen9000-7900xtx"](tmp_path / "r"))
    assert [g.uuid for g in m.gpus] == [None, None]


def test_format_uuid() -> None:
    assert format_uuid(0) is None
    assert format_uuid(None) is None
    assert format_uuid(0xAF47EA8FB2CB9B42) == "GPU-af47ea8fb2cb9b42"
    assert format_uuid(0x1F) == "GPU-000000000000001f"


def test_gpu_override_variable(fake_machine: FakeMachine) -> None:
    root = fake_machine("7900xtx")
    m = detect(root, environ={"MLSTACK_GPU": " gfx942, GFX90A "})
    assert [(g.index, g.gfx, g.source, g.device_id) for g in m.gpus] == [
        (0, "gfx942", "override", None),
        (1, "gfx90a", "override", None),
    ]
    assert str(m.target) == "rocm6.4:gfx90a,gfx942"
    assert any("MLSTACK_GPU" in n for n in m.notes)


def test_gpu_override_unknown_gfx(fake_machine: FakeMachine) -> None:
    root = fake_machine("7900xtx")
    with pytest.raises(MlstackError, match="MLSTACK_GPU") as info:
        detect(root, environ={"MLSTACK_GPU": "gfx1100,gfx1999"})
    assert info.value.hint is not None
    assert "gfx1100" in info.value.hint


def test_detect_reads_mlstack_root(fake_machine: FakeMachine) -> None:
    fake_machine("2xmi300x")  # sets MLSTACK_ROOT
    assert str(detect().target) == "rocm7.1:gfx942"


def test_machine_json_round_trips_the_values(fake_machine: FakeMachine) -> None:
    m = detect(fake_machine("7800xt-780m"))
    data = m.to_json()
    assert data["target"] == str(m.target)
    assert [g["gfx"] for g in data["gpus"]] == ["gfx1103", "gfx1101"]
    assert data["rocm"] == {"version": "6.3.0", "path": "/opt/rocm"}


def test_glibc_of_a_manylinux_tag() -> None:
    from mlstack_env.hardware.glibc import needed_glibc

    assert needed_glibc("x86_64-manylinux_2_28") == (2, 28)
    assert needed_glibc("x86_64-manylinux_2_35") == (2, 35)  # vLLM's ROCm wheels
    assert needed_glibc("x86_64-unknown-linux-gnu") is None


def test_host_glibc_is_read_and_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from mlstack_env.hardware.glibc import host_glibc

    monkeypatch.delenv("MLSTACK_GLIBC", raising=False)
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    if libc.startswith("glibc "):
        major, minor = libc.split()[1].split(".")[:2]
        assert host_glibc() == (int(major), int(minor))
    monkeypatch.setenv("MLSTACK_GLIBC", "2.31")
    assert host_glibc() == (2, 31)
    monkeypatch.setenv("MLSTACK_GLIBC", "glibc-2.31")
    with pytest.raises(MlstackError, match=r"not a glibc version like 2\.35"):
        host_glibc()


def test_glibc_check_against_vllm_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack_env.hardware.glibc import check_glibc

    monkeypatch.setenv("MLSTACK_GLIBC", "2.35")  # Ubuntu 22.04: vLLM's wheels run
    check_glibc("x86_64-manylinux_2_35", "entry inference@rocm7.0:gfx942@py3.12")
    monkeypatch.setenv("MLSTACK_GLIBC", "2.31")  # Ubuntu 20.04: they do not
    with pytest.raises(MlstackError) as err:
        check_glibc("x86_64-manylinux_2_35", "entry inference@rocm7.0:gfx942@py3.12")
    assert err.value.message == ("entry inference@rocm7.0:gfx942@py3.12 needs glibc 2.35 "
                                 "(x86_64-manylinux_2_35); this host has glibc 2.31")
    assert err.value.hint is not None and "glibc >= 2.35" in err.value.hint
    check_glibc("x86_64-manylinux_2_28", "entry minimal@rocm7.0:gfx942@py3.12")


# --- issue 20: every target of AMD's rocm-bootstrap 0.3.0 table -----------------------

# AMD's `rocm-bootstrap` 0.3.0 (PyPI, MIT) `rocm_bootstrap/targets.py`: its GfxTarget
# constants (from LLVM's GCNProcessors.td), as (name, KFD gfx_target_version). 34 entries,
# 33 distinct versions: gfx1250-strict is gfx1250's ISA (120500) under another compiler name.
AMD_TARGETS: tuple[tuple[str, int], ...] = (
    ("gfx900", 90000), ("gfx902", 90002), ("gfx904", 90004), ("gfx906", 90006),
    ("gfx908", 90008), ("gfx909", 90009), ("gfx90a", 90010), ("gfx90c", 90012),
    ("gfx942", 90402), ("gfx950", 90500),
    ("gfx1010", 100100), ("gfx1011", 100101), ("gfx1012", 100102), ("gfx1013", 100103),
    ("gfx1030", 100300), ("gfx1031", 100301), ("gfx1032", 100302), ("gfx1033", 100303),
    ("gfx1034", 100304), ("gfx1035", 100305), ("gfx1036", 100306),
    ("gfx1100", 110000), ("gfx1101", 110001), ("gfx1102", 110002), ("gfx1103", 110003),
    ("gfx1150", 110500), ("gfx1151", 110501), ("gfx1152", 110502), ("gfx1153", 110503),
    ("gfx1200", 120000), ("gfx1201", 120001),
    ("gfx1250", 120500), ("gfx1250-strict", 120500), ("gfx1251", 120501),
)


def test_amd_table_is_the_one_read() -> None:
    assert len(AMD_TARGETS) == 34
    assert len({v for _, v in AMD_TARGETS}) == 33


@pytest.mark.parametrize(("name", "version"),
                         [t for t in AMD_TARGETS if t[0] != "gfx1250-strict"])
def test_every_amd_target_decodes_and_is_known(tmp_path: Path, name: str,
                                               version: int) -> None:
    # One fake KFD node per target (a PCI id in no table: detection goes by the gfx).
    gpu = machines.FakeGpu(version, 0x7FFF, 16 * GiB)
    m = detect(machines.build(tmp_path / name, [gpu]))
    [found] = m.gpus
    assert found.gfx == name
    assert found.known, f"{name}: neither in gpus.toml nor in LLVM's APU list"
    # An APU (LLVM's list) is never reported discrete; a discrete one is never an APU.
    apu = name in gpu_table().apu_gfx
    assert found.kind == ("integrated" if apu else "discrete")


def test_no_apu_of_amds_table_is_discrete_beside_a_dgpu(tmp_path: Path) -> None:
    # All of them on one machine beside an RX 7900 XTX: only discrete GPUs make the target.
    gpus = [machines.RX_7900_XTX] + [machines.FakeGpu(v, 0x7FFF, 16 * GiB)
                                     for n, v in AMD_TARGETS if n != "gfx1250-strict"]
    m = detect(machines.build(tmp_path / "all", gpus))
    assert len(m.gpus) == 34
    apus = gpu_table().apu_gfx
    assert not [g.gfx for g in m.discrete if g.gfx in apus]
    assert not [g.gfx for g in m.compute_gpus if g.gfx in apus]
    assert {g.gfx for g in m.gpus if g.kind == "integrated"} == \
        {n for n, _ in AMD_TARGETS if n in apus}


def test_rx_5700_xt_without_rocm_proposes_rocm_as_wheels(fake_machine: FakeMachine) -> None:
    # No PyTorch ROCm wheel up to rocm7.2 carries gfx1010; TheRock's device wheels do.
    m = detect(fake_machine("5700xt-no-rocm"))
    [gpu] = m.gpus
    assert (gpu.gfx, gpu.device_id, gpu.kind) == ("gfx1010", "0x731f", "discrete")
    assert gpu.name == "Radeon RX 5600 XT / 5700 / 5700 XT"
    assert str(m.target) == "rocm10.0:gfx1010"
    assert "rocm10.0" in target_summary(m)


def test_host_on_rocm_722_targets_its_exact_release(fake_machine: FakeMachine) -> None:
    # vLLM's wheels follow the exact release (rocm722): the target keeps 7.2.2, and its
    # torch index is still rocm7.2.
    m = detect(fake_machine("7900xtx-rocm722"))
    assert str(m.target) == "rocm7.2.2:gfx1100"
    from mlstack_env.catalog import torch_index_name

    assert torch_index_name("7.2.2") == "rocm7.2"
