"""The built-in knowledge as data: GPU table, wheel gfx lists, ROCm releases.

The data lives in TOML files beside this module; this module only loads it and answers
questions about it. The two support questions live in :mod:`mlstack_env.catalog.support`,
kept apart on purpose (ROCM-FACTS §1): does the GPU code an env will run carry a gfx
(natively, through ``HSA_OVERRIDE_GFX_VERSION``, or not at all), and does AMD officially
support that gfx on a ROCm release?
"""

from __future__ import annotations

import re
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

from mlstack_env.core import tomlmemo
from mlstack_env.core.errors import InternalError, TargetError
from mlstack_env.core.record import field, record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from packaging.version import Version

DATA_DIR = Path(__file__).parent


class GpuFamily(StrEnum):
    """The architecture family of a gfx: the part of the table's ``family`` before the chip
    name (``RDNA 3`` of ``RDNA 3 (Navi 31)``). A new family is added here and in gpus.toml."""

    GCN5 = "GCN 5"
    CDNA1 = "CDNA 1"
    CDNA2 = "CDNA 2"
    CDNA3 = "CDNA 3"
    CDNA4 = "CDNA 4"
    RDNA1 = "RDNA 1"
    RDNA2 = "RDNA 2"
    RDNA3 = "RDNA 3"
    RDNA3_5 = "RDNA 3.5"
    RDNA4 = "RDNA 4"
    GFX12_5 = "GFX 12.5"  # gfx1250/gfx1251: LLVM names no product family yet

    @property
    def is_rdna(self) -> bool:
        return self.value.startswith("RDNA")


@record
class GpuModel:
    """One gfx target of the GPU table: family, chip, marketing names, overrides, PCI ids."""
    gfx: str
    family: GpuFamily
    chip: str | None  # "Navi 31", "Strix Halo iGPU"; None when the table names none
    names: tuple[str, ...]
    integrated: bool
    # HSA_OVERRIDE_GFX_VERSION values in order of preference (the first whose ISA the
    # wheels carry wins); empty when none is safe. Never any for RDNA 4.
    overrides: tuple[str, ...]
    devices: dict[str, str]
    note: str = ""  # where the row comes from: CONFIRMED / LIKELY (ROCM-FACTS §1)
    override_warnings: dict[str, str] = field(default_factory=dict)  # value -> warning

    @property
    def override(self) -> str | None:
        """The preferred override value (the table's first), or None."""
        return self.overrides[0] if self.overrides else None

    @property
    def family_name(self) -> str:
        """The table's wording: ``RDNA 3 (Navi 31)``."""
        return f"{self.family} ({self.chip})" if self.chip else str(self.family)

    def name_for(self, device_id: str | None) -> str:
        if device_id is not None and device_id in self.devices:
            return self.devices[device_id]
        return self.names[0] if len(self.names) == 1 else self.family_name


@record
class WheelsRelease:
    """A ROCm release whose user space ships as wheels (ROCM-FACTS §4b)."""

    name: str  # the index name, "rocm7.14"
    index: str  # AMD's multi-arch release index
    sdk: str  # the version spec every rocm-sdk-* wheel matches, "7.14.*"
    released: str  # "2026-07"

    @property
    def rocm(self) -> str:
        return self.name.removeprefix("rocm")


@record
class GpuTable:
    """The GPU table (gpus.toml): the models and which ROCm releases and wheels carry each gfx."""
    models: dict[str, GpuModel]
    wheel_gfx: dict[str, frozenset[str]]
    official_gfx: dict[str, frozenset[str]]
    official_os: dict[str, dict[str, tuple[str, ...]]]
    rocm_wheels: dict[str, WheelsRelease] = field(default_factory=dict)
    rocm_wheel_names: tuple[str, ...] = ()
    apu_gfx: frozenset[str] = frozenset()  # LLVM's APU processors (AMDGPUUsage)
    # torch minor -> the gfx its ROCm wheels gained then ("base": from the start)
    torch_gfx: dict[str, frozenset[str]] = field(default_factory=dict)

    def integrated(self, gfx: str) -> bool | None:
        """Is this gfx an integrated GPU? The table's flag, else LLVM's APU list; None when
        mlstack cannot tell (a gfx in neither): such a GPU must decide nothing."""
        model = self.models.get(gfx)
        if model is not None:
            return model.integrated
        return True if gfx in self.apu_gfx else None

    def model(self, gfx: str) -> GpuModel:
        try:
            return self.models[gfx]
        except KeyError:
            raise unknown_gfx_error(gfx, self) from None

    def by_device_id(self, device_id: str) -> GpuModel | None:
        for model in self.models.values():
            if device_id in model.devices:
                return model
        return None


def unknown_gfx_error(gfx: str, table: GpuTable | None = None) -> TargetError:
    known = ", ".join((table or gpu_table()).models)
    return TargetError(
        f"unknown GPU architecture {gfx!r}",
        hint=f"use one of: {known}",
    )


@cache
def gpu_table() -> GpuTable:
    raw = tomlmemo.load(DATA_DIR / "gpus.toml")
    models: dict[str, GpuModel] = {}
    for row in raw["gpu"]:
        family, chip = _family(row["family"])
        models[row["gfx"]] = GpuModel(
            gfx=row["gfx"],
            family=family,
            chip=chip,
            names=tuple(row["names"]),
            integrated=bool(row["integrated"]),
            overrides=_overrides(row),
            devices={k.lower(): v for k, v in row["devices"].items()},
            note=row.get("note", ""),
            override_warnings=dict(row.get("override-warning", {})),
        )
    return GpuTable(
        models=models,
        wheel_gfx={k: frozenset(v) for k, v in raw["wheel-gfx"].items()},
        official_gfx={k: frozenset(v) for k, v in raw["official-gfx"].items()},
        official_os={
            k: {distro: tuple(vs) for distro, vs in v.items()}
            for k, v in raw["official-os"].items()
        },
        rocm_wheels={
            name: WheelsRelease(name, row["index"], row["sdk"], row["released"])
            for name, row in raw.get("rocm-wheels", {}).items()
        },
        rocm_wheel_names=tuple(raw.get("rocm-wheels-names", {}).get("patterns", ())),
        apu_gfx=frozenset(raw.get("apu-gfx", ())),
        torch_gfx={k: frozenset(v) for k, v in raw.get("torch-gfx", {}).items()},
    )


def _overrides(row: dict[str, object]) -> tuple[str, ...]:
    """A row's ``override``: a list in order of preference, or one string ("" = none).
    RDNA 4 never gets one: the override crashes it (ROCM-FACTS §1)."""
    raw = row["override"]
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else None
    if values is None or not all(isinstance(v, str) for v in values):
        raise InternalError(f"gpus.toml: {row['gfx']}: override must be a string or a list")
    values = [v for v in values if v]
    if values and str(row["family"]).startswith(GpuFamily.RDNA4.value):
        raise InternalError(f"gpus.toml: {row['gfx']}: RDNA 4 must have no override")
    return tuple(values)


_FAMILY_RE = re.compile(r"(?P<family>[^(]+?)\s*(?:\((?P<chip>[^)]*)\))?")


def _family(text: str) -> tuple[GpuFamily, str | None]:
    """``RDNA 3 (Navi 31)`` -> (RDNA3, "Navi 31"); an unknown family is a bug in gpus.toml."""
    m = _FAMILY_RE.fullmatch(text.strip())
    if m is None or m.group("family") not in GpuFamily._value2member_map_:
        raise InternalError(f"gpus.toml: unknown GPU family {text!r}; add it to GpuFamily")
    return GpuFamily(m.group("family")), m.group("chip")


ROCM_VERSION_HINT = "write it as X.Y or X.Y.Z, e.g. 6.4 or 6.4.1"


def rocm_release(text: str) -> tuple[int, int, int]:
    """A ROCm version written ``X.Y`` or ``X.Y.Z`` as (major, minor, micro), compared as
    ``packaging.version`` compares them (``6.4`` is ``6.4.0``); anything else is a user
    error — the shape a target string accepts (target.py): "7" or "6.4rc1" would make
    targets that ``Target.parse`` rejects. What a store hit asks of a ROCm version,
    without importing packaging.version (1.5 ms with its regular expression)."""
    parts = text.split(".")
    if not (2 <= len(parts) <= 3 and all(p.isascii() and p.isdigit() for p in parts)):
        raise TargetError(f"invalid ROCm version {text!r}", hint=ROCM_VERSION_HINT)
    major, minor, *micro = (int(p) for p in parts)
    return major, minor, micro[0] if micro else 0


def parse_version(text: str) -> Version:
    """A ROCm version written ``X.Y`` or ``X.Y.Z``; anything else is a user error."""
    from packaging.version import Version  # not on a store hit: rocm_release is

    rocm_release(text)
    return Version(text)


def release_numbers(version: str) -> tuple[int, ...]:
    """``packaging.version.Version(version).release``: the release numbers of a Python
    version (``2.5.1+rocm6.1`` -> (2, 5, 1)); its ``InvalidVersion`` (a ValueError) for
    text that is no version. A version of release numbers and a local label, as torch's
    are, is read without importing packaging.version."""
    public, plus, local = version.partition("+")
    parts = public.split(".")
    segments = local.replace("-", ".").replace("_", ".").split(".")
    if all(p.isascii() and p.isdigit() for p in parts) \
            and (not plus or all(s.isascii() and s.isalnum() for s in segments)):
        return tuple(int(p) for p in parts)
    from packaging.version import Version

    return Version(version).release


def torch_index_name(rocm_version: str) -> str | None:
    """The PyTorch ROCm index (``rocm6.4``, ``rocm6.2.4``) whose wheels suit a ROCm version.

    An exact ``rocmX.Y.Z`` index wins; else the ``rocmX.Y`` one; else None.
    """
    major, minor, micro = rocm_release(rocm_version)
    indexes = gpu_table().wheel_gfx
    full = f"rocm{major}.{minor}.{micro}"
    if micro and full in indexes:
        return full
    short = f"rocm{major}.{minor}"
    return short if short in indexes else None


def wheel_gfx(rocm_version: str, torch_version: str | None = None) -> frozenset[str] | None:
    """The gfx compiled into the PyTorch wheels for this ROCm version, or None if unknown.

    With ``torch_version`` (the locked torch, ``2.5.1+rocm6.1``), only what that torch
    release carried: the index's list ∩ the gfx torch had gained by then (``[torch-gfx]``,
    ROCM-FACTS §1). A torch newer than the table is taken to carry the index's whole list.
    """
    index = torch_index_name(rocm_version)
    if not index:
        return None
    carried = gpu_table().wheel_gfx[index]
    had = torch_gfx(torch_version) if torch_version else None
    return carried & had if had is not None else carried


def torch_gfx(torch_version: str) -> frozenset[str] | None:
    """The gfx PyTorch's ROCm wheels of this torch release could carry (``[torch-gfx]``),
    or None when the table cannot say (no table, or a version it cannot read)."""
    table = gpu_table().torch_gfx
    try:
        numbers = release_numbers(torch_version)[:2]
    except ValueError:  # packaging's InvalidVersion
        return None
    if "base" not in table or len(numbers) < 2:
        return None
    out = set(table["base"])
    for minor, added in table.items():
        if minor != "base" and release_numbers(minor)[:2] <= numbers:
            out |= added
    return frozenset(out)


def wheels_release(rocm_version: str) -> WheelsRelease | None:
    """The ROCm-as-wheels release a ROCm version belongs to (7.14, 10.0), else None."""
    index = torch_index_name(rocm_version)
    return gpu_table().rocm_wheels.get(index) if index else None


def is_rocm_wheel_name(name: str) -> bool:
    """Is this (canonical) dist name one only AMD's ROCm-as-wheels index may provide?"""
    return any(fnmatchcase(name, p) for p in gpu_table().rocm_wheel_names)


def same_host_rocm(a: str | None, b: str | None) -> bool:
    """Do two targets' ROCm versions ask the same of a host? The same major.minor; or both
    ROCm-as-wheels releases: an env of either brings its own ROCm and needs only the amdgpu
    driver from the host (ROCM-FACTS §4b), so a project may pin 7.14 where detect proposes
    10.0."""
    if a is None or b is None:
        return a == b
    if rocm_release(a)[:2] == rocm_release(b)[:2]:
        return True
    return wheels_release(a) is not None and wheels_release(b) is not None


@record
class Proposal:
    """The release ``detect`` proposes for GPUs on a machine without ROCm, and why."""

    release: WheelsRelease | None
    reason: str


def propose_wheels_release(gfx_list: tuple[str, ...] | list[str]) -> Proposal:
    """The newest ROCm-as-wheels release whose wheels carry every GPU natively.

    Without a ROCm install nothing on the host pins a release, and these releases need
    only the kernel driver: the env brings ROCm itself (ROCM-FACTS §4b).
    """
    gfx = list(dict.fromkeys(gfx_list))
    table = gpu_table()
    from packaging.version import Version  # detect and init only

    newest = sorted(table.rocm_wheels.values(), key=lambda r: Version(r.rocm), reverse=True)
    for release in newest:
        carried = table.wheel_gfx.get(release.name, frozenset())
        if all(g in carried for g in gfx):
            return Proposal(release, (
                f"no ROCm installed: {release.name} ({release.released}) is the newest release "
                f"whose wheels carry {', '.join(gfx)}; its envs hold ROCm itself as wheels and "
                "need only the amdgpu driver from the host"))
    names = ", ".join(r.name for r in newest) or "none"
    return Proposal(None, (
        f"no ROCm installed, and no ROCm-as-wheels release ({names}) carries "
        f"{', '.join(gfx)}: environments use CPU builds"))


def no_index_error(rocm_version: str) -> TargetError:
    known = ", ".join(gpu_table().wheel_gfx)
    return TargetError(
        f"no known PyTorch wheel index for ROCm {rocm_version}",
        hint=f"use a ROCm version that has one: {known}",
    )
