"""The store half of the chain: content-addressed store entries, named envs and their
generations, file locks, fingerprints, the variables an env carries, verify and gc."""

from mlstack_env.store.create import Created, create_env
from mlstack_env.store.entries import Store, StoreEntry, store_key
from mlstack_env.store.generations import Generation, NamedEnv, all_envs, get_env, hold
from mlstack_env.store.install import UvInstaller
from mlstack_env.store.variables import env_variables

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
