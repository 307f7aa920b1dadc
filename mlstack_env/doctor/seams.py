"""What doctor asks the live system, behind small interfaces tests replace with fakes."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class UserAccess(Protocol):
    """Who the user is, as far as device access goes."""

    def is_root(self) -> bool: ...

    def can_use(self, path: Path) -> bool:
        """Read and write access to a device node."""
        ...

    def groups(self) -> frozenset[str]:
        """The groups this process has now."""
        ...

    def listed_groups(self) -> frozenset[str]:
        """The groups the group database lists the user in (effective after re-login)."""
        ...


class SystemAccess:
    def is_root(self) -> bool:
        return os.geteuid() == 0

    def can_use(self, path: Path) -> bool:
        return os.access(path, os.R_OK | os.W_OK)

    def groups(self) -> frozenset[str]:
        import grp

        names = set()
        for gid in {os.getegid(), *os.getgroups()}:
            try:
                names.add(grp.getgrgid(gid).gr_name)
            except KeyError:
                continue
        return frozenset(names)

    def listed_groups(self) -> frozenset[str]:
        import grp
        import pwd

        try:
            user = pwd.getpwuid(os.geteuid())
        except KeyError:
            return frozenset()
        names = {g.gr_name for g in grp.getgrall() if user.pw_name in g.gr_mem}
        with contextlib.suppress(KeyError):
            names.add(grp.getgrgid(user.pw_gid).gr_name)
        return frozenset(names)


def disk_free(path: Path) -> int:
    """Free bytes on the filesystem that holds ``path`` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return shutil.disk_usage("/").free


@dataclass(frozen=True)
class UvInfo:
    path: str | None
    version: str | None
    error: str | None = None  # why it could not be found or run


def probe_uv() -> UvInfo:
    """The uv binary mlstack would run and its version."""
    from mlstack_env import uv

    try:
        binary = uv.binary()
    except uv.UvError as e:
        return UvInfo(None, None, e.message)
    try:
        return UvInfo(str(binary), uv.version(binary))
    except uv.UvError as e:
        return UvInfo(str(binary), None, e.message)
    except OSError as e:
        return UvInfo(str(binary), None, f"cannot run {binary}: {e.strerror or e}")
