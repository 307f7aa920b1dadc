"""Sources: where wheels come from, per target (catalog/sources.toml + project overrides).

The catalog names the PyTorch index (per ROCm version, or CPU) for the torch family, PyPI
as the default index, and room for other indexes and AMD's flat wheel folders. A project
overrides or adds sources with ``[sources.NAME]`` in ``mlstack.toml``. All URLs here are
canonical; mirrors are applied only by the resolver, when fetching.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from mlstack_env.catalog import (
    gpu_table,
    no_index_error,
    parse_version,
    torch_index_name,
    wheels_release,
)
from mlstack_env.catalog.target import Backend, Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.core.record import field, record

CATALOG = Path(__file__).with_name("sources.toml")
SOURCE_KEYS = ("kind", "url", "backends", "packages", "use", "default", "files", "enabled",
               "labelled", "variants", "releases", "python", "exclusive", "platform",
               "prereleases")


class SourceKind(StrEnum):
    """How uv reads a source: a PEP 503 index, or a page of wheel links."""

    INDEX = "index"
    FIND_LINKS = "find-links"


class SourceUse(StrEnum):
    """When a source joins a resolve: always, or when a profile requires its packages."""

    ALWAYS = "always"
    WHEN_REQUIRED = "when-required"


KINDS = tuple(k.value for k in SourceKind)
USES = tuple(u.value for u in SourceUse)
# "rocm-wheels": a release whose user space ships as wheels (ROCM-FACTS §4b; gpus.toml
# [rocm-wheels]); "rocm": the older ones, whose torch wheels bundle ROCm's libraries.
BACKENDS: tuple[str, ...] = (Backend.ROCM.value, "rocm-wheels", Backend.CPU.value)


def source_backend(target: Target) -> str:
    """Which ``backends`` value a target's sources are chosen by."""
    if target.rocm is None:
        return Backend.CPU.value
    return "rocm-wheels" if wheels_release(target.rocm) else Backend.ROCM.value


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
    backends: tuple[str, ...] = BACKENDS
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
        if target.backend not in self.backends:
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
                raise MlstackError(f"{where}: [sources.{name}] must be a table",
                                   f'write [sources.{name}] then url = "…"')
            merged[name] = _parse_source(name, {**base, **raw}, where, text,
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
            raise MlstackError(
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
            raise MlstackError(
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
            raise MlstackError(
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
        raise MlstackError(
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


def _parse_source(name: str, raw: Mapping[str, Any], where: str, text: str | None, *,
                  table: str | None = None, keys: list[str] | None = None) -> Source:
    for key in keys if keys is not None else raw:
        if key not in SOURCE_KEYS:
            from mlstack_env.core.userfile import unknown_key_error

            raise unknown_key_error(where, text, key, SOURCE_KEYS, f"source {name!r}",
                                    after=table)

    def fail(what: str, hint: str) -> MlstackError:
        return MlstackError(f"{where}: source {name!r}: {what}", hint)

    def strings(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = raw.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(f"{key!r} must be a list of strings", f'write {key} = ["…"]')
        return tuple(value)

    def flag(key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise fail(f"{key!r} must be true or false", f"write {key} = true")
        return value

    kind = raw.get("kind", "index")
    if kind not in KINDS:
        raise fail(f"kind {kind!r} is not one of {', '.join(KINDS)}", 'write kind = "index"')
    url = raw.get("url")
    if not isinstance(url, str):
        raise fail("needs a url", 'write url = "https://…/simple"')
    files = strings("files")
    _check_urls(url, files, fail)
    use = raw.get("use", "always")
    if use not in USES:
        raise fail(f"use {use!r} is not one of {', '.join(USES)}", 'write use = "always"')
    backends = strings("backends", BACKENDS)
    for b in backends:
        if b not in BACKENDS:
            raise fail(f"unknown backend {b!r}", f"backends are: {', '.join(BACKENDS)}")
    variants = _string_table(raw, "variants", fail, "ROCm version = folder",
                             '{ "7.0" = "rocm700" }')
    releases = _string_table(raw, "releases", fail, "variant = release",
                             '{ "rocm700" = "0.18.0" }')
    return Source(
        name=name, kind=SourceKind(kind), url=url, backends=backends,
        packages=strings("packages"), use=SourceUse(use), default=flag("default", False),
        files=files,
        enabled=flag("enabled", True), labelled=strings("labelled"),
        variants=variants, releases=releases, python=strings("python"),
        exclusive=flag("exclusive", False),
        platform=_platform(raw.get("platform", ""), fail),
        prereleases=flag("prereleases", False),
    )


def _check_urls(url: str, files: tuple[str, ...],
                fail: Callable[[str, str], MlstackError]) -> None:
    """A source's URL and files: one URL each, of known placeholders only."""
    for key, value in (("url", url), *(("files", f) for f in files)):
        if any(c.isspace() or not c.isprintable() for c in value):
            raise fail(f"{key} {value!r} holds a space or a control character",
                       "write the URL alone between the quotes, without spaces, tabs or "
                       "line breaks") from None
        if not _plain_template(value):
            raise fail(f"{key} {value!r} has an unknown placeholder",
                       "the placeholders are {index}, {rocm}, {variant}, {version} and "
                       "{wheels}, "
                       "written just so") from None
    # {wheels} stands for a whole URL (AMD's index of a ROCm-as-wheels release).
    if "://" not in url.format(index="x", rocm="x", variant="x", version="x",
                               wheels="https://x/"):
        raise fail("needs a url", 'write url = "https://…/simple"')


def _string_table(raw: Mapping[str, Any], key: str, fail: Callable[[str, str], MlstackError],
                  what: str, example: str) -> dict[str, str]:
    """``key``, a table of strings (``what``), or an error showing ``example``."""
    value = raw.get(key, {})
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise fail(f"{key!r} must be a table of {what}", f"write {key} = {example}")
    return dict(value)


def _plain_template(value: str) -> bool:
    """Only ``{index}``, ``{rocm}``, ``{variant}``, ``{version}`` and ``{wheels}``: no
    attribute, index, conversion or format spec (``{index:>999999999}`` would build a
    gigabyte string)."""
    import string

    try:
        fields = list(string.Formatter().parse(value))
    except ValueError:  # a lone "{" or "}"
        return False
    return all(
        name is None or (name in ("index", "rocm", "variant", "version", "wheels")
                         and not spec
                         and conversion is None)
        for _, name, spec, conversion in fields
    )


_PLATFORM_RE = re.compile(r"x86_64-manylinux_2_(\d+)")


def _platform(value: object, fail: Callable[[str, str], MlstackError]) -> str:
    if value == "":
        return ""
    if not isinstance(value, str) or not _PLATFORM_RE.fullmatch(value):
        raise fail(f"platform {value!r} is not x86_64-manylinux_2_NN",
                   'write platform = "x86_64-manylinux_2_35"')
    return value


def newest_platform(platforms: list[str], default: str) -> str:
    """The most demanding of ``default`` and the sources' platforms (highest glibc)."""
    def glibc(p: str) -> int:
        m = _PLATFORM_RE.fullmatch(p)
        return int(m.group(1)) if m else 0
    return max([default, *(p for p in platforms if p)], key=glibc)


@cache
def catalog() -> Catalog:
    """The built-in sources and the torch ↔ ROCm pairing."""
    with CATALOG.open("rb") as f:
        raw = tomllib.load(f)
    sources = {
        name: _parse_source(name, body, str(CATALOG), None)
        for name, body in raw["sources"].items()
    }
    pairing = {k: tuple(v) for k, v in raw["torch-rocm"].items()}
    return Catalog(sources, pairing)


def target_rocm_version(rocm_version: str) -> str:
    """The ROCm version a target names for an install: ``X.Y.Z`` when PyTorch has an index
    for exactly that release (``6.2.4``) or a source builds for exactly that release (vLLM's
    ``rocm722`` variant is 7.2.2's alone), else ``X.Y`` — so the target and the wheels
    judged for it (:func:`torch_index_name`, ``Source.variant``) agree."""
    v = parse_version(rocm_version)
    full = f"{v.major}.{v.minor}.{v.micro}"
    if v.micro and f"rocm{full}" in gpu_table().wheel_gfx:
        return full
    if v.micro and any(full in src.variants for src in catalog().sources.values()):
        return full
    return f"{v.major}.{v.minor}"
