"""What a doctor check is: a function of a :class:`Context` yielding findings (ok / warn /
fail, with a hint). The checks (machine.py, distro.py, user.py) import this;
the package's __init__ lists and runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.doctor.seams import UserAccess, UvInfo

if TYPE_CHECKING:
    from mlstack_env.actions.wanted import Wanted
    from mlstack_env.hardware.machine import Machine
    from mlstack_env.system.packagedb import PackageDb


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str
    hint: str | None = None

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "message": self.message,
            "hint": self.hint,
        }


def ok(check: str, message: str, hint: str | None = None) -> Finding:
    return Finding(check, Status.OK, message, hint)


def warn(check: str, message: str, hint: str | None = None) -> Finding:
    return Finding(check, Status.WARN, message, hint)


def fail(check: str, message: str, hint: str | None = None) -> Finding:
    return Finding(check, Status.FAIL, message, hint)


@dataclass(frozen=True)
class Context:
    machine: Machine
    root: Path  # the filesystem root the machine was read from (MLSTACK_ROOT)
    environ: Mapping[str, str]
    home: Path  # the user's home directory (shell startup files)
    store: Path  # mlstack's data root (paths.home())
    access: UserAccess
    disk_free: Callable[[Path], int]
    uv: Callable[[], UvInfo]
    package_db: Callable[[str], PackageDb]  # database name (dpkg, rpm, pacman) -> db
    wanted: Wanted | None = None  # what a lock expects, with --lock

    def under_root(self, path: str) -> Path:
        return self.root / path.lstrip("/")


Check = Callable[[Context], Iterable[Finding]]
