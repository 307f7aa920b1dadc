"""From an env name to the generation that activation uses: ``envs/<name>/current``.

A light reader of the store's layout for the ``env run`` hot path (the store module
pulls in the lock and TOML machinery). It only reads: ``current`` is swapped atomically
by the store, so reading it once gives one whole generation.
"""

from __future__ import annotations

from pathlib import Path

from mlstack_env import paths
from mlstack_env.activation.data import ENV_JSON
from mlstack_env.envname import validate_env_name
from mlstack_env.errors import MlstackError

CURRENT = "current"


def known_envs() -> list[str]:
    """Names of the envs that have a current generation, sorted."""
    try:
        entries = list(paths.envs_dir().iterdir())
    except OSError:
        return []
    return sorted(e.name for e in entries if (e / CURRENT / ENV_JSON).is_file())


def describe_known() -> str:
    names = known_envs()
    if not names:
        return "there are no envs yet; create one with `mlstack env create PROFILE`"
    return f"existing envs: {', '.join(names)}; or create one with `mlstack env create`"


def current_generation(name: str) -> Path:
    """The directory of ``name``'s current generation, or an error naming the envs there are."""
    validate_env_name(name)
    env_dir = paths.envs_dir() / name
    current = env_dir / CURRENT
    if not (current / ENV_JSON).is_file():
        if current.exists() or (env_dir.is_dir() and any(env_dir.glob("gen-*"))):
            raise MlstackError(
                f"env {name!r} has no usable generation ({current / ENV_JSON} is missing)",
                hint=f"recreate it with `mlstack env create --name {name}`, or "
                f"`mlstack env rollback {name}`",
            )
        raise MlstackError(f"no env named {name!r}", hint=describe_known())
    # Resolve once: a concurrent re-create swaps `current`, and everything activation
    # reads must come from the same generation.
    return current.resolve()
