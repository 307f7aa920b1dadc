"""Distro (``etc/os-release``) and kernel release, read under MLSTACK_ROOT."""

from __future__ import annotations

import os
from pathlib import Path

from mlstack_env.hardware.machine import Distro

_SPECIAL = frozenset(" \t\r\n\"'\\")  # what makes shlex do more than take the text


def _first_word(raw: str) -> str | None:
    """``shlex.split(raw)[0]`` ("" for no word; None where shlex refuses the text). The
    shapes os-release files use, a bare word or one quoted string without escapes, are
    read directly: shlex reads a character at a time, in Python (about a millisecond of
    every detection), and is imported only for the rest."""
    quote = raw[:1]
    if len(raw) >= 2 and quote in ("'", '"') and raw[-1] == quote \
            and quote not in raw[1:-1] and "\\" not in raw:
        return raw[1:-1]
    if raw and _SPECIAL.isdisjoint(raw):
        return raw
    import shlex

    try:
        parts = shlex.split(raw)
    except ValueError:
        return None
    return parts[0] if parts else ""


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        value = _first_word(raw)
        if value is not None:
            values[key.strip()] = value
    return values


def read_distro(root: Path) -> Distro | None:
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / rel).read_text(errors="replace")
        except OSError:
            continue
        v = parse_os_release(text)
        if "ID" not in v:
            continue
        return Distro(
            id=v["ID"].lower(),
            version_id=v.get("VERSION_ID", ""),
            name=v.get("PRETTY_NAME") or v.get("NAME") or v["ID"],
            id_like=tuple(v.get("ID_LIKE", "").split()),
            codename=v.get("VERSION_CODENAME") or v.get("UBUNTU_CODENAME") or None,
        )
    return None


def read_kernel(root: Path) -> str | None:
    try:
        return (root / "proc/sys/kernel/osrelease").read_text(errors="replace").strip() or None
    except OSError:
        pass
    return os.uname().release if root == Path("/") else None  # platform.release()
