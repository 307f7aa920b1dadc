"""Fuzzing (issue 13, item 9): mutated mlstack.toml, profiles, locks, config and machine
trees get exit 0 or a clean exit 1 (an ``error:`` line, then a ``hint:`` line), never
exit 2 or a traceback.

In-process through ``mlstack_env.cli.main`` and bounded: few examples, no deadline,
derandomized, so CI runs the same cases in a few seconds. The seeds are real files: the
example project and its lock from ``lockfiles/example``, a machine like a 7900 XTX box,
an env archive's ``mlstack-pack.json``; issue 21's cases are seeds too (an archive whose
links leave DIR, a site name that is shell code, ``zsh-``, a profile named ``$(…)``, a
deep dotted key, source URLs with spaces, ``tqdm[``).

Every input is also checked for what it must never do: run something (a ``PWN`` file
appears), leave a file outside its directory (a victim folder changes), or hang (an
alarm per input). ``MLSTACK_FUZZ_EXAMPLES=N`` runs N examples per test;
``MLSTACK_FUZZ_REPORT=FILE`` writes the tally (inputs, clean errors, internal errors,
hangs, executions, files outside) as JSON: docs/troubleshooting.md quotes one run.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstack_env.cli import main
from mlstack_env.core.errors import MlstackError
from mlstack_env.fetch.config import load_config
from tests import machines
from tests.envfixtures import failing_uv

EXAMPLE = Path(__file__).resolve().parent.parent / "lockfiles" / "example"

FUZZ = settings(
    max_examples=int(os.environ.get("MLSTACK_FUZZ_EXAMPLES", "50")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values that have broken parsers before: wrong types, foreign digits, controls, options.
NASTY_VALUES = [
    "true", "false", "0", "-1", "1.5", "1e400", "inf", "nan", '""', "[]", "{}", "[[]]",
    '"\\u001b[31m"', '"\\u0663.\\u0661\\u0662"', '"rocm\\u0666.\\u0664:gfx1100"',
    '"-oDPkg::Pre-Invoke::=touch /tmp/x"', '"{rocm}"', '"$(touch pwned)"', "1979-05-27",
    '"' + "x" * 300 + '"', '"\\r\\n"', '"gfx1100"', '"cpu"', '"3.12"', '"PROMPT_COMMAND"',
    # issue 21
    '"x\\ntouch PWN\\n#"', '"zsh-"', '["rocm-hip-runtime", "zsh-"]', '"mlx$(touch PWN)"',
    '" https://x.example/simple"', '"https://x.example/simple\\t"', '"http://localhost:1/simple"',
    '"tqdm["', '"HOME"', '{ GIT_DIR = "/tmp" }', '{ MAILPATH = "/tmp/m?$(touch PWN)" }',
]
NASTY_TEXT = ["[", "]", "[[", "]]", "=", '"', "'", "\n", "\\", "{", "}", ",", "#", ".", " ",
              "[profiles.x]", "[[entry]]", "[[entry.package]]", "extends = [\"ml\"]",
              "env = 1", "version = 2", "[mirrors]", "\x00", "\x1b", "\u0663",
              # issue 21
              'site = "x\\ntouch PWN\\n#"\n[sites."x\\ntouch PWN\\n#"]\njob-cache = true\n',
              '[sites."a b"]\n', 'system = ["zsh-"]\n', '[profiles."mlx$(touch PWN)"]\n',
              "a" + ".a" * 2000 + " = 1\n", "x = " + "[" * 500 + "\n",
              '[sources.x]\nurl = " http://localhost:1/simple"\n']
NASTY_BYTES = [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x80", b"\xf4\x90\x80\x80"]


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few edits: spans deleted, text or bad bytes inserted, a value
    replaced by another type, lines duplicated or swapped."""
    data = seed
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "value", "bytes", "dup-line", "cut"]))
        at = draw(st.integers(0, len(data)))
        if op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 40)):]
        elif op == "insert":
            data = data[:at] + draw(st.sampled_from(NASTY_TEXT)).encode() + data[at:]
        elif op == "bytes":
            data = data[:at] + draw(st.sampled_from(NASTY_BYTES)) + data[at:]
        elif op == "value":
            # replace what follows the next "= " up to the end of its line
            eq = data.find(b"= ", at)
            if eq >= 0:
                end = data.find(b"\n", eq)
                end = len(data) if end < 0 else end
                value = draw(st.sampled_from(NASTY_VALUES)).encode()
                data = data[:eq + 2] + value + data[end:]
        elif op == "dup-line":
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
            data = b"\n".join(lines)
        else:
            data = data[:at]
    return data


TALLY: Counter[str] = Counter()
HANG_SECONDS = 60


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    """Write the tally for ``MLSTACK_FUZZ_REPORT`` (one file per module run: -n 0)."""
    yield
    target = os.environ.get("MLSTACK_FUZZ_REPORT")
    if target:
        old = json.loads(Path(target).read_text()) if Path(target).is_file() else {}
        for k, v in TALLY.items():
            old[k] = old.get(k, 0) + v
        Path(target).write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
        TALLY.clear()


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError("hang")


def assert_clean(code: int, err: str) -> None:
    TALLY["runs"] += 1
    TALLY["internal errors" if code not in (0, 1) or "internal error" in err else
          "clean errors" if code == 1 else "exit 0"] += 1
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 1:
        lines = err.splitlines()
        firsts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
        assert firsts, err
        assert lines[firsts[0] + 1].startswith("hint: "), err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., int]:
    def call(*args: str) -> int:
        capsys.readouterr()
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(HANG_SECONDS)
        try:
            code = main(list(args))
        except TimeoutError:
            TALLY["hangs"] += 1
            raise
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        assert_clean(code, capsys.readouterr().err)
        if Path("PWN").exists():
            TALLY["executions"] += 1
            raise AssertionError(f"{args}: data ran as code")
        return code

    return call


def _inputs() -> None:
    TALLY["inputs"] += 1


MANIFEST_SEED = (EXAMPLE / "mlstack.toml").read_bytes() + b"""
[profiles.extra]
extends = ["ml"]
description = "more"
python = ">=3.10,<3.14"
system = ["rocm-hip-runtime"]
packages = ["numpy<2; python_version < '3.12'"]
[profiles.extra.env]
MIOPEN_FIND_MODE = "2"

[sources.mine]
url = "https://example.com/{rocm}/simple"
files = ["https://example.com/files/"]
packages = ["numpy"]
use = "when-required"
"""


@FUZZ
@given(data=mutated(MANIFEST_SEED))
def test_fuzzed_manifest_and_profiles(data: bytes, tmp_path: Path, run: Callable[..., int],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _inputs()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlstack.toml").write_bytes(data)
    run("profile", "list")
    run("profile", "show", "extra")
    run("profile", "show", "minimal", "--json")


LOCK_SEED = (EXAMPLE / "mlstack.lock").read_bytes()


@FUZZ
@given(data=mutated(LOCK_SEED))
def test_fuzzed_lock(data: bytes, tmp_path: Path, run: Callable[..., int],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    _inputs()
    root = tmp_path / "machine"
    if not root.exists():
        machines.MACHINES["7900xtx"](root)
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    for key, value in failing_uv(tmp_path).items():  # create gets as far as installing
        monkeypatch.setenv(key, value)
    lock = tmp_path / "mlstack.lock"
    lock.write_bytes(data)
    run("system", "plan", "--lock", str(lock), "--distro", "ubuntu:24.04")
    run("system", "plan", "--lock", str(lock), "--distro", "rocky:9.4", "--json")
    run("env", "create", "ml", "--lock", str(lock), "--name", "fuzz")
    run("diff", str(EXAMPLE / "mlstack.lock"), str(lock))
    run("tree", "--lock", str(lock))


CONFIG_SEED = b"""[mirrors]
"https://download.pytorch.org/" = "https://artifacts.example.com/pytorch/"
"https://pypi.org/simple" = "https://artifacts.example.com/pypi/simple"
"https://files.pythonhosted.org/" = "https://artifacts.example.com/pythonhosted/"
"""


@FUZZ
@given(data=mutated(CONFIG_SEED))
def test_fuzzed_config(data: bytes, tmp_path: Path) -> None:
    _inputs()
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    try:
        load_config(path)
    except MlstackError as err:
        assert err.exit_code == 1 and err.hint


@pytest.fixture
def machine_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    root = machines.MACHINES["7800xt-780m"](tmp_path / "machine")
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    return sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size)


@FUZZ
@given(pick=st.integers(0, 10_000), edits=st.data())
def test_fuzzed_machine_tree(pick: int, edits: st.DataObject, machine_files: list[Path],
                             run: Callable[..., int]) -> None:
    _inputs()
    path = machine_files[pick % len(machine_files)]
    original = path.read_bytes()
    try:
        path.write_bytes(edits.draw(mutated(original)))
        run("detect")
        run("detect", "--json")
    finally:
        path.write_bytes(original)


@FUZZ
@given(target=st.text(min_size=0, max_size=24), python=st.text(min_size=0, max_size=6))
def test_fuzzed_options(target: str, python: str, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, run: Callable[..., int]) -> None:
    """--target and --python strings that are refused before any resolving."""
    _inputs()
    monkeypatch.chdir(tmp_path)
    if "\x00" in target or "\x00" in python:
        return  # an argv cannot hold NUL
    from mlstack_env.catalog.target import Target, parse_python

    try:
        Target.parse(target)
        parse_python(python)
    except MlstackError:
        run("lock", "minimal", "--target", target, "--python", python, "--offline")


# --- issue 21: archives and edits ------------------------------------------------------

PACK_SEED = json.dumps({
    "format": 1, "name": "demo", "python": "3.12", "python_version": "3.12.3",
    "interpreter_home": "/usr/bin", "venv": "/old/home/store/k/venv", "store_key": "k",
    "entry": "demo@rocm6.4:gfx1100@py3.12", "mlstack_version": "0.1.0",
    "links": {"bin/python": "/usr/bin/python3.12", "esc": "VICTIM",
              "esc/notes.txt": "/etc/hostname"},
    "variables": {"HSA_OVERRIDE_GFX_VERSION": "11.0.0", "PROMPT_COMMAND": "touch PWN"},
    "site": {"name": "x\ntouch PWN\n#", "job_cache": True, "gpu_per_task": False},
}, indent=1).encode()


@FUZZ
@given(data=mutated(PACK_SEED))
def test_fuzzed_archive_manifest(data: bytes, tmp_path: Path, run: Callable[..., int],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`env unpack` of an archive whose mlstack-pack.json is fuzzed: never a file outside
    DIR (the victim folder stays as it was), never a run value."""
    _inputs()
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "notes.txt").write_text("mine\n", encoding="utf-8")
    data = data.replace(b"VICTIM", str(victim).encode())
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, body in (("mlstack-pack.json", data),
                           ("venv/pyvenv.cfg", b"home = /usr/bin\nrelocatable = true\n")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    out = tmp_path / "out"
    run("env", "unpack", str(archive), str(out))
    outside = sorted(p.name for p in victim.iterdir()) != ["notes.txt"] or \
        (victim / "notes.txt").is_symlink() or \
        (victim / "notes.txt").read_text(encoding="utf-8") != "mine\n"
    if outside:
        TALLY["files outside"] += 1
    assert not outside


@FUZZ
@given(name=st.text(min_size=1, max_size=12))
def test_fuzzed_remove_names(name: str, tmp_path: Path, run: Callable[..., int],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlstack remove NAME` with any name: a clean error or a removal, never exit 2."""
    _inputs()
    if "\x00" in name or name.startswith("-"):
        return  # an argv cannot hold NUL; an option is typer's
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlstack.toml").write_text('[profiles.ml]\npackages = ["numpy"]\n',
                                           encoding="utf-8")
    run("remove", name, "--offline")
