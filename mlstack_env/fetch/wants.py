"""What the downloader is asked for and answers (mlstack_env/fetch/download.py): the
``[downloads]`` settings, one wanted file (``Want``, made from a lock's file by
:func:`want`), what was fetched (``Fetched``, ``Report``) and where progress is shown
(``DownloadProgress``). Standard library and core/record.py only: no ``dataclasses``
(with ``inspect``, ``ast``, ``tokenize``) on a store miss, whose download module loads this."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from mlstack_env.core.record import record


@record
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


@record
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


class FetchStatus(StrEnum):
    """Where a fetched file came from this run (its value names ``--json``'s counts)."""

    CACHED = "cached"  # already in the download cache (or another mlstack fetched it)
    DOWNLOADED = "downloaded"  # fetched over the network by this run


@record
class Fetched:
    want: Want
    path: Path
    status: FetchStatus
    bytes: int = 0  # fetched over the network by this run
    resumed_from: int = 0  # bytes a killed run had left, not fetched again
    seconds: float = 0.0


class Report:
    """What one :func:`fetch_all` did (``--json``'s ``downloads``): filled in as it goes."""

    def __init__(self, files: list[Fetched] | None = None, seconds: float = 0.0) -> None:
        self.files: list[Fetched] = [] if files is None else files
        self.seconds = seconds

    def to_json(self) -> dict[str, Any]:
        got = [f for f in self.files if f.status is FetchStatus.DOWNLOADED]
        return {
            "files": len(self.files),
            str(FetchStatus.CACHED): len(self.files) - len(got),
            str(FetchStatus.DOWNLOADED): len(got),
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
