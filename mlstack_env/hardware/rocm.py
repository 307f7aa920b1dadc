"""Where ROCm is and which version (ROCM-FACTS §3), read from files, no ROCm tools."""

from __future__ import annotations

import re
from pathlib import Path

from mlstack_env.catalog import rocm_release

_VERSION_RE = re.compile(r"^\s*(\d+\.\d+(?:\.\d+)?)", re.ASCII)
_DIR_RE = re.compile(r"^rocm-(\d+\.\d+(?:\.\d+)?)$", re.ASCII)


def parse_version_file(text: str) -> str | None:
    """``6.4.0-47`` (up to 6.4) and ``7.1.1`` (later) both give the X.Y.Z part."""
    m = _VERSION_RE.match(text)
    return m.group(1) if m else None


def under_root(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def read_install(root: Path, path: str) -> str | None:
    """The version of the ROCm install at ``path`` (a path on the machine), or None."""
    try:
        text = under_root(root, path).joinpath(".info/version").read_text(errors="replace")
    except OSError:
        return None
    return parse_version_file(text)


def newest_versioned_dir(root: Path) -> tuple[str, str] | None:
    """(path, version) of the newest ``/opt/rocm-X.Y.Z``."""
    opt = root / "opt"
    if not opt.is_dir():
        return None
    found: list[tuple[tuple[int, int, int], str, str]] = []
    for p in opt.iterdir():
        m = _DIR_RE.match(p.name)
        if not m or not p.is_dir():
            continue
        # X.Y or X.Y.Z by both patterns: rocm_release orders them as packaging would.
        version = read_install(root, f"/opt/{p.name}") or m.group(1)
        found.append((rocm_release(version), f"/opt/{p.name}", version))
    if not found:
        return None
    _, path, version = max(found)
    return path, version
