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
  then taken from the start). At most the chunks in flight (``transfer.AT_RISK``,
  6 MiB) are fetched twice.
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

Where each part lives: the cache in fetch/filecache.py, one file's transfer with resume
and retries in fetch/transfer.py, the HTTP client (pools, TLS, proxies, credentials) in
fetch/httpclient.py, what is asked and answered (``Want``, ``Settings``, ``Report``) in
fetch/wants.py, how a download fails in fetch/failures.py; here, the parallel scheduler
and the names callers use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from mlstack_env.core.errors import SourceError
from mlstack_env.fetch.failures import STOP, DownloadError, Stopped
from mlstack_env.fetch.filecache import (
    CHUNK,
    PART,
    cache_dir,
    cached,
    file_sha256,
    prune,
    touch,
)
from mlstack_env.fetch.wants import (
    DownloadProgress,
    Fetched,
    FetchStatus,
    NoDownloadProgress,
    Report,
    Settings,
    Want,
    settings_from,
    want,
)

__all__ = [
    "CHUNK", "PART", "DownloadError", "DownloadProgress", "FetchStatus", "Fetched",
    "NoDownloadProgress",
    "Report", "Settings", "Want", "cache_dir", "cached", "fetch_all", "file_sha256",
    "forget_report", "last_report", "prune", "settings_from", "want",
]


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
    (``env create --reinstall``); offline, a damaged file is named as such.
    """
    settings = settings or Settings()
    start = time.monotonic()
    report = Report()
    found, missing, damaged = _in_cache(wants, report, verify=verify)
    if missing and offline:
        raise _not_cached(missing, damaged)
    if missing:
        _download(missing, settings, progress or NoDownloadProgress(), found, report,
                  start=start)
    report.seconds = time.monotonic() - start
    _last_report.value = report
    return {w.sha256: found[w.sha256] for w in wants}


def _in_cache(wants: Sequence[Want], report: Report, *,
              verify: bool) -> tuple[dict[str, Path], list[Want], set[str]]:
    """(sha256 -> cached file, the wants not cached, the sha256s of damaged files removed).
    ``verify`` hashes each cached file again; a damaged one is removed from the cache."""
    found: dict[str, Path] = {}
    missing: list[Want] = []
    damaged: set[str] = set()
    for each in {w.sha256: w for w in wants}.values():
        path = cached(each)
        if path is not None and verify and file_sha256(path) != each.sha256:
            import shutil  # with bz2 and lzma: only to remove a damaged file

            shutil.rmtree(path.parent, ignore_errors=True)
            damaged.add(each.sha256)
            path = None
        if path is None:
            missing.append(each)
            continue
        touch(path)
        found[each.sha256] = path
        report.files.append(Fetched(each, path, FetchStatus.CACHED))
    return found, missing, damaged


def _not_cached(missing: Sequence[Want], damaged: set[str]) -> SourceError:
    names = ", ".join(sorted(f"{w.filename}{' (damaged: removed)' if w.sha256 in damaged else ''}"
                             for w in missing))
    return SourceError(
        f"{len(missing)} locked file{'s are' if len(missing) != 1 else ' is'} not in "
        f"mlstack's download cache ({cache_dir()}), and --offline downloads nothing: "
        f"{names}",
        "run the same command once with network access (any mirror will do), or "
        "bring the files with `mlstack bundle` and --wheels DIR",
    )


def _download(missing: Sequence[Want], settings: Settings, progress: DownloadProgress,
              found: dict[str, Path], report: Report, *, start: float) -> None:
    """Fetch ``missing`` into the cache, at most ``settings.parallel`` at once."""
    from mlstack_env.fetch.httpclient import Client  # urllib3: only when downloading
    from mlstack_env.fetch.transfer import fetch_one

    progress.begin(missing)
    client = Client(settings)
    try:
        for got in _parallel(missing, settings.parallel,
                             lambda w: fetch_one(w, client, settings, progress)):
            found[got.want.sha256] = got.path
            report.files.append(got)
            progress.finish(got)
    finally:
        client.close()
        progress.close()  # no bar stays behind an error
    report.seconds = time.monotonic() - start
    progress.end(report)


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
        for each in wants:
            yield job(each)
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
                STOP.set()
                wait(pending)
                # The first file (in the caller's order) that failed on its own, not one
                # stopped because another failed: the same error on every run.
                failed = [e for f in futures
                          if not f.cancelled() and (e := f.exception()) is not None]
                raise next((e for e in failed if not isinstance(e, Stopped)), failed[0])
            for future in done:
                yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        STOP.clear()
