"""The variables an env carries: machine-specific ones decided at create time, then the
lock entry's own (ROCM-FACTS §1 and §6).

* The GPU variables (``PYTORCH_ROCM_ARCH``, ``HSA_OVERRIDE_GFX_VERSION[_<node>]``,
  ``ROCR_VISIBLE_DEVICES``): :func:`mlstack_env.gpu.gpuvars.decide`, for this machine's GPUs
  when the entry's target is this machine's, else for the target's gfx list, running the
  GPU code of the entry's locked torch version.
* ``ROCM_PATH``: the detected ROCm install; for an entry holding ROCm as wheels, the root
  ``rocm-sdk path --root`` answers inside the env (the devel tree with rocm-sdk-devel:
  :func:`mlstack_env.rocmwheels.rocmroot.rocm_root`), and ``ROCM_HOME`` and ``HIP_PATH`` too (what
  PyTorch looks for).
* ``MIOPEN_USER_DB_PATH`` / ``MIOPEN_CUSTOM_CACHE_DIR``: per env (:func:`cache_variables`).
* ``PYTORCH_TUNABLEOP_FILENAME``: per GPU set, shared by the envs that enable TunableOp.

The lock entry's variables come last and win: a profile that sets a value on purpose
means it. Except the values ``lock`` derived from the entry's gfx list with the same rule:
when the env is for this machine's own GPUs, the machine decides those.
"""

from __future__ import annotations

from pathlib import Path

from mlstack_env.core import envvars
from mlstack_env.core.record import record
from mlstack_env.gpu import gpuvars
from mlstack_env.hardware.machine import Machine
from mlstack_env.lockfile import LockEntry
from mlstack_env.rocmwheels import rocmroot


@record
class EnvVariables:
    """The variables an env carries on this machine, and the notes about them."""
    variables: dict[str, str]
    notes: tuple[str, ...] = ()


def env_variables(entry: LockEntry, machine: Machine, venv: Path | None = None
                  ) -> EnvVariables:
    """``venv``: the env's store entry (default: where the store keeps ``entry``)."""
    if not entry.target.is_rocm:
        return EnvVariables(dict(sorted(entry.env.items())))
    gpus = gpuvars.gpus_for(machine, entry.target)
    torch = entry.package("torch")
    code = gpuvars.gpu_code(entry.target, torch.version if torch else None)
    decided = gpuvars.decide(gpus, code)
    variables = dict(decided.variables)
    lock_env = dict(entry.env)
    if rocmroot.holds_rocm(entry):
        # ROCm inside the env (FACTS §4b): a system ROCm is ignored unless the profile sets
        # ROCM_PATH itself (then none of the three point into the env).
        from mlstack_env.store.entries import Store, store_key

        venv = venv or Store().entry(store_key(entry)).path
        variables.update(rocmroot.entry_variables(entry, venv))
    elif gpus.machine and machine.rocm is not None:
        variables[envvars.ROCM_PATH] = machine.rocm.path
    if gpus.machine:
        # What lock derived from the entry's gfx list gives way to this machine's own GPUs
        # (a lock for gfx1030+gfx1031 must not put an override on a lone native gfx1030);
        # a value the profile set on purpose differs from the derived one and stays.
        derived = gpuvars.decide(gpuvars.GpuSet.of_target(entry.target), code).variables
        for name, value in derived.items():
            if lock_env.get(name) == value:
                del lock_env[name]
    variables.update(lock_env)
    return EnvVariables(dict(sorted(variables.items())), decided.notes)


def cache_variables(entry: LockEntry, env_dir: Path, home: Path,
                    variables: dict[str, str]) -> dict[str, str]:
    """Cache locations that depend on where the env lives, so a shared lock can't carry them.

    MIOpen's find-db and compiled kernels go with the env: each torch build bundles its own
    MIOpen, and kernels cached by one are not for another. TunableOp's results are
    per GPU set and shared by every env that enables it (``PYTORCH_TUNABLEOP_ENABLED=1``),
    so an inference env replays what a training env tuned on the same GPUs (ROCM-FACTS §6).
    A value the profile sets itself wins (it comes later, in ``variables``).
    """
    if not entry.target.is_rocm:
        return {}
    out = {
        envvars.MIOPEN_USER_DB_PATH: str(env_dir / "cache" / "miopen" / "db"),
        envvars.MIOPEN_CUSTOM_CACHE_DIR: str(env_dir / "cache" / "miopen" / "kernels"),
    }
    if variables.get(envvars.PYTORCH_TUNABLEOP_ENABLED) == "1":
        arch = variables.get(envvars.PYTORCH_ROCM_ARCH, "") or "-".join(entry.target.gfx)
        out[envvars.PYTORCH_TUNABLEOP_FILENAME] = str(
            home / "tunableop" / arch.replace(";", "-") / "tunableop_results.csv"
        )
    return out
