"""core/tomlmemo.py: parsed TOML kept on disk, named by the exact bytes. A hit parses
nothing and imports no ``tomllib``; every value type it keeps comes back as tomllib made
it; a date or time is never kept; a damaged file, an unwritable folder and racing writers
only mean parsing again, never an error; ``cache clean``/``prune`` cover it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlstack_env.cli import main
from mlstack_env.core import paths, tomlmemo
from mlstack_env.core.digest import sha256_digest
from mlstack_env.core.errors import LockError
from mlstack_env.core.userfile import parse_toml
from mlstack_env.lockfile import read_lock
from tests.conftest import run_mlstack
from tests.envfixtures import team_lock
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

# Every kind of value TOML has but dates and times, in an order a dict must keep.
EVERY_TYPE = '''title = "mlstack \u2014 \u00fcn\u00efc\u00f8d\u00e9 \U0001f680"
multi = """
two
lines"""
literal = 'C:\\path\\n'
escaped = "tab\\there \\u00e9"
int = 9_223_372_036_854_775_807
negative = -17
hex = 0xdead_beef
octal = 0o755
binary = 0b1101
huge = 123456789012345678901234567890
float = 6.626e-34
whole = 1.0
inf = inf
ninf = -inf
nan = nan
negzero = -0.0
yes = true
no = false
empty = ""
array = [1, 2, [3, "four", [5.0]], [], { k = "v" }]
inline = { b = 1, a = { c = [true, false] } }
"dotted.key" = 1
a.b.c = "deep"

[table]
z = 1
a = 2

[[aot]]
name = "one"

[[aot]]
name = "two"

[aot.sub]
x = []

[empty-table]
'''

WITH_DATES = """name = "x"
when = 1979-05-27T07:32:00Z
local = 1979-05-27T07:32:00.999999
day = 1979-05-27
at = 07:32:00
"""


def _memo_dir() -> Path:
    return Path(paths.toml_memo_dir_str())


def _memo_files() -> list[Path]:
    folder = _memo_dir()
    return sorted(folder.iterdir()) if folder.is_dir() else []


class Parser:
    """A ``parse`` for tomlmemo.parsed that counts its calls."""

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return tomllib.loads(self.text)


def _parsed(text: str | bytes, reader: str = "test") -> tuple[dict[str, Any], int]:
    parse = Parser(text.decode() if isinstance(text, bytes) else text)
    return tomlmemo.parsed(text, parse, reader=reader), parse.calls


def test_every_value_type_comes_back_as_tomllib_made_it() -> None:
    first, calls = _parsed(EVERY_TYPE)
    assert calls == 1 and len(_memo_files()) == 1
    hit, calls = _parsed(EVERY_TYPE)
    assert calls == 0  # from the memo
    # repr shows the types (True is not 1, 1.0 is not 1, -0.0, nan) and the keys' order
    assert repr(hit) == repr(first) == repr(tomllib.loads(EVERY_TYPE))
    hit["table"]["z"] = "changed"  # each hit is a value of its own
    assert _parsed(EVERY_TYPE)[0]["table"]["z"] == 1


def test_a_hit_is_the_same_bytes_the_same_reader_and_the_same_python(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _parsed(EVERY_TYPE)
    assert _parsed(EVERY_TYPE.encode())[1] == 0  # text or its UTF-8 bytes: one document
    assert _parsed(EVERY_TYPE.replace("z = 1", "z = 2"))[1] == 1  # a byte changed
    assert _parsed(EVERY_TYPE + "\n")[1] == 1
    assert _parsed(EVERY_TYPE, reader="another")[1] == 1  # another reader's parse
    monkeypatch.setattr(tomlmemo, "_PYTHON", b"cpython 30e00f0 marshal 9")
    assert _parsed(EVERY_TYPE)[1] == 1  # another Python
    assert len(_memo_files()) == 5


CONFIG = """# mirrors, with a login
[mirrors]
"https://pypi.org/simple" = "https://alice:s3cr3t-t0ken@artifacts.example.com/api/pypi/simple"
"https://download.pytorch.org/whl" = "https://artifacts.example.com/t0k3n-in-path/torch"

[downloads]
parallel = 4
deadline = 7200.5
"""


def test_a_private_document_is_kept_without_its_text() -> None:
    """The user config's mirror URLs may carry credentials, which mlstack writes nowhere:
    the memo holds where each string stands in the text, which a hit has in hand."""
    for _ in range(2):
        value = parse_toml(CONFIG, "config.toml", "hint", private=True)
        assert repr(value) == repr(tomllib.loads(CONFIG))
    [memo] = _memo_files()
    kept = memo.read_bytes()
    for secret in (b"alice", b"s3cr3t", b"t0k3n", b"artifacts", b"mirrors", b"parallel"):
        assert secret not in kept
    with pytest.MonkeyPatch.context() as m:
        m.setattr(tomllib, "loads", None)  # a hit: no parser
        assert repr(parse_toml(CONFIG, "config.toml", "hint", private=True)) == repr(value)
    assert _memo_dir().stat().st_mode & 0o777 == 0o700


def test_a_private_string_with_an_escape_is_never_kept() -> None:
    text = CONFIG.replace("alice:", "alice\\u003a")  # "alice\u003a": not in the text as is
    for _ in range(2):
        assert parse_toml(text, "config.toml", "hint", private=True) == tomllib.loads(text)
    assert _memo_files() == []
    parse_toml(text, "config.toml", "hint")  # the same text, not private: kept whole
    assert len(_memo_files()) == 1


def test_dates_and_times_are_parsed_every_time() -> None:
    for _ in range(2):
        value, calls = _parsed(WITH_DATES)
        assert calls == 1
        assert value == tomllib.loads(WITH_DATES)
    assert _memo_files() == []


DAMAGE: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("empty", lambda blob: b""),
    ("truncated", lambda blob: blob[: len(blob) // 2]),
    ("zeros", lambda blob: bytes(len(blob))),
    ("a flipped byte", lambda blob: blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:]),
    ("a checked list, not a table", lambda blob: sha256_digest(b"[\x00\x00\x00\x00")
     + b"[\x00\x00\x00\x00"),
    ("garbage", lambda blob: os.urandom(len(blob))),
]


@pytest.mark.parametrize("damage", [d for _, d in DAMAGE], ids=[n for n, _ in DAMAGE])
def test_a_damaged_memo_file_is_parsed_again_and_replaced(
        damage: Callable[[bytes], bytes]) -> None:
    _parsed(EVERY_TYPE)
    [memo] = _memo_files()
    memo.write_bytes(damage(memo.read_bytes()))
    value, calls = _parsed(EVERY_TYPE)
    assert calls == 1 and repr(value) == repr(tomllib.loads(EVERY_TYPE))
    assert _parsed(EVERY_TYPE)[1] == 0  # written again
    assert _memo_files() == [memo]


def test_a_fifo_or_a_link_at_a_memo_name_is_not_read(tmp_path: Path) -> None:
    """Neither blocks nor is followed: parsed, and a memo file of its own put there."""
    _parsed(EVERY_TYPE)
    [memo] = _memo_files()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(memo.read_bytes())  # a valid memo, but not at the name
    memo.unlink()
    memo.symlink_to(elsewhere)
    assert _parsed(EVERY_TYPE)[1] == 1
    assert not memo.is_symlink() and elsewhere.read_bytes() == memo.read_bytes()
    memo.unlink()
    os.mkfifo(memo)
    assert _parsed(EVERY_TYPE)[1] == 1
    assert memo.is_file() and _parsed(EVERY_TYPE)[1] == 0


def _quietly_parsed(text: str, capfd: pytest.CaptureFixture[str]) -> int:
    """Parse calls of ``text``, twice, asserting no exception, warning or output."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calls = sum(_parsed(text)[1] for _ in range(2))
    assert capfd.readouterr() == ("", "")
    return calls


def test_a_folder_that_cannot_be_made_means_parsing(capfd: pytest.CaptureFixture[str]) -> None:
    _memo_dir().parent.mkdir(parents=True)
    _memo_dir().write_text("in the way")
    assert _quietly_parsed(EVERY_TYPE, capfd) == 2
    assert _memo_dir().read_text() == "in the way"


def test_a_name_taken_by_a_folder_means_parsing_and_leaves_no_temporary(
        capfd: pytest.CaptureFixture[str]) -> None:
    _parsed(EVERY_TYPE)
    [memo] = _memo_files()
    memo.unlink()
    memo.mkdir()
    assert _quietly_parsed(EVERY_TYPE, capfd) == 2
    assert _memo_files() == [memo] and memo.is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_folder_means_parsing(capfd: pytest.CaptureFixture[str]) -> None:
    _memo_dir().mkdir(parents=True)
    _memo_dir().chmod(0o555)
    try:
        assert _quietly_parsed(EVERY_TYPE, capfd) == 2
        assert _memo_files() == []
    finally:
        _memo_dir().chmod(0o755)


def test_a_read_only_memo_still_serves_hits(capfd: pytest.CaptureFixture[str]) -> None:
    """A memo file too old to be marked used, in a folder that refuses the mark."""
    _parsed(EVERY_TYPE)
    [memo] = _memo_files()
    old = time.time() - 2 * 86400
    os.utime(memo, (old, old))
    memo.chmod(0o444)
    assert _quietly_parsed(EVERY_TYPE, capfd) == 0


def test_racing_writers_all_get_the_document_and_leave_one_file(tmp_path: Path) -> None:
    lock = team_lock(tmp_path / "team.lock")
    text = lock.read_text(encoding="utf-8")
    before = _memo_files()  # the catalog's, read to write the lock
    code = ("import sys, tomllib; from mlstack_env.core import tomlmemo; "
            "text = open(sys.argv[1], encoding='utf-8').read(); "
            "print(repr(tomlmemo.parsed(text, lambda: tomllib.loads(text), reader='race')))")
    racers = [subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE,
                               text=True) for _ in range(8)]
    outs = [r.communicate(timeout=120)[0] for r in racers]
    assert all(r.returncode == 0 for r in racers)
    assert set(outs) == {repr(tomllib.loads(text)) + "\n"}
    assert len(set(_memo_files()) - set(before)) == 1  # and no temporary left beside it
    assert _parsed(text, reader="race")[1] == 0


def test_parse_errors_are_tomllibs_and_never_kept() -> None:
    text = 'name = "x"\nversion = \n'
    for _ in range(2):
        with pytest.raises(LockError) as err:
            parse_toml(text, "team.lock", "re-lock", kind=LockError)
        assert err.value.message == "team.lock: invalid TOML: Invalid value (at line 2, column 11)"
        assert err.value.hint == "re-lock"
    assert _memo_files() == []


def test_a_data_file_parses_as_tomllib_load_does(tmp_path: Path) -> None:
    data = tmp_path / "data.toml"
    data.write_text(EVERY_TYPE, encoding="utf-8")
    with data.open("rb") as f:
        assert repr(tomlmemo.load(data)) == repr(tomllib.load(f))
    assert repr(tomlmemo.load(data)) == repr(tomllib.loads(EVERY_TYPE))  # a hit
    data.write_text("a = [1,\n", encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError) as ours, data.open("rb") as f:
        tomlmemo.load(data)
    with pytest.raises(tomllib.TOMLDecodeError) as theirs, data.open("rb") as f:
        tomllib.load(f)
    assert str(ours.value) == str(theirs.value)
    data.write_bytes(b"a = '\xff'\n")
    with pytest.raises(UnicodeDecodeError):
        tomlmemo.load(data)


def test_a_hit_older_than_a_day_is_marked_used() -> None:
    _parsed(EVERY_TYPE)
    [memo] = _memo_files()
    hour_ago, days_ago = time.time() - 3600, time.time() - 2 * 86400
    os.utime(memo, (hour_ago, hour_ago))
    _parsed(EVERY_TYPE)
    assert memo.stat().st_mtime == pytest.approx(hour_ago)  # at most one write a day
    os.utime(memo, (days_ago, days_ago))
    _parsed(EVERY_TYPE)
    assert memo.stat().st_mtime > time.time() - 60


def _aged(path: Path, days: float) -> Path:
    when = time.time() - days * 86400
    os.utime(path, (when, when))
    return path


def _unused_memo_and_leftovers() -> tuple[Path, Path, Path, Path]:
    """(a memo file used lately, one unused for 31 days, a killed writer's temporary,
    a temporary being written)."""
    _parsed(EVERY_TYPE)
    [recent] = _memo_files()
    _parsed("x = 1\n")
    [old] = set(_memo_files()) - {recent}
    folder = _memo_dir()
    killed = folder / f".{old.name}.0123456789ab{tomlmemo.TMP_SUFFIX}"
    killed.write_bytes(b"half")
    writing = folder / f".{recent.name}.ba9876543210{tomlmemo.TMP_SUFFIX}"
    writing.write_bytes(b"half")
    return recent, _aged(old, 31), _aged(killed, 2), writing


def test_prune_drops_what_no_command_used_and_clean_everything() -> None:
    recent, _, _, writing = _unused_memo_and_leftovers()
    tomlmemo.prune(everything=False)
    assert _memo_files() == sorted([recent, writing])
    tomlmemo.prune(everything=True)
    assert not _memo_dir().exists()
    tomlmemo.prune(everything=False)  # nothing there: nothing to do
    tomlmemo.prune(everything=True)


def test_cache_prune_and_clean_cover_the_memo(capsys: pytest.CaptureFixture[str]) -> None:
    recent, old, killed, _ = _unused_memo_and_leftovers()
    assert main(["cache", "prune"]) == 0
    assert not old.exists() and not killed.exists() and recent.exists()
    assert main(["cache", "clean"]) == 0
    assert not _memo_dir().exists()
    # The memo is not in the report: nothing else was there to clean.
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"uv's cache at {paths.uv_cache_dir()} is empty: nothing to clean")


# --- the commands: a hit imports no tomllib (a process of its own) ----------------------


def _modules_after(args: list[str], cwd: Path | None = None) -> set[str]:
    code = ("import sys; from mlstack_env.cli import main; status = main(sys.argv[1:]); "
            "print(' '.join(sorted(sys.modules)), file=sys.stderr); sys.exit(status)")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                       text=True, check=False, timeout=120)
    assert r.returncode in (0, 1), r.stderr  # diff exits 1 when the locks differ
    return set(r.stderr.splitlines()[-1].split())


@pytest.fixture
def made(mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path) -> Path:
    """Env ``demo`` on a 7900 XTX from the team lock; a project locked beside it."""
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "team.lock")
    assert run_mlstack("env", "create", "demo", "--lock", str(lock)).returncode == 0
    project = tmp_path / "project"
    write_project(project, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
    assert run_mlstack("lock", cwd=project).returncode == 0
    other = tmp_path / "other.lock"
    other.write_text(lock.read_text().replace('version = "3.18.0"', 'version = "3.19.0"'))
    return tmp_path


COMMANDS = [
    ["env", "create", "demo", "--lock", "LOCK"],  # up to date
    ["env", "create", "demo", "--name", "hit", "--lock", "LOCK", "--json"],  # a store hit
    ["diff", "LOCK", "OTHER"],
    ["tree", "--lock", "LOCK", "--target", "rocm6.4:gfx1100"],
    ["lock"],  # nothing to do
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_whose_toml_is_in_the_memo_imports_no_tomllib(
        args: list[str], made: Path) -> None:
    args = [str(made / "team.lock") if a == "LOCK" else str(made / "other.lock")
            if a == "OTHER" else a for a in args]
    project = made / "project"
    tomlmemo.prune(everything=True)
    cold = _modules_after(args, cwd=project)
    assert "tomllib" in cold  # the memo was empty: parsed
    warm = _modules_after(args, cwd=project)
    assert "mlstack_env.core.tomlmemo" in warm  # the log is the real one
    assert "tomllib" not in warm
    assert read_lock(made / "team.lock").entries  # the lock is intact
