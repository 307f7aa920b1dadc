"""The GPU table and the rules built on it, checked against ROCM-FACTS (§1, §2, §7).

The expected values below are copied from ROCM-FACTS.md, not from gpus.toml: the point
is to catch a table that drifted from the facts (the known installer mistakes — gfx1030
given 10.0.0, RDNA4 inverted, overrides on native cards — included).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlstack_env.catalog import (
    gpu_table,
    parse_version,
    release_numbers,
    rocm_release,
    torch_index_name,
    wheel_gfx,
)
from mlstack_env.catalog.sources import target_rocm_version
from mlstack_env.catalog.support import (
    CodeKind,
    code_support,
    official_support,
    override_gfx,
    torch_code_support,
)
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.hardware.sysfs import decode_gfx_target_version

# ROCM-FACTS §1 (first table and "Corrections and additions"): gfx -> (PCI device ids,
# integrated, usual HSA_OVERRIDE_GFX_VERSION). The overrides of gfx1033/gfx1036 are
# mlstack's LIKELY choice (LLVM's gfx10-3-generic covers gfx1030-gfx1036), not FACTS'.
FACTS_GPUS: dict[str, tuple[set[str], bool, str | None]] = {
    "gfx900": ({"0x687f", "0x6860", "0x6863"}, False, None),
    "gfx906": ({"0x66af", "0x66a1"}, False, None),
    "gfx908": ({"0x738c", "0x738e"}, False, None),
    # 0x7410 is not in pci.ids: not an MI210 id.
    "gfx90a": ({"0x7408", "0x740c", "0x740f"}, False, None),
    "gfx90c": ({"0x1636", "0x1638", "0x164c", "0x15e7"}, True, None),
    "gfx942": ({"0x74a1", "0x74a0", "0x74a2", "0x74a5"}, False, None),
    "gfx950": ({"0x75a0", "0x75a3"}, False, None),
    # Never the whole 0x73a0-0x73af range: 0x73a4 is a USB function, 0x73a5 the 6950 XT.
    "gfx1030": ({"0x73bf", "0x73a5"}, False, None),
    "gfx1031": ({"0x73df"}, False, "10.3.0"),
    "gfx1032": ({"0x73ff", "0x73ef"}, False, "10.3.0"),
    "gfx1033": ({"0x163f"}, True, "10.3.0"),
    "gfx1034": ({"0x743f"}, False, "10.3.0"),
    "gfx1035": ({"0x1681", "0x164d"}, True, "10.3.0"),
    "gfx1036": ({"0x164e", "0x13c0", "0x1506"}, True, "10.3.0"),
    "gfx1100": ({"0x744c", "0x7448", "0x745e", "0x7449", "0x744a"}, False, None),
    "gfx1101": ({"0x747e", "0x7470", "0x7460", "0x7461"}, False, "11.0.0"),
    "gfx1102": ({"0x7480"}, False, "11.0.0"),
    # The first of ["11.0.2", "11.0.0"]: gfx1102's VGPR budget fits (FACTS §1 corrections).
    "gfx1103": ({"0x15bf", "0x15c8", "0x1900", "0x1901"}, True, "11.0.2"),
    "gfx1150": ({"0x150e"}, True, None),
    "gfx1151": ({"0x1586"}, True, None),
    "gfx1152": ({"0x1114"}, True, None),
    "gfx1153": ({"0x1902"}, True, None),
    "gfx1200": ({"0x7590"}, False, None),
    "gfx1201": ({"0x7550", "0x7551"}, False, None),
    # Issue 20: every target of AMD's rocm-bootstrap 0.3.0 table known where a source allows.
    # pci.ids (Vega 12, Navi 10/12/14, Cyan Skillfish) and AMDGPUUsage's dGPU/APU column.
    "gfx904": ({"0x69a0", "0x69a1", "0x69a2", "0x69a3", "0x69af"}, False, None),
    "gfx1010": ({"0x731f", "0x7310", "0x7312"}, False, None),
    "gfx1011": ({"0x7360", "0x7362"}, False, None),
    "gfx1012": ({"0x7340", "0x7341", "0x7347", "0x734f"}, False, None),
    "gfx1013": ({"0x13fe"}, True, None),
    # AMDGPUUsage: APUs, product names TBA; no PCI id in pci.ids.
    "gfx1250": (set(), True, None),
    "gfx1251": (set(), True, None),
}
# LLVM AMDGPUUsage, processors marked APU (FACTS §1 names gfx90c, gfx1033, gfx1035, gfx1036,
# gfx1103, gfx1150-gfx1153, "…").
FACTS_APUS = {"gfx90c", "gfx1033", "gfx1035", "gfx1036", "gfx1103", "gfx1150", "gfx1151",
              "gfx1152", "gfx1153"}
# In the wheel lists (so in the table); both now have §1 rows too.
WHEEL_ONLY: set[str] = set()

# ROCM-FACTS §1, second table (uv's LINUX_AMD_GPU_DRIVERS).
_BASE = {"gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100"}
_RDNA = _BASE | {"gfx1101", "gfx1102", "gfx1200", "gfx1201"}
_WHEELS_714 = {"gfx908", "gfx90a", "gfx942", "gfx950", "gfx1010", "gfx1011", "gfx1012",
               *(f"gfx103{d}" for d in range(7)), *(f"gfx110{d}" for d in range(4)),
               *(f"gfx115{d}" for d in range(4)), "gfx1200", "gfx1201"}
FACTS_WHEELS: dict[str, set[str]] = {
    "rocm6.0": _BASE,
    "rocm6.1": _BASE | {"gfx1101"},
    "rocm6.2": _BASE,
    "rocm6.2.4": _RDNA,
    "rocm6.3": _RDNA,
    "rocm6.4": _RDNA,
    "rocm7.0": _RDNA | {"gfx950"},
    "rocm7.1": _RDNA | {"gfx950"},
    "rocm7.2": _RDNA | {"gfx950", "gfx1150", "gfx1151"},
    # ROCM-FACTS §4b: ROCm as wheels, one device wheel per gfx; the device packages of
    # AMD's whl-next stable stream (TheRock rocm_whl_next_ownership.yaml).
    "rocm7.14": _WHEELS_714,
    "rocm10.0": _WHEELS_714 | {"gfx1250"},
}

# ROCM-FACTS §7 (6.0/6.1 from §1's "official Linux ROCm" column).
_OFFICIAL_OLD = {"gfx1100", "gfx1030", "gfx942", "gfx90a", "gfx908"}
# gfx1201/gfx1200 from 6.4.1 (CONFIRMED), gfx1101 from 6.4.1 (LIKELY).
_OFFICIAL_641 = _OFFICIAL_OLD | {"gfx1201", "gfx1200", "gfx1101"}
FACTS_OFFICIAL: dict[str, set[str]] = {
    "6.0": _OFFICIAL_OLD,
    "6.1": _OFFICIAL_OLD,
    "6.2": _OFFICIAL_OLD,
    "6.3": _OFFICIAL_OLD,
    "6.4.0": _OFFICIAL_OLD,
    "6.4.1": _OFFICIAL_641,
    "6.4.2": _OFFICIAL_641,
    "6.4.3": _OFFICIAL_641,
    "7.0": _OFFICIAL_641 | {"gfx950"},
    "7.0.2": _OFFICIAL_641 | {"gfx950"},
    "7.1": _OFFICIAL_641 | {"gfx950"},
    "7.1.1": _OFFICIAL_641 | {"gfx950"},
    "7.2": _OFFICIAL_641 | {"gfx950"},
}

KNOWN_GFX = sorted(set(FACTS_GPUS) | WHEEL_ONLY)


# --- the GPU table -----------------------------------------------------------------


def test_table_has_exactly_the_facts_rows() -> None:
    assert set(gpu_table().models) == set(FACTS_GPUS) | WHEEL_ONLY


@pytest.mark.parametrize("gfx", sorted(FACTS_GPUS))
def test_row_matches_facts(gfx: str) -> None:
    devices, integrated, override = FACTS_GPUS[gfx]
    model = gpu_table().model(gfx)
    assert model.gfx == gfx
    assert set(model.devices) == devices
    assert model.integrated is integrated
    assert model.override == override


@pytest.mark.parametrize("gfx", sorted(FACTS_GPUS))
def test_every_device_id_finds_its_row(gfx: str) -> None:
    devices, _, _ = FACTS_GPUS[gfx]
    for device_id in devices:
        found = gpu_table().by_device_id(device_id)
        assert found is not None
        assert found.gfx == gfx


def test_device_ids_are_unique_across_rows() -> None:
    seen: dict[str, str] = {}
    for model in gpu_table().models.values():
        for device_id in model.devices:
            assert device_id not in seen, f"{device_id} in {seen.get(device_id)} and {model.gfx}"
            seen[device_id] = model.gfx


def test_rdna4_is_not_inverted() -> None:
    table = gpu_table()
    nine070 = table.by_device_id("0x7550")
    nine060 = table.by_device_id("0x7590")
    assert nine070 is not None
    assert nine060 is not None
    assert nine070.gfx == "gfx1201"
    assert "9070 XT" in nine070.name_for("0x7550")
    assert nine060.gfx == "gfx1200"
    assert "9060 XT" in nine060.name_for("0x7590")


def test_apu_list_holds_llvms_apus() -> None:
    assert gpu_table().apu_gfx >= FACTS_APUS


@pytest.mark.parametrize("gfx", sorted(FACTS_GPUS))
def test_integrated_flag_agrees_with_llvms_apu_list(gfx: str) -> None:
    # One truth for "integrated": a row may not call an LLVM APU discrete, nor the reverse.
    assert gpu_table().model(gfx).integrated is (gfx in gpu_table().apu_gfx)


def test_integrated_answers_for_table_apu_list_and_unknown() -> None:
    table = gpu_table()
    assert table.integrated("gfx1036") is True
    assert table.integrated("gfx1100") is False
    assert table.integrated("gfx902") is True  # Raven: LLVM APU list only
    assert table.integrated("gfx1310") is None  # in neither: mlstack cannot tell


def test_every_override_onto_a_full_vgpr_isa_warns() -> None:
    # LLVM's full-VGPR GFX11 chips (gpus.toml full-vgpr-gfx): code built for one may use
    # more VGPRs than another GFX11 chip has. Every override from a smaller chip onto one of
    # them carries a warning; none is needed between two full-VGPR chips.
    import tomllib

    from mlstack_env.catalog import DATA_DIR

    with (DATA_DIR / "gpus.toml").open("rb") as f:
        full = set(tomllib.load(f)["full-vgpr-gfx"])
    assert full == {"gfx1100", "gfx1101", "gfx1151", "gfx1152"}
    checked = 0
    for gfx, model in gpu_table().models.items():
        for value in model.overrides:
            if override_gfx(value) in full and gfx not in full:
                assert value in model.override_warnings, (gfx, value)
                checked += 1
            elif value in model.override_warnings:
                assert override_gfx(value) in full, (gfx, value)
    assert checked == 2  # gfx1102 and gfx1103 onto 11.0.0


def test_navi21_usb_function_is_not_a_gpu() -> None:
    assert gpu_table().by_device_id("0x73a4") is None


def test_unknown_device_id_finds_nothing() -> None:
    assert gpu_table().by_device_id("0xffff") is None


def test_name_for_unknown_device_falls_back_to_family_or_only_name() -> None:
    navi32 = gpu_table().model("gfx1101")  # several names: the family is shown
    assert navi32.name_for(None) == navi32.family_name == "RDNA 3 (Navi 32)"
    assert navi32.name_for("0xdead") == navi32.family_name
    mi100 = gpu_table().model("gfx908")  # one name: that name
    assert mi100.name_for(None) == "Instinct MI100"


def test_unknown_gfx_error_lists_known_gfx() -> None:
    with pytest.raises(MlstackError) as info:
        gpu_table().model("gfx9999")
    assert "gfx9999" in info.value.message
    assert info.value.exit_code == 1
    assert info.value.hint is not None
    for gfx in KNOWN_GFX:
        assert gfx in info.value.hint


def test_every_override_names_a_shipped_isa_of_the_same_family() -> None:
    shipped = set().union(*FACTS_WHEELS.values())
    for model in gpu_table().models.values():
        if model.override is None:
            continue
        pretend = override_gfx(model.override)
        assert pretend in shipped, model.gfx
        assert pretend[:-2] == model.gfx[:-2], f"{model.gfx} -> {pretend}: another family"


# --- wheel gfx per index -----------------------------------------------------------


def test_wheel_indexes_are_exactly_the_facts_ones() -> None:
    assert set(gpu_table().wheel_gfx) == set(FACTS_WHEELS)


@pytest.mark.parametrize("index", sorted(FACTS_WHEELS))
def test_wheel_gfx_per_index(index: str) -> None:
    assert gpu_table().wheel_gfx[index] == FACTS_WHEELS[index]
    assert wheel_gfx(index.removeprefix("rocm")) == frozenset(FACTS_WHEELS[index])


@pytest.mark.parametrize(
    ("rocm", "index"),
    [
        ("6.0", "rocm6.0"),
        ("6.0.2", "rocm6.0"),
        ("6.2", "rocm6.2"),
        ("6.2.0", "rocm6.2"),
        ("6.2.4", "rocm6.2.4"),
        ("6.3.3", "rocm6.3"),
        ("6.4.1", "rocm6.4"),
        ("7.1.1", "rocm7.1"),
        ("7.2.0", "rocm7.2"),
        ("5.7", None),
        ("5.7.1", None),
        ("9.0", None),
    ],
)
def test_torch_index_name(rocm: str, index: str | None) -> None:
    assert torch_index_name(rocm) == index


@pytest.mark.parametrize(
    ("rocm", "version"),
    [("6.4.0", "6.4"), ("6.4.3", "6.4"), ("6.2.4", "6.2.4"), ("6.2.1", "6.2"), ("7.1", "7.1")],
)
def test_target_rocm_version_keeps_micro_only_for_its_own_index(rocm: str, version: str) -> None:
    assert target_rocm_version(rocm) == version


def test_no_wheel_index_is_a_user_error_listing_indexes() -> None:
    with pytest.raises(MlstackError) as info:
        torch_code_support("gfx1100", "5.7")
    assert info.value.exit_code == 1
    assert info.value.hint is not None
    assert "rocm6.4" in info.value.hint


@pytest.mark.parametrize("bad", ["7", "6.4rc1", "abc", "", "6.4.0-47", "6.4.0.1", "v6.4", "6.4\n"])
def test_parse_version_rejects_other_shapes(bad: str) -> None:
    with pytest.raises(MlstackError, match="invalid ROCm version") as info:
        parse_version(bad)
    assert info.value.hint is not None


@pytest.mark.parametrize("bad", ["7", "6.4rc1", "abc", "", "6.4.0-47", "6.4.0.1", "v6.4", "6.4\n",
                                 "\u0666.\u0664", "6..4", " 6.4"])
def test_rocm_release_refuses_what_parse_version_refuses(bad: str) -> None:
    with pytest.raises(MlstackError, match="invalid ROCm version"):
        rocm_release(bad)


@pytest.mark.parametrize("text", ["6.4", "6.4.0", "6.4.1", "10.0", "6.04", "7.14"])
def test_rocm_release_orders_as_packaging_does(text: str) -> None:
    """(major, minor, micro) of a ROCm version, without packaging.version on a store hit."""
    v = parse_version(text)
    assert rocm_release(text) == (v.major, v.minor, v.micro)
    assert (rocm_release(text) >= (6, 2, 0)) == (v >= parse_version("6.2"))


@pytest.mark.parametrize("text", [
    "2.8.0+rocm6.4", "2.5.1+rocm6.1", "2.10", "1", "02.08", "2.8.0+ROCM6.4.1", "2.8.0+a-b_c.d",
    "2.8.0+", "2.8.0+a..b", "2.8.0+é", "v2.8", "2.8.0a1", " 2.8", "2.8.post1", "1!2.8", "2..8",
    "", "\u0662.\u0668", "2.8.0+rocm6.4 "])
def test_release_numbers_are_packagings_release(text: str) -> None:
    """A torch version's release numbers, read without packaging.version when it is only
    numbers and a local label; anything else is packaging's answer, or its error."""
    from packaging.version import InvalidVersion, Version

    try:
        expected: tuple[int, ...] | None = Version(text).release
    except InvalidVersion:
        expected = None
    try:
        got: tuple[int, ...] | None = release_numbers(text)
    except ValueError:
        got = None
    assert got == expected


# --- the override rule: decided by the wheels' gfx list ------------------------------


@pytest.mark.parametrize("index", sorted(FACTS_WHEELS))
def test_gfx1030_is_native_everywhere_never_10_0_0(index: str) -> None:
    support = torch_code_support("gfx1030", index.removeprefix("rocm"))
    assert support.kind is CodeKind.NATIVE
    assert support.override is None


@pytest.mark.parametrize(
    ("gfx", "rocm", "kind", "override"),
    [
        ("gfx1031", "6.4", CodeKind.OVERRIDE, "10.3.0"),
        ("gfx1032", "6.4", CodeKind.OVERRIDE, "10.3.0"),
        ("gfx1035", "7.2", CodeKind.OVERRIDE, "10.3.0"),
        ("gfx1101", "6.3", CodeKind.NATIVE, None),
        ("gfx1101", "6.2", CodeKind.OVERRIDE, "11.0.0"),
        ("gfx1101", "6.2.4", CodeKind.NATIVE, None),
        ("gfx1102", "6.0", CodeKind.OVERRIDE, "11.0.0"),
        ("gfx1103", "6.4", CodeKind.OVERRIDE, "11.0.2"),  # gfx1102 carried: its VGPRs fit
        ("gfx1103", "6.2", CodeKind.OVERRIDE, "11.0.0"),  # no gfx1102: 11.0.0, with a warning
        ("gfx1201", "6.4", CodeKind.NATIVE, None),
        ("gfx1200", "6.4", CodeKind.NATIVE, None),
        ("gfx1201", "6.2", CodeKind.UNSUPPORTED, None),
        ("gfx942", "6.0", CodeKind.NATIVE, None),
        ("gfx942", "7.1", CodeKind.NATIVE, None),
        ("gfx950", "6.4", CodeKind.UNSUPPORTED, None),
        ("gfx950", "7.0", CodeKind.NATIVE, None),
        ("gfx1151", "7.2", CodeKind.NATIVE, None),
        ("gfx1151", "6.4", CodeKind.UNSUPPORTED, None),
        ("gfx1151", "7.1", CodeKind.UNSUPPORTED, None),
        ("gfx1152", "7.2", CodeKind.UNSUPPORTED, None),
    ],
)
def test_torch_code_support(gfx: str, rocm: str, kind: CodeKind, override: str | None) -> None:
    support = torch_code_support(gfx, rocm)
    assert support.gfx == gfx
    assert support.kind is kind
    assert support.override == override


@settings(deadline=None)  # no timing in tests: CI machines vary
@given(
    gfx=st.sampled_from(KNOWN_GFX),
    carried=st.sets(st.sampled_from(KNOWN_GFX)).map(frozenset),
)
def test_code_support_rule(gfx: str, carried: frozenset[str]) -> None:
    """Native exactly when carried; an override only to a carried ISA; never on a native card."""
    support = code_support(gfx, carried)
    if gfx in carried:
        assert support.kind is CodeKind.NATIVE
        assert support.override is None
    elif support.kind is CodeKind.OVERRIDE:
        assert support.override is not None
        assert override_gfx(support.override) in carried
    else:
        assert support.kind is CodeKind.UNSUPPORTED
        model = gpu_table().model(gfx)
        assert model.override is None or override_gfx(model.override) not in carried


def test_code_support_unknown_gfx_is_a_user_error() -> None:
    with pytest.raises(MlstackError, match="gfx1310"):
        code_support("gfx1310", frozenset({"gfx1030"}))


@pytest.mark.parametrize(
    ("override", "gfx"), [("10.3.0", "gfx1030"), ("11.0.0", "gfx1100"), ("9.4.2", "gfx942")]
)
def test_override_gfx(override: str, gfx: str) -> None:
    assert override_gfx(override) == gfx


# --- official support (§7), a different question --------------------------------------


@pytest.mark.parametrize("rocm", sorted(FACTS_OFFICIAL))
def test_official_support_per_release(rocm: str) -> None:
    expected = FACTS_OFFICIAL[rocm]
    for gfx in KNOWN_GFX:
        support = official_support(gfx, rocm)
        assert support.supported is (gfx in expected), (gfx, rocm)
        assert support.known_release


def test_gfx1101_runs_natively_on_rocm63_but_is_official_only_from_641() -> None:
    assert torch_code_support("gfx1101", "6.3").kind is CodeKind.NATIVE
    assert not official_support("gfx1101", "6.3").supported
    assert not official_support("gfx1101", "6.4.0").supported
    assert official_support("gfx1101", "6.4.1").supported
    assert official_support("gfx1101", "6.4.0").releases[0] == "6.4.1"
    assert "from 6.4.1" in official_support("gfx1101", "6.4.0").describe()


@pytest.mark.parametrize("gfx", ["gfx1200", "gfx1201"])
def test_rdna4_is_official_from_641(gfx: str) -> None:
    assert not official_support(gfx, "6.4.0").supported
    assert official_support(gfx, "6.4.1").supported


def test_official_support_outside_the_table() -> None:
    old = official_support("gfx1100", "5.7")
    assert not old.supported
    assert not old.known_release
    newer = official_support("gfx1100", "9.0")
    assert not newer.known_release
    never = official_support("gfx1031", "7.2")
    assert not never.supported
    assert never.releases == ()
    assert "nor any listed release" in never.describe()


# --- gfx_target_version decoding (§2) ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "gfx"),
    [
        (90008, "gfx908"),
        (90010, "gfx90a"),
        (90402, "gfx942"),
        (90500, "gfx950"),
        (90012, "gfx90c"),  # Renoir: step 12 is the hex digit c
        (100300, "gfx1030"),
        (100301, "gfx1031"),
        (110000, "gfx1100"),
        (110001, "gfx1101"),
        (110002, "gfx1102"),
        (110003, "gfx1103"),
        (100306, "gfx1036"),  # Raphael / Granite Ridge / Mendocino
        (110501, "gfx1151"),
        (120000, "gfx1200"),
        (120001, "gfx1201"),
        (120500, "gfx1250"),
    ],
)
def test_decode_gfx_target_version(value: int, gfx: str) -> None:
    assert decode_gfx_target_version(value) == gfx


@settings(deadline=None)  # no timing in tests: CI machines vary
@given(
    major=st.integers(min_value=1, max_value=99),
    minor=st.integers(min_value=0, max_value=15),
    step=st.integers(min_value=0, max_value=15),
)
def test_gfx_target_version_round_trip(major: int, minor: int, step: int) -> None:
    name = decode_gfx_target_version(major * 10000 + minor * 100 + step)
    assert name.startswith("gfx")
    assert (int(name[3:-2]), int(name[-2], 16), int(name[-1], 16)) == (major, minor, step)
    # HSA_OVERRIDE_GFX_VERSION uses the same three numbers.
    assert override_gfx(f"{major}.{minor}.{step}") == name


# --- targets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rocm", "gfx"),
    [
        ("rocm6.4:gfx1100", "6.4", ("gfx1100",)),
        ("  rocm6.4:gfx1100  ", "6.4", ("gfx1100",)),
        ("rocm6.2.4:gfx1101", "6.2.4", ("gfx1101",)),
        ("rocm7.0:gfx942,gfx90a", "7.0", ("gfx90a", "gfx942")),
        ("rocm7.0:gfx1100,gfx942,gfx90a,gfx908", "7.0", ("gfx908", "gfx90a", "gfx942", "gfx1100")),
        ("rocm6.4:GFX1100", "6.4", ("gfx1100",)),
        ("rocm6.4:gfx1100,gfx1100", "6.4", ("gfx1100",)),
        ("rocm6.4:gfx1201,gfx1030,", "6.4", ("gfx1030", "gfx1201")),
    ],
)
def test_target_parse(text: str, rocm: str, gfx: tuple[str, ...]) -> None:
    target = Target.parse(text)
    assert target.backend == "rocm"
    assert target.is_rocm
    assert target.rocm == rocm
    assert target.gfx == gfx
    assert str(target) == f"rocm{rocm}:{','.join(gfx)}"


def test_target_cpu() -> None:
    target = Target.parse("cpu")
    assert target == Target.cpu()
    assert str(target) == "cpu"
    assert not target.is_rocm
    assert target.rocm_minor is None


def test_target_rocm_minor() -> None:
    assert Target.parse("rocm6.2.4:gfx1100").rocm_minor == "6.2"
    assert Target.parse("rocm6.4:gfx1100").rocm_minor == "6.4"


@pytest.mark.parametrize(
    "text",
    ["", "gpu", "rocm", "rocm6:gfx1100", "rocm6.4.1.2:gfx1100", "cuda12.4:gfx1100",
     "rocm6.4;gfx1100", "rocm6.4:gfx1100 gfx942", "ROCM6.4:gfx1100", "rocm 6.4:gfx1100"],
)
def test_target_parse_bad_string(text: str) -> None:
    with pytest.raises(MlstackError, match="bad target") as info:
        Target.parse(text)
    assert info.value.exit_code == 1
    assert info.value.hint is not None
    assert "rocmX.Y" in info.value.hint


@pytest.mark.parametrize("text", ["rocm6.4", "rocm6.4:", "rocm6.4:,"])
def test_target_parse_missing_gfx(text: str) -> None:
    with pytest.raises(MlstackError, match="names no GPU architecture") as info:
        Target.parse(text)
    assert info.value.hint is not None
    assert "rocm6.4:gfx" in info.value.hint


def test_target_parse_unknown_gfx_hint_lists_known() -> None:
    with pytest.raises(MlstackError, match="gfx9999") as info:
        Target.parse("rocm6.4:gfx1100,gfx9999")
    assert info.value.hint is not None
    for gfx in KNOWN_GFX:
        assert gfx in info.value.hint


_versions = st.builds(
    lambda parts: ".".join(str(p) for p in parts),
    st.lists(st.integers(min_value=0, max_value=20), min_size=2, max_size=3),
)


@settings(deadline=None)  # no timing in tests: CI machines vary
@given(version=_versions, gfx=st.lists(st.sampled_from(KNOWN_GFX), min_size=1, max_size=6))
def test_target_str_parse_round_trip(version: str, gfx: list[str]) -> None:
    target = Target.rocm_for(version, gfx)
    assert Target.parse(str(target)) == target
    # Order and repeats in the input do not matter; the gfx list is sorted and unique.
    assert Target.parse(f"rocm{version}:{','.join(reversed(gfx))}") == target
    assert len(target.gfx) == len(set(gfx))
    # Sorted by ISA number: gfx908 < gfx90a < gfx942 < gfx1030 < gfx1100.
    numbers = [(int(g[3:-2]), int(g[-2], 16), int(g[-1], 16)) for g in target.gfx]
    assert numbers == sorted(numbers)


# --- what a torch version carries (FACTS §1: base, +1101 in 2.6, +1102/1200/1201 in 2.7,
# +950/1150/1151 in 2.10) --------------------------------------------------------------


@pytest.mark.parametrize(("rocm", "torch", "gfx", "carried"), [
    ("6.1", "2.5.1+rocm6.1", "gfx1101", False),  # the rocm6.1 index lists it, 2.5 lacks it
    ("6.1", "2.6.0+rocm6.1", "gfx1101", True),
    ("6.2.4", "2.6.0+rocm6.2.4", "gfx1102", False),
    ("6.2.4", "2.7.1+rocm6.2.4", "gfx1102", True),
    ("6.2.4", "2.6.0+rocm6.2.4", "gfx1201", False),
    ("6.4", "2.8.0+rocm6.4", "gfx1201", True),
    ("7.2", "2.11.0+rocm7.2", "gfx1151", True),
    ("6.2", "2.7.0", "gfx1102", False),  # never more than the index's own list
])
def test_wheel_gfx_follows_the_torch_version(rocm: str, torch: str, gfx: str,
                                             carried: bool) -> None:
    got = wheel_gfx(rocm, torch)
    assert got is not None
    assert (gfx in got) is carried
    assert got <= (wheel_gfx(rocm) or frozenset())


def test_rdna4_never_gets_an_override() -> None:
    for gfx in ("gfx1200", "gfx1201"):
        assert gpu_table().model(gfx).overrides == ()
        assert code_support(gfx, wheel_gfx("6.2") or frozenset()).kind is CodeKind.UNSUPPORTED


def test_gfx1103_prefers_11_0_2_and_warns_on_11_0_0() -> None:
    with_1102 = code_support("gfx1103", wheel_gfx("6.4", "2.8.0+rocm6.4") or frozenset())
    assert (with_1102.override, with_1102.warning) == ("11.0.2", "")
    without = code_support("gfx1103", wheel_gfx("6.2.4", "2.6.0+rocm6.2.4") or frozenset())
    assert without.override == "11.0.0" and "page-fault" in without.warning
    gfx1102 = code_support("gfx1102", wheel_gfx("6.2") or frozenset())
    assert gfx1102.override == "11.0.0" and "page-fault" in gfx1102.warning
