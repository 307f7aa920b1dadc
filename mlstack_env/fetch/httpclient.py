"""The HTTP side of downloads: urllib3 pools (one direct, one per proxy) with the
user's CAs (``SSL_CERT_FILE``/``SSL_CERT_DIR``), proxies (``HTTPS_PROXY``/``HTTP_PROXY``/
``ALL_PROXY``, ``NO_PROXY``) and credentials (in the URL, else ``~/.netrc``), as uv reads
them; a response opened at an offset (``Range``), read in chunks against the deadline;
``file://`` mirrors. urllib3 is imported only when a client is made (a download)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from mlstack_env import __version__
from mlstack_env.core.units import seconds
from mlstack_env.fetch.failures import STOP, Restart, Retry, error
from mlstack_env.fetch.filecache import CHUNK
from mlstack_env.fetch.wants import Settings, Want

if TYPE_CHECKING:
    import urllib3

class Client:
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
            raise error(want, f"unsupported URL scheme {scheme!r}",
                         "locked and mirrored URLs are http(s):// or file://")
        left = deadline - time.monotonic()
        if left <= 0:
            raise Retry(self._late(want))
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
            untrusted = _untrusted(exc)
            if untrusted is not None:  # no retry mends a certificate
                raise error(want, "its TLS certificate is not trusted (certificate verify "
                            f"failed: {untrusted})", TLS_HINT) from None
            raise Retry(_why(exc, self._settings.timeout)) from None
        try:
            status = response.status
            if status == 416 and offset:  # the part is as long as the file, or longer
                raise Restart("the server refused the resume range (HTTP 416)")
            if status in (429,) or status >= 500:
                raise Retry(f"HTTP {status} {response.reason or ''}".rstrip())
            if status >= 400:
                raise error(want, f"HTTP {status} {response.reason or ''}".rstrip(),
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
                raise error(want, self._late(want) + " (the server sends too slowly)",
                             "raise `deadline` in [downloads] of the mlstack config (or "
                             "MLSTACK_DOWNLOAD_DEADLINE) for a slow link, or use a faster "
                             "mirror (docs/team.md)")
            if STOP.is_set():
                raise Retry("stopped: another download failed")
            try:
                # read1: whatever has arrived, so a trickle still reaches the deadline check
                chunk = response.read1(CHUNK)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise Retry(_why(exc, self._settings.timeout)) from None
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


TLS_HINT = ("if the server's certificate comes from a private CA (a company proxy or "
            "mirror), set SSL_CERT_FILE to that CA's PEM file (or SSL_CERT_DIR to a folder "
            "of them), as for uv")


def _untrusted(exc: BaseException) -> str | None:
    """Why the server's certificate was refused, if that is what ``exc`` comes down to
    (urllib3 wraps the ``ssl`` error in its own, once or twice)."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or str(seen)
        reason = getattr(seen, "reason", None)
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = reason if isinstance(reason, BaseException) else inner or seen.__cause__
    return None


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
        return f"TLS failed ({text})"
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
        raise error(want, exc.strerror or str(exc)) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        f.seek(min(offset, size))
        yield _FileBody(f), min(offset, size), size
