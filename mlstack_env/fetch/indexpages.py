"""A file found by name on an index: the project page (PEP 691 JSON, else PEP 503 HTML)
read once per run, its links resolved, their ``#sha256=`` checked against the lock's.

This is how a lock is installed through a mirror of any path layout: a lock records the
canonical index, the file name and its sha256 (never where some mirror keeps the file),
and every index server — pypiserver (``/packages/<file>``), devpi (``/<user>/<index>/+f/
…``), Artifactory, Nexus, a copy of the upstream tree — lists each project's files on
``<index>/<project>/``. Standard library only, and nothing of the lock: a downloader
(or anything else holding an index URL, a project name and a file name) reuses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from mlstack_env.core.errors import SourceError

# PEP 691: JSON preferred, HTML accepted (servers without JSON send HTML; pypiserver does).
ACCEPT = ("application/vnd.pypi.simple.v1+json, "
          "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1")
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 60.0
MAX_PAGE = 64 << 20  # a project page larger than this is no project page


@dataclass(frozen=True)
class IndexFile:
    """One file a project page lists: absolute URL, and what the page says of it."""

    filename: str
    url: str  # absolute, fragment removed
    sha256: str | None
    size: int | None = None


# (url, accept header) -> (body, content type, final URL after redirects)
Fetch = Callable[[str, str], tuple[bytes, str, str]]


def normalize(name: str) -> str:
    """PEP 503's normalized project name (the page's path segment)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_url(index: str, project: str) -> str:
    return index.rstrip("/") + "/" + normalize(project) + "/"


class PageError(Exception):
    """A project page that could not be read (``missing``: the server said 404/410)."""

    def __init__(self, url: str, why: str, missing: bool = False) -> None:
        super().__init__(why)
        self.url = redact(url)  # for messages: never a password
        self.why = why
        self.missing = missing


def split_credentials(url: str) -> tuple[str, str | None]:
    """``https://user:token@host/p`` -> (``https://host/p``, ``"user:token"``): mirrors
    behind a login (Artifactory, Nexus) are configured with credentials in the URL, as
    for uv and pip; they are sent as HTTP Basic auth, never printed or stored."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=host).geturl(), userinfo


def redact(url: str) -> str:
    """``url`` as it may be shown: a password replaced by ``***``."""
    bare, userinfo = split_credentials(url)
    if userinfo is None:
        return url
    user = userinfo.split(":", 1)[0]
    parts = urlsplit(bare)
    return parts._replace(netloc=f"{user}:***@{parts.netloc}").geturl()


def basic_auth(userinfo: str) -> str:
    """The ``Authorization`` header value for ``user:password`` (percent-decoded)."""
    import base64

    user, _, password = userinfo.partition(":")
    token = f"{unquote(user)}:{unquote(password)}".encode()
    return "Basic " + base64.b64encode(token).decode()


def urllib_fetch(url: str, accept: str) -> tuple[bytes, str, str]:
    """The default :data:`Fetch`: urllib, redirects followed, ``file://`` folders read as
    ``<folder>/index.html`` (a mirror that is a copied folder)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if path.is_dir():
            path = path / "index.html"
        try:
            return path.read_bytes()[:MAX_PAGE], "text/html", path.as_uri()
        except FileNotFoundError:
            raise PageError(url, "no such file", missing=True) from None
        except OSError as exc:
            raise PageError(url, exc.strerror or str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise PageError(url, f"unsupported URL scheme {parts.scheme!r}")
    # Loaded when a page is read: urllib.request pulls in tempfile, http.client, ssl …,
    # which a store hit (store/install.py imports this module) must not pay for.
    import urllib.error
    import urllib.request

    from mlstack_env import __version__

    url, userinfo = split_credentials(url)
    headers = {"Accept": accept, "User-Agent": f"mlstack/{__version__}"}
    if userinfo is not None:
        headers["Authorization"] = basic_auth(userinfo)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            body = _read_page(response, url)
            return (body, response.headers.get("Content-Type", ""), response.geturl())
    except urllib.error.HTTPError as exc:
        raise PageError(url, f"HTTP {exc.code} {exc.reason}",
                        missing=exc.code in (404, 410)) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise PageError(url, getattr(reason, "strerror", None) or str(reason)) from None
    except (OSError, ValueError) as exc:
        raise PageError(url, str(exc)) from None


def _read_page(response: Any, url: str) -> bytes:
    """The page's body, read within the download deadline in all (a mirror that trickles a
    byte every few seconds never trips the per-read timeout) and whole (a connection closed
    before its Content-Length is an error, not a page that lists less)."""
    import time

    from mlstack_env.core.envvars import MLSTACK_DOWNLOAD_DEADLINE, download_deadline

    allowed = download_deadline()
    until = time.monotonic() + allowed
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_PAGE:
        if time.monotonic() > until:
            raise PageError(url, f"not done after {allowed:g} s ({MLSTACK_DOWNLOAD_DEADLINE}): "
                                 "the server sends too slowly or not at all")
        chunk = response.read1(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    expected = response.headers.get("Content-Length", "")
    if expected.isdigit() and size < int(expected) and size <= MAX_PAGE:
        raise PageError(url, f"the connection closed after {size} of {expected} bytes")
    return b"".join(chunks)[:MAX_PAGE + 1]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _filename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _sha256_of_fragment(href: str) -> str | None:
    fragment = urlsplit(href).fragment
    key, _, value = fragment.partition("=")
    return value.lower() if key == "sha256" and value else None


def parse_page(body: bytes, content_type: str, base: str) -> dict[str, IndexFile]:
    """The files of one project page (JSON or HTML), by file name; URLs made absolute
    against ``base`` (the page's final URL)."""
    files: dict[str, IndexFile] = {}
    if content_type.split(";", maxsplit=1)[0].strip() == JSON_TYPE:
        try:
            doc = json.loads(body)
            entries = doc["files"]
            for f in entries:
                url = urljoin(base, f["url"]).split("#", 1)[0]
                sha = (f.get("hashes") or {}).get("sha256")
                size = f.get("size")
                files[f["filename"]] = IndexFile(
                    f["filename"], url, sha.lower() if isinstance(sha, str) else None,
                    size if type(size) is int else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PageError(base, "the server's PEP 691 JSON page is malformed") from None
        return files
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    for href in parser.hrefs:
        url = urljoin(base, href)
        name = _filename(url)
        if name:
            files[name] = IndexFile(name, url.split("#", 1)[0], _sha256_of_fragment(href))
    return files


class ProjectPages:
    """Project pages read once per run (per index and project), through ``fetch``."""

    def __init__(self, fetch: Fetch | None = None) -> None:
        self._fetch = fetch or urllib_fetch
        self._pages: dict[str, dict[str, IndexFile]] = {}

    def files(self, index: str, project: str, *, flat: bool = False) -> dict[str, IndexFile]:
        """The files of ``project`` on ``index`` (``flat``: ``index`` is one page listing
        every file, a find-links folder). Raises :class:`PageError`."""
        url = index if flat else project_url(index, project)
        if url not in self._pages:
            body, ctype, final = self._fetch(url, ACCEPT)
            if len(body) > MAX_PAGE:
                raise PageError(url, f"the page is larger than {MAX_PAGE >> 20} MiB")
            self._pages[url] = parse_page(body, ctype, final)
        return self._pages[url]

    def find(self, index: str, project: str, filename: str, sha256: str | None = None, *,
             flat: bool = False) -> IndexFile | None:
        """``filename`` on the page, or None (no page, or not on it). A listed sha256
        that differs from ``sha256`` is a :class:`MirrorError` at once."""
        try:
            found = self.files(index, project, flat=flat).get(filename)
        except PageError as err:
            if err.missing:
                return None
            raise
        if found is not None and sha256 and found.sha256 and found.sha256 != sha256:
            raise MirrorError(
                f"{redact(index)} lists {filename} of {project} with another hash than the lock: "
                f"sha256 {found.sha256}, the lock says {sha256}",
                "the lock or the served wheel was changed: restore the lock, fix the "
                "server, or re-lock with `mlstack lock` if the file was replaced on "
                "purpose")
        return found

    def locate(self, index: str, project: str, filename: str, sha256: str | None = None,
               *, flat: bool = False, what: str = "mirror") -> str:
        """The URL of ``filename`` on ``index``: one clear error when the page cannot be
        read or does not list it (naming the ``what`` — mirror or index —, project and
        file)."""
        try:
            found = self.find(index, project, filename, sha256, flat=flat)
        except PageError as err:
            raise MirrorError(
                f"cannot read the {what} page {redact(err.url)} for {project}: {err.why}",
                f"check the network and that the {what} {redact(index)} is up (the "
                "[mirrors] entry in the mlstack config names it)", unreachable=True) from None
        if found is None:
            page = index if flat else project_url(index, project)
            raise MirrorError(
                f"the {what} {redact(index)} has no file {filename} for project {project} "
                f"(its page {redact(page)} does not list it)",
                f"copy or upload {filename} to the {what} (with its sha256 {sha256}), or "
                "point the [mirrors] entry at a mirror that carries it"
                if sha256 else f"copy or upload {filename} to the {what}")
        bare, userinfo = split_credentials(index)
        if userinfo is not None and urlsplit(found.url).netloc == urlsplit(bare).netloc:
            # The file on the same server as the logged-in page: the same login (uv gets
            # the URL alone, with --no-index, so it learns the credentials from nowhere).
            parts = urlsplit(found.url)
            return parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()
        return found.url


class MirrorError(SourceError):
    """A file that an index or mirror does not serve as the lock records it
    (``unreachable``: its page could not be read at all)."""

    def __init__(self, message: str, hint: str, *, unreachable: bool = False) -> None:
        super().__init__(message, hint)
        self.unreachable = unreachable
