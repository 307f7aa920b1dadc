"""The CLI frame: --version, --help, exit codes, one-line errors, lean imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import mlstack_env
from mlstack_env.cli import main
from mlstack_env.core.errors import InternalError, MlstackError

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"mlstack {mlstack_env.__version__}\n"
    assert result.stderr == ""


def test_version_via_python_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlstack_env", "--version"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0
    assert result.stdout == f"mlstack {mlstack_env.__version__}\n"


# A process that runs main() as the console script does: an exit handler, an object whose
# finalizer only Python's own shutdown runs, and (with "thread" first) a thread still
# working when the command ends.
ENDING = """\
import atexit, sys, threading, time
atexit.register(lambda: print("handler ran"))
class Late:
    def __del__(self):
        print("shutdown ran")
late = Late()
if sys.argv[1] == "thread":
    del sys.argv[1]
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread done"))).start()
from mlstack_env.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize(("args", "code", "out"), [
    (["--version"], 0, f"mlstack {mlstack_env.__version__}\nhandler ran\n"),
    (["env", "info", "nosuch"], 1, "handler ran\n"),
    (["thread", "--version"], 0,
     f"mlstack {mlstack_env.__version__}\nthread done\nhandler ran\nshutdown ran\n"),
], ids=["version", "error", "thread"])
def test_the_command_line_ends_itself_after_its_exit_handlers_and_output(
        args: list[str], code: int, out: str, tmp_path: Path) -> None:
    """The console script's main() ends the process once the exit handlers ran and the
    output is flushed (cli/entry.py's _end), skipping Python's shutdown (no finalizer
    runs): same status, same bytes. A thread still running is waited for by Python's own
    exit, as before."""
    r = subprocess.run([sys.executable, "-c", ENDING, *args], capture_output=True, text=True,
                       check=False, timeout=60, cwd=tmp_path,
                       env={**os.environ, "MLSTACK_HOME": str(tmp_path / "home")})
    assert (r.returncode, r.stdout) == (code, out), r.stderr
    assert ("no env named 'nosuch'" in r.stderr) == (code == 1)


def test_version_imports_no_typer_rich_or_uv() -> None:
    code = (
        "import json, sys\n"
        "from mlstack_env.cli import main\n"
        "rc = main(['--version'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'rich', 'click', 'uv', 'mlstack_env.resolve'))\n"
        "heavy += sorted(m for m in sys.modules if m.startswith('mlstack_env.') and m not in "
        "('mlstack_env.cli', 'mlstack_env.cli.entry'))\n"
        "print(json.dumps([rc, heavy]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    version_line, payload = result.stdout.splitlines()
    assert version_line == f"mlstack {mlstack_env.__version__}"
    rc, heavy = json.loads(payload)
    assert rc == 0
    assert heavy == []


def test_the_probe_would_see_heavy_imports() -> None:
    """The check above is able to fail: a command's --help does import typer."""
    code = (
        "import sys\n"
        "from mlstack_env.cli import main\n"
        "main(['env', '--help'])\n"
        "print('typer' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.splitlines()[-1] == "True"


def test_help(cli: Cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    assert "Usage: mlstack" in result.stdout
    assert "detect" in result.stdout
    assert "--version" in result.stdout


def test_command_help(cli: Cli) -> None:
    result = cli("detect", "--help")
    assert result.returncode == 0
    assert "--json" in result.stdout


def test_no_arguments_shows_help(cli: Cli) -> None:
    result = cli()
    assert result.returncode == 0
    assert "Usage: mlstack" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (("frobnicate",), "No such command 'frobnicate'", "mlstack --help"),
        (("--bogus",), "No such option: --bogus", "mlstack --help"),
        (("detect", "--bogus"), "No such option: --bogus", "mlstack detect --help"),
        (("detect", "extra"), "unexpected extra argument", "mlstack detect --help"),
    ],
)
def test_usage_errors_are_one_line_and_a_hint(
    cli: Cli, args: tuple[str, ...], message: str, hint: str
) -> None:
    result = cli(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: ")
    assert message.lower() in lines[0].lower()
    assert lines[1].startswith("hint: ")
    assert hint in lines[1]


def _raise(exc: BaseException) -> Callable[..., object]:
    def boom(*_args: object, **_kwargs: object) -> object:
        raise exc

    return boom


def test_internal_exception_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("mlstack_env.cli.detect.detect", _raise(RuntimeError("boom")))
    assert main(["detect"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == "error: internal error: RuntimeError('boom')"
    assert len(lines) == 2
    assert lines[1].startswith("hint: ")
    assert "-v" in lines[1]
    assert "Traceback" not in captured.err


def test_internal_exception_with_verbose_shows_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("mlstack_env.cli.detect.detect", _raise(RuntimeError("boom")))
    assert main(["-v", "detect"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: boom" in err
    assert err.splitlines()[-2] == "error: internal error: RuntimeError('boom')"


def test_internal_error_class_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("mlstack_env.cli.detect.detect", _raise(InternalError("store is odd")))
    assert main(["detect"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "error: store is odd",
        "hint: this is a bug in mlstack; rerun with -v and report the traceback",
    ]


def test_user_error_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = MlstackError("no such thing", hint="try another thing")
    monkeypatch.setattr("mlstack_env.cli.detect.detect", _raise(err))
    assert main(["detect", "--json"]) == 1
    captured = capsys.readouterr()
    # --json: the error is also the one JSON document on stdout, for the script reading it.
    assert json.loads(captured.out) == {"error": "no such thing", "hint": "try another thing"}
    assert captured.err.splitlines() == ["error: no such thing", "hint: try another thing"]


def test_keyboard_interrupt_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("mlstack_env.cli.detect.detect", _raise(KeyboardInterrupt()))
    assert main(["detect"]) == 130  # the shell's code for SIGINT; no traceback
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ("--version",),
    ("detect", "--json"),
    ("profile", "list", "--json"),
    ("profile", "show", "nosuch"),
    ("env", "list"),
    ("lock", "--target", "rocm6.4:gfxbogus"),
    ("env", "create", "minimal", "--python", "three"),
    ("nosuch",),
])
def test_in_process_runs_match_a_process(args: tuple[str, ...],
                                         fake_machine: Callable[[str], object]) -> None:
    """The `cli` fixture runs most commands in-process for speed; it must see what a user
    running the real console script sees: same exit code, stdout and stderr."""
    from tests.conftest import run_mlstack

    fake_machine("7900xtx")
    inproc = run_mlstack(*args)
    proc = run_mlstack(*args, process=True)
    assert (inproc.returncode, inproc.stdout, inproc.stderr) == \
        (proc.returncode, proc.stdout, proc.stderr)


def test_emit_returns_the_results_exit_code_and_main_exits_with_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import dataclass
    from typing import Any

    from mlstack_env.cli.output import emit

    @dataclass
    class Plain:
        exit_code: int = 0

        def to_json(self) -> Any:
            return {"a": 1}

        def render(self, console: Any) -> None:
            console.print("plain")

    @dataclass
    class Failing(Plain):
        exit_code: int = 1

    assert emit(Plain(), as_json=True) == 0
    assert emit(Failing(), as_json=False) == 1
    assert capsys.readouterr().out == '{\n  "a": 1\n}\nplain\n'
    # A command returns emit's code; main returns it as the process status.
    from mlstack_env.cli import doctor

    monkeypatch.setattr(doctor, "build_context", lambda lock, env: None)
    monkeypatch.setattr("mlstack_env.doctor.run", lambda ctx: [])
    monkeypatch.setattr(doctor.DoctorResult, "exit_code", property(lambda self: 1))
    assert main(["doctor", "--json"]) == 1
