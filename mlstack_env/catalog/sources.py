"""Sources: where wheels come from, per target (catalog/sources.toml + project overrides).

The catalog names the PyTorch index (per ROCm version, or CPU) for the torch family, PyPI
as the default index, and room for other indexes and AMD's flat wheel folders. A project
overrides or adds sources with ``[sources.NAME]`` in ``mlstack.toml``. All URLs here are
canonical; mirrors are applied only by the resolver, when fetching. One source is
``catalog/sourcemodel.py``'s, its table's parsing ``catalog/sourceparse.py``'s: import
their names from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

from mlstack_env.catalog import gpu_table, no_index_error, rocm_release, torch_index_name
from mlstack_env.catalog.sourcemodel import (
    ConcreteSource,
    Source,
    SourceUse,
    source_backend,
    url_fill,
)
from mlstack_env.catalog.sourceparse import parse_source
from mlstack_env.catalog.target import Target
from mlstack_env.core import tomlmemo
from mlstack_env.core.errors import ManifestError, TargetError
from mlstack_env.core.record import record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

CATALOG = Path(__file__).with_name("sources.toml")


@record
class Catalog:
    """Every source, and the torch releases each ROCm index carries."""
    sources: Mapping[str, Source]
    torch_rocm: Mapping[str, tuple[str, ...]]

    def with_overrides(self, overrides: Mapping[str, Any], where: str,
                       text: str | None = None) -> Catalog:
        """The catalog with a project's ``[sources.NAME]`` tables applied."""
        merged = dict(self.sources)
        for name, raw in overrides.items():
            base = merged[name].to_json() if name in merged else {}
            if not isinstance(raw, dict):
                raise ManifestError(f"{where}: [sources.{name}] must be a table",
                                    f'write [sources.{name}] then url = "…"')
            merged[name] = parse_source(name, {**base, **raw}, where, text,
                                         table=f"[sources.{name}]", keys=list(raw))
        return Catalog(merged, self.torch_rocm)

    def for_target(self, target: Target, required: tuple[str, ...] = (),
                   pins: Mapping[str, str] | None = None) -> list[ConcreteSource]:
        """The sources a resolution for ``target`` uses, in search order (default last).

        ``required`` are the profile's direct requirement names (for ``when-required``);
        ``pins`` their exact versions (``exact_pins``), filling a source's {version}.
        """
        if target.rocm is not None and torch_index_name(target.rocm) is None:
            raise no_index_error(target.rocm)
        fill = url_fill(target)
        backend = source_backend(target)
        from packaging.utils import canonicalize_name  # resolving only: not on a store hit

        wanted = {canonicalize_name(r) for r in required}
        out: list[ConcreteSource] = []
        for src in self.sources.values():
            if not src.enabled or backend not in src.backends:
                continue
            if src.use is SourceUse.WHEN_REQUIRED and not wanted & {
                canonicalize_name(p) for p in src.packages
            }:
                continue
            concrete = self._concrete(src, target, fill, pins or {})
            if concrete is not None:
                out.append(concrete)
        defaults = [s for s in out if s.default]
        if len(defaults) != 1:
            names = ", ".join(s.name for s in defaults) or "none"
            raise ManifestError(
                f"the sources for {target} need exactly one default index (found: {names})",
                "set default = true on one [sources.NAME] index (PyPI's, normally)",
            )
        # Indexes with packages first (catalog order), the default index last.
        return [s for s in out if not s.default] + defaults

    @staticmethod
    def _concrete(src: Source, target: Target, fill: Mapping[str, str],
                  pins: Mapping[str, str]) -> ConcreteSource | None:
        """``src`` with its URL filled in for ``target``, or None when it has no build
        there (check_exclusive says so when a profile needs it)."""
        variant = src.variant(target.rocm)
        if "{variant}" in src.url and variant is None:
            return None
        here = {**fill, "variant": variant or "", "version": src.release(target, pins) or ""}
        if "{version}" in src.url and not here["version"]:
            return None
        return ConcreteSource(
            name=src.name,
            kind=src.kind,
            url=src.url.format(**here),
            packages=src.packages,
            default=src.default,
            files=tuple(f.format(**here) for f in src.files),
            labelled=src.labelled,
            exclusive=src.exclusive,
            platform=src.platform,
            prereleases=src.prereleases,
        )

    def check_exclusive(self, target: Target, python: str, required: tuple[str, ...],
                        profile: str, *, labels: Mapping[str, str] | None = None,
                        pins: Mapping[str, str] | None = None) -> None:
        """Refuse a profile naming a package that comes only from a source (``exclusive``)
        which has no build for this target or Python: one clear error, never PyPI's.
        ``labels``: the local labels the profile pins (``vllm==0.15.0+rocm700`` -> rocm700),
        which must be the target's variant; ``pins``: as for ``for_target``."""
        from packaging.utils import canonicalize_name

        wanted = {canonicalize_name(r) for r in required}
        for src in self.sources.values():
            names = sorted(p for p in src.packages if canonicalize_name(p) in wanted)
            if not src.enabled or not src.exclusive or not names:
                continue
            what = ", ".join(names)
            why = src.unavailable(target, python)
            if why is None:
                _check_variant_pins(src, target, names, profile, labels=labels or {},
                                    pins=pins or {})
                continue
            wrong_python = bool(src.python) and python not in src.python
            where = f"Python {python}" if wrong_python else str(target)
            if wrong_python:
                hint = (f"lock profile {profile!r} with --python {src.python[0]} (or python = "
                        f"\"{src.python[0]}\" in mlstack.toml)")
            else:
                hint = f"lock profile {profile!r} for another target, or remove {what} from it"
            raise TargetError(
                f"profile {profile!r} needs {what}, which comes only from source "
                f"{src.name!r} ({src.url}); {why}: no build for {where}",
                hint + "; PyPI's build is for CUDA, never a substitute",
            )

    def torch_builds(self, index: str) -> list[str]:
        """The torch minors the catalog pairs with a PyTorch index (``rocm6.4`` -> 2.8, 2.9)."""
        return [v for v, idxs in self.torch_rocm.items() if index in idxs]


def _check_variant_pins(src: Source, target: Target, names: list[str], profile: str, *,
                        labels: Mapping[str, str], pins: Mapping[str, str]) -> None:
    """A source with {variant}/{version} folders: a pinned label must be the target's
    variant, and some release must be named (by the profile or the source's releases)."""
    from packaging.utils import canonicalize_name

    if "{variant}" not in src.url:
        return
    variant = src.variant(target.rocm)
    what = ", ".join(names)
    for n in names:
        label = labels.get(canonicalize_name(n))
        if label is not None and label != variant:
            known = label in src.variants.values()
            raise TargetError(
                f"profile {profile!r} pins {n} built for {label}, "
                + (f"but {target} is ROCm {target.rocm}, whose variant is {variant}"
                   if known else f"a variant source {src.name!r} does not have")
                + f"; the variants that exist: {src.variant_list()}",
                f"pin {n} without a +label (the target's ROCm picks the variant), or lock "
                f"for a target on the ROCm of {label}")
    if "{version}" in src.url and not src.release(target, pins):
        folder = src.url.format(**{**url_fill(target), "variant": variant or "",
                                   "version": "<version>"})
        first = names[0]
        raise TargetError(
            f"profile {profile!r} needs {what}, published per release under {folder}; "
            f"no release of {first} is named for {variant} (the profile pins none, and "
            f"source {src.name!r} has no releases row for it)",
            f"pin one in the profile ({first}==X.Y.Z, a release listed under "
            f"{folder.split('<version>')[0]}), or add releases = {{ \"{variant}\" = \"X.Y.Z\" }} "
            f"to [sources.{src.name}] in mlstack.toml")


def exact_pins(requirements: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """The exact versions (``==X.Y.Z``, public part) and local labels (``+rocm700``)
    that ``requirements`` pin, by canonical name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    labels: dict[str, str] = {}
    for text in requirements:
        req = Requirement(text)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator not in ("==", "===") \
                or "*" in specs[0].version:
            continue
        public, _, label = specs[0].version.partition("+")
        pins[canonicalize_name(req.name)] = public
        if label:
            labels[canonicalize_name(req.name)] = label
    return pins, labels


@cache
def catalog() -> Catalog:
    """The built-in sources and the torch ↔ ROCm pairing."""
    raw = tomlmemo.load(CATALOG)
    sources = {
        name: parse_source(name, body, str(CATALOG), None)
        for name, body in raw["sources"].items()
    }
    pairing = {k: tuple(v) for k, v in raw["torch-rocm"].items()}
    return Catalog(sources, pairing)


def target_rocm_version(rocm_version: str) -> str:
    """The ROCm version a target names for an install: ``X.Y.Z`` when PyTorch has an index
    for exactly that release (``6.2.4``) or a source builds for exactly that release (vLLM's
    ``rocm722`` variant is 7.2.2's alone), else ``X.Y`` — so the target and the wheels
    judged for it (:func:`torch_index_name`, ``Source.variant``) agree."""
    major, minor, micro = rocm_release(rocm_version)
    full = f"{major}.{minor}.{micro}"
    if micro and f"rocm{full}" in gpu_table().wheel_gfx:
        return full
    if micro and any(full in src.variants for src in catalog().sources.values()):
        return full
    return f"{major}.{minor}"
