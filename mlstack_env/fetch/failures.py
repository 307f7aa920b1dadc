"""How a download fails (fetch/transfer.py, fetch/httpclient.py): the user-facing
``DownloadError`` naming the URL and the mirror, and the internal signals for another
attempt (``Retry``, ``Restart``) and for stopping the other files (``STOP``)."""

from __future__ import annotations

import threading
from pathlib import Path

from mlstack_env.core.errors import SourceError, StoreError
from mlstack_env.fetch.wants import Want

STOP = threading.Event()  # set when one file failed: the others stop at their next chunk


class DownloadError(SourceError):
    """A file could not be fetched; the message names the URL, the mirror and why."""


class Stopped(DownloadError):
    """Given up because another file failed."""


def error(want: Want, why: str, hint: str | None = None) -> DownloadError:
    from mlstack_env.fetch.indexpages import redact  # never a password in a message

    return DownloadError(
        f"cannot download {redact(want.source)} (through {redact(want.through)}): {why}",
        hint or (
            "check the network and that the server is up; to fetch through another mirror, "
            "set it in [mirrors] of the mlstack config (docs/team.md). A partial download "
            "is kept and resumed on the next run"
        ),
    )


def mismatch(want: Want, why: str) -> DownloadError:
    return error(want, f"it does not match the lock (hash mismatch): {why}", (
        "the lock or the served wheel was changed: restore the lock, fix the server (or its "
        f"[mirrors] entry), or re-lock with `mlstack lock` if {want.filename} was replaced "
        "on purpose"))


def cache_unwritable(slot: Path, exc: Exception) -> StoreError:
    """The download cache's folder of one file cannot be created or written."""
    why = getattr(exc, "strerror", None) or exc
    return StoreError(f"cannot write to mlstack's download cache {slot}: {why}",
                      "check the free space and permissions of MLSTACK_HOME")


class Retry(Exception):
    """A failure worth another attempt (network, timeout, 5xx)."""


class Restart(Retry):
    """Another attempt, from the file's first byte."""
