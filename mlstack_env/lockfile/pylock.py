"""A lock entry as a standard PEP 751 ``pylock.toml`` (what ``uv pip sync`` installs, and
``mlstack lock --export-pylock``)."""

from __future__ import annotations

from collections.abc import Mapping

from mlstack_env.errors import MlstackError
from mlstack_env.lockfile.model import LockEntry, Wheel, quote

# --- PEP 751 ---------------------------------------------------------------------------


def map_url(url: str, url_map: Mapping[str, str]) -> str:
    """``url`` with the first matching prefix of ``url_map`` replaced (a whole URL is a
    prefix too)."""
    for prefix, replacement in url_map.items():
        if url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


def to_pylock(entry: LockEntry, url_map: Mapping[str, str] | None = None, *,
              located: Mapping[str, str] | None = None, require_urls: bool = True) -> str:
    """The entry as a standard PEP 751 ``pylock.toml`` (installable by uv and pip).

    ``url_map`` rewrites URL prefixes (mirrors) for an install-time copy; exports for
    sharing pass none, so they keep canonical URLs. ``located`` (sha256 -> URL) gives the
    URL each file was found at (locate.py) and wins over both. PEP 751 needs a URL per
    wheel: a file locked by name only (through a mirror of another layout) is refused
    unless located, or ``require_urls`` is false (uv's preferences read names and
    versions only).
    """

    def mapped(w: Wheel) -> str:
        if located and w.sha256 in located:
            return located[w.sha256]
        if not w.url and require_urls:
            raise MlstackError(
                f"{entry.key}: {w.filename} was locked through a mirror without its "
                "canonical URL, and a pylock.toml needs one per wheel",
                "lock once where the canonical index is reachable (or through a mirror "
                "that copies its layout): `mlstack lock` then keeps the URLs")
        return map_url(w.url, url_map or {})

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
            url = mapped(w)
            where = f", url = {quote(url)}" if url else ""
            lines.append(
                f"  {{ name = {quote(w.filename)}{where}{size}, "
                f"hashes = {{ sha256 = {quote(w.sha256)} }} }},"
            )
        lines.append("]")
    return "\n".join(lines) + "\n"
