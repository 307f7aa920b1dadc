"""One file's stream into the download cache (fetch/transfer.py): a part taken from its
start again when the server ignores the resume range or breaks off, a failed write named
as the cache's, and the kinds of the downloader's errors."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from mlstack_env.core.errors import LockError, SourceError, StoreError
from mlstack_env.fetch import download
from mlstack_env.fetch.transfer import _Sink
from mlstack_env.lockfile import Wheel
from tests.layoutmirror import serve as serve_handler

DATA = random.Random(7).randbytes(3 << 20)  # noqa: S311 - test data, not secrets
NAME = "streamed-1.0-py3-none-any.whl"


class _Whole(BaseHTTPRequestHandler):
    """Serves :data:`DATA` whole (200) whatever ``Range`` asks; the first ``breaks``
    responses stop half-way. ``ranges`` notes each request's Range header."""

    ranges: ClassVar[list[str | None]] = []
    breaks: ClassVar[int] = 0

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        type(self).ranges.append(self.headers.get("Range"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        if type(self).breaks:
            type(self).breaks -= 1
            self.wfile.write(DATA[:len(DATA) // 2])
            self.close_connection = True
            return
        self.wfile.write(DATA)


@pytest.fixture
def whole() -> Iterator[str]:
    _Whole.ranges = []
    _Whole.breaks = 0
    with serve_handler(_Whole) as url:
        yield url


def _want(url: str, sha256: str | None = None) -> download.Want:
    return download.want(Wheel(f"{url}/{NAME}", sha256 or hashlib.sha256(DATA).hexdigest(),
                               len(DATA)))


def _part(want: download.Want) -> Path:
    return download.cache_dir() / want.sha256 / download.PART


def test_a_server_that_ignores_the_range_gives_the_file_from_its_start(whole: str) -> None:
    """A killed run left wrong bytes' worth of a part; the server answers the resume
    with the whole file (200): the part is taken from the start, the file is right."""
    want = _want(whole)
    _part(want).parent.mkdir(parents=True)
    _part(want).write_bytes(b"\0" * 1000)  # a killed run's bytes (they would not match)
    got = download.fetch_all([want])
    assert got[want.sha256].read_bytes() == DATA
    assert _Whole.ranges == ["bytes=1000-"]
    report = download.last_report()
    assert report is not None
    fetched = report.files[0]
    assert (fetched.status, fetched.bytes, fetched.resumed_from) == (
        download.FetchStatus.DOWNLOADED, len(DATA), 0)
    assert not _part(want).exists()


def test_a_response_that_breaks_off_is_resumed_to_the_right_file(whole: str) -> None:
    """The first response stops half-way; the retry asks for the rest, gets the whole
    file (this server ignores ranges) and starts over: the cached file is the locked one."""
    _Whole.breaks = 1
    want = _want(whole)
    got = download.fetch_all([want], settings=download.Settings(retries=2))
    assert got[want.sha256].read_bytes() == DATA
    assert _Whole.ranges == [None, f"bytes={len(DATA) // 2}-"]
    report = download.last_report()
    assert report is not None
    assert report.to_json()["downloaded"] == 1


def test_wrong_bytes_are_a_source_error_and_are_not_cached(whole: str) -> None:
    want = _want(whole, "ab" * 32)
    with pytest.raises(SourceError, match="does not match the lock"):
        download.fetch_all([want])
    assert download.cached(want) is None
    assert _part(want).stat().st_size == 0  # discarded: no start for a resume


def test_a_write_that_fails_mid_stream_names_the_cache(tmp_path: Path) -> None:
    """The writer thread's failure (here: a part opened read-only) comes back as the
    cache's error on the next chunk, and again when the sink is finished."""
    part = tmp_path / ".part"
    part.write_bytes(b"")
    with part.open("rb") as readonly:
        sink = _Sink(readonly, hashlib.sha256(), tmp_path)
        with pytest.raises(StoreError) as caught:
            for _ in range(64):
                sink.put(b"x" * 1024)
        assert str(caught.value).startswith(f"cannot write to mlstack's download cache "
                                            f"{tmp_path}: ")
        assert caught.value.hint == "check the free space and permissions of MLSTACK_HOME"
        with pytest.raises(StoreError):
            sink.hexdigest()


def test_the_downloaders_errors_have_their_kinds() -> None:
    assert issubclass(download.DownloadError, SourceError)
    with pytest.raises(LockError, match="is not a sha256"):
        download.cached(download.want(Wheel("https://h/x.whl", "nothex", 1)))
    with pytest.raises(SourceError, match="and --offline downloads nothing") as caught:
        download.fetch_all([_want("http://127.0.0.1:9")], offline=True)
    assert caught.value.exit_code == 1
    assert str(download.FetchStatus.CACHED) == "cached"
