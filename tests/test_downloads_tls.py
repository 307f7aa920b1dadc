"""Downloads over HTTPS from a mirror with a private CA (issue 22): without the CA the
create stops at once with one line naming the URL, the mirror and the certificate, and a
hint naming SSL_CERT_FILE; with ``SSL_CERT_FILE`` pointing at the CA it succeeds — as uv,
given the same variable, fetches the same file. The CA and the server's certificate are
made per test session with the machine's ``openssl`` (no Python dependency for it)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from mlstack_env import uv
from mlstack_env.core import paths
from tests.envfixtures import env_without, error_lines
from tests.layoutmirror import serve
from tests.test_downloads import _big, _config, big_lock, big_wheel

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def module_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``ca.pem`` (a CA no trust store holds) and ``server.pem`` +
    ``server.key`` (127.0.0.1's certificate, signed by that CA)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a private CA")
    d = tmp_path_factory.mktemp("private-ca")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=mlstack test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return d


@pytest.fixture
def private_ca(module_ca: Path, fake_machine: Callable[[str], Path],
               monkeypatch: pytest.MonkeyPatch, warm_interpreters: None) -> Path:
    """The CA, on the 7900 XTX machine, with no CA variable from the developer's shell."""
    fake_machine("7900xtx")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return module_ca


class _Body(BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b""
    paths: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:  # uv asks first
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.do_HEAD()
        self.wfile.write(self.body)


def _tls(ca: Path) -> ssl.SSLContext:
    """A server-side context with ``ca``'s server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca / "server.pem", ca / "server.key")
    return context


def test_a_private_ca_is_refused_until_ssl_cert_file_names_it(
        private_ca: Path, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = big_wheel(tmp_path / "unused", 1000)
    _Body.body, _Body.paths = _big(1000)[1], []
    lock = big_lock(tmp_path / "mlstack.lock", wheel)
    with serve(_Body, tls=_tls(private_ca)) as url:
        _config(url, "retries = 3")
        refused = cli("env", "create", "big", "--lock", str(lock))
        assert refused.returncode == 1
        error, hint = error_lines(refused.stderr)
        assert error == (
            f"error: cannot download {url}/files/packages/bb/{wheel.filename} (through "
            f"mirror {url}/files/): its TLS certificate is not trusted (certificate verify "
            "failed: unable to get local issuer certificate)")
        assert hint == (
            "hint: if the server's certificate comes from a private CA (a company proxy or "
            "mirror), set SSL_CERT_FILE to that CA's PEM file (or SSL_CERT_DIR to a folder "
            "of them), as for uv")
        assert _Body.paths == []  # no request went out, and none was retried
        assert not paths.envs_dir().joinpath("big").exists()

        monkeypatch.setenv("SSL_CERT_FILE", str(private_ca / "ca.pem"))
        r = cli("env", "create", "big", "--lock", str(lock))
        assert r.returncode == 0, r.stderr
        assert _Body.paths == [f"/files/packages/bb/{wheel.filename}"]
        cached = paths.files_cache_dir() / wheel.sha256 / wheel.filename
        assert cached.read_bytes() == _Body.body
        # uv reads the variable the same way: the same file, refused without, fetched with.
        assert _uv_fetches(f"{url}/files/packages/bb/{wheel.filename}", tmp_path, ca=None) \
            is False
        assert _uv_fetches(f"{url}/files/packages/bb/{wheel.filename}", tmp_path,
                           ca=private_ca / "ca.pem") is True


def _uv_fetches(url: str, tmp_path: Path, *, ca: Path | None) -> bool:
    """Whether ``uv pip install`` (dry run, so it only fetches) gets the wheel at ``url``."""
    env = env_without("SSL_CERT_FILE", "SSL_CERT_DIR")
    env |= {"UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_NO_PROGRESS": "1"}
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
    venv = tmp_path / "uv-venv"
    if not venv.exists():
        subprocess.run([str(uv.binary()), "venv", "-q", str(venv)], env=env, check=True)
    name = url.rsplit("/", 1)[-1].split("-", 1)[0]
    r = subprocess.run([str(uv.binary()), "pip", "install", "--dry-run", "--no-deps",
                        "--no-cache", "--python", str(venv / "bin" / "python"),
                        f"{name} @ {url}"], env=env, capture_output=True, text=True,
                       check=False, timeout=120)
    return r.returncode == 0
