"""The default home and config on Linux: platformdirs' answer, without importing it."""

from __future__ import annotations

import itertools
import pwd
import sys
from collections.abc import Callable
from pathlib import Path

import platformdirs
import platformdirs.unix
import pytest

from mlstack_env.core import paths

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux rule")

# (the variable, what mlstack asks of platformdirs, what it builds on the answer)
KINDS: dict[str, tuple[str, Callable[[], str], Callable[[str], str]]] = {
    "data": ("XDG_DATA_HOME",
             lambda: platformdirs.user_data_dir(paths.APP_NAME, appauthor=False),
             lambda found: found),
    "config": ("XDG_CONFIG_HOME",
               lambda: platformdirs.user_config_dir(paths.APP_NAME, appauthor=False),
               lambda found: str(Path(found) / "config.toml")),
}

# None: unset. Empty, blank, relative and `~` values are not absolute: the XDG spec says
# to ignore them; the rest is taken as it is written, trailing slash and blanks included.
XDG_VALUES = [None, "", "   ", "rel/dir", "~/data", " /lead", "/trail ", "/x/", "/x//y", "/"]
# Unset, empty and relative: the account's home (pwd), not the working directory.
HOME_VALUES = [None, "", "rel", "/home/u", "/home/u/", "/"]


def _mlstack(kind: str) -> str:
    return paths.home_str() if kind == "data" else str(paths.config_file())


def _platformdirs(kind: str) -> str:
    _, ask, build = KINDS[kind]
    return build(ask())


def _set(monkeypatch: pytest.MonkeyPatch, name: str, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def _default_home(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLSTACK_HOME", "MLSTACK_CONFIG", "ANDROID_DATA", "ANDROID_ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("xdg", "home"), list(itertools.product(XDG_VALUES, HOME_VALUES)))
def test_same_directories_as_platformdirs(monkeypatch: pytest.MonkeyPatch, kind: str,
                                          xdg: str | None, home: str | None) -> None:
    variable = KINDS[kind][0]
    _set(monkeypatch, variable, xdg)
    _set(monkeypatch, "HOME", home)
    assert paths._linux_user_dir(variable, "x") is not None  # the rule answered itself
    assert _mlstack(kind) == _platformdirs(kind)


def _account_home(monkeypatch: pytest.MonkeyPatch, pw_dir: str | None) -> None:
    """This account's home in the password database, or no entry (None)."""
    real = pwd.getpwuid

    def getpwuid(uid: int) -> pwd.struct_passwd:
        if pw_dir is None:
            raise KeyError(f"getpwuid(): uid not found: {uid}")
        entry = list(real(uid))
        entry[5] = pw_dir
        return pwd.struct_passwd(entry)

    monkeypatch.setattr(pwd, "getpwuid", getpwuid)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("home", [None, "", "rel", "/home/u"])
@pytest.mark.parametrize("pw_dir", ["/var/lib/svc", "/var/lib/svc/", "/", "", "relative", None])
def test_the_accounts_home_as_platformdirs_reads_it(monkeypatch: pytest.MonkeyPatch, kind: str,
                                                    home: str | None, pw_dir: str | None) -> None:
    _set(monkeypatch, KINDS[kind][0], None)
    _set(monkeypatch, "HOME", home)
    _account_home(monkeypatch, pw_dir)
    try:
        expected = _platformdirs(kind)
    except RuntimeError as e:  # no absolute home to be found: platformdirs' own error
        with pytest.raises(RuntimeError) as raised:
            _mlstack(kind)
        assert str(raised.value) == str(e)
    else:
        assert _mlstack(kind) == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("xdg", [None, "/srv/xdg"])
def test_root_is_a_user_like_any_other(monkeypatch: pytest.MonkeyPatch, kind: str,
                                       xdg: str | None) -> None:
    # mlstack does not ask for use_site_for_root: root's home is ~/.local/share/mlstack
    # (and XDG_* count), not /usr/local/share/mlstack.
    monkeypatch.setattr(platformdirs.unix, "geteuid", lambda: 0)  # what its root check asks
    monkeypatch.setattr("os.geteuid", lambda: 0)
    _set(monkeypatch, KINDS[kind][0], xdg)
    monkeypatch.setenv("HOME", "/root")
    assert _mlstack(kind) == _platformdirs(kind)
    assert _mlstack(kind).startswith(xdg or "/root/")


def test_nothing_is_created(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert paths.home_str() == str(tmp_path / "data" / "mlstack")
    assert paths.config_file() == tmp_path / "config" / "mlstack" / "config.toml"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_platformdirs_decides_elsewhere(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    variable = KINDS[kind][0]
    monkeypatch.setenv(variable, "/srv/xdg")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert paths._linux_user_dir(variable, "x") is None
    monkeypatch.setattr(sys, "platform", "linux")
    # what platformdirs may take for Android (it then reads the app's own folder)
    monkeypatch.setenv("ANDROID_DATA", "/data")
    monkeypatch.setenv("ANDROID_ROOT", "/system")
    assert paths._linux_user_dir(variable, "x") is None
    assert _mlstack(kind) == _platformdirs(kind)
