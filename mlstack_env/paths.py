"""Every path mlstack uses, in one place."""

from __future__ import annotations

import os
from pathlib import Path

from mlstack_env import envvars

APP_NAME = "mlstack"

# The layout of ``envs/<name>/``: the store writes it (store/generations.py); ``env run``
# reads it (activation/lookup.py) without importing the store.
CURRENT = "current"  # envs/<name>/current -> gen-<N>
GEN_PREFIX = "gen-"
RETIRED = ".retired"  # envs/<name>/.retired: generations up to N were removed


def home() -> Path:
    """The data root: store, env names, generations and the uv cache."""
    value = os.environ.get(envvars.MLSTACK_HOME)
    if value:
        return Path(value).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    """The user config file (``[mirrors]`` and friends)."""
    value = os.environ.get(envvars.MLSTACK_CONFIG)
    if value:
        return Path(value).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def machine_root() -> Path:
    """The filesystem root that hardware detection reads; tests point it at a fake tree."""
    return Path(os.environ.get(envvars.MLSTACK_ROOT) or "/")


def store_dir() -> Path:
    return home() / "store"


def envs_dir() -> Path:
    return home() / "envs"


def uv_cache_dir() -> Path:
    # Beside the store, on the same filesystem, so uv hardlinks instead of copying.
    return home() / "cache" / "uv"


def wheel_urls_dir() -> Path:
    """``<sha256>`` -> the URL that wheel was last fetched from (uv's cache key), so an
    offline install finds a cached wheel whatever mirror fetched it."""
    return home() / "cache" / "wheel-urls"


def package_data() -> Path:
    return Path(__file__).parent


def builtin_profiles_dir() -> Path:
    """Built-in profiles: shipped inside the wheel, or the repo's top-level ``profiles/``."""
    shipped = package_data() / "profiles"
    if shipped.is_dir():
        return shipped
    return package_data().parent / "profiles"
