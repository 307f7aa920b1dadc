"""Every path mlstack uses, in one place.

``env run``'s hot path imports no ``pathlib`` (with ``re``, which it pulls in, about a
third of that command's start-up): it uses the ``*_str`` forms; the ``Path`` forms are
built from them, so each location has one rule. Nor does it import ``platformdirs`` (which
brings ``pathlib``: ~10 ms of CPU) for the default home on Linux: :func:`_linux_user_dir`
is its rule there.
"""

from __future__ import annotations

import os
import sys

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
    found = _linux_user_dir(envvars.XDG_DATA_HOME, ".local/share")
    if found is not None:
        return found
    import platformdirs

    return str(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _linux_user_dir(variable: str, under_home: str) -> str | None:
    """``platformdirs.user_*_dir(APP_NAME, appauthor=False)`` on Linux, without importing
    it: ``$variable/mlstack`` when the variable holds an absolute path (an unset, empty,
    blank or relative one is ignored, as the XDG Base Directory spec says), else
    ``<home>/<under_home>/mlstack``, the home being ``HOME`` when it is absolute, else the
    account's (``pwd``). platformdirs' Unix rules since 4.14.3 (``_xdg.py``: ``xdg_dir``,
    ``expand_user``); with no version, ``ensure_exists`` or ``use_site_for_root``, root is
    a user like any other and nothing is created. ``None`` leaves it to platformdirs:
    another platform, what may be Android, and no absolute home to be found (platformdirs
    raises its error). tests/test_paths.py holds the two to the same answers."""
    if sys.platform != "linux" or hasattr(sys, "getandroidapilevel") or (
        os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system"
    ):
        return None
    base = os.environ.get(variable, "")
    if not base.startswith("/"):
        home = os.environ.get(envvars.HOME, "")
        if not home.startswith("/"):
            try:
                import pwd

                home = pwd.getpwuid(os.getuid()).pw_dir
            except (ImportError, KeyError):
                return None
        base = f"{home.rstrip('/')}/{under_home}"
        if not base.startswith("/"):
            return None
    return os.path.join(base, APP_NAME)


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
    found = _linux_user_dir(envvars.XDG_CONFIG_HOME, ".config")
    if found is None:
        import platformdirs

        found = platformdirs.user_config_dir(APP_NAME, appauthor=False)
    return Path(found) / "config.toml"


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


def builtin_profile_names() -> list[str]:
    """The built-in profiles' names (``NAME.toml`` in :func:`builtin_profiles_dir`, as
    ``manifest.profiles.load_builtin`` reads them), without reading any."""
    return sorted(p.stem for p in builtin_profiles_dir().glob("*.toml"))
