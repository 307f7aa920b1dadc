"""Distro (``etc/os-release``) and kernel release, read under MLSTACK_ROOT."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from mlstack_env.hardware.machine import Distro


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            continue
        values[key.strip()] = parts[0] if parts else ""
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
