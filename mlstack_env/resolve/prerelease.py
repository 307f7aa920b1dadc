"""Pre-releases and dev releases are never taken because they are the only wheel.

uv's default (``--prerelease if-necessary-or-explicit``) takes a pre-release when a package
has nothing else that fits; with ``--only-binary :all:`` that happens whenever every release
but an old dev build is an sdist: a profile naming ``deepspeed`` locked 0.3.1.dev5 (2020),
PyPI's one Linux wheel of it. After resolution, a pre-release (or dev release) is accepted
only where a requirement names one explicitly (``deepspeed==0.3.1.dev5``, ``>=2.15.0a0``) or
the profile says ``prereleases = "allow"`` (or it comes from a source that is a stream of
pre-releases, ``prereleases = true``: AMD's nightlies); else the lock fails naming the
package and why (its newer releases, read from the index page, have no wheel that fits)."""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from mlstack_env.core.errors import SourceError
from mlstack_env.fetch.config import UserConfig
from mlstack_env.lockfile import LockedPackage
from mlstack_env.resolve.request import Request


def check_prereleases(packages: list[LockedPackage], request: Request, config: UserConfig,
                      *, offline: bool) -> None:
    """Refuse the first pre-release no requirement asked for (see the module's docstring)."""
    if request.profile.allows_prereleases:
        return
    wanted, replaced = request.requirements()
    explicit = {canonicalize_name(r.name) for r in map(Requirement, (*wanted, *replaced))
                if r.specifier.prereleases}
    streams = [s for s in request.sources if s.prereleases]  # nightlies: all pre-releases
    for p in sorted(packages, key=lambda p: p.name):
        version = Version(p.version)
        if not version.is_prerelease or p.name in explicit:
            continue
        if p.wheels and any(all(s.owns(w.url) for w in p.wheels) for s in streams):
            continue
        kind = "a dev release" if version.is_devrelease else "a pre-release"
        newer = None if offline or p.index is None else _newer_files(p, config)
        where = p.index or "its index"
        if newer:
            why = (f"taken only because it is the one wheel of {p.name} on {where} that fits "
                   f"Python {request.python} on {request.platform}: {newer}")
        else:
            why = f"taken only because no release of {p.name} has a wheel that fits"
        raise SourceError(
            f"resolving {request.key}: {p.name} {p.version} is {kind}, {why}",
            f"add a [sources.NAME] that carries a {p.name} wheel (for ROCm, one built for "
            f"your ROCm); or, to take it anyway, pin it ({p.name}=={p.version}) or set "
            f"prereleases = \"allow\" in profile {request.profile.name!r}",
        )


def _newer_files(p: LockedPackage, config: UserConfig) -> str | None:
    """What the index holds newer than ``p``, in words ("its newer releases are sdists
    only (the newest: 0.17.6)"), from its PEP 691/503 project page; None if unreadable."""
    from mlstack_env.fetch.readurl import read_url

    page = config.rewrite(p.index.rstrip("/") + f"/{p.name}/") if p.index else ""
    if not page.startswith(("http://", "https://")):
        return None
    try:
        body = read_url(page, config)
    except SourceError:
        return None  # the explanation is a courtesy: the lock fails either way
    names = _filenames(body, page)
    mine = Version(p.version)
    sdists: set[Version] = set()
    wheels: set[Version] = set()
    for name in names:
        try:
            if name.endswith(".whl"):
                wheels.add(parse_wheel_filename(name)[1])
            elif name.endswith((".tar.gz", ".zip")):
                sdists.add(parse_sdist_filename(name)[1])
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
    newer = {v for v in sdists | wheels if v > mine and not v.is_prerelease}
    if not newer:
        return None
    newest = max(newer)
    if newer <= sdists - wheels:
        return f"its {len(newer)} newer releases are sdists only (the newest: {newest})"
    what = "an sdist only" if newest not in wheels else "wheels for other platforms only"
    return (f"none of its {len(newer)} newer releases has a wheel that fits (the newest, "
            f"{newest}, is {what})")


def _filenames(body: bytes, page: str) -> list[str]:
    """File names on a project page: PEP 691 JSON, else PEP 503 HTML (none if malformed)."""
    from mlstack_env.fetch.indexpages import JSON_TYPE, PageError, parse_page

    ctype = JSON_TYPE if body.lstrip().startswith(b"{") else "text/html"
    try:
        return list(parse_page(body, ctype, page))
    except PageError:
        return []
