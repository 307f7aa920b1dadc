"""The host's glibc against the manylinux tag a lock entry was resolved for.

A lock entry's ``platform`` (``x86_64-manylinux_2_28``; ``_2_35`` for vLLM's ROCm wheels)
says the oldest glibc its wheels run on. ``MLSTACK_GLIBC`` (``2.35``) replaces the
detected version: tests set it, and so can a user whose libc mlstack cannot read.
"""

from __future__ import annotations

import os
import re

from mlstack_env.core import envvars
from mlstack_env.core.errors import TargetError

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)")
_VERSION = re.compile(r"(\d+)\.(\d+)")


def needed_glibc(platform: str) -> tuple[int, int] | None:
    """The glibc a platform like ``x86_64-manylinux_2_35`` needs; None when it says none."""
    m = _MANYLINUX.search(platform)
    return (int(m[1]), int(m[2])) if m else None


def host_glibc() -> tuple[int, int] | None:
    """This host's glibc (``MLSTACK_GLIBC``, else the C library's own answer); None when
    it is not glibc (musl) or cannot be read."""
    override = os.environ.get(envvars.MLSTACK_GLIBC, "").strip()
    if override:
        m = _VERSION.fullmatch(override)
        if m is None:
            raise TargetError(
                f"{envvars.MLSTACK_GLIBC}={override!r} is not a glibc version like 2.35",
                hint=f"set it to major.minor, or unset {envvars.MLSTACK_GLIBC} to detect it",
            )
        return int(m[1]), int(m[2])
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        return None
    m = _VERSION.search(found or "")
    return (int(m[1]), int(m[2])) if m else None


def check_glibc(platform: str, what: str) -> None:
    """Refuse ``what`` (an entry's description) when this host's glibc is older than its
    ``platform`` needs. Unknown glibc (musl, unreadable): no refusal — uv tells then."""
    needed, found = needed_glibc(platform), host_glibc()
    if needed is None or found is None or found >= needed:
        return
    raise TargetError(
        f"{what} needs glibc {needed[0]}.{needed[1]} ({platform}); "
        f"this host has glibc {found[0]}.{found[1]}",
        hint="lock for another target or profile whose wheels run on this glibc, or run it "
        f"on a distro (or in a container) with glibc >= {needed[0]}.{needed[1]}",
    )
