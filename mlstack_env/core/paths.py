"""Every path mlstack uses, in one place.

``env run``'s hot path imports no ``pathlib`` (with ``re``, which it pulls in, about a
third of that command's start-up): it uses the ``*_str`` forms; the ``Path`` forms are
built from them, so each location has one rule.
"""

from __future__ import annotations

import os

from mlstack_env.core import envvars

TYPE_CHECKING = False  # typing's own costs an import on the hot path; mypy reads the name
if TYPE_CHECKING:
    from pathlib import Path

APP_NAME = "mlstack"

# The layout of ``envs/<name>/``: the store writes it (store/generations.py); ``env run``
# reads it (store/lookup.py) without importing the rest of the store.
CURRENT = "current"  # envs/<name>/current -> gen-<N>
GEN_PREFIX = "gen-"
RETIRED = ".retired"  # envs/<name>/.retired: generations up to N were removed


def home_str() -> str:
    """:func:`home` as a string."""
    value = os.environ.get(envvars.MLSTACK_HOME)
    if value:
        return os.path.abspath(os.path.expanduser(value))
    import platformdirs

    return str(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def home() -> Path:
    """The data root: store, env names, generations and the uv cache."""
    from pathlib import Path

    return Path(home_str())


def config_file() -> Path:
    """The user config file (``[mirrors]`` and friends)."""
    from pathlib import Path

    value = os.environ.get(envvars.MLSTACK_CONFIG)
    if value:
        return Path(os.path.abspath(os.path.expanduser(value)))
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def machine_root() -> Path:
    """The filesystem root that hardware detection reads; tests point it at a fake tree."""
    from pathlib import Path

    return Path(os.environ.get(envvars.MLSTACK_ROOT) or "/")


def store_dir() -> Path:
    return home() / "store"


def envs_dir_str() -> str:
    """:func:`envs_dir` as a string."""
    return os.path.join(home_str(), "envs")


def envs_dir() -> Path:
    from pathlib import Path

    return Path(envs_dir_str())


def uv_cache_dir() -> Path:
    # Beside the store, on the same filesystem, so uv hardlinks instead of copying.
    return home() / "cache" / "uv"


def venv_templates_dir() -> Path:
    """The empty venvs ``uv venv`` wrote, one per uv and interpreter, that a store miss
    copies (store/install.py); ``cache clean`` removes them."""
    return home() / "cache" / "venvs"


def wheel_urls_dir() -> Path:
    """Where mlstack recorded, before it fetched files itself, the URL each cached wheel
    came from. Nothing writes there now; gc drops its stale temporaries and
    ``cache clean`` the folder."""
    return home() / "cache" / "wheel-urls"


def files_cache_dir() -> Path:
    """mlstack's download cache: ``<sha256>/<filename>`` (mlstack_env/fetch/download.py), beside
    uv's, so any lock whose files are here installs offline, whatever mirror fetched them."""
    return home() / "cache" / "files"


def toml_memo_dir_str() -> str:
    """Parsed TOML documents (mlstack_env/core/tomlmemo.py), beside the download cache;
    ``cache clean`` removes them."""
    return os.path.join(home_str(), "cache", "toml")


def package_data() -> Path:
    from pathlib import Path

    return Path(__file__).parent.parent


def builtin_profiles_dir() -> Path:
    """Built-in profiles: shipped inside the wheel, or the repo's top-level ``profiles/``."""
    shipped = package_data() / "profiles"
    if shipped.is_dir():
        return shipped
    return package_data().parent / "profiles"
