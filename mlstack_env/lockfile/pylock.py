"""A lock entry as a standard PEP 751 ``pylock.toml`` (what ``uv pip sync`` installs, and
``mlstack lock --export-pylock``)."""

from __future__ import annotations

from collections.abc import Mapping

from mlstack_env.lockfile.model import LockEntry, quote

# --- PEP 751 ---------------------------------------------------------------------------


def map_url(url: str, url_map: Mapping[str, str]) -> str:
    """``url`` with the first matching prefix of ``url_map`` replaced (a whole URL is a
    prefix too)."""
    for prefix, replacement in url_map.items():
        if url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


def to_pylock(entry: LockEntry, url_map: Mapping[str, str] | None = None) -> str:
    """The entry as a standard PEP 751 ``pylock.toml`` (installable by uv and pip).

    ``url_map`` rewrites URL prefixes (mirrors) for an install-time copy; exports for
    sharing pass none, so they keep canonical URLs.
    """

    def mapped(url: str) -> str:
        return map_url(url, url_map or {})

    lines = [
        'lock-version = "1.0"',
        f"requires-python = {quote('==' + entry.python + '.*')}",
        'created-by = "mlstack"',
    ]
    for p in sorted(entry.packages, key=lambda p: p.name):
        if p.sdist is not None:  # the rocm selector: mlstack unpacks it, uv never builds it
            continue
        lines += ["", "[[packages]]", f"name = {quote(p.name)}", f"version = {quote(p.version)}"]
        if p.index is not None:
            # Canonical, never mirrored: nothing is fetched from it (uv runs --no-index),
            # and uv keys cached wheels by it, so a changed mirror would miss them.
            lines.append(f"index = {quote(p.index)}")
        lines.append("wheels = [")
        for w in sorted(p.wheels):
            size = f", size = {w.size}" if w.size is not None else ""
            lines.append(
                f"  {{ name = {quote(w.filename)}, url = {quote(mapped(w.url))}{size}, "
                f"hashes = {{ sha256 = {quote(w.sha256)} }} }},"
            )
        lines.append("]")
    return "\n".join(lines) + "\n"
