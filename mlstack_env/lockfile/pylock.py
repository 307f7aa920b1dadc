"""A lock entry as a standard PEP 751 ``pylock.toml`` (what ``uv pip sync`` installs, and
``mlstack lock --export-pylock``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlstack_env.core.errors import LockError
from mlstack_env.lockfile.model import LockEntry, Wheel, quote

# --- PEP 751 ---------------------------------------------------------------------------

# PEP 751 (https://peps.python.org/pep-0751/#file-name): a lock file is named
# ``pylock.toml`` or ``pylock.<name>.toml`` with no dot in <name> (its pattern:
# ``^pylock\.([^.]+)\.toml$``); uv refuses any other name, and pip reads one as a
# requirements file. One mapping for every name mlstack writes (docs/lockfile.md).
_NOT_NAME = r"[^A-Za-z0-9_-]+"  # compiled on first use (re's cache): not on a store hit


def pylock_file_name(name: str) -> str:
    """``pylock.<name>.toml`` for ``name`` (a profile, an env, an entry's key parts):
    each ``.`` becomes ``_`` (``py3.12`` -> ``py3_12``), any other run of characters
    outside ``A-Za-z0-9_-`` becomes ``-``, and ``-``/``_`` at either end go; a name with
    nothing left is plain ``pylock.toml``."""
    part = re.sub(_NOT_NAME, "-", name.replace(".", "_")).strip("-_")
    return f"pylock.{part}.toml" if part else "pylock.toml"


def entry_pylock_name(entry: LockEntry) -> str:
    """The file of one lock entry (``lock --export-pylock``):
    ``pylock.ml-rocm6_4-gfx942-gfx1100-py3_12.toml`` for ``ml@rocm6.4:gfx942,gfx1100@py3.12``."""
    return pylock_file_name(f"{entry.profile}-{entry.target}-py{entry.python}")


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
            raise LockError(
                f"{entry.key}: {w.filename} was locked through a mirror without its "
                "canonical URL, and a pylock.toml needs one per wheel",
                "lock once where the canonical index is reachable (or through a mirror "
                "that copies its layout): `mlstack lock` then keeps the URLs")
        return map_url(w.url, url_map or {})

    lines = [
        # A ROCm-as-wheels entry's selector is not in the file (see standalone_pylock): say
        # so to whoever finds it beside a recipe, whose build unpacks it.
        *(["# Not installable alone: ROCm's 'rocm' selector (an sdist mlstack unpacks, never",
           "# builds) is left out; the recipe beside this file, or `mlstack env create`,",
           "# adds it."] if any(p.sdist is not None for p in entry.packages) else []),
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


def standalone_pylock(entry: LockEntry) -> str:
    """The entry as a pylock that reproduces it on its own (``lock --export-pylock``), or
    an error for an entry that holds ROCm as wheels.

    Its ``rocm`` selector is an sdist (pinned by URL) whose setup.py would pick and install
    ROCm's wheels; mlstack never runs it, and unpacks only its pure-Python ``rocm_sdk``
    (mlstack_env/rocmwheels/selectorunpack.py). PEP 751 cannot say "unpack, don't build": a pylock
    with the sdist makes uv build it, one without it leaves torch's ``rocm[libraries]``
    requirement unmet (``uv pip check`` fails). A recipe (``export docker``) or a packed
    env carries the unpack step; a bare pylock cannot.
    """
    selector = next((p for p in entry.packages if p.sdist is not None), None)
    if selector is not None:
        raise LockError(
            f"entry {entry.key} holds ROCm as wheels, and no PEP 751 pylock can install it: "
            f"its {selector.name!r} selector is an sdist that mlstack unpacks without "
            "building (uv would build it, or leave torch's rocm[libraries] unmet)",
            hint="ship this entry with `mlstack env pack NAME` or `mlstack export docker` "
            "(both unpack the selector); export the other targets' pylocks with "
            "`mlstack lock --target T --export-pylock DIR`",
        )
    return to_pylock(entry)
