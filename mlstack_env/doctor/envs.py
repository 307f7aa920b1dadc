"""Checks of a lock and of envs against this machine (``doctor --lock``/``--env``, and every
env made from a lock): the entry fits, its wheels run on this glibc, which ROCm an env runs
on, whether the machine or the lock moved since the env was made (the machine itself:
machine.py)."""

from __future__ import annotations

from collections.abc import Iterator

from mlstack_env.doctor.findings import Context, Finding, fail, ok, warn


def env_rocm(ctx: Context) -> Iterator[Finding]:
    """With ``--env``: which ROCm the env runs on."""
    wanted = ctx.wanted
    if wanted is None or wanted.env_name is None or not wanted.entry.target.is_rocm:
        return
    name = wanted.env_name
    if wanted.rocm_in_env is not None:
        from mlstack_env.rocmwheels.rocmroot import root_in
        from mlstack_env.store.entries import Store, store_key

        root = root_in(Store().entry(store_key(wanted.entry)).path, wanted.entry)
        yield ok("env-rocm", f"env {name} uses its own ROCm {wanted.rocm_in_env} (rocm-sdk-* "
                 f"wheels) at {root}; ROCM_PATH, ROCM_HOME and HIP_PATH point there and a "
                 "system ROCm is ignored")
        return
    host = ctx.machine.rocm
    tools = f"ROCm {host.version} at {host.path}" if host else "no ROCm (none installed)"
    yield ok("env-rocm", f"env {name}: torch bundles ROCm {wanted.entry.target.rocm}'s "
             f"libraries; hipcc, rocminfo and amd-smi come from the host: {tools}")


def lock_fits(ctx: Context) -> Iterator[Finding]:
    if ctx.wanted is None:
        return
    if ctx.wanted.misfit is not None:
        yield fail("lock", ctx.wanted.misfit.message, ctx.wanted.misfit.hint)
        return
    yield ok("lock", f"{ctx.wanted.source} fits this machine")


def glibc(ctx: Context) -> Iterator[Finding]:
    """With a lock or env: does this host's glibc run the entry's wheels (its manylinux
    tag)? The same check as ``env create`` (hardware/glibc.py)."""
    from mlstack_env.core.errors import TargetError
    from mlstack_env.hardware.glibc import check_glibc, host_glibc, needed_glibc

    if ctx.wanted is None:
        return
    entry = ctx.wanted.entry
    needed = needed_glibc(entry.platform)
    try:
        found = host_glibc()
        check_glibc(entry.platform, f"entry {entry.key}")
    except TargetError as e:
        yield fail("glibc", e.message, e.hint)
        return
    if needed is None or found is None:
        return
    yield ok("glibc", f"glibc {found[0]}.{found[1]} runs the wheels of {entry.key} "
             f"({entry.platform})")


def env_drift(ctx: Context) -> Iterator[Finding]:
    """With --env: has the machine changed since the env's variables were decided?"""
    from mlstack_env.store.fingerprint import MachineFacts

    wanted = ctx.wanted
    if wanted is None or wanted.env_name is None:
        return
    fp = wanted.fingerprint
    name = wanted.env_name
    if fp is None:
        yield warn("env-drift", f"env {name} has no fingerprint: its origin is unknown",
                   f"re-create it: mlstack env create {wanted.entry.profile} --name {name}")
        return
    now = MachineFacts.of(ctx.machine)
    changes = []
    if fp.machine.gfx != now.gfx:
        changes.append(f"GPUs {','.join(fp.machine.gfx) or 'none'} -> "
                       f"{','.join(now.gfx) or 'none'}")
    if fp.machine.rocm != now.rocm:
        changes.append(f"ROCm {fp.machine.rocm or 'none'} -> {now.rocm or 'none'}")
    if changes:
        yield warn(
            "env-drift",
            f"env {name} was made on this machine as it was: {'; '.join(changes)}; its "
            "GPU variables (visible devices, overrides) may no longer fit",
            f"re-create it: {fp.recreate_command()}",
        )
        return
    yield ok("env-drift", f"env {name} (generation {fp.generation}, made {fp.created} by "
             f"mlstack {fp.mlstack_version}) matches this machine's GPUs and ROCm")


def envs_behind_lock(ctx: Context) -> Iterator[Finding]:
    """Every env made from a lock file: is it behind it (the lock's entry for it changed
    since, e.g. a profile edit and `mlstack lock`)? `mlstack run` syncs such an env first."""
    from mlstack_env.store.generations import all_envs
    from mlstack_env.store.lookup import lock_stamp_changed

    for env in all_envs():
        gen = env.current()
        lock = lock_stamp_changed(str(gen.path)) if gen is not None else None
        if gen is None or lock is None:
            continue
        from mlstack_env.actions.create import behind_lock

        behind = behind_lock(env.name, str(gen.path), lock)
        if behind is not None:
            yield warn("env-lock", behind.message(),
                       f"`mlstack run {env.name} -- CMD` syncs it first, or by hand: "
                       f"`{behind.recreate}`")
