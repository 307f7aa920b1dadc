"""The store half of the chain: content-addressed store entries, named envs and their
generations, file locks, fingerprints, the variables an env carries, verify and gc.

The names below load on first use (PEP 562), so a command that only reads envs
(``env list``, ``env info``) does not import the create path, the machine detection and
the installer along with the package."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstack_env.lazy import loader

if TYPE_CHECKING:
    from mlstack_env.store.create import Created, create_env
    from mlstack_env.store.entries import Store, StoreEntry, store_key
    from mlstack_env.store.generations import Generation, NamedEnv, all_envs, get_env, hold
    from mlstack_env.store.install import UvInstaller
    from mlstack_env.store.variables import env_variables

_HOMES = {
    "Created": "create", "create_env": "create",
    "Store": "entries", "StoreEntry": "entries", "store_key": "entries",
    "UvInstaller": "install",
    "Generation": "generations", "NamedEnv": "generations", "all_envs": "generations",
    "get_env": "generations", "hold": "generations",
    "env_variables": "variables",
}

__all__ = [
    "Created",
    "Generation",
    "NamedEnv",
    "Store",
    "StoreEntry",
    "UvInstaller",
    "all_envs",
    "create_env",
    "env_variables",
    "get_env",
    "hold",
    "store_key",
]


__getattr__ = loader(__name__, {k: f"{__name__}.{v}" for k, v in _HOMES.items()}, globals())
