"""The one place that runs uv (ROCM-FACTS §8).

It finds the binary (``MLSTACK_UV``, else the pinned wheel's), checks its version once,
builds a clean environment (no inherited ``UV_*``, our cache dir, no Python downloads),
logs the argv, runs with an argument list, and turns a failure into a :class:`UvError`
that quotes uv's own reason and says what kind of failure it is (:class:`UvFailure`),
classified here once so callers choose their hint by kind, never by uv's wording.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import cache
from pathlib import Path

from mlstack_env.core import envvars, paths
from mlstack_env.core.errors import MlstackError, TargetError
from mlstack_env.core.record import record

PINNED_VERSION = "0.13.9"  # equal to the uv==… pin in pyproject.toml (a test checks)


class UvFailure(StrEnum):
    """What kind of failure a uv run ended in."""

    NETWORK = "network"  # an index or file could not be reached
    OFFLINE = "offline"  # --offline, and uv's cache lacks something
    NO_PYTHON = "no-python"  # no wheels (or interpreter) for the requested Python
    HASH = "hash"  # a downloaded file does not match its locked hash
    UNSATISFIABLE = "unsatisfiable"  # the requirements have no solution on the sources
    SDIST_ONLY = "sdist-only"  # a needed package has no wheel (locks hold wheels only)
    UNAVAILABLE = "unavailable"  # uv itself is missing or does not run
    OTHER = "other"


class UvError(MlstackError):
    """uv failed: ``message`` quotes uv's reason, ``kind`` classifies it."""

    def __init__(self, message: str, hint: str | None, kind: UvFailure, reason: str) -> None:
        super().__init__(message, hint)
        self.kind = kind
        self.reason = reason


_NETWORK_WORDS = ("failed to fetch", "error sending request", "connect", "dns error",
                  "timed out", "network", "request failed after")
_OFFLINE_WORDS = ("offline", "not found in the cache", "connectivity is disabled")
_PYTHON_WORDS = ("python implementation tag", "python abi tag", "requires-python",
                 "python version", "python>=")


def classify(reason: str) -> UvFailure:
    """The kind of a failure, from uv's one-line reason (:func:`uv_reason`)."""
    lowered = reason.lower()
    if "hash mismatch" in lowered or "hashes do not match" in lowered:
        return UvFailure.HASH
    if any(w in lowered for w in _OFFLINE_WORDS):
        return UvFailure.OFFLINE
    if any(w in lowered for w in _NETWORK_WORDS):
        return UvFailure.NETWORK
    if any(w in lowered for w in _PYTHON_WORDS):
        return UvFailure.NO_PYTHON
    if "has no usable wheels" in lowered or "building from source is disabled" in lowered:
        return UvFailure.SDIST_ONLY
    if "unsatisfiable" in lowered or "no solution found" in lowered:
        return UvFailure.UNSATISFIABLE
    return UvFailure.OTHER


def binary() -> Path:
    override = os.environ.get(envvars.MLSTACK_UV)
    if override:
        path = Path(override)
        if not path.exists():
            raise _unavailable(
                f"{envvars.MLSTACK_UV}={override} does not exist",
                hint=f"point {envvars.MLSTACK_UV} at a uv binary, or unset it to use the "
                "pinned one",
            )
        return path
    beside = Path(sys.prefix) / "bin" / "uv"  # in a venv: where find_uv_bin looks first
    if sys.prefix != sys.base_prefix and beside.is_file():
        return beside
    try:
        from uv import find_uv_bin  # sysconfig: ~2 ms of imports
    except ImportError:  # pragma: no cover - uv is a hard dependency
        import shutil
        found = shutil.which("uv")
        if found:
            return Path(found)
        raise _unavailable(
            "uv is not installed",
            hint="reinstall mlstack: `pip install mlstack-env`, or `uv tool install .` from a "
            "clone",
        ) from None
    return Path(find_uv_bin())


def _unavailable(message: str, hint: str) -> UvError:
    """uv itself cannot be found or run: its own kind, so a caller that words uv's failures
    (``resolve/uvcompile.py``) keeps this hint."""
    return UvError(message, hint, UvFailure.UNAVAILABLE, message)


@cache
def version(uv_bin: Path | None = None) -> str:
    """``0.13.9`` for the uv that mlstack runs.

    Asked once per binary and remembered beside uv's cache (``cache/uv-version``) under
    the binary's real path, size and modification time, so a store miss does not pay a
    ``uv --version`` process each time; a replaced binary is asked again."""
    exe = str(uv_bin or binary())
    memo = paths.uv_cache_dir().parent / "uv-version"
    stamp = _stamp(exe)
    try:
        saved_stamp, saved = memo.read_text(encoding="utf-8").split("\n")[:2]
    except (OSError, ValueError):
        saved_stamp = saved = ""
    if stamp and saved_stamp == stamp and saved:
        return saved
    import subprocess  # with threading, signal, selectors and locale: 3 ms of imports

    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    m = re.search(r"uv (\d+\.\d+\.\d+)", out.stdout)
    if out.returncode != 0 or not m:
        raise _unavailable(
            f"cannot run {exe} --version",
            hint=f"reinstall mlstack, or unset {envvars.MLSTACK_UV}",
        )
    if stamp:
        from mlstack_env.core.userfile import write_atomic

        with contextlib.suppress(OSError):
            write_atomic(memo, f"{stamp}\n{m.group(1)}\n")
    return m.group(1)


def _stamp(exe: str) -> str:
    """The binary's real path, size and modification time ("" when it cannot be read)."""
    try:
        st = Path(exe).stat()
    except OSError:
        return ""
    return f"{Path(exe).resolve()}|{st.st_size}|{st.st_mtime_ns}"


#: The user's uv settings that pass through: how long to wait for a silent index and how
#: often to retry (uv's defaults: 30 s, 3 retries) tune the network, not what resolves.
PASSED_THROUGH = ("UV_HTTP_TIMEOUT", "UV_HTTP_RETRIES")
#: The TLS settings uv reads (the certificates to trust, a client certificate): it loads
#: each certificate they name whenever it builds its HTTP client, whether or not it then
#: connects — 4 ms of a store miss's uv run with a system bundle of 150 certificates. An
#: offline run connects to nothing, so it goes without them.
TLS_SETTINGS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSL_CLIENT_CERT")


def clean_env(offline: bool = False) -> dict[str, str]:
    """The environment uv runs in: ours, not the user's uv settings (but PASSED_THROUGH);
    ``offline``, not the TLS settings either (TLS_SETTINGS)."""
    dropped = (envvars.VIRTUAL_ENV, "CONDA_PREFIX", *(TLS_SETTINGS if offline else ()))
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("UV_") or k in PASSED_THROUGH) and k not in dropped
    }
    env["UV_CACHE_DIR"] = str(paths.uv_cache_dir())
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    # Installed files are hardlinks into the cache (beside the store, same filesystem):
    # store entries holding the same wheels share one copy (uv's Linux default, made
    # explicit; across filesystems uv falls back to copying).
    env["UV_LINK_MODE"] = "hardlink"
    if offline:
        env["UV_OFFLINE"] = "1"
    return env


@record
class Finished:
    """A uv run that ended: its exit status (negative: the signal that ended it) and what
    it wrote (``stdout`` is empty when it was not kept)."""

    returncode: int
    stdout: str
    stderr: str


def run(
    args: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    offline: bool = False,
    hint: str | Callable[[UvFailure], str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Finished:
    """Run ``uv ARGS`` (``--no-config`` added); raise :class:`UvError` quoting uv on failure.

    ``what`` names the step for the error: "resolving minimal for rocm6.4:gfx1100";
    ``hint`` is the hint, or chooses it from the kind of failure.
    ``on_line`` is called with each line uv writes to stderr, as it writes it (uv's
    "Prepared 3 packages in 146ms" marks the end of downloading); stdout is not kept."""
    argv = [str(binary()), *args]
    if "--no-config" not in argv:
        argv.insert(2 if len(argv) > 2 and argv[1] == "pip" else 1, "--no-config")
    _debug("running %s", " ".join(argv))
    env = clean_env(offline)
    deadline = envvars.download_deadline()
    if on_line is None:
        proc = _run_captured(argv, cwd=cwd, env=env, deadline=deadline)
    else:
        proc = _run_streaming(argv, cwd=cwd, env=env, on_line=on_line, deadline=deadline)
    if proc is None:
        reason = (f"not done after {deadline:g} s ({envvars.MLSTACK_DOWNLOAD_DEADLINE}): a "
                  "server sends too slowly or not at all")
        raise UvError(f"uv failed {what}: {reason}",
                      _hint_for(hint, UvFailure.NETWORK) or "check the network and the "
                      f"mirrors, or raise {envvars.MLSTACK_DOWNLOAD_DEADLINE}",
                      UvFailure.NETWORK, reason)
    if proc.returncode != 0:
        reason = uv_reason(proc.stderr)
        kind = classify(reason)
        raise UvError(f"uv failed {what}: {reason}",
                      _hint_for(hint, kind) or "rerun with -v to see uv's full output",
                      kind, reason)
    _debug("uv stderr: %s", proc.stderr.strip())
    return proc


def _debug(message: str, *args: object) -> None:
    if "logging" in sys.modules:  # only -v loads it (cli/app.py): else nothing would print
        sys.modules["logging"].getLogger("mlstack.uv").debug(message, *args)


def _hint_for(hint: str | Callable[[UvFailure], str] | None, kind: UvFailure) -> str | None:
    """The caller's hint for a failure of ``kind`` (None: the caller gave none)."""
    return hint(kind) if callable(hint) else hint


def _run_captured(argv: list[str], *, cwd: Path | None, env: dict[str, str],
                  deadline: float) -> Finished | None:
    """``subprocess.run`` of ``argv``, stdout and stderr kept; None when it was killed at
    ``deadline`` seconds."""
    import subprocess

    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                              check=False, timeout=deadline)
    except subprocess.TimeoutExpired:
        return None
    return Finished(proc.returncode, proc.stdout, proc.stderr)


def _run_streaming(argv: list[str], *, cwd: Path | None, env: dict[str, str],
                   on_line: Callable[[str], None], deadline: float) -> Finished | None:
    """``argv`` run with stdout to ``/dev/null`` and stderr read line by line while it
    runs (the one caller, ``uv pip sync``, reports on stderr); killed at ``deadline``
    seconds (then None).

    Without ``subprocess``, whose imports (``threading``, ``selectors``, ``locale``) were
    3 ms of every store miss: ``os.posix_spawn`` (a vfork, as
    ``subprocess`` uses), the pipe watched with ``select.poll``. As with ``subprocess``,
    the child inherits no descriptor but these three (Python opens every other one
    non-inheritable, PEP 446) and gets back the default handling of the signals Python
    ignores (SIGPIPE, SIGXFSZ). ``posix_spawn`` cannot change directory before Python
    3.13: uv is asked to (``UV_WORKING_DIR``, its ``--directory``, which it does first),
    so it sees the same working directory and names paths as before, and its argv is
    unchanged."""
    import select
    import signal

    if cwd is not None:
        env = {**env, "UV_WORKING_DIR": str(cwd)}
    read_end, write_end = os.pipe()
    try:
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, write_end, 2),
        ], setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    lines: list[str] = []
    timed_out = False
    try:
        poller = select.poll()
        poller.register(read_end, select.POLLIN)
        end = time.monotonic() + deadline
        pending = b""
        while True:
            left = end - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                timed_out = True
                break
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            *done, pending = (pending + chunk).split(b"\n")
            for raw in done:
                lines.append(raw.decode("utf-8", "replace") + "\n")
                on_line(lines[-1].rstrip("\r\n"))
        if pending:
            lines.append(pending.decode("utf-8", "replace"))
            on_line(lines[-1].rstrip("\r\n"))
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(read_end)
    if timed_out:
        _kill(pid)
        return None
    _, status = os.waitpid(pid, 0)
    return Finished(os.waitstatus_to_exitcode(status), "", "".join(lines))


def _kill(pid: int) -> None:
    """End a child and wait for it (nothing left behind, not even its exit status)."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


# Patterns, not compiled at import (0.6 ms of every store miss): only a failure reads
# uv's report, and `re` compiles each on first use.
_NOISE = r"^(Using |Resolved |Prepared |Installed |Uninstalled |Audited )"
# A new part of uv's report starts with one of these; other lines continue the part above
# (uv wraps long sentences to the terminal width).
_HEAD = r"(?i)^(?:error:|warning:|hint:|cause:|caused by:|[\u00d7\u2570\u251c]\S*)"
_MARKS = r"^[\s\u00d7\u2570\u251c\u2500\u25b6\u2502]+"


def uv_reason(stderr: str, max_parts: int = 2) -> str:
    """uv's error in one line: its headline and first cause, wrapped lines joined, without
    uv's warnings and hints (mlstack gives its own hint)."""
    parts: list[tuple[str, str]] = []  # (kind, text)
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line or re.match(_NOISE, line):
            continue
        if re.match(_HEAD, line) or not parts:
            text = re.sub(_MARKS, "", line)
            kind, _, rest = text.partition(":")
            known = kind.lower() in ("error", "warning", "hint", "cause", "caused by")
            parts.append((kind.lower() if known else "error", rest.strip() if known else text))
        else:
            kind, text = parts[-1]
            parts[-1] = (kind, f"{text} {line}")
    kept = [text for kind, text in parts if kind not in ("warning", "hint") and text]
    if not kept:
        return "no error message"
    text = kept[0]
    for part in kept[1:max_parts]:
        text += (" " if text.endswith(":") else "; ") + part
    return text


def _candidates(minor: int) -> list[Path]:
    name = f"python3.{minor}"
    out: list[Path] = []
    import shutil  # with bz2 and lzma: not on a store miss, whose interpreter is known
    on_path = shutil.which(name)
    if on_path:
        out.append(Path(on_path))
    # pyenv keeps inactive versions out of PATH (its shims refuse to run them).
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        out.extend(sorted(pyenv.glob(f"3.{minor}.*/bin/{name}"), reverse=True))
    out.extend(Path(d) / name for d in ("/usr/local/bin", "/usr/bin"))
    return out


def installed_pythons() -> dict[str, Path]:
    """Installed interpreters by ``X.Y``: on PATH, in pyenv's versions, in /usr. Probes every
    one (a process each): only for an explicit need, never on a command's normal path."""
    found: dict[str, Path] = {}
    for minor in range(8, 16):
        version = f"3.{minor}"
        for path in _candidates(minor):
            real = _probe(path) if path.exists() else None
            if real is not None and real[0] == version:
                found[version] = real[1]
                break
    return found


def running_python() -> tuple[str, Path]:
    """The interpreter mlstack runs on: ``X.Y`` and its real path. From a venv (``uv tool``,
    pipx, a project venv) that is the venv's base interpreter, a real installed Python."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return f"{sys.version_info[0]}.{sys.version_info[1]}", Path(os.path.realpath(base))


def _memo_path() -> Path:
    return paths.uv_cache_dir().parent / "pythons.json"


def _remembered() -> dict[str, str]:
    try:
        known = json.loads(_memo_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in known.items() if isinstance(v, str)} if isinstance(known, dict) \
        else {}


def _remember(version: str, path: Path) -> None:
    from mlstack_env.core.userfile import write_atomic

    known = _remembered()
    if known.get(version) == str(path):
        return
    known[version] = str(path)
    with contextlib.suppress(OSError):
        write_atomic(_memo_path(), json.dumps(known, indent=2, sort_keys=True) + "\n")


def find_python(version: str) -> Path:
    """The real interpreter for ``X.Y`` (never a pyenv shim); uv may not download one here.

    Found once and remembered by real path in ``cache/pythons.json`` beside uv's cache:
    probing costs a process start each (a pyenv shim a quarter of a second). A remembered
    path is used while it exists; uv itself then checks what it runs. Only this version's
    candidates are asked; every installed Python is probed only to word the error.
    """
    remembered = _remembered().get(version)
    if remembered and os.access(remembered, os.X_OK):
        return Path(remembered)
    mine, mine_path = running_python()
    if mine == version and os.access(mine_path, os.X_OK):
        _remember(version, mine_path)
        return mine_path
    m = re.fullmatch(r"3\.(\d+)", version, re.ASCII)
    if m:
        for path in _candidates(int(m.group(1))):
            real = _probe(path) if path.exists() else None
            if real is not None and real[0] == version:
                _remember(version, real[1])
                return real[1]
    found = installed_pythons()
    have = ", ".join(found) or "none"
    raise TargetError(
        f"Python {version} is not installed",
        hint=f"install Python {version} (e.g. apt-get install python{version}, pyenv install "
        f"{version}) or choose an installed one with --python (found: {have})",
    )


@cache
def _probe(path: Path) -> tuple[str, Path] | None:
    """(X.Y, real executable) of the interpreter ``path`` runs — a pyenv shim runs the
    active version, or refuses one that is not: ask the interpreter itself."""
    code = ("import os, sys; print('%d.%d' % sys.version_info[:2]); "
            "print(os.path.realpath(sys.executable))")
    import subprocess

    try:
        out = subprocess.run([str(path), "-c", code], capture_output=True, text=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split("\n")
    if out.returncode != 0 or len(lines) < 2 or not lines[1].strip():
        return None
    return lines[0].strip(), Path(lines[1].strip())
