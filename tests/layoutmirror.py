"""Mirrors of the loopback index (tests/wheelindex.py) with a path layout of their own.

PYTEST_DONT_REWRITE: no asserts here.

The loopback index copies the upstream layout (``/pytorch/whl/rocm6.4/<file>``,
``/files/packages/<2>/<2>/<hash>/<file>``), so a ``[mirrors]`` prefix maps its file URLs
back to canonical ones. Real index servers do not: pypiserver links ``/packages/<file>``,
devpi ``/<user>/<index>/+f/<3>/<13>/<file>`` (ROCM-FACTS 4d; both seen in
tests/real/test_mirrors_real.py). :func:`static_mirror` writes such a mirror as static
files — PEP 503 pages only, no JSON, no sizes, absolute links into a layout of its own —
so the regular suite covers "a mirror that does not copy the layout" without servers.
"""

from __future__ import annotations

import contextlib
import html
import shutil
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote

from mlstack_env.fetch.indexpages import IndexFile, parse_page
from tests.wheelindex import PYPI, PYTORCH, WheelIndex, _Server

# The upstream indexes a ROCm 6.4 lock of torch and numpy uses: canonical URL -> the
# loopback index's folder of it.
UPSTREAMS = {
    f"{PYTORCH}whl/rocm6.4": "pytorch/whl/rocm6.4",
    PYPI: "pypi/simple",
}


def upstream_files(index: WheelIndex, folder: str) -> dict[str, dict[str, IndexFile]]:
    """project -> its files (absolute ``file://`` URLs) on one of the loopback index's
    indexes, read from the pages on disk."""
    base = index.root / folder
    out: dict[str, dict[str, IndexFile]] = {}
    for page in sorted(base.glob("*/index.html")):
        files = parse_page(page.read_bytes(), "text/html", page.as_uri())
        wanted = {n: f for n, f in files.items() if n.endswith((".whl", ".tar.gz"))}
        if wanted:
            out[page.parent.name] = wanted
    return out


def local_path(f: IndexFile) -> Path:
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(f.url).path))


@dataclass(frozen=True)
class Layout:
    """Where a mirror keeps a file, relative to the server root."""

    name: str

    def path(self, mirror: str, f: IndexFile) -> str:
        sha = f.sha256 or ""
        if self.name == "packages":  # pypiserver: every index's files in one folder
            return f"{mirror}/packages/{quote(f.filename)}"
        return f"{mirror}/+f/{sha[:3]}/{sha[3:16]}/{quote(f.filename)}"  # devpi


def static_mirror(index: WheelIndex, root: Path, layout: Layout,
                  skip: tuple[str, ...] = ()) -> None:
    """Write under ``root`` one mirror per :data:`UPSTREAMS` entry (``root/<n>/simple``,
    n = 0, 1, …): PEP 503 pages whose absolute links point into ``layout``; the files
    named in ``skip`` are left out (a mirror that lacks them)."""
    for n, folder in enumerate(UPSTREAMS.values()):
        mirror = str(n)
        links: list[str] = []
        for project, files in upstream_files(index, folder).items():
            anchors = []
            for f in files.values():
                if f.filename in skip:
                    continue
                rel = layout.path(mirror, f)
                target = root / rel.replace("%2B", "+")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local_path(f), target)
                anchors.append(f'<a href="/{rel}#sha256={f.sha256}">'
                               f"{html.escape(f.filename)}</a><br>")
            page = root / mirror / "simple" / project / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(anchors)
                            + "\n</body></html>\n", encoding="utf-8")
            links.append(f'<a href="{project}/">{project}</a>')
        (root / mirror / "simple" / "index.html").write_text(
            "<html><body>" + "".join(links) + "</body></html>\n", encoding="utf-8")


def mirrors_table(url: str) -> dict[str, str]:
    """``[mirrors]`` for a mirror server at ``url`` written by :func:`static_mirror`."""
    return {canonical: f"{url}/{n}/simple" for n, canonical in enumerate(UPSTREAMS)}


class _Pages(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@contextlib.contextmanager
def serve_static(root: Path) -> Iterator[str]:
    """Serve ``root`` on loopback; yields ``http://127.0.0.1:PORT``."""
    with serve(partial(_Pages, directory=str(root))) as url:
        yield url


@contextlib.contextmanager
def serve_sockets(handle: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A bare TCP server on loopback for what an HTTP server would not do (say nothing,
    trickle): each connection goes to ``handle(conn, stop)`` in a thread of its own, and
    ``stop`` is set when the block ends; yields ``http://127.0.0.1:PORT``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            t = threading.Thread(target=handle, args=(conn, stop), daemon=True)
            t.start()
            threads.append(t)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join()
        for t in threads:
            t.join(timeout=10)
        listener.close()


@contextlib.contextmanager
def serve(handler: Callable[..., BaseHTTPRequestHandler],
          tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``handler`` on loopback (threads, port 0) until the block ends; yields
    ``http://127.0.0.1:PORT``, or ``https://…`` with ``tls`` (a server-side context)."""
    server = _Server(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="loopback", daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
