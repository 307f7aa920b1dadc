"""Pre-releases and dev releases only when asked for (resolve/prerelease.py): the rule on
locked packages, without uv (the lock through uv: tests/test_builtin_profiles.py)."""

from __future__ import annotations

import pytest

from mlstack_env.catalog.sources import catalog
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.fetch.config import UserConfig
from mlstack_env.lockfile import LockedPackage, Wheel
from mlstack_env.manifest.profiles import Profile
from mlstack_env.resolve.prerelease import check_prereleases
from mlstack_env.resolve.request import Request, make_request

NIGHTLY = "https://nightly.repo.amd.com/rocm/whl-next/"


def _pkg(name: str, version: str, index: str) -> LockedPackage:
    url = f"{index.rstrip('/')}/{name}/{name}-{version}-py3-none-any.whl"
    return LockedPackage(name, version, index, (Wheel(url, "0" * 64, 1),))


def _request(packages: tuple[str, ...], prereleases: str | None = None,
             target: str = "rocm6.4:gfx1100", nightly: bool = False) -> Request:
    cat = catalog()
    if nightly:
        cat = cat.with_overrides({"amd-rocm-nightly": {"enabled": True},
                                  "amd-rocm-wheels": {"enabled": False}}, "mlstack.toml")
    profile = Profile("p", packages=packages, prereleases=prereleases)
    return make_request(profile, Target.parse(target), "3.12", cat)


@pytest.mark.parametrize(("version", "kind"), [("0.3.1.dev5", "a dev release"),
                                                ("1.0rc1", "a pre-release"),
                                                ("2.0.0a3", "a pre-release")])
def test_a_pre_release_nobody_asked_for_is_refused(version: str, kind: str) -> None:
    request = _request(("tool",))
    with pytest.raises(MlstackError) as info:
        check_prereleases([_pkg("tool", version, "https://pypi.org/simple")], request,
                          UserConfig(), offline=True)
    assert f"tool {version} is {kind}" in info.value.message
    assert "no release of tool has a wheel that fits" in info.value.message
    assert info.value.hint and f"tool=={version}" in info.value.hint


@pytest.mark.parametrize(("packages", "prereleases"), [
    (("tool==0.3.1.dev5",), None),      # named exactly
    (("tool>=0.3.1.dev1",), None),      # a specifier naming a pre-release
    (("tool",), "allow"),               # the profile takes them
])
def test_a_pre_release_asked_for_is_kept(packages: tuple[str, ...],
                                         prereleases: str | None) -> None:
    check_prereleases([_pkg("tool", "0.3.1.dev5", "https://pypi.org/simple")],
                      _request(packages, prereleases), UserConfig(), offline=True)


def test_a_transitive_pre_release_is_refused_too() -> None:
    # The profile names torch; a dependency came out as a dev release: refused all the same.
    with pytest.raises(MlstackError, match=r"helper 1\.0\.dev2 is a dev release"):
        check_prereleases([_pkg("helper", "1.0.dev2", "https://pypi.org/simple")],
                          _request(("torch",)), UserConfig(), offline=True)


def test_a_nightly_stream_may_carry_pre_releases() -> None:
    request = _request(("torch",), target="rocm7.14:gfx1100", nightly=True)
    check_prereleases([_pkg("rocm-sdk-core", "7.14.0a20260801", NIGHTLY)], request,
                      UserConfig(), offline=True)
    # The same version from PyPI is no nightly's: refused.
    pypi = _pkg("rocm-sdk-core", "7.14.0a20260801", "https://pypi.org/simple")
    with pytest.raises(MlstackError, match=r"rocm-sdk-core 7\.14\.0a20260801 is a pre-release"):
        check_prereleases([pypi], request, UserConfig(), offline=True)
