"""ROCm's ``rocm`` selector in a lock entry: located at lock time, unpacked (never built) at
env create.

Why it is needed: TheRock's torch wheels for ROCm 7.14/10.0 carry ``torch/_rocm_init.py``,
whose ``initialize()`` (called from ``torch/__init__.py``) does ``import rocm_sdk;
rocm_sdk.initialize_process(preload_shortnames=[...], check_version=...)`` (TheRock
``docs/packaging/python_packaging.md`` "Performing Initialization";
``external-builds/pytorch/build_prod_wheels.py``). ``rocm_sdk`` ships only in the ``rocm``
selector, published as an **sdist only** (TheRock
``build_tools/packaging/python/templates/rocm/setup.py``: "we only distribute it as an
sdist"; it computes ``install_requires`` at build time from the building machine's GPU,
``_dist_info.determine_target_family``, and declares the console script
``rocm-sdk = rocm_sdk.__main__:main``). Its package is pure Python:
``src/rocm_sdk/__init__.py`` (``initialize_process``, ``find_libraries``,
``preload_libraries``), ``__main__.py`` (``rocm-sdk path|test|version|targets|init``),
``_devel.py``, ``tests/`` and a pre-generated ``_dist_info.py`` (``__version__``, the
``ALL_PACKAGES``/``ALL_LIBRARIES`` tables, ``determine_target_family``:
``ROCM_SDK_TARGET_FAMILY``, else ``offload-arch``, else ``DEFAULT_TARGET_FAMILY``) that the
sdist carries (setup.py imports it from ``src/rocm_sdk/_dist_info.py`` at build time).

So an entry on a ROCm-as-wheels release pins the selector's sdist (URL, sha256) from the
same AMD index and at the same version as its ``rocm-sdk-*`` wheels, as the one package
of a lock with ``sdist = {…}`` instead of wheels (lockfile.LockedPackage.sdist). The
resolution itself stays wheels-only (rocmsdk.sdk_request overrides the selector away and
pins its wheels). At env create mlstack fetches the sdist (hash-checked; through
``[mirrors]``, from a ``--wheels`` bundle, or from its own cache when offline), and copies
only ``src/rocm_sdk/`` into site-packages with a ``rocm-<version>.dist-info`` (METADATA,
INSTALLER, entry_points.txt, RECORD with every file's sha256, so ``env verify`` checks
them) and a ``bin/rocm-sdk`` console script. ``setup.py`` is never run: a lock is data, and
the dependencies it would compute are the entry's locked wheels already.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlstack_env.core import paths
from mlstack_env.core.errors import InternalError, SourceError, UsageError
from mlstack_env.core.userfile import current_umask
from mlstack_env.fetch.config import UserConfig
from mlstack_env.lockfile import (
    SELECTOR,
    LockedPackage,
    LockEntry,
    Wheel,
)


def selector_of(entry: LockEntry) -> LockedPackage | None:
    """The entry's locked selector sdist, if it holds one."""
    p = entry.package(SELECTOR)
    return p if p is not None and p.sdist is not None else None


# --- lock time: where the sdist is ------------------------------------------------------

def locate(index: str, version: str, config: UserConfig, *, offline: bool,
           previous: LockEntry | None, key: str) -> LockedPackage:
    """The ``rocm`` sdist at ``version`` on ``index`` (PEP 503 ``<index>/rocm/``, with a
    ``#sha256=`` fragment), as a locked package with canonical URLs.

    The previous entry's selector is kept when it names the same version and index (an
    offline re-lock works); otherwise the page is read, through ``[mirrors]``."""
    if previous is not None:
        old = selector_of(previous)
        if old is not None and old.version == version and old.index == index:
            return old
    page = index.rstrip("/") + f"/{SELECTOR}/"
    if offline:
        raise SourceError(
            f"resolving {key}: the rocm selector sdist {version} is not in the previous lock, "
            "and --offline reads no index page",
            "lock once online (the selector is then kept on offline re-locks)",
        )
    from mlstack_env.fetch.indexpages import parse_page
    from mlstack_env.fetch.readurl import read_url

    fetched = config.rewrite(page)
    if fetched.startswith("file:"):  # a mirror that is a folder: the page is its index.html
        fetched += "index.html"
    wanted = f"{SELECTOR}-{version}.tar.gz"
    found = parse_page(read_url(fetched, config), "text/html", fetched).get(wanted)
    if found is not None:
        if found.sha256 is None or len(found.sha256) != 64:
            raise SourceError(f"resolving {key}: {found.url} has no sha256 on its index",
                              "use an index that publishes hashes (#sha256= fragments)")
        base = config.canonical(found.url)
        if base == found.url and config.rewrite(page) != page:
            # A mirror of another layout: its URL says nothing of the canonical one, so
            # the lock records the file by name (found on the mirror's page at create).
            base = ""
        sdist = Wheel(base, found.sha256) if base else Wheel("", found.sha256, name=wanted)
        return LockedPackage(SELECTOR, version, index, (), sdist=sdist)
    raise SourceError(
        f"resolving {key}: {page} has no {wanted} (the rocm selector, which holds the "
        "rocm_sdk package torch imports)",
        "the index must carry the selector sdist beside its rocm-sdk-* wheels; check the "
        "source URL or its [mirrors] entry",
    )


# --- create time: fetch and unpack ------------------------------------------------------

def _cached(sdist: Wheel) -> Path:
    # mlstack's download cache (mlstack_env/fetch/download.py), where create fetches it too
    return paths.files_cache_dir() / sdist.sha256 / sdist.filename


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(sdist: Wheel, url: str, wheels_dir: Path | None, *,
          offline: bool, config: UserConfig) -> bytes:
    """The sdist's bytes, checked against the lock: from the bundle folder, mlstack's own
    cache (filled by earlier creates), or the network at ``url`` (where locate.py found
    it on the mirrors)."""
    for path in ((wheels_dir / sdist.filename) if wheels_dir else None, _cached(sdist)):
        if path is not None and path.is_file():
            data = path.read_bytes()
            if _sha256(data) == sdist.sha256:
                return data
    if offline:
        where = f"in {wheels_dir}" if wheels_dir else "in mlstack's cache"
        raise SourceError(
            f"the locked rocm selector {sdist.filename} is not {where}, and --offline "
            "fetches nothing",
            "on a machine with network access run `mlstack bundle --lock LOCK -o DIR` "
            "(it holds the sdist too) and pass --wheels DIR, or drop --offline",
        )
    from mlstack_env.fetch.readurl import read_url

    url = url or config.rewrite(sdist.url)
    data = read_url(url, config)
    if _sha256(data) != sdist.sha256 or (sdist.size is not None and len(data) != sdist.size):
        raise SourceError(
            f"{url} does not match the lock: sha256 {_sha256(data)}, the lock says "
            f"{sdist.sha256}",
            "the server (or a [mirrors] entry) serves other bytes than the lock records: fix "
            "the mirror, or re-lock with `mlstack lock`",
        )
    import contextlib

    from mlstack_env.core.userfile import write_atomic

    with contextlib.suppress(OSError, UsageError):  # a cache, best effort
        write_atomic(_cached(sdist), data, sync=False)
    return data


def package_files(data: bytes, name: str) -> dict[str, bytes]:
    """``rocm_sdk/<path>`` -> bytes for every file under ``<top>/src/rocm_sdk/`` of the
    sdist ``name`` (:func:`mlstack_env.rocmwheels.selectorunpack.package_files`, the rules'
    one home);
    a refusal is one error naming the sdist."""
    from mlstack_env.rocmwheels.selectorunpack import Refused
    from mlstack_env.rocmwheels.selectorunpack import package_files as unpack

    try:
        return unpack(data)
    except Refused as exc:
        raise SourceError(f"the rocm selector {name} {exc}",
                          "the sdist is not shaped like TheRock's; re-lock, or report it",
                          ) from None


def metadata(entry: LockEntry, version: str) -> str:
    """METADATA: the extras the selector provides, each naming the entry's locked wheel
    (what ``setup.py`` would compute for this entry's gfx, without running it)."""
    lines = ["Metadata-Version: 2.1", f"Name: {SELECTOR}", f"Version: {version}",
             f"Requires-Dist: rocm-sdk-core=={version}"]
    for p in sorted(entry.packages, key=lambda p: p.name):
        extra = p.name.removeprefix("rocm-sdk-")
        if p.name.startswith("rocm-sdk-") and extra != "core":
            lines += [f"Provides-Extra: {extra}",
                      f'Requires-Dist: {p.name}=={p.version}; extra == "{extra}"']
    return "\n".join(lines) + "\n"


def install(entry: LockEntry, venv: Path, site: Path, data: bytes) -> list[str]:
    """Unpack the selector's ``rocm_sdk`` package (``data``, its locked sdist's bytes) into
    ``site`` (of ``venv``, a store entry being built) with its dist-info and
    ``bin/rocm-sdk`` (:mod:`mlstack_env.rocmwheels.selectorunpack`); the files, relative to
    ``site``."""
    from mlstack_env.rocmwheels import selectorunpack

    package = selector_of(entry)
    if package is None or package.sdist is None:
        raise InternalError(f"{entry.key} holds no rocm selector sdist to install")
    files = package_files(data, package.sdist.filename)
    return selectorunpack.install(files, package.version, metadata(entry, package.version),
                                  venv=venv, site=site, umask=current_umask())
