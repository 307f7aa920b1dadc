"""The uv runner: uv's error text turned into one line, interpreters found."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack_env import uv
from mlstack_env.core.errors import MlstackError

WRAPPED = """\
warning: The requested Python version 3.10 is not available; 3.11.7 will be used.
error: No solution found when resolving dependencies
  cause: Because torch==2.8.0+rocm6.4 has no wheels with a matching Python
         implementation tag (e.g., `cp310`), we can conclude that your requirements
         are unsatisfiable.

hint: Packages were unavailable because the network was disabled.
"""

FANCY = """\
  \u00d7 No solution found when resolving dependencies:
  \u2570\u2500\u25b6 Because torch==9.9 was not found in the package registry and you
      require torch==9.9, we can conclude that your requirements are unsatisfiable.
"""


def test_wrapped_lines_are_joined_and_warnings_and_hints_dropped() -> None:
    assert uv.uv_reason(WRAPPED) == (
        "No solution found when resolving dependencies; Because torch==2.8.0+rocm6.4 has "
        "no wheels with a matching Python implementation tag (e.g., `cp310`), we can "
        "conclude that your requirements are unsatisfiable."
    )


def test_fancy_report_keeps_headline_and_cause() -> None:
    assert uv.uv_reason(FANCY) == (
        "No solution found when resolving dependencies: Because torch==9.9 was not found in "
        "the package registry and you require torch==9.9, we can conclude that your "
        "requirements are unsatisfiable."
    )


def test_caused_by_chain_and_noise() -> None:
    text = "Resolved 3 packages in 2ms\nerror: Failed to fetch: http://127.0.0.1:9/x\n" \
           "  Caused by: connection refused\n  Caused by: os error 111\n"
    assert uv.uv_reason(text) == "Failed to fetch: http://127.0.0.1:9/x; connection refused"
    assert uv.uv_reason("") == "no error message"


def test_a_python_that_is_not_installed_is_a_clean_error() -> None:
    with pytest.raises(MlstackError) as info:
        uv.find_python("3.99")
    assert info.value.message == "Python 3.99 is not installed"
    assert info.value.hint is not None and "--python" in info.value.hint


def test_installed_pythons_run_as_their_version() -> None:
    import subprocess

    found = uv.installed_pythons()
    assert found, "at least the interpreter running the tests"
    for version, path in found.items():
        out = subprocess.run([str(path), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == str(tuple(int(p) for p in version.split(".")))


def test_the_pin_in_pyproject_is_the_version_the_code_checks() -> None:
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    pyproject = Path(__file__).parent.parent / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = [Requirement(d) for d in deps if Requirement(d).name == "uv"]
    assert len(pins) == 1 and str(pins[0].specifier) == f"=={uv.PINNED_VERSION}"


@pytest.mark.parametrize(("stderr", "kind"), [
    # uv 0.13.9's own words (`uv pip compile` against a closed port, and with UV_OFFLINE=1
    # and an empty cache), one case per kind mlstack tells apart.
    ("error: Request failed after 3 retries in 7.8s\n"
     "  cause: Failed to fetch: http://127.0.0.1:9/simple/demo/\n"
     "  cause: error sending request for url (http://127.0.0.1:9/simple/demo/)\n"
     "  cause: Connection refused (os error 111)\n", uv.UvFailure.NETWORK),
    ("error: No solution found when resolving dependencies\n"
     "  cause: Because demo was not found in the cache and you require demo==1.0, we can "
     "conclude that your requirements are unsatisfiable.\n\n"
     "hint: Packages were unavailable because the network was disabled.\n",
     uv.UvFailure.OFFLINE),
    # A hash mismatch (uv's "Hash mismatch for" wording; real output: test_env_create).
    ("error: Failed to download `demo==1.0`\n  Caused by: Hash mismatch for `demo==1.0`\n\n"
     "Expected:\n  sha256:00\n\nComputed:\n  sha256:11\n", uv.UvFailure.HASH),
    (WRAPPED, uv.UvFailure.NO_PYTHON),
    (FANCY, uv.UvFailure.UNSATISFIABLE),
    ("error: No such file or directory (os error 2)\n", uv.UvFailure.OTHER),
])
def test_failures_are_classified_once_from_uvs_reason(stderr: str, kind: uv.UvFailure) -> None:
    assert uv.classify(uv.uv_reason(stderr)) is kind


def test_a_failed_run_raises_a_typed_error(tmp_path: pytest.TempPathFactory,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    fake = Path(str(tmp_path)) / "uv"
    fake.write_text("#!/bin/sh\necho 'error: Failed to fetch: http://127.0.0.1:9/x' >&2\n"
                    "exit 2\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("MLSTACK_UV", str(fake))
    with pytest.raises(uv.UvError) as info:
        uv.run(["pip", "compile", "x"], what="resolving x",
               hint=lambda kind: f"kind was {kind}")
    assert info.value.kind is uv.UvFailure.NETWORK
    assert info.value.message == "uv failed resolving x: Failed to fetch: http://127.0.0.1:9/x"
    assert info.value.hint == "kind was network"


def test_the_version_is_asked_once_per_binary(tmp_path: Path) -> None:
    """A store miss records uv's version: asked once, remembered (across processes: the
    in-process cache is cleared before each call) while the binary is the same file,
    asked again when it changes."""
    from tests.envfixtures import uv_wrapper

    calls = tmp_path / "calls"
    wrapper = uv_wrapper(tmp_path / "uv", f'echo x >> {calls}\nexec "$REAL_UV" "$@"')
    real = uv.version()
    for _ in range(2):
        uv.version.cache_clear()
        assert uv.version(wrapper) == real
    assert calls.read_text().count("x") == 1
    wrapper.write_text(wrapper.read_text() + "# replaced\n")
    uv.version.cache_clear()
    assert uv.version(wrapper) == real
    assert calls.read_text().count("x") == 2


def test_with_logging_on_each_run_is_logged_and_streamed_lines_arrive(
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """uv.py does not load logging itself; once -v has (here: caplog), the argv and uv's
    stderr are logged as before. A streamed run hands over each stderr line."""
    import logging

    caplog.set_level(logging.DEBUG, logger="mlstack.uv")
    lines: list[str] = []
    proc = uv.run(["--version"], what="asking the version")
    assert proc.stdout.startswith("uv ")
    python = str(uv.running_python()[1])
    uv.run(["venv", "--python", python, str(tmp_path / "v")], what="creating a venv",
           on_line=lines.append)
    assert "running " in caplog.text and "--version" in caplog.text
    assert sum("running " in r.message for r in caplog.records) == 2
    assert any(line.startswith("Creating virtual environment") for line in lines), lines


def test_a_streamed_run_hands_over_each_line_and_runs_in_its_directory(
        tmp_path: Path) -> None:
    """``on_line`` runs are started without ``subprocess``: uv changes to ``cwd`` itself
    (a relative path lands there), each stderr line arrives without its newline, and the
    error of a failed run quotes uv as ``subprocess`` runs do."""
    python = str(uv.running_python()[1])
    lines: list[str] = []
    done = uv.run(["venv", "--python", python, "rel"], what="creating a venv", cwd=tmp_path,
                  on_line=lines.append)
    assert (tmp_path / "rel" / "pyvenv.cfg").is_file()
    assert done.returncode == 0 and done.stdout == ""
    assert any(line.startswith("Creating virtual environment at: rel") for line in lines), lines
    assert all("\n" not in line for line in lines)
    with pytest.raises(uv.UvError) as info:
        uv.run(["pip", "sync", "--python", python, "missing.txt"], what="syncing",
               cwd=tmp_path, on_line=lines.append)
    assert "missing.txt" in info.value.message


def test_a_streamed_run_is_killed_at_the_deadline(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A uv that writes a line and half of one, then nothing: killed at
    MLSTACK_DOWNLOAD_DEADLINE, a network failure; what it wrote came through first, and
    no process is left behind."""
    import os

    from tests.envfixtures import uv_wrapper

    pid = tmp_path / "pid"
    fake = uv_wrapper(tmp_path / "uv", f"echo $$ > {pid}\nprintf 'Resolved 1 package\\nhalf'"
                                       " >&2\nexec sleep 600")
    monkeypatch.setenv("MLSTACK_UV", str(fake))
    monkeypatch.setenv("MLSTACK_DOWNLOAD_DEADLINE", "1")
    lines: list[str] = []
    with pytest.raises(uv.UvError) as info:
        uv.run(["pip", "sync", "x"], what="installing x", on_line=lines.append)
    assert info.value.kind is uv.UvFailure.NETWORK
    assert "not done after 1 s (MLSTACK_DOWNLOAD_DEADLINE)" in info.value.message
    assert lines == ["Resolved 1 package", "half"]
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(int(pid.read_text()), 0)


def test_offline_runs_go_without_the_tls_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """uv loads every certificate SSL_CERT_FILE/SSL_CERT_DIR name whenever it starts its
    HTTP client, connecting or not: an offline run (a store miss's install) drops them;
    a run that may connect keeps them."""
    for name in uv.TLS_SETTINGS:
        monkeypatch.setenv(name, f"/etc/{name}")
    online, offline = uv.clean_env(), uv.clean_env(offline=True)
    assert {n: online[n] for n in uv.TLS_SETTINGS} == {n: f"/etc/{n}" for n in uv.TLS_SETTINGS}
    assert not set(uv.TLS_SETTINGS) & set(offline)
    assert offline["UV_OFFLINE"] == "1"


def test_a_streamed_run_gets_the_signals_python_ignores_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``subprocess`` does (``restore_signals``): uv starts with SIGPIPE and SIGXFSZ at
    their default, not ignored as in Python."""
    import signal

    from tests.envfixtures import uv_wrapper

    fake = uv_wrapper(tmp_path / "uv", "grep SigIgn /proc/$$/status >&2")
    monkeypatch.setenv("MLSTACK_UV", str(fake))
    lines: list[str] = []
    uv.run(["pip", "sync", "x"], what="installing x", on_line=lines.append)
    ignored = int(lines[0].split()[1], 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (sig - 1)), lines
