"""A ``[sources.NAME]`` table (``catalog/sources.toml``, or a project's override) checked
and parsed into a ``Source``: known keys only, one URL of known placeholders each (no
format spec: ``{index:>999999999}`` would build a gigabyte string), the enums' values,
tables of strings — every refusal naming the file, the source and a fix."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mlstack_env.catalog.sourcemodel import (
    BACKENDS,
    KINDS,
    PLATFORM_RE,
    USES,
    Source,
    SourceBackend,
    SourceKind,
    SourceUse,
)
from mlstack_env.core.errors import ManifestError

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

SOURCE_KEYS = ("kind", "url", "backends", "packages", "use", "default", "files", "enabled",
               "labelled", "variants", "releases", "python", "exclusive", "platform",
               "prereleases")


def parse_source(name: str, raw: Mapping[str, Any], where: str, text: str | None, *,
                  table: str | None = None, keys: list[str] | None = None) -> Source:
    for key in keys if keys is not None else raw:
        if key not in SOURCE_KEYS:
            from mlstack_env.core.userfile import unknown_key_error

            raise unknown_key_error(where, text, key, SOURCE_KEYS, f"source {name!r}",
                                    after=table)

    def fail(what: str, hint: str) -> ManifestError:
        return ManifestError(f"{where}: source {name!r}: {what}", hint)

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

    kind = raw.get("kind", SourceKind.INDEX.value)
    if kind not in KINDS:
        raise fail(f"kind {kind!r} is not one of {', '.join(KINDS)}", 'write kind = "index"')
    url = raw.get("url")
    if not isinstance(url, str):
        raise fail("needs a url", 'write url = "https://…/simple"')
    files = strings("files")
    _check_urls(url, files, fail)
    use = raw.get("use", SourceUse.ALWAYS.value)
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
        name=name, kind=SourceKind(kind), url=url,
        backends=tuple(SourceBackend(b) for b in backends),
        packages=strings("packages"), use=SourceUse(use), default=flag("default", False),
        files=files,
        enabled=flag("enabled", True), labelled=strings("labelled"),
        variants=variants, releases=releases, python=strings("python"),
        exclusive=flag("exclusive", False),
        platform=_platform(raw.get("platform", ""), fail),
        prereleases=flag("prereleases", False),
    )


def _check_urls(url: str, files: tuple[str, ...],
                fail: Callable[[str, str], ManifestError]) -> None:
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


def _string_table(raw: Mapping[str, Any], key: str, fail: Callable[[str, str], ManifestError],
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
    # string.Formatter().parse is exactly this; importing string compiles its Template
    # pattern (0.4 ms of every store hit, which checks the catalog's URLs). typeshed has
    # no stub for the built-in module string itself calls.
    import _string  # type: ignore[import-not-found]

    try:
        fields = list(_string.formatter_parser(value))
    except ValueError:  # a lone "{" or "}"
        return False
    return all(
        name is None or (name in ("index", "rocm", "variant", "version", "wheels")
                         and not spec
                         and conversion is None)
        for _, name, spec, conversion in fields
    )


def _platform(value: object, fail: Callable[[str, str], ManifestError]) -> str:
    if value == "":
        return ""
    if not isinstance(value, str) or not PLATFORM_RE.fullmatch(value):
        raise fail(f"platform {value!r} is not x86_64-manylinux_2_NN",
                   'write platform = "x86_64-manylinux_2_35"')
    return value
