"""Wheel bundles: every wheel of a lock in one folder, checked against it.

A bundle is what an air-gapped site installs from (``mlstack env create --wheels DIR``).
It is made on a connected machine: the files come from mlstack's download cache, fetched
into it first when missing — found through ``[mirrors]`` like every fetch (by name on
its index's mirror: locate.py), resumed, checked against the lock's sha256 while
streaming (mlstack_env/download.py). Each file is copied into ``DIR/.part-*`` and
renamed to the wheel's name: a file in DIR with a wheel's name always has the bytes the
lock names, even after an interrupted run. A re-run checks the files already there and
brings only what is missing or different.

``read_url`` (index pages, small files) stays on the standard library.
"""

from __future__ import annotations

import contextlib
import http.client
import secrets
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from mlstack_env import __version__
from mlstack_env.config import UserConfig, load_config
from mlstack_env.errors import MlstackError
from mlstack_env.indexpages import basic_auth, redact, split_credentials
from mlstack_env.lockfile import Lock, LockEntry, Wheel, read_lock

if TYPE_CHECKING:
    from mlstack_env.download import DownloadProgress

PART_PREFIX = ".part-"
CHUNK = 1 << 20
TIMEOUT = 60.0  # seconds without a byte before an index page is given up

Status = Literal["downloaded", "cached", "present"]


@dataclass(frozen=True)
class BundledWheel:
    wheel: Wheel
    status: Status
    size: int  # bytes on disk

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.wheel.filename,
            "url": self.wheel.url or None,  # None: locked by name (no canonical URL)
            "sha256": self.wheel.sha256,
            "size": self.size,
            "status": self.status,
        }


@dataclass(frozen=True)
class Bundle:
    directory: Path
    lock_path: Path
    entries: tuple[str, ...]  # entry keys whose wheels are in it
    wheels: tuple[BundledWheel, ...]

    def count(self, status: Status) -> int:
        return sum(1 for w in self.wheels if w.status == status)


def lock_path_for(lock_file: Path | None, project_dir: Path | None, cwd: Path) -> Path:
    """``--lock FILE``, else the lock of the project found from ``cwd`` (or ``--project``)."""
    if lock_file is not None:
        if project_dir is not None:
            raise MlstackError("--lock and --project both name a lock",
                               "pass one: --lock FILE, or --project DIR for its mlstack.lock")
        return lock_file
    from mlstack_env.project import find_project

    project = find_project(cwd, project_dir)
    if project is None:
        raise MlstackError("which lock? there is no mlstack.toml here or above",
                           "pass --lock FILE, or run it in a project (or with --project DIR)")
    return project.lock_path


def select_entries(lock: Lock, profiles: Sequence[str], source: str) -> tuple[LockEntry, ...]:
    """The entries of the named profiles (all entries when none is named)."""
    if not lock.entries:
        raise MlstackError(f"{source} has no entries", "lock something first: `mlstack lock`")
    if not profiles:
        return lock.entries
    known = sorted({e.profile for e in lock.entries})
    unknown = [p for p in profiles if p not in known]
    if unknown:
        raise MlstackError(f"{source} has no entry for profile {', '.join(map(repr, unknown))}",
                           f"profiles in this lock: {', '.join(known)}")
    return tuple(e for e in lock.entries if e.profile in profiles)


def wheels_of(entries: Sequence[LockEntry], source: str) -> list[Wheel]:
    """Every wheel of ``entries`` once, by filename (entries for two GPUs of one ROCm
    share their wheels); two different files under one name cannot share a folder."""
    by_name: dict[str, Wheel] = {}
    for entry in entries:
        for package in entry.packages:
            for wheel in package.files:  # wheels, and the rocm selector's sdist
                seen = by_name.setdefault(wheel.filename, wheel)
                if seen.sha256 != wheel.sha256:
                    raise MlstackError(
                        f"{source} names two different files {wheel.filename} "
                        f"({seen.url or seen.sha256} and {wheel.url or wheel.sha256}); one "
                        "folder cannot hold both",
                        "bundle the profiles separately, each into its own -o DIR",
                    )
    return [by_name[name] for name in sorted(by_name)]


def make_bundle(
    lock_path: Path,
    directory: Path,
    profiles: Sequence[str] = (),
    *,
    config: UserConfig | None = None,
    progress: DownloadProgress | None = None,
    on_present: Callable[[BundledWheel], None] | None = None,
) -> Bundle:
    """Put the wheels of ``profiles`` (every entry when empty) of the lock at ``lock_path``
    into ``directory``: files already there with the locked sha256 stay, the others come
    from mlstack's download cache, fetched first if missing (mlstack_env/download.py)."""
    lock = read_lock(lock_path)
    entries = select_entries(lock, profiles, str(lock_path))
    from mlstack_env.urlpolicy import url_policy

    policy = url_policy(str(lock_path))
    for entry in entries:  # fetch nothing a create of this lock would refuse
        policy.check(entry, str(lock_path))
    wheels = wheels_of(entries, str(lock_path))
    config = config or load_config()
    _prepare(directory)
    done = _present(directory, wheels, on_present)
    needed = [w for w in wheels if w.filename not in done]
    if needed:
        from mlstack_env import download
        from mlstack_env.locate import FileLocator

        wants = {w.sha256: download.want(w) for w in needed}
        before = {sha for sha, want in wants.items() if download.cached(want) is not None}
        # Where each missing file is, before any download: by name on the mirror of its
        # index, else its canonical URL (locate.py). A file no mirror lists stops it here.
        locator = FileLocator(config)  # project pages read once for the whole bundle
        owner = {w.sha256: p for e in entries for p in e.packages for w in p.files}
        for wheel in needed:
            if wheel.sha256 not in before:
                wants[wheel.sha256] = download.want(
                    wheel, locator.url(owner[wheel.sha256], wheel), config.mirrors)
        got = download.fetch_all(list(wants.values()),
                                 settings=download.settings_from(config.downloads),
                                 progress=progress)
        for wheel in needed:
            size = _place(got[wheel.sha256], directory, wheel)
            status: Status = "cached" if wheel.sha256 in before else "downloaded"
            done[wheel.filename] = BundledWheel(wheel, status, size)
    return Bundle(directory, lock_path, tuple(e.key for e in entries),
                  tuple(done[w.filename] for w in wheels))


def _present(directory: Path, wheels: Sequence[Wheel],
             on_present: Callable[[BundledWheel], None] | None) -> dict[str, BundledWheel]:
    """The wheels already in ``directory`` with their locked sha256, by file name."""
    done: dict[str, BundledWheel] = {}
    for wheel in wheels:
        size = _matching_size(directory / wheel.filename, wheel)
        if size is not None:
            done[wheel.filename] = BundledWheel(wheel, "present", size)
            if on_present is not None:
                on_present(done[wheel.filename])
    return done


def _place(cached: Path, directory: Path, wheel: Wheel) -> int:
    """A copy of the cached file in ``directory`` under the wheel's name, by rename, so the
    name never holds a half-written file. A copy, not a hard link: a bundle is handed on
    and may be edited, and the cache must keep the bytes it checked."""
    # Not mkstemp: its files are 0600, and a bundle is often shared; a copy follows the umask.
    part = directory / f"{PART_PREFIX}{wheel.filename}-{secrets.token_hex(4)}"
    try:
        shutil.copyfile(cached, part)
        part.replace(directory / wheel.filename)
        return (directory / wheel.filename).stat().st_size
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise MlstackError(f"cannot write {wheel.filename} into {directory}: "
                           f"{exc.strerror or exc}",
                           "check the free space and permissions of the folder") from None


def _prepare(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise MlstackError(f"{directory} is a file, not a folder",
                           "pass a folder for the wheels: -o DIR")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Leftovers of a killed run: never a wheel's name, so harmless, but not kept.
        for part in directory.glob(PART_PREFIX + "*"):
            part.unlink(missing_ok=True)
    except OSError as exc:
        raise MlstackError(f"cannot write to {directory}: {exc.strerror or exc}",
                           "pick a folder you can write to") from None


def _matching_size(path: Path, wheel: Wheel) -> int | None:
    """The size of ``path`` when it holds exactly the locked bytes, else None."""
    try:
        size = path.stat().st_size
        if not path.is_file() or (wheel.size is not None and size != wheel.size):
            return None
        from mlstack_env.download import file_sha256

        return size if file_sha256(path) == wheel.sha256 else None
    except OSError:
        return None


def _unreachable(url: str, why: str, config: UserConfig) -> MlstackError:
    where = f"[mirrors] in {config.path}" if config.path else "a [mirrors] entry in the " \
        "mlstack config"
    return MlstackError(
        f"cannot download {redact(url)}: {why}",
        f"check the network, or route its prefix to a reachable mirror with {where} "
        "(nightly wheels are deleted upstream: mirror them)",
    )


@contextlib.contextmanager
def _open(url: str, config: UserConfig) -> Any:
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise MlstackError(f"cannot download {url}: unsupported URL scheme {scheme!r}",
                           "locked and mirrored URLs are http(s):// or file://")
    # S310: the scheme is checked just above (file:// on purpose: a mirror may be a folder).
    headers = {"User-Agent": f"mlstack/{__version__}"}
    url, userinfo = split_credentials(url)  # a mirror behind a login: Basic auth
    if userinfo is not None:
        headers["Authorization"] = basic_auth(userinfo)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310
    except urllib.error.HTTPError as exc:
        raise _unreachable(url, f"HTTP {exc.code} {exc.reason}", config) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        why = getattr(reason, "strerror", None) or str(reason)
        raise _unreachable(url, why, config) from None
    except (OSError, ValueError) as exc:
        raise _unreachable(url, str(exc), config) from None
    with response:
        yield response


def read_url(url: str, config: UserConfig) -> bytes:
    """The whole body at ``url`` (an index page, the rocm selector sdist), with the errors
    and hints of a bundle download."""
    body = bytearray()
    deadline = _deadline()
    with _open(url, config) as response:
        while chunk := _read(response, url, config, deadline):
            body += chunk
    return bytes(body)


def _deadline() -> tuple[float, float]:
    """(when this download must be done, the allowance), by the monotonic clock."""
    import time

    from mlstack_env.envvars import download_deadline

    allowed = download_deadline()
    return time.monotonic() + allowed, allowed


def _read(response: Any, url: str, config: UserConfig, deadline: tuple[float, float]
          ) -> bytes:
    """At most CHUNK bytes, in one read of the socket (``read1``: ``read(n)`` waits for
    all n), each read bounded by what is left of the download's deadline (issue 21: a
    mirror sending a byte every 5 s never tripped the per-read TIMEOUT)."""
    import time

    until, allowed = deadline
    left = until - time.monotonic()
    if left <= 0:
        raise _too_slow(url, allowed, config)
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(min(TIMEOUT, left))
    try:
        chunk = response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK)
    except TimeoutError:
        if time.monotonic() >= until:
            raise _too_slow(url, allowed, config) from None
        raise _unreachable(url, f"no data for {TIMEOUT:g} s", config) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _unreachable(url, f"the download broke off ({exc!r})", config) from None
    return bytes(chunk)


def _too_slow(url: str, allowed: float, config: UserConfig) -> MlstackError:
    from mlstack_env.envvars import MLSTACK_DOWNLOAD_DEADLINE

    return _unreachable(url, f"not done after {allowed:g} s ({MLSTACK_DOWNLOAD_DEADLINE}): "
                        "the server sends too slowly", config)
