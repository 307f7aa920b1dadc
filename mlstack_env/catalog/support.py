"""The two questions about a GPU, kept apart on purpose (ROCM-FACTS §1): does the GPU
code an env runs carry its gfx (:func:`code_support`: native, an override, or not at all),
and does AMD officially support it on a ROCm release (:func:`official_support`)."""

from __future__ import annotations

from enum import StrEnum

from mlstack_env.catalog import gpu_table, no_index_error, parse_version, wheel_gfx
from mlstack_env.core.record import record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from packaging.version import Version


class CodeKind(StrEnum):
    NATIVE = "native"
    OVERRIDE = "override"
    UNSUPPORTED = "unsupported"


@record
class CodeSupport:
    """How the wheels of an entry run on one gfx: native, through an override, or not at all."""
    gfx: str
    kind: CodeKind
    override: str | None = None  # the HSA_OVERRIDE_GFX_VERSION value, with OVERRIDE
    warning: str = ""  # the table's warning for that value (gfx1103 on 11.0.0)

    def describe(self) -> str:
        if self.kind is CodeKind.NATIVE:
            return "native"
        if self.kind is CodeKind.OVERRIDE:
            return f"override {self.override}"
        return "cannot run"


def override_gfx(override: str) -> str:
    """The gfx an override value pretends to be: 10.3.0 -> gfx1030, 9.4.2 -> gfx942."""
    major, minor, step = (int(p) for p in override.split("."))
    return f"gfx{major}{minor:x}{step:x}"


def code_support(gfx: str, carried: frozenset[str]) -> CodeSupport:
    """Can a GPU of this gfx run code compiled for the ``carried`` gfx list?

    Native when carried; else the first of the table's overrides whose ISA is carried (same
    family by construction of the table; none for RDNA 4); else it cannot run.
    """
    model = gpu_table().model(gfx)
    if gfx in carried:
        return CodeSupport(gfx, CodeKind.NATIVE)
    for value in model.overrides:
        if override_gfx(value) in carried:
            return CodeSupport(gfx, CodeKind.OVERRIDE, value,
                               model.override_warnings.get(value, ""))
    return CodeSupport(gfx, CodeKind.UNSUPPORTED)


def torch_code_support(gfx: str, rocm_version: str) -> CodeSupport:
    """:func:`code_support` for the PyTorch wheels of a ROCm version's index."""
    carried = wheel_gfx(rocm_version)
    if carried is None:
        raise no_index_error(rocm_version)
    return code_support(gfx, carried)


@record
class OfficialSupport:
    """Whether AMD's compatibility matrix lists a gfx for a ROCm release."""
    gfx: str
    rocm: str
    supported: bool
    releases: tuple[str, ...]  # every listed release that supports the gfx
    known_release: bool  # False when the ROCm version is newer/older than the table

    def describe(self) -> str:
        if self.supported:
            return f"officially supported on ROCm {self.rocm}"
        if not self.releases:
            return f"not officially supported on ROCm {self.rocm} nor any listed release"
        since = self.releases[0]
        return f"not officially supported on ROCm {self.rocm} (supported from {since} on)"


def _release_row(rocm_version: Version, rows: dict[str, frozenset[str]]) -> str | None:
    from packaging.version import Version  # a store hit asks no official support

    best: str | None = None
    for name in rows:
        if Version(name) <= rocm_version and (best is None or Version(name) > Version(best)):
            best = name
    return best


def official_support(gfx: str, rocm_version: str) -> OfficialSupport:
    from packaging.version import Version

    table = gpu_table()
    table.model(gfx)
    v = parse_version(rocm_version)
    rows = table.official_gfx
    row = _release_row(v, rows)
    releases = tuple(
        sorted((name for name, gfxs in rows.items() if gfx in gfxs), key=Version)
    )
    newest = max(rows, key=Version)
    known = row is not None and Version(f"{v.major}.{v.minor}") <= Version(newest)
    return OfficialSupport(
        gfx=gfx,
        rocm=rocm_version,
        supported=row is not None and gfx in rows[row],
        releases=releases,
        known_release=known,
    )
