"""mlstack's own downloads: a lock's files into one cache keyed by sha256.

``env create``, ``bundle`` (and whatever else needs a locked file) ask :func:`fetch_all`
for ``(url, sha256, size)``; uv then installs from the local files, with no network.

* **One cache, keyed by content**: ``cache/files/<sha256>/<filename>``. A file lands there
  only after its sha256 (and size, when known) matched while it streamed, so a name in the
  cache always holds the locked bytes. Which mirror or URL fetched it does not matter: a
  lock fetched through mirror A installs offline, or through mirror C, without a download.
* **Resume**: bytes stream into ``cache/files/<sha256>/.part`` (locked with ``flock``: a
  second mlstack waits for the first instead of fetching the same file). A run killed at
  any point leaves what it wrote; the next run re-hashes those bytes and asks for the rest
  with an HTTP ``Range`` request (a server that ignores it sends the whole file, which is
  then taken from the start). At most the chunk in flight is fetched twice.
* **Retries with backoff** on connection errors, timeouts and 5xx/429 (``retries``), a
  read timeout (``timeout``: seconds without a byte) and a **total deadline per file**
  (``deadline``), so a mirror that trickles a byte a second is given up on too.
* **Parallel**, bounded (``parallel``), over one urllib3 pool: urllib3 because it keeps
  connections alive and pooled across files, speaks TLS with the system's CAs, streams a
  body in chunks we choose, and is a dependency-free, widely kept library.
* **The user's network settings, as uv reads them**: ``HTTPS_PROXY``/``HTTP_PROXY``/
  ``ALL_PROXY`` with ``NO_PROXY``; ``SSL_CERT_FILE``/``SSL_CERT_DIR``; credentials in the
  URL (a mirror like ``https://user:token@host/``) or in ``~/.netrc`` (``NETRC``).

urllib3 is imported only when something is downloaded: a store hit, and a create whose
files are all cached, never load it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from mlstack_env import __version__
from mlstack_env.core import paths
from mlstack_env.core.errors import MlstackError
from mlstack_env.core.units import seconds

if TYPE_CHECKING:
    import urllib3

CHUNK = 1 << 20  # bytes per read and write: what a killed run may fetch twice
PART = ".part"
USED = ".used"
UNUSED_DAYS = 30  # `cache prune` removes files no create has used for this long


@dataclass(frozen=True)
class Settings:
    """``[downloads]`` in the user config (docs/team.md)."""

    parallel: int = 4  # files at once
    timeout: float = 30.0  # seconds without a byte (connect or read); uv's default too
    retries: int = 3  # further attempts after a network failure, with backoff
    deadline: float | None = None  # seconds per file in all; None: one hour

    def deadline_for(self, size: int | None) -> float:
        from mlstack_env.core.envvars import DEFAULT_DOWNLOAD_DEADLINE

        return self.deadline if self.deadline is not None else DEFAULT_DOWNLOAD_DEADLINE


def settings_from(values: Mapping[str, float]) -> Settings:
    """``[downloads]`` of the user config; unset keys take uv's own variables
    (``UV_HTTP_TIMEOUT``, ``UV_HTTP_RETRIES``), which mlstack passes on to uv too."""
    def env(name: str) -> float | None:
        try:
            return float(os.environ[name])
        except (KeyError, ValueError):
            return None

    from mlstack_env.core.envvars import MLSTACK_DOWNLOAD_DEADLINE, download_deadline

    base = Settings()
    # MLSTACK_DOWNLOAD_DEADLINE (one command's setting) wins over the config's deadline.
    deadline = download_deadline() if os.environ.get(MLSTACK_DOWNLOAD_DEADLINE, "").strip() \
        else values.get("deadline")
    timeout = values.get("timeout", env("UV_HTTP_TIMEOUT"))
    retries = values.get("retries", env("UV_HTTP_RETRIES"))
    return Settings(
        parallel=max(1, int(values.get("parallel", base.parallel))),
        timeout=timeout if timeout and timeout > 0 else base.timeout,
        retries=int(retries) if retries is not None and retries >= 0 else base.retries,
        deadline=deadline,
    )


@dataclass(frozen=True)
class Want:
    """One file to have in the cache."""

    url: str  # the lock's (canonical) URL; "" for a file locked by name only
    sha256: str
    size: int | None = None
    fetch_url: str = ""  # where to fetch it (on a mirror); the lock's URL when empty
    mirror: str | None = None  # the mirror prefix ``fetch_url`` goes through
    name: str = ""  # the file name, when the URL does not say it

    @property
    def filename(self) -> str:
        return self.name or unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])

    @property
    def source(self) -> str:
        return self.fetch_url or self.url

    @property
    def through(self) -> str:
        """The server the file comes from, as errors name it."""
        if self.mirror:
            return f"mirror {self.mirror}"
        parts = urlsplit(self.source)
        return f"{parts.scheme}://{parts.hostname or ''}{_port(parts.port)}/ (no mirror)"


def _port(port: int | None) -> str:
    return f":{port}" if port else ""


@dataclass
class Fetched:
    want: Want
    path: Path
    status: str  # "cached", "downloaded"
    bytes: int = 0  # fetched over the network by this run
    resumed_from: int = 0  # bytes a killed run had left, not fetched again
    seconds: float = 0.0


@dataclass
class Report:
    """What one :func:`fetch_all` did (``--json``'s ``downloads``)."""

    files: list[Fetched] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        got = [f for f in self.files if f.status == "downloaded"]
        return {
            "files": len(self.files),
            "cached": len(self.files) - len(got),
            "downloaded": len(got),
            "bytes": sum(f.bytes for f in got),
            "resumed_bytes": sum(f.resumed_from for f in got),
            "seconds": round(self.seconds, 3),
            "per_file": [
                {"filename": f.want.filename, "sha256": f.want.sha256, "url": f.want.source,
                 "bytes": f.bytes, "resumed_from": f.resumed_from,
                 "seconds": round(f.seconds, 3)}
                for f in got
            ],
        }


class DownloadProgress(Protocol):
    """Where downloads are shown (cli/progress.py); called from worker threads."""

    def begin(self, wants: Sequence[Want]) -> None: ...

    def start(self, want: Want, size: int | None, done: int) -> None: ...

    def advance(self, want: Want, nbytes: int) -> None: ...

    def finish(self, got: Fetched) -> None: ...

    def end(self, report: Report) -> None: ...

    def close(self) -> None: ...


class NoDownloadProgress:
    def begin(self, wants: Sequence[Want]) -> None:
        pass

    def start(self, want: Want, size: int | None, done: int) -> None:
        pass

    def advance(self, want: Want, nbytes: int) -> None:
        pass

    def finish(self, got: Fetched) -> None:
        pass

    def end(self, report: Report) -> None:
        pass

    def close(self) -> None:
        pass


# --- the cache ------------------------------------------------------------------------

def cache_dir() -> Path:
    return paths.files_cache_dir()


def _slot(sha256: str) -> Path:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise MlstackError(f"{sha256!r} is not a sha256", "the lock's hashes are 64 hex digits")
    return cache_dir() / sha256


def cached(want: Want) -> Path | None:
    """The cached file with ``want``'s sha256, under its name (a file cached under another
    name — the same bytes from another URL — is linked to this one)."""
    slot = _slot(want.sha256)
    path = slot / want.filename
    if path.is_file():
        return path
    with contextlib.suppress(OSError):
        for other in slot.iterdir():
            if not other.name.startswith(".") and other.is_file():
                _link_or_copy(other, path)
                return path
    return None


def _link_or_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    tmp.replace(target)


def _touch(path: Path) -> None:
    """Mark a cached file used (`cache prune` keeps what was used lately) by touching
    ``.used`` beside it, never the file: uv keys its unpacked copy of a local wheel by
    the file's ctime, and a touched wheel would be unpacked again on every create."""
    with contextlib.suppress(OSError):
        (path.parent / USED).touch()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- fetching -----------------------------------------------------------------------------

def fetch_all(
    wants: Sequence[Want],
    *,
    settings: Settings | None = None,
    progress: DownloadProgress | None = None,
    offline: bool = False,
    verify: bool = False,
) -> dict[str, Path]:
    """sha256 -> the cached file, for every ``want``: from the cache, else downloaded.

    ``offline``: nothing is downloaded; every file must be cached (all missing ones are
    named). ``verify``: cached files are hashed again and a damaged one fetched anew
    (``env create --reinstall``).
    """
    settings = settings or Settings()
    progress = progress or NoDownloadProgress()
    start = time.monotonic()
    unique = list({w.sha256: w for w in wants}.values())
    report = Report()
    found: dict[str, Path] = {}
    missing: list[Want] = []
    for want in unique:
        path = cached(want)
        if path is not None and verify and file_sha256(path) != want.sha256:
            shutil.rmtree(path.parent, ignore_errors=True)
            path = None
        if path is None:
            missing.append(want)
            continue
        _touch(path)
        found[want.sha256] = path
        report.files.append(Fetched(want, path, "cached"))
    if missing and offline:
        names = ", ".join(sorted(w.filename for w in missing))
        raise MlstackError(
            f"{len(missing)} locked file{'s are' if len(missing) != 1 else ' is'} not in "
            f"mlstack's download cache ({cache_dir()}), and --offline downloads nothing: "
            f"{names}",
            "run the same command once with network access (any mirror will do), or "
            "bring the files with `mlstack bundle` and --wheels DIR",
        )
    if missing:
        progress.begin(missing)
        client = _Client(settings)
        try:
            for got in _parallel(missing, settings.parallel,
                                 lambda w: _fetch_one(w, client, settings, progress)):
                found[got.want.sha256] = got.path
                report.files.append(got)
                progress.finish(got)
        finally:
            client.close()
            progress.close()  # no bar stays behind an error
    report.seconds = time.monotonic() - start
    if missing:
        progress.end(report)
    _last_report.value = report
    return {w.sha256: found[w.sha256] for w in wants}


class _Last(threading.local):
    value: Report | None = None


_last_report = _Last()


def last_report() -> Report | None:
    """The report of this thread's last :func:`fetch_all` (for ``--json``)."""
    return _last_report.value


def forget_report() -> None:
    """A new command starts: an earlier command's downloads are not its own."""
    _last_report.value = None


def _parallel(wants: Sequence[Want], workers: int,
              job: Callable[[Want], Fetched]) -> Iterator[Fetched]:
    """Run ``job`` on each want, at most ``workers`` at once; results as they finish. The
    first failure cancels what has not started and is raised once the rest stopped."""
    if workers <= 1 or len(wants) == 1:
        for want in wants:
            yield job(want)
        return
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=min(workers, len(wants)),
                              thread_name_prefix="mlstack-download")
    try:
        futures = [pool.submit(job, w) for w in wants]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                for other in pending:
                    other.cancel()
                _stop.set()
                wait(pending)
                # The first file (in the caller's order) that failed on its own, not one
                # stopped because another failed: the same error on every run.
                failed = [e for f in futures
                          if not f.cancelled() and (e := f.exception()) is not None]
                raise next((e for e in failed if not isinstance(e, _Stopped)), failed[0])
            for future in done:
                yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _stop.clear()


_stop = threading.Event()  # set when one file failed: the others stop at their next chunk


class DownloadError(MlstackError):
    """A file could not be fetched; the message names the URL, the mirror and why."""


class _Stopped(DownloadError):
    """Given up because another file failed."""


def _error(want: Want, why: str, hint: str | None = None) -> DownloadError:
    from mlstack_env.fetch.indexpages import redact  # never a password in a message

    return DownloadError(
        f"cannot download {redact(want.source)} (through {redact(want.through)}): {why}",
        hint or (
            "check the network and that the server is up; to fetch through another mirror, "
            "set it in [mirrors] of the mlstack config (docs/team.md). A partial download "
            "is kept and resumed on the next run"
        ),
    )


def _mismatch(want: Want, why: str) -> DownloadError:
    return _error(want, f"it does not match the lock (hash mismatch): {why}", (
        "the lock or the served wheel was changed: restore the lock, fix the server (or its "
        f"[mirrors] entry), or re-lock with `mlstack lock` if {want.filename} was replaced "
        "on purpose"))


class _Retry(Exception):
    """A failure worth another attempt (network, timeout, 5xx)."""


class _Restart(_Retry):
    """Another attempt, from the file's first byte."""


def _fetch_one(want: Want, client: _Client, settings: Settings,
               progress: DownloadProgress) -> Fetched:
    slot = _slot(want.sha256)
    try:
        slot.mkdir(parents=True, exist_ok=True)
        fd = os.open(slot / PART, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MlstackError(f"cannot write to mlstack's download cache {slot}: "
                           f"{exc.strerror or exc}",
                           "check the free space and permissions of MLSTACK_HOME") from None
    with os.fdopen(fd, "r+b") as part:
        fcntl.flock(part.fileno(), fcntl.LOCK_EX)  # another mlstack fetching it: wait
        done = cached(want)
        if done is not None:  # it did
            return Fetched(want, done, "cached")
        return _download(want, part, slot, client, settings=settings, progress=progress)


class _Hasher:
    """sha256 in a thread of its own: hashing a chunk (hashlib lets go of the GIL) overlaps
    receiving and writing the next, so a fast link is not held to one core's hash rate."""

    def __init__(self) -> None:
        import queue

        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=32)
        self._thread = threading.Thread(target=self._run, name="mlstack-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._digest.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return self._digest.hexdigest()


def _download(want: Want, part: Any, slot: Path, client: _Client, *, settings: Settings,
              progress: DownloadProgress) -> Fetched:
    hashers: list[_Hasher] = []

    def fresh() -> _Hasher:
        for old in hashers:
            old.close()
        hashers.append(_Hasher())
        return hashers[-1]

    try:
        return _fetch_into(want, part, slot, client, settings=settings, progress=progress,
                           fresh=fresh)
    finally:
        for hasher in hashers:
            hasher.close()


def _fetch_into(want: Want, part: Any, slot: Path, client: _Client, *, settings: Settings,
                progress: DownloadProgress, fresh: Callable[[], _Hasher]) -> Fetched:
    start = time.monotonic()
    deadline = start + settings.deadline_for(want.size)
    digest = fresh()
    part.seek(0)
    while chunk := part.read(CHUNK):  # a killed run's bytes: hashed, not fetched again
        digest.update(chunk)
    have = part.tell()
    resumed = have
    fetched = 0
    attempt = 0
    restarted = False
    started = False
    if want.size is not None and have >= want.size:
        # A run stopped after the last byte (or a part longer than the file): nothing to
        # ask the server for; the checks below keep it, or discard it and fetch again.
        if have == want.size and digest.hexdigest() == want.sha256:
            return _publish(want, part, slot, 0, resumed, start=start)
        _discard(part)
        digest = fresh()
        have = resumed = 0
    while True:
        try:
            total = None
            with client.open(want, have, deadline) as (response, offset, size):
                if offset != have:  # the server sent the file from its start
                    part.seek(0)
                    part.truncate()
                    digest = fresh()
                    have = resumed = 0
                total = size if want.size is None else want.size
                if total is not None and have > total:
                    raise _mismatch(want, f"more than the locked {total} bytes")
                if not started:
                    progress.start(want, total, have)
                    started = True
                for chunk in client.chunks(response, want, deadline):
                    part.write(chunk)
                    digest.update(chunk)
                    have += len(chunk)
                    fetched += len(chunk)
                    progress.advance(want, len(chunk))
                    if total is not None and have > total:
                        raise _mismatch(want, f"more than the locked {total} bytes")
            break
        except _Retry as exc:
            if isinstance(exc, _Restart):
                _discard(part)
                digest = fresh()
                have = resumed = 0
                if not restarted:  # once from the first byte, as no failed attempt
                    restarted = True
                    continue
            attempt += 1
            _wait_to_retry(want, exc, attempt, deadline, settings)
    _check_part(want, part, have, digest.hexdigest())
    return _publish(want, part, slot, fetched, resumed, start=start)


def _wait_to_retry(want: Want, exc: _Retry, attempt: int, deadline: float,
                   settings: Settings) -> None:
    """Wait before the attempt after ``attempt``, or raise: another file failed, or the
    retries or the time are used up."""
    left = deadline - time.monotonic()
    if _stop.is_set():
        raise _Stopped(f"stopped downloading {want.filename}: another file failed",
                       None) from None
    if attempt > settings.retries or left <= 0:
        raise _error(want, f"{exc} (after {attempt} attempt"
                     f"{'s' if attempt != 1 else ''})") from None
    time.sleep(min(left, _backoff(attempt)))


def _check_part(want: Want, part: Any, have: int, got: str) -> None:
    """The whole file is there: its locked size and sha256 (``got``), or it is discarded."""
    if want.size is not None and have != want.size:
        _discard(part)
        raise _mismatch(want, f"{have} bytes, the lock says {want.size}")
    if got != want.sha256:
        _discard(part)
        raise _mismatch(want, f"sha256 {got}, the lock says {want.sha256}")


def _publish(want: Want, part: Any, slot: Path, fetched: int, resumed: int, *,
             start: float) -> Fetched:
    """The checked part, on disk, under the file's name in its slot."""
    part.flush()
    os.fsync(part.fileno())
    path = slot / want.filename
    (slot / PART).replace(path)
    return Fetched(want, path, "downloaded", fetched, resumed, time.monotonic() - start)


def _discard(part: Any) -> None:
    """Wrong bytes are no start for a resume."""
    part.seek(0)
    part.truncate()


def _backoff(attempt: int) -> float:
    return min(10.0, 0.5 * 2.0 ** (attempt - 1)) * (0.5 + random.random())  # noqa: S311


# --- HTTP ------------------------------------------------------------------------------

class _Client:
    """urllib3 pools (one direct, one per proxy), the user's CAs, proxies and credentials."""

    def __init__(self, settings: Settings) -> None:
        import ssl

        import urllib3

        self._urllib3 = urllib3
        self._settings = settings
        cafile = os.environ.get("SSL_CERT_FILE") or None
        capath = os.environ.get("SSL_CERT_DIR") or None
        self._ssl = ssl.create_default_context(cafile=cafile, capath=capath)
        self._pools: dict[str | None, urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self._netrc: Any = _netrc()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.clear()

    def _pool(self, url: str) -> urllib3.PoolManager:
        proxy = _proxy_for(url)
        with self._lock:
            pool = self._pools.get(proxy)
            if pool is None:
                size = max(self._settings.parallel, 1)
                if proxy is None:
                    pool = self._urllib3.PoolManager(maxsize=size, ssl_context=self._ssl)
                else:
                    pool = self._urllib3.ProxyManager(proxy, maxsize=size,
                                                      ssl_context=self._ssl)
                self._pools[proxy] = pool
            return pool

    @contextlib.contextmanager
    def open(self, want: Want, offset: int,
             deadline: float) -> Iterator[tuple[Any, int, int | None]]:
        """(response, the offset its body starts at, the file's whole size if known)."""
        url = want.source
        scheme = urlsplit(url).scheme
        if scheme == "file":
            with _open_file(want, offset) as opened:
                yield opened
            return
        if scheme not in ("http", "https"):
            raise _error(want, f"unsupported URL scheme {scheme!r}",
                         "locked and mirrored URLs are http(s):// or file://")
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Retry(self._late(want))
        url, headers = self._credentials(url)
        headers["User-Agent"] = f"mlstack/{__version__}"
        headers["Accept-Encoding"] = "identity"
        if offset:
            headers["Range"] = f"bytes={offset}-"
        urllib3 = self._urllib3
        timeout = urllib3.Timeout(connect=min(self._settings.timeout, left),
                                  read=min(self._settings.timeout, left))
        try:
            response = self._pool(url).request(
                "GET", url, headers=headers, preload_content=False, timeout=timeout,
                retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0,
                                      redirect=10),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise _Retry(_why(exc, self._settings.timeout)) from None
        try:
            status = response.status
            if status == 416 and offset:  # the part is as long as the file, or longer
                raise _Restart("the server refused the resume range (HTTP 416)")
            if status in (429,) or status >= 500:
                raise _Retry(f"HTTP {status} {response.reason or ''}".rstrip())
            if status >= 400:
                raise _error(want, f"HTTP {status} {response.reason or ''}".rstrip(),
                             _status_hint(status))
            start, size = 0, _int(response.headers.get("Content-Length"))
            if status == 206:
                start, size = _content_range(response.headers.get("Content-Range"))
            yield response, start, size
        except BaseException:
            if response.status < 300:
                response.close()  # a body read half-way: its connection is not reused
            else:
                response.drain_conn()
            raise
        response.release_conn()

    def chunks(self, response: Any, want: Want, deadline: float) -> Iterator[bytes]:
        if isinstance(response, _FileBody):
            yield from response.chunks()
            return
        urllib3 = self._urllib3
        while True:
            if time.monotonic() > deadline:
                raise _error(want, self._late(want) + " (the server sends too slowly)",
                             "raise `deadline` in [downloads] of the mlstack config (or "
                             "MLSTACK_DOWNLOAD_DEADLINE) for a slow link, or use a faster "
                             "mirror (docs/team.md)")
            if _stop.is_set():
                raise _Retry("stopped: another download failed")
            try:
                # read1: whatever has arrived, so a trickle still reaches the deadline check
                chunk = response.read1(CHUNK)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise _Retry(_why(exc, self._settings.timeout)) from None
            if not chunk:
                return
            yield chunk

    def _late(self, want: Want) -> str:
        return f"not done within its deadline of {seconds(self._settings.deadline_for(want.size))}"

    def _credentials(self, url: str) -> tuple[str, dict[str, str]]:
        """Userinfo in the URL (indexpages.py's rule, as for index pages), else the netrc
        entry of its host, as Basic auth."""
        from mlstack_env.fetch.indexpages import basic_auth, split_credentials

        url, userinfo = split_credentials(url)
        host = urlsplit(url).hostname
        if userinfo is None and self._netrc is not None and host:
            found = self._netrc.authenticators(host)
            if found:
                userinfo = f"{quote(found[0], safe='')}:{quote(found[2] or '', safe='')}"
        return url, ({"Authorization": basic_auth(userinfo)} if userinfo is not None else {})


def _netrc() -> Any:
    import netrc

    path = os.environ.get("NETRC") or str(Path("~/.netrc").expanduser())
    try:
        return netrc.netrc(path)
    except (OSError, netrc.NetrcParseError):
        return None


def _proxy_for(url: str) -> str | None:
    """The proxy for ``url`` from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY, unless NO_PROXY says no
    (the standard library's reading of them, which is also uv's)."""
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - not in typeshed
    if not proxy or bypass(parts.netloc, proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _why(exc: BaseException, timeout: float) -> str:
    """What went wrong, in words: urllib3 wraps the cause (``MaxRetryError.reason``)."""
    import urllib3

    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    text = str(exc)
    for words in ("Connection refused", "Name or service not known", "Connection reset",
                  "No route to host", "Network is unreachable", "Temporary failure in name"):
        if words in text:
            return words.lower()
    # (NewConnectionError is a ConnectTimeoutError to urllib3: the words come first.)
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)) or \
            "timed out" in text.lower():
        return f"timed out: no byte for {seconds(timeout)}"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS failed ({text}); a private CA goes in SSL_CERT_FILE"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return f"the download broke off ({text})"
    return text


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return ("the server wants credentials: put them in the mirror URL of [mirrors] "
                "(https://user:token@host/...) or in ~/.netrc")
    return ("the server does not have this file: check the [mirrors] entry for it "
            "(docs/team.md); nightly files are deleted upstream, so mirror them")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _content_range(value: str | None) -> tuple[int, int | None]:
    """``bytes 100-199/200`` -> (100, 200)."""
    if not value or not value.startswith("bytes "):
        return 0, None
    span, _, size = value[6:].partition("/")
    first = span.split("-", 1)[0]
    start = _int(first) or 0
    return start, _int(size)


class _FileBody:
    def __init__(self, f: Any) -> None:
        self._f = f

    def chunks(self) -> Iterator[bytes]:
        while chunk := self._f.read(CHUNK):
            yield chunk


@contextlib.contextmanager
def _open_file(want: Want, offset: int) -> Iterator[tuple[Any, int, int | None]]:
    """A mirror that is a folder (``file://``)."""
    path = Path(unquote(urlsplit(want.source).path))
    try:
        f = path.open("rb")
    except OSError as exc:
        raise _error(want, exc.strerror or str(exc)) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        f.seek(min(offset, size))
        yield _FileBody(f), min(offset, size), size


# --- from a lock ---------------------------------------------------------------------------

def want(wheel: Any, fetch_url: str = "", mirrors: Mapping[str, str] | None = None) -> Want:
    """The want of a lock's file (``lockfile.Wheel``), fetched from ``fetch_url`` (where
    locate.py found it; its canonical URL through ``[mirrors]`` when empty). ``mirror`` is
    the ``[mirrors]`` value the URL goes through, for errors."""
    mirrors = mirrors or {}
    if not fetch_url and wheel.url:
        prefix = _longest(wheel.url, mirrors.keys())
        fetch_url = mirrors[prefix] + wheel.url[len(prefix):] if prefix else wheel.url
    mirror = _longest(fetch_url, mirrors.values())
    return Want(wheel.url, wheel.sha256, wheel.size, fetch_url, mirror, wheel.filename)


def _longest(url: str, prefixes: Iterable[str]) -> str | None:
    best = None
    for prefix in prefixes:
        if url.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


# --- cache clean / prune ----------------------------------------------------------------

def prune(*, everything: bool) -> None:
    """Remove the whole download cache, or partial downloads no one is fetching and files
    no create or bundle used in :data:`UNUSED_DAYS` days."""
    root = cache_dir()
    if not root.is_dir():
        return
    if everything:
        _remove_slots(root, lambda slot: True)
        return
    cutoff = time.time() - UNUSED_DAYS * 86400

    def unused(slot: Path) -> bool:
        files = [p for p in slot.iterdir() if p.name != PART]
        return all(p.stat().st_mtime < cutoff for p in files)

    _remove_slots(root, unused)


def _remove_slots(root: Path, doomed: Callable[[Path], bool]) -> None:
    for slot in root.iterdir():
        if not slot.is_dir() or slot.is_symlink():
            continue
        part = slot / PART
        try:
            fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # being downloaded right now
            if doomed(slot):
                shutil.rmtree(slot, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)  # a partial beside a finished file: stale
        finally:
            os.close(fd)
