"""One file into the download cache: resumed from what a killed run left (``Range``),
retried with backoff, held to its deadline, its sha256 computed while it streams and
checked (with its size) before it is published under its name (fetch/filecache.py)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlstack_env.fetch.failures import (
    STOP,
    Restart,
    Retry,
    Stopped,
    cache_unwritable,
    error,
    mismatch,
)
from mlstack_env.fetch.filecache import CHUNK, PART, cached, slot_of
from mlstack_env.fetch.httpclient import Client
from mlstack_env.fetch.wants import DownloadProgress, Fetched, FetchStatus, Settings, Want


def fetch_one(want: Want, client: Client, settings: Settings,
               progress: DownloadProgress) -> Fetched:
    slot = slot_of(want.sha256)
    try:
        slot.mkdir(parents=True, exist_ok=True)
        fd = os.open(slot / PART, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise cache_unwritable(slot, exc) from None
    with os.fdopen(fd, "r+b") as part:
        fcntl.flock(part.fileno(), fcntl.LOCK_EX)  # another mlstack fetching it: wait
        done = cached(want)
        if done is not None:  # it did
            return Fetched(want, done, FetchStatus.CACHED)
        return _download(want, part, slot, client, settings=settings, progress=progress)


class _Sink:
    """The part file's writer: each chunk is written by one thread and hashed by another
    (file writes and hashlib let go of the GIL), so receiving the next chunk, writing
    and hashing overlap, and a third thread pushes what was written to the disk as it
    comes (``fdatasync``), so the ``fsync`` before publishing waits for the last pages
    only. A failed write is kept and raised by the next :meth:`put` (or :meth:`close`)."""

    def __init__(self, part: Any, digest: Any, slot: Path) -> None:
        self._part = part
        self._slot = slot
        self._digest = digest
        self._failed: Exception | None = None
        self._queues: list[queue.Queue[bytes | None]] = [
            queue.Queue(maxsize=_QUEUED), queue.Queue(maxsize=_QUEUED)]
        self._dirty = threading.Event()
        self._done = False
        self._threads = [
            threading.Thread(target=self._write, name="mlstack-write", daemon=True),
            threading.Thread(target=self._hash, name="mlstack-sha256", daemon=True),
            threading.Thread(target=self._flush, name="mlstack-flush", daemon=True)]
        for thread in self._threads:
            thread.start()

    def _write(self) -> None:
        unflushed = 0
        while (chunk := self._queues[0].get()) is not None:
            if self._failed is not None:
                continue
            try:
                self._part.write(chunk)
            except Exception as exc:  # kept for the next put (a dead writer would hang it)
                self._failed = exc
                continue
            unflushed += len(chunk)
            if unflushed >= _FLUSH_EVERY:
                unflushed = 0
                self._dirty.set()
        self._done = True
        self._dirty.set()

    def _hash(self) -> None:
        while (chunk := self._queues[1].get()) is not None:
            self._digest.update(chunk)

    def _flush(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            if self._done:
                return
            try:
                _datasync(self._part.fileno())
            except OSError:
                return  # the fsync before publishing says what is wrong

    def put(self, chunk: bytes) -> None:
        self._raise()
        for q in self._queues:
            q.put(chunk)

    def close(self) -> None:
        """Every chunk put is written (or failed) and hashed; the threads have ended."""
        if self._threads:
            for q in self._queues:
                q.put(None)
            for thread in self._threads:
                thread.join()
            self._threads = []

    def hexdigest(self) -> str:
        self.close()
        self._raise()
        return str(self._digest.hexdigest())

    def _raise(self) -> None:
        if self._failed is not None:
            raise cache_unwritable(self._slot, self._failed) from None


_FLUSH_EVERY = 64 << 20  # bytes written between two pushes to the disk
_QUEUED = 4  # chunks received, waiting for the writer (and for the hasher)
AT_RISK = (_QUEUED + 2) * CHUNK  # what a killed run may have received and not written
_datasync = getattr(os, "fdatasync", os.fsync)  # (macOS has no fdatasync)


def _download(want: Want, part: Any, slot: Path, client: Client, *, settings: Settings,
              progress: DownloadProgress) -> Fetched:
    sinks: list[_Sink] = []

    def fresh(resumed: bool) -> _Sink:
        """A sink for the part: from its first byte, or after what it holds."""
        for old in sinks:
            old.close()
        if resumed:  # a killed run's bytes: hashed, not fetched again
            part.seek(0)
            digest = hashlib.file_digest(part, "sha256")
        else:
            _discard(part)
            digest = hashlib.sha256()
        sinks.append(_Sink(part, digest, slot))
        return sinks[-1]

    try:
        return _fetch_into(want, part, slot, client, settings=settings, progress=progress,
                           fresh=fresh)
    finally:
        for sink in sinks:
            sink.close()


def _fetch_into(want: Want, part: Any, slot: Path, client: Client, *, settings: Settings,
                progress: DownloadProgress, fresh: Callable[[bool], _Sink]) -> Fetched:
    start = time.monotonic()
    deadline = start + settings.deadline_for(want.size)
    sink = fresh(True)
    have = resumed = part.tell()
    fetched = 0
    attempt = 0
    restarted = False
    started = False
    if want.size is not None and have >= want.size:
        # A run stopped after the last byte (or a part longer than the file): nothing to
        # ask the server for; the checks below keep it, or discard it and fetch again.
        if have == want.size and sink.hexdigest() == want.sha256:
            return _publish(want, part, slot, 0, resumed, start=start)
        sink = fresh(False)
        have = resumed = 0
    while True:
        try:
            total = None
            with client.open(want, have, deadline) as (response, offset, size):
                if offset != have:  # the server sent the file from its start
                    sink = fresh(False)
                    have = resumed = 0
                total = size if want.size is None else want.size
                if total is not None and have > total:
                    raise mismatch(want, f"more than the locked {total} bytes")
                if not started:
                    progress.start(want, total, have)
                    started = True
                for chunk in client.chunks(response, want, deadline):
                    sink.put(chunk)
                    have += len(chunk)
                    fetched += len(chunk)
                    progress.advance(want, len(chunk))
                    if total is not None and have > total:
                        raise mismatch(want, f"more than the locked {total} bytes")
            break
        except Retry as exc:
            if isinstance(exc, Restart):
                sink = fresh(False)
                have = resumed = 0
                if not restarted:  # once from the first byte, as no failed attempt
                    restarted = True
                    continue
            attempt += 1
            _wait_to_retry(want, exc, attempt, deadline, settings)
    _check_part(want, part, have, sink.hexdigest())
    return _publish(want, part, slot, fetched, resumed, start=start)


def _wait_to_retry(want: Want, exc: Retry, attempt: int, deadline: float,
                   settings: Settings) -> None:
    """Wait before the attempt after ``attempt``, or raise: another file failed, or the
    retries or the time are used up."""
    left = deadline - time.monotonic()
    if STOP.is_set():
        raise Stopped(f"stopped downloading {want.filename}: another file failed",
                       None) from None
    if attempt > settings.retries or left <= 0:
        raise error(want, f"{exc} (after {attempt} attempt"
                     f"{'s' if attempt != 1 else ''})") from None
    time.sleep(min(left, _backoff(attempt)))


def _check_part(want: Want, part: Any, have: int, got: str) -> None:
    """The whole file is there: its locked size and sha256 (``got``), or it is discarded."""
    if want.size is not None and have != want.size:
        _discard(part)
        raise mismatch(want, f"{have} bytes, the lock says {want.size}")
    if got != want.sha256:
        _discard(part)
        raise mismatch(want, f"sha256 {got}, the lock says {want.sha256}")


def _publish(want: Want, part: Any, slot: Path, fetched: int, resumed: int, *,
             start: float) -> Fetched:
    """The checked part, on disk, under the file's name in its slot."""
    part.flush()
    os.fsync(part.fileno())
    path = slot / want.filename
    (slot / PART).replace(path)
    return Fetched(want, path, FetchStatus.DOWNLOADED, fetched, resumed, time.monotonic() - start)


def _discard(part: Any) -> None:
    """Wrong bytes are no start for a resume."""
    part.seek(0)
    part.truncate()


def _backoff(attempt: int) -> float:
    return min(10.0, 0.5 * 2.0 ** (attempt - 1)) * (0.5 + random.random())  # noqa: S311
