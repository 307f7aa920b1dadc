"""One wheel source: its kinds, uses and backends (enums), the ``Source`` a catalog or
project table describes, and the ``ConcreteSource`` it is for one target (URL filled in).

Parsing a ``[sources.NAME]`` table is ``catalog/sourceparse.py``'s; the set of sources
and what a target takes from them, ``catalog/sources.py``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

from mlstack_env.catalog import torch_index_name, wheels_release
from mlstack_env.catalog.target import Target
from mlstack_env.core.record import field, record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any


class SourceKind(StrEnum):
    """How uv reads a source: a PEP 503 index, or a page of wheel links."""

    INDEX = "index"
    FIND_LINKS = "find-links"


class SourceUse(StrEnum):
    """When a source joins a resolve: always, or when a profile requires its packages."""

    ALWAYS = "always"
    WHEN_REQUIRED = "when-required"


class SourceBackend(StrEnum):
    """The targets a source applies to (its ``backends``)."""

    ROCM = "rocm"  # the releases whose torch wheels bundle ROCm's libraries (up to 7.2)
    # a release whose user space ships as wheels (ROCM-FACTS §4b; gpus.toml [rocm-wheels])
    ROCM_WHEELS = "rocm-wheels"
    CPU = "cpu"


KINDS = tuple(k.value for k in SourceKind)
USES = tuple(u.value for u in SourceUse)
BACKENDS: tuple[SourceBackend, ...] = tuple(SourceBackend)


def source_backend(target: Target) -> SourceBackend:
    """Which ``backends`` value a target's sources are chosen by."""
    if target.rocm is None:
        return SourceBackend.CPU
    return SourceBackend.ROCM_WHEELS if wheels_release(target.rocm) else SourceBackend.ROCM


def url_fill(target: Target) -> dict[str, str]:
    """The values of a source URL's placeholders for ``target`` (``""`` where unknown)."""
    if target.rocm is None:
        return {"index": "cpu", "rocm": "", "wheels": ""}
    release = wheels_release(target.rocm)
    return {"index": torch_index_name(target.rocm) or "", "rocm": target.rocm,
            "wheels": release.index if release else ""}


@record
class Source:
    """One package source from the catalog: an index URL template and where it applies."""
    name: str
    kind: SourceKind
    url: str  # a template: {index}, {rocm}
    backends: tuple[SourceBackend, ...] = BACKENDS
    packages: tuple[str, ...] = ()
    use: SourceUse = SourceUse.ALWAYS
    default: bool = False
    files: tuple[str, ...] = ()
    enabled: bool = True
    labelled: tuple[str, ...] = ()
    # ROCm version -> the folder filling {variant} (vLLM's rocm700, rocm722, …); a target
    # whose ROCm has none gets no build from this source.
    variants: Mapping[str, str] = field(default_factory=dict)
    # variant -> the release filling {version} when the profile pins none of `packages`
    # exactly (vLLM publishes one index per release and variant: …/rocm/<version>/<variant>)
    releases: Mapping[str, str] = field(default_factory=dict)
    python: tuple[str, ...] = ()  # the only Pythons its wheels are built for ("3.12")
    # Its packages come from it only: where it has no build (backend, variant, Python),
    # naming one of them is an error, never a fall-through to the default index (the CUDA
    # trap: PyPI's vllm is a CUDA build).
    exclusive: bool = False
    # The platform its wheels need (vLLM's ROCm wheels: glibc >= 2.35), when newer than the
    # default x86_64-manylinux_2_28: an entry that uses the source is locked for it.
    platform: str = ""
    # A stream of pre-releases (nightlies): what it carries may be one (resolve/prerelease)
    prereleases: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "url": self.url,
            "backends": list(self.backends), "packages": list(self.packages), "use": self.use,
            "default": self.default, "files": list(self.files), "enabled": self.enabled,
            "labelled": list(self.labelled), "variants": dict(self.variants),
            "releases": dict(self.releases), "python": list(self.python),
            "exclusive": self.exclusive, "platform": self.platform,
            **({"prereleases": True} if self.prereleases else {}),
        }

    def variant(self, rocm: str | None) -> str | None:
        """The {variant} for a ROCm version: an exact ``X.Y.Z`` row, else ``X.Y``."""
        if rocm is None:
            return None
        if rocm in self.variants:
            return self.variants[rocm]
        return self.variants.get(".".join(rocm.split(".")[:2]))

    def variant_list(self) -> str:
        """The variants that exist, with their ROCm: ``7.0 (rocm700), 7.2.2 (rocm722)``"""
        return ", ".join(f"{rocm} ({folder})" for rocm, folder in self.variants.items())

    def release(self, target: Target, pins: Mapping[str, str]) -> str | None:
        """The {version} for ``target``: the profile's exact pin of one of ``packages``
        (``pins``: canonical name -> public version), else this source's ``releases`` row
        for the target's variant; None when neither names one."""
        from packaging.utils import canonicalize_name

        for p in self.packages:
            if canonicalize_name(p) in pins:
                return pins[canonicalize_name(p)]
        variant = self.variant(target.rocm)
        return self.releases.get(variant) if variant is not None else None

    def unavailable(self, target: Target, python: str) -> str | None:
        """Why this source has no build for ``target`` and ``python``, or None."""
        if SourceBackend(target.backend) not in self.backends:
            return f"it has builds for {', '.join(self.backends)} targets only"
        if "{variant}" in self.url and self.variant(target.rocm) is None:
            return ("it has builds for ROCm " + self.variant_list() + " only"
                    if self.variants else "it names no ROCm variant")
        if self.python and python not in self.python:
            return f"its wheels are built for Python {' and '.join(self.python)} only"
        return None


@record
class ConcreteSource:
    """A source for one target: its URL filled in."""

    name: str
    kind: SourceKind
    url: str
    packages: tuple[str, ...]
    default: bool
    files: tuple[str, ...]
    labelled: tuple[str, ...]
    exclusive: bool = False
    platform: str = ""
    prereleases: bool = False

    def owns(self, wheel_url: str) -> bool:
        """Does a (canonical) wheel URL come from this source?"""
        base = self.url.rstrip("/") + "/"
        return any(wheel_url.startswith(p) for p in (base, *self.files))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "url": self.url,
            "packages": list(self.packages), "default": self.default,
            "files": list(self.files), "labelled": list(self.labelled),
            "exclusive": self.exclusive, "platform": self.platform,
            **({"prereleases": True} if self.prereleases else {}),
        }


PLATFORM_RE = re.compile(r"x86_64-manylinux_2_(\d+)")


def newest_platform(platforms: list[str], default: str) -> str:
    """The most demanding of ``default`` and the sources' platforms (highest glibc)."""
    def glibc(p: str) -> int:
        m = PLATFORM_RE.fullmatch(p)
        return int(m.group(1)) if m else 0
    return max([default, *(p for p in platforms if p)], key=glibc)
