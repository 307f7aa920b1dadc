"""Issue 21, item 10: bounded work.

* a mirror that trickles (a byte every half second here, every 5 s in the field) fails
  ``env create`` and ``bundle`` once ``MLSTACK_DOWNLOAD_DEADLINE`` has passed, with an
  error naming that mirror (uv has only a per-read timeout, which a trickle never trips;
  the mirror's project pages, read first to find the files, are bounded the same way);
* a deep dotted key or deep nesting is refused before the TOML parser sees the text, in
  bounded memory (measured with tracemalloc, not with a clock);
* ``diff`` and ``tree`` print in one call (a print per line was most of their time on a
  36 MiB lock; benchmarks/bench_biglock.py measures them).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import tomllib
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlstack_env.core.errors import MlstackError
from mlstack_env.core.userfile import MAX_KEY_DEPTH, MAX_NESTING, parse_toml
from tests.envfixtures import error_lines, team_lock
from tests.layoutmirror import serve_sockets
from tests.wheelindex import FILES, PYPI, PYTORCH, write_mirrors

Cli = Callable[..., subprocess.CompletedProcess[str]]


@contextlib.contextmanager
def trickling_server(interval: float = 0.5, give_up: float = 60) -> Iterator[str]:
    """``http://127.0.0.1:PORT``: answers any GET with 200, a Content-Length of 10 kB and
    then one byte every ``interval`` seconds, until the client goes or ``give_up`` seconds
    have passed (then it hangs up: a test of a broken deadline fails, it never hangs)."""

    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n"
                             b"Content-Type: application/octet-stream\r\n\r\n")
                for _ in range(int(give_up / interval)):
                    if stop.wait(interval):
                        break
                    conn.sendall(b"x")

    with serve_sockets(trickle) as url:
        yield url


def _mirror_everything(config: Path, url: str) -> None:
    mirrors = {PYTORCH: f"{url}/pytorch/", PYPI: f"{url}/pypi/simple", FILES: f"{url}/f/"}
    write_mirrors(config, mirrors)


def _check_too_slow(r: subprocess.CompletedProcess[str], url: str) -> None:
    assert r.returncode == 1, r.stderr
    lines = error_lines(r.stderr)
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), r.stderr
    assert "not done after 2 s (MLSTACK_DOWNLOAD_DEADLINE)" in lines[0], r.stderr
    assert url in lines[0], r.stderr  # the mirror is named


def test_a_trickling_mirror_fails_bundle_at_the_deadline(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTACK_DOWNLOAD_DEADLINE", "2")
    lock = team_lock(tmp_path / "team.lock")
    with trickling_server() as url:
        _mirror_everything(tmp_path / "config.toml", url)
        r = cli("bundle", "--lock", str(lock), "-o", str(tmp_path / "wheels"), timeout=120)
    _check_too_slow(r, url)
    assert [p.name for p in (tmp_path / "wheels").iterdir()] == []  # no .part left


def test_a_trickling_mirror_fails_env_create_at_the_deadline(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch,
        fake_machine: Callable[[str], Path], warm_interpreters: None) -> None:
    fake_machine("7900xtx")
    monkeypatch.setenv("MLSTACK_DOWNLOAD_DEADLINE", "2")
    lock = team_lock(tmp_path / "team.lock")
    with trickling_server() as url:
        _mirror_everything(tmp_path / "config.toml", url)
        r = cli("env", "create", "demo", "--lock", str(lock), timeout=120)
    _check_too_slow(r, url)
    assert cli("env", "list", "--json").stdout.count('"name"') == 0


@pytest.mark.parametrize("value", ["0", "-5", "soon", "1e99"])
def test_a_bad_deadline_is_a_clean_error(cli: Cli, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MLSTACK_DOWNLOAD_DEADLINE", value)
    lock = team_lock(tmp_path / "team.lock")
    r = cli("bundle", "--lock", str(lock), "-o", str(tmp_path / "wheels"))
    assert r.returncode == 1
    assert "MLSTACK_DOWNLOAD_DEADLINE" in error_lines(r.stderr)[0]


# --- TOML: refused before the parser ----------------------------------------------------

DEEP = [
    ("a" + ".a" * 16_000 + " = 1\n", "dotted key"),        # the 32 KB file
    ("a" + ".a" * 100_000 + " = 1\n", "dotted key"),       # 100,000 levels
    ("[" + "a." * 5000 + "a]\nx = 1\n", "dotted key"),
    ('"a"' + '.",".a' * 200 + " = 1\n", "dotted key"),   # quoted parts hold separators
    ("x = " + "[" * 100_000, "nest"),
    ("x = " + "{a = " * 10_000, "nest"),
    ("x = " + "[[], " * 20 + "[" * 70, "nest"),
]


@pytest.mark.parametrize(("text", "needle"), DEEP)
def test_deep_toml_is_refused_before_parsing_in_bounded_memory(
        text: str, needle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(_: str) -> object:
        raise AssertionError("the parser was given the text")

    monkeypatch.setattr(tomllib, "loads", never)
    tracemalloc.start()
    try:
        with pytest.raises(MlstackError) as err:
            parse_toml(text, "mlstack.toml", "hint")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert needle in err.value.message and err.value.message.startswith("mlstack.toml: ")
    assert peak < 100 * 1024 * 1024, peak


@pytest.mark.parametrize("text", [
    "a" + ".a" * (MAX_KEY_DEPTH - 2) + " = 1\n",
    "x = " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1) + "\n",
    'u = "' + "a." * 10_000 + '"\n',                       # dots inside a string
    "v = '" + "[{" * 5_000 + "'\n",                       # brackets inside a string
    '# ' + "a." * 10_000 + "\nx = 1\n",                   # and in a comment
    'm = """\n' + "a.b.c = [[[[\n" * 5_000 + '"""\n',     # and in a multi-line string
    "f = [" + ", ".join(["1.5"] * 5_000) + "]\n",          # many floats: one dot each
    'p = "C:\\\\"\nq = 1.5\n',
])
def test_shallow_toml_still_parses(text: str) -> None:
    assert parse_toml(text, "x.toml", "hint") == tomllib.loads(text)


def test_a_deep_manifest_is_a_clean_cli_error(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "mlstack.toml").write_text("a" + ".a" * 16_000 + " = 1\n", encoding="utf-8")
    for args in (("lock",), ("profile", "list")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        assert "a dotted key is more than 64 levels deep" in error_lines(r.stderr)[0]


def test_env_run_refuses_a_deep_default_env_file(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "mlstack.toml").write_text("a" + ".a" * 100_000 + " = 1\n", encoding="utf-8")
    r = cli("env", "run", "--", "true", cwd=tmp_path, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "a dotted key is more than 64 levels deep" in r.stderr
