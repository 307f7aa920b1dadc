"""The lock's values: :class:`Lock`, :class:`LockEntry`, :class:`LockedPackage`,
:class:`Wheel`, and the format's constants."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from mlstack_env.catalog.target import Target
from mlstack_env.core.digest import sha256_hex
from mlstack_env.core.record import field, record

FORMAT_VERSION = 1
# ROCm's selector package: the one package a lock may hold as an sdist (see LockedPackage).
SELECTOR = "rocm"
LOCK_NAME = "mlstack.lock"
HEADER = "# Written by `mlstack lock`. Do not edit by hand: re-run `mlstack lock`.\n"


@record(order=True)
class Wheel:
    """One locked file: canonical URL, sha256 and size; or, when its canonical URL is not
    known (it was locked through a mirror with its own path layout), its file ``name``
    and no URL: it is then found by name on its index's project page (indexpages.py)."""
    url: str  # canonical URL, never a mirror's; "" when not known
    sha256: str
    size: int | None = None
    name: str = ""  # the file name, for a file without a URL

    @property
    def filename(self) -> str:
        return self.name or unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])


@record
class LockedPackage:
    """One locked package: exact version, canonical index, and its files."""
    name: str  # normalized (PEP 503)
    version: str
    index: str | None  # canonical index URL the package came from
    wheels: tuple[Wheel, ...]
    # The one sdist a lock holds: ROCm's ``rocm`` selector (SELECTOR below), whose
    # pure-Python ``rocm_sdk`` package mlstack unpacks itself, never building it
    # (store/selector.py). uv never sees it: ``to_pylock`` leaves it out.
    sdist: Wheel | None = None

    @property
    def files(self) -> tuple[Wheel, ...]:
        """Every file the package fetches: its wheels, or its sdist."""
        return self.wheels + ((self.sdist,) if self.sdist is not None else ())


@record
class LockEntry:
    """One profile x target x Python of the lock: packages, variables and system packages."""
    profile: str
    target: Target
    python: str  # "3.12"
    platform: str  # uv --python-platform, e.g. "x86_64-manylinux_2_28"
    packages: tuple[LockedPackage, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    system: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    inputs_hash: str = ""

    @property
    def key(self) -> str:
        """``minimal@rocm6.4:gfx1100@py3.12``: unique within a lock."""
        return f"{self.profile}@{self.target}@py{self.python}"

    def package(self, name: str) -> LockedPackage | None:
        return next((p for p in self.packages if p.name == name), None)

    def content_hash(self) -> str:
        """sha256 of the entry's canonical text: what it installs and sets."""
        return "sha256:" + sha256_hex(entry_text(self))


@record
class Lock:
    """A whole lock file: its entries and the mlstack and uv versions that wrote it."""
    entries: tuple[LockEntry, ...]
    mlstack_version: str
    uv_version: str

    def sorted(self) -> Lock:
        return Lock(
            tuple(sorted(self.entries, key=entry_sort_key)), self.mlstack_version, self.uv_version
        )

    def get(self, key: str) -> LockEntry | None:
        return next((e for e in self.entries if e.key == key), None)

    def merged(self, new: Iterable[LockEntry]) -> Lock:
        """This lock with ``new`` entries replacing those of the same key."""
        by_key = {e.key: e for e in self.entries}
        for e in new:
            by_key[e.key] = e
        return Lock(tuple(by_key.values()), self.mlstack_version, self.uv_version).sorted()


def entry_sort_key(e: LockEntry) -> tuple[str, str, str]:
    return (e.profile, str(e.target), e.python)


# TOML strings, as the lock and its PEP 751 export write them.


def quote(value: str) -> str:
    """A TOML basic string. JSON's escaping is valid TOML; DEL must be escaped too."""
    text: str = json.dumps(value, ensure_ascii=False)
    return text.replace("\x7f", "\\u007f")


def quote_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


#: The packages whose versions say what an env is, in the order people ask about them.
KEY_PACKAGES = (
    "torch", "torchvision", "torchaudio", "pytorch-triton-rocm", "triton-rocm", "triton",
    "vllm", "rocm-sdk-core", "onnxruntime-migraphx", "flash-attn", "deepspeed",
)


def key_versions(entry: LockEntry) -> list[str]:
    """``["torch 2.8.0+rocm6.4", "torchvision 0.23.0+rocm6.4", …]``: the versions that
    matter in ``entry`` (torch and friends, Triton, vLLM, ROCm's own wheels), those present."""
    return [f"{p.name} {p.version}" for name in KEY_PACKAGES if (p := entry.package(name))]


def entry_text(e: LockEntry) -> str:
    """An entry's canonical text, as the lock writes it (text.dumps) and its hash reads it."""
    lines = [
        "[[entry]]",
        f"profile = {quote(e.profile)}",
        f"target = {quote(str(e.target))}",
        f"backend = {quote(e.target.backend)}",
    ]
    if e.target.rocm is not None:
        lines.append(f"rocm = {quote(e.target.rocm)}")
        lines.append(f"gfx = {quote_list(e.target.gfx)}")
    lines += [
        f"python = {quote(e.python)}",
        f"platform = {quote(e.platform)}",
        f"inputs-hash = {quote(e.inputs_hash)}",
        f"system = {quote_list(sorted(set(e.system)))}",
        f"notes = {quote_list(e.notes)}",
        "",
        "[entry.env]",
    ]
    lines += [f"{quote(k)} = {quote(v)}" for k, v in sorted(e.env.items())]
    for p in sorted(e.packages, key=lambda p: p.name):
        lines += [
            "",
            "[[entry.package]]",
            f"name = {quote(p.name)}",
            f"version = {quote(p.version)}",
        ]
        if p.index is not None:
            # Canonical, never mirrored: nothing is fetched from it (uv runs --no-index),
            # and uv keys cached wheels by it, so a changed mirror would miss them.
            lines.append(f"index = {quote(p.index)}")
        if p.sdist is not None:
            w = p.sdist
            size = f", size = {w.size}" if w.size is not None else ""
            where = f"url = {quote(w.url)}" if w.url else f"name = {quote(w.filename)}"
            lines.append(f"sdist = {{ {where}, sha256 = {quote(w.sha256)}{size} }}")
            continue
        lines.append("wheels = [")
        for w in sorted(p.wheels, key=lambda w: (w.url, w.filename, w.sha256)):
            size = f", size = {w.size}" if w.size is not None else ""
            # Without its canonical URL (locked through a mirror of another layout), a
            # file is recorded by name: found on its index's page at install time.
            where = f"url = {quote(w.url)}" if w.url else f"name = {quote(w.filename)}"
            lines.append(f"  {{ {where}, sha256 = {quote(w.sha256)}{size} }},")
        lines.append("]")
    return "\n".join(lines) + "\n"
