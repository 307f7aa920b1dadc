"""One file into the download cache: resumed from what a killed run left (``Range``),
retried with backoff, held to its deadline, its sha256 computed while it streams and
checked (with its size) before it is published under its name (fetch/filecache.py)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlstack_env.core.errors import MlstackError
from mlstack_env.fetch.failures import STOP, Restart, Retry, Stopped, error, mismatch
from mlstack_env.fetch.filecache import CHUNK, PART, cached, slot_of
from mlstack_env.fetch.httpclient import Client
from mlstack_env.fetch.wants import DownloadProgress, Fetched, Settings, Want


def fetch_one(want: Want, client: Client, settings: Settings,
               progress: DownloadProgress) -> Fetched:
    slot = slot_of(want.sha256)
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


def _download(want: Want, part: Any, slot: Path, client: Client, *, settings: Settings,
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


def _fetch_into(want: Want, part: Any, slot: Path, client: Client, *, settings: Settings,
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
                    raise mismatch(want, f"more than the locked {total} bytes")
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
                        raise mismatch(want, f"more than the locked {total} bytes")
            break
        except Retry as exc:
            if isinstance(exc, Restart):
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
    return Fetched(want, path, "downloaded", fetched, resumed, time.monotonic() - start)


def _discard(part: Any) -> None:
    """Wrong bytes are no start for a resume."""
    part.seek(0)
    part.truncate()


def _backoff(attempt: int) -> float:
    return min(10.0, 0.5 * 2.0 ** (attempt - 1)) * (0.5 + random.random())  # noqa: S311
