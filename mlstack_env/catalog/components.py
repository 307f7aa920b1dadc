"""The components ``mlstack init`` builds a profile from: ``components.toml``, loaded, and
the one question asked of it — is a component available for a target and a Python, and
if not, why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet

from mlstack_env.catalog import DATA_DIR, gpu_table
from mlstack_env.catalog.target import Target
from mlstack_env.core import tomlmemo
from mlstack_env.core.errors import InternalError

if TYPE_CHECKING:
    from mlstack_env.catalog.sourcemodel import Source


@dataclass(frozen=True)
class Component:
    """One component `mlstack init` offers: its packages, system packages and variables."""
    id: str
    title: str
    packages: tuple[str, ...] = ()
    system: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    env_rdna: Mapping[str, str] = field(default_factory=dict)
    backends: tuple[str, ...] = ("rocm", "cpu")
    rocm: str | None = None
    # A [sources.NAME] (sources.toml) that alone carries its builds: its ROCm variants say
    # which releases have one, its Pythons which Pythons (one home: the source).
    source: str | None = None
    gfx: tuple[str, ...] = ()
    python: tuple[str, ...] = ()
    why: str = ""
    notes: tuple[str, ...] = ()
    default: bool = False
    required: bool = False
    included: str | None = None

    def problems(self, target: Target, python: str | None) -> list[str]:
        """Why this component cannot be had on ``target`` with ``python``; empty if it can."""
        out: list[str] = []
        if target.backend not in self.backends:
            out.append(f"no {target.backend} build")
            return out
        if target.is_rocm and self.rocm and target.rocm is not None \
                and not SpecifierSet(self.rocm).contains(target.rocm, prereleases=True):
            out.append(f"needs ROCm {self.rocm} (target has {target.rocm})")
        releases = self._source_releases()
        if target.is_rocm and releases and target.rocm is not None \
                and not _has_variant(self.source, target.rocm):
            out.append(f"needs ROCm {_or(releases)} (target has {target.rocm})")
        if target.is_rocm and self.gfx:
            missing = [g for g in target.gfx if g not in self.gfx]
            if missing:
                out.append(f"no build for {', '.join(missing)}")
        if python is not None and self.python and python not in self.python:
            out.append(f"needs Python {' or '.join(self.python)} (not {python})")
        return out

    def _source_releases(self) -> tuple[str, ...]:
        """The ROCm releases its source has a variant for; () when any (or no source)."""
        src = _source(self.source)
        return tuple(src.variants) if src is not None and "{variant}" in src.url else ()

    def needs(self, targets: tuple[Target, ...]) -> list[str]:
        """What it asks of the system and the env, in words, for the picker."""
        out: list[str] = []
        if self.system and any(t.is_rocm for t in targets):
            out.append("system: " + ", ".join(self.system))
        env = dict(self.env)
        if any(is_rdna(t) for t in targets):
            env.update(self.env_rdna)
        if env:
            out.append("env: " + ", ".join(f"{k}={v}" for k, v in sorted(env.items())))
        return out


def _source(name: str | None) -> Source | None:
    if name is None:
        return None
    from mlstack_env.catalog.sources import catalog

    return catalog().sources.get(name)


def _has_variant(name: str | None, rocm: str) -> bool:
    src = _source(name)
    return src is not None and src.variant(rocm) is not None


def _or(items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def is_rdna(target: Target) -> bool:
    table = gpu_table()
    return target.is_rocm and any(
        g in table.models and table.models[g].family.is_rdna for g in target.gfx)


def _strs(row: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = row.get(key, [])
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _table(row: Mapping[str, object], key: str) -> dict[str, str]:
    value = row.get(key, {})
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


@cache
def components() -> tuple[Component, ...]:
    """Every component, in the order the picker shows them."""
    raw = tomlmemo.load(DATA_DIR / "components.toml")
    out = []
    for cid, row in raw["component"].items():
        rocm = row.get("rocm")
        included = row.get("included")
        source = str(row["source"]) if row.get("source") else None
        src = _source(source)
        if source is not None and src is None:
            raise InternalError(f"components.toml: component {cid} names no known "
                                f"source {source!r}")
        out.append(Component(
            id=cid,
            title=str(row["title"]),
            packages=_strs(row, "packages"),
            system=_strs(row, "system"),
            env=_table(row, "env"),
            env_rdna=_table(row, "env-rdna"),
            backends=_strs(row, "backends") or ("rocm", "cpu"),
            rocm=str(rocm) if rocm else None,
            source=source,
            gfx=_strs(row, "gfx"),
            python=_strs(row, "python") or (src.python if src is not None else ()),
            why=str(row.get("why", "")),
            notes=_strs(row, "notes"),
            default=bool(row.get("default", False)),
            required=bool(row.get("required", False)),
            included=str(included) if included else None,
        ))
    return tuple(out)


def component(cid: str) -> Component | None:
    return next((c for c in components() if c.id == cid), None)
