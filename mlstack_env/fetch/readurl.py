"""A whole small body over HTTP (an index page, the rocm selector's sdist), with the
errors and hints of a download: the user's mirrors' credentials, a deadline, one
``error:``/``hint:`` pair naming the URL. Standard library only (urllib3 is for wheels,
mlstack_env/fetch/download.py)."""

from __future__ import annotations

import contextlib
import http.client
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from mlstack_env import __version__
from mlstack_env.core.errors import SourceError
from mlstack_env.fetch.config import UserConfig
from mlstack_env.fetch.indexpages import basic_auth, redact, split_credentials

CHUNK = 1 << 20
TIMEOUT = 60.0  # seconds without a byte before an index page is given up


def _unreachable(url: str, why: str, config: UserConfig) -> SourceError:
    where = f"[mirrors] in {config.path}" if config.path else "a [mirrors] entry in the " \
        "mlstack config"
    return SourceError(
        f"cannot download {redact(url)}: {why}",
        f"check the network, or route its prefix to a reachable mirror with {where} "
        "(nightly wheels are deleted upstream: mirror them)",
    )


@contextlib.contextmanager
def _open(url: str, config: UserConfig) -> Any:
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise SourceError(f"cannot download {url}: unsupported URL scheme {scheme!r}",
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

    from mlstack_env.core.envvars import download_deadline

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


def _too_slow(url: str, allowed: float, config: UserConfig) -> SourceError:
    from mlstack_env.core.envvars import MLSTACK_DOWNLOAD_DEADLINE

    return _unreachable(url, f"not done after {allowed:g} s ({MLSTACK_DOWNLOAD_DEADLINE}): "
                        "the server sends too slowly", config)
