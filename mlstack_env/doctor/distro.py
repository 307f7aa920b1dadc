"""Checks of the distribution: its release and kernel on ROCm's matrix; system packages."""

from __future__ import annotations

from collections.abc import Iterator

from packaging.version import Version

from mlstack_env.catalog import gpu_table
from mlstack_env.core.errors import SystemPackagesError
from mlstack_env.doctor.findings import Context, Finding, ok, warn
from mlstack_env.doctor.machine import release_rocm


def _os_row(rocm: str) -> str | None:
    rows = gpu_table().official_os
    v = Version(rocm)
    best = None
    for name in rows:
        if Version(name) <= v and (best is None or Version(name) > Version(best)):
            best = name
    return best


def distro_release(ctx: Context) -> Iterator[Finding]:
    from mlstack_env.system.catalog import system_catalog

    distro = ctx.machine.distro
    if distro is None:
        yield warn("distro", "cannot tell the distribution (no /etc/os-release)",
                   "support cannot be judged; most ROCm releases list Ubuntu and RHEL")
        return
    rocm = release_rocm(ctx)
    if rocm is None:
        yield ok("distro", f"{distro.name} (no ROCm release to compare with)")
        return
    row = _os_row(rocm)
    if row is None:
        yield ok("distro", f"{distro.name} (mlstack has no OS table for ROCm {rocm})")
        return
    try:
        family = system_catalog().family_of(distro)
    except SystemPackagesError:
        family = None
    table = gpu_table().official_os[row]
    listed = "; ".join(f"{k} {', '.join(v)}" for k, v in table.items())
    # The distro's own ID (Oracle Linux, SLES, Debian rows), then the family's: Rocky 9.4
    # is judged as RHEL 9.4.
    family_id = family.release_id if family and family.release_id else None
    for ident in dict.fromkeys(i for i in (distro.id, family_id) if i):
        if any(_release_matches(distro.version_id, r) for r in table.get(ident, ())):
            as_text = f" (as {ident} {distro.version_id})" if ident != distro.id else ""
            yield ok("distro", f"{distro.name}{as_text} is supported by ROCm {rocm}")
            return
    as_text = f" (as {family_id} {distro.version_id})" if (
        family_id and distro.id not in table) else ""
    yield warn(
        "distro",
        f"{distro.name}{as_text} is not among the releases ROCm {rocm} lists ({listed})",
        "it may work; AMD tests only the listed releases (catalog/gpus.toml, official-os)",
    )


def _release_matches(version_id: str, listed: str) -> bool:
    """``8.10`` matches ``8.10`` and a bare major ``8`` (Oracle Linux 8.x)."""
    return version_id == listed or ("." not in listed and version_id.startswith(listed + "."))


def kernel_release(ctx: Context) -> Iterator[Finding]:
    from mlstack_env.system.catalog import kernel_series, system_catalog

    kernel = ctx.machine.kernel
    if kernel is None:
        yield warn("kernel", "cannot read the kernel release", "support cannot be judged")
        return
    distro = ctx.machine.distro
    catalog = system_catalog()
    try:
        family = catalog.family_of(distro) if distro else None
    except SystemPackagesError:
        family = None
    series = catalog.kernel_series(family, distro) if family and distro else None
    mine = kernel_series(kernel)
    if not series or mine is None or distro is None:
        yield ok("kernel", f"kernel {kernel} (no kernel list for this release)")
        return
    if mine in series:
        yield ok("kernel", f"kernel {kernel} is one AMD lists for this release")
        return
    yield warn(
        "kernel",
        f"kernel {kernel} is not a series AMD lists for {distro.name} ({', '.join(series)})",
        "the distribution's own GA or HWE kernel is the tested one (mlstack's kernel list "
        "is UNCONFIRMED data in catalog/system.toml)",
    )


def system_packages(ctx: Context) -> Iterator[Finding]:
    from mlstack_env.system import check_packages, system_catalog

    wanted = ctx.wanted
    if wanted is None or ctx.machine.distro is None:
        return
    if not wanted.system:
        yield ok("system-packages", "the lock lists no system packages")
        return
    try:
        family = system_catalog().family_of(ctx.machine.distro)
        statuses = check_packages(wanted.system, family, system_catalog(),
                                  ctx.package_db(family.database))
    except SystemPackagesError as e:
        yield warn("system-packages", f"cannot check system packages: {e.message}", e.hint)
        return
    missing = [s.name for s in statuses if not s.installed]
    if missing:
        yield warn(
            "system-packages",
            f"{len(missing)} of {len(statuses)} system packages missing: {', '.join(missing)}",
            "see the commands that install them with `mlstack system plan`",
        )
        return
    yield ok("system-packages", f"all {len(statuses)} system packages installed")
