"""``mlstack doctor``: small checks, each giving ok / warn / fail with a finding and a hint.

A check is a function of a :class:`Context` (the machine, the user's variables and home,
the store, the seams to the live system) that yields findings — none when it does not
apply (no GPU: no driver check). Tests build a Context from a fake machine and fakes.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlstack_env.doctor.findings import Check, Context, Finding, Status, fail, ok, warn

__all__ = ["Check", "Context", "Finding", "Status", "checks", "fail", "ok", "run", "warn"]


def checks() -> list[Check]:
    from mlstack_env.doctor import distro, envs, machine, user

    return [
        machine.gpu_present,
        machine.driver_loaded,
        machine.device_access,
        machine.rocm_installed,
        envs.env_rocm,
        envs.lock_fits,
        envs.glibc,
        envs.env_drift,
        envs.envs_behind_lock,
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
