"""``mlstack doctor``: small checks, each giving ok / warn / fail with a finding and a hint.

A check is a function of a :class:`Context` (the machine, the user's variables and home,
the store, the seams to the live system) that yields findings — none when it does not
apply (no GPU: no driver check). Tests build a Context from a fake machine and fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.doctor.seams import UserAccess, UvInfo

if TYPE_CHECKING:
    from mlstack_env.hardware.machine import Machine
    from mlstack_env.system.packagedb import PackageDb
    from mlstack_env.system.wanted import Wanted


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


def checks() -> list[Check]:
    from mlstack_env.doctor import distro, machine, user

    return [
        machine.gpu_present,
        machine.driver_loaded,
        machine.device_access,
        machine.rocm_installed,
        machine.env_rocm,
        machine.lock_fits,
        machine.glibc,
        machine.env_drift,
        machine.envs_behind_lock,
        machine.gpu_support,
        machine.integrated_gpu,
        distro.distro_release,
        distro.kernel_release,
        distro.system_packages,
        user.hsa_override,
        user.hsa_tools_lib,
        user.pytorch_rocm_arch,
        user.rocm_path,
        user.old_env_files,
        user.store_disk,
        user.uv_binary,
    ]


def run(ctx: Context, selected: Iterable[Check] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for check in selected if selected is not None else checks():
        findings.extend(check(ctx))
    return findings
