"""Issue 13, items 2, 3 and 5: nothing from data runs, no option injection, every bad input
is a clean error (exit 1, an ``error:`` line and a ``hint:`` line), never exit 2.

In-process through ``mlstack_env.cli.main`` (a process adds nothing here).
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlstack_env.catalog.target import Target, parse_python
from mlstack_env.cli import main
from mlstack_env.cli.output import printable
from mlstack_env.core import envvars, paths, userfile
from mlstack_env.core.errors import MlstackError
from mlstack_env.core.userfile import write_atomic
from mlstack_env.fetch.config import load_config
from mlstack_env.lockfile import Lock, LockEntry, dumps, loads, read_lock
from mlstack_env.manifest.profiles import MAX_EXTENDS_DEPTH, Profile, ProfileSet
from tests.envfixtures import error_lines, failing_uv, team_lock, torch_entry, write_lock

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> Run:
    """``run("env", "list")`` -> (exit code, stdout, stderr), in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def clean_error(code: int, err: str, *needles: str) -> None:
    """Exit 1 with exactly one error line and one hint line, naming what it should."""
    assert code == 1, err
    lines = error_lines(err)
    assert [line.split(":")[0] for line in lines][:2] == ["error", "hint"], err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


def manifest(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mlstack.toml"
    path.write_text(body, encoding="utf-8")
    return path


# --- item 2: data never runs -------------------------------------------------------------

REFUSED = [
    "PROMPT_COMMAND", "BASH_ENV", "ENV", "ZDOTDIR", "PS0", "PS1", "PS2", "PS4", "PROMPT",
    "RPROMPT", "path", "status", "fpath", "UID", "EUID", "PPID", "SHELLOPTS", "IFS",
    "LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "GCONV_PATH", "PYTHONPATH",
    "PYTHONSTARTUP", "PYTHONHOME", "PATH", "VIRTUAL_ENV", "MLSTACK_ENV", "_MLSTACK_OLD_X",
    "BASH_FUNC_ls", "BASH_LOADABLES_PATH", "GIT_CONFIG_COUNT", "GIT_SSH_COMMAND",
    "fish_function_path", "fish_user_paths", "PAGER", "LESSOPEN", "NODE_OPTIONS", "SHELL",
]


@pytest.mark.parametrize("name", REFUSED)
def test_profile_variables_that_would_run_are_refused_at_load(run: Run, tmp_path: Path,
                                                              name: str) -> None:
    manifest(tmp_path, f'[profiles.ml]\npackages = ["numpy"]\n[profiles.ml.env]\n'
                       f'{name} = "touch pwned"\n')
    code, out, err = run("profile", "show", "ml")
    clean_error(code, err, "mlstack.toml:4", name, "cannot be set by an env")
    assert out == ""


@pytest.mark.parametrize("name", ["HSA_OVERRIDE_GFX_VERSION", "MIOPEN_FIND_MODE", "http_proxy",
                                  "HSA_TOOLS_LIB", "ROCM_PATH", "PYTORCH_ROCM_ARCH",
                                  "HIP_VISIBLE_DEVICES", "OMP_NUM_THREADS", "TORCH_HOME"])
def test_ordinary_variables_pass(name: str) -> None:
    envvars.check_variable(name, "x")


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "X=Y", "Ä", "X\n", "", "X%%"])
def test_variable_names_are_posix_names(name: str) -> None:
    with pytest.raises(MlstackError, match="invalid environment variable name"):
        envvars.check_variable(name, "x")


def _written(home: Path) -> list[Path]:
    """What a command left in MLSTACK_HOME besides the memo of the TOML it read
    (core/tomlmemo.py: a cache, like Python's bytecode)."""
    memo = Path(paths.toml_memo_dir_str())
    return sorted(p for p in home.rglob("*") if p not in (memo.parent, memo)
                  and not p.is_relative_to(memo)) if home.exists() else []


def test_env_with_prompt_command_is_refused_before_anything_is_written(
        run: Run, tmp_path: Path, isolated: Path) -> None:
    manifest(tmp_path, '[profiles.ml]\npackages = ["numpy"]\n'
                       '[profiles.ml.env]\nBASH_ENV = "/tmp/x.sh"\n')
    code, _, err = run("env", "create", "ml")
    clean_error(code, err, "BASH_ENV")
    assert not (tmp_path / "mlstack.lock").exists()
    assert _written(isolated) == []


def test_a_lock_that_sets_prompt_command_is_refused_on_read(tmp_path: Path) -> None:
    lock = write_lock(tmp_path / "team.lock", [
        torch_entry("demo", "rocm6.4:gfx1100", env={"PROMPT_COMMAND": "touch pwned"})])
    with pytest.raises(MlstackError) as err:
        read_lock(lock)
    assert "entry 1" in err.value.message and "PROMPT_COMMAND" in err.value.message


def test_env_create_from_such_a_lock_writes_nothing(
        run: Run, tmp_path: Path, isolated: Path, fake_machine: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine("7900xtx")
    for key, value in failing_uv(tmp_path).items():
        monkeypatch.setenv(key, value)
    lock = write_lock(tmp_path / "team.lock", [
        torch_entry("demo", "rocm6.4:gfx1100", env={"LD_PRELOAD": "/tmp/evil.so"})])
    code, _, err = run("env", "create", "demo", "--lock", str(lock))
    clean_error(code, err, str(lock), "LD_PRELOAD")
    assert _written(isolated) == []


def test_printable_escapes_terminal_controls() -> None:
    assert printable("a\x1b]0;t\x07\x1b[31mb\x9b1m\r\u202e") == \
        "a\\x1b]0;t\\x07\\x1b[31mb\\x9b1m\\x0d\\u202e"
    assert printable("tab\there\nline") == "tab\there\\x0aline"
    assert printable("tab\there\nline", newlines=True) == "tab\there\nline"
    assert printable("ünïcødé ☃ 日本語") == "ünïcødé ☃ 日本語"


def test_escape_codes_in_profile_values_are_shown_escaped(run: Run, tmp_path: Path) -> None:
    manifest(tmp_path, '[profiles.ml]\ndescription = "ok\\u001b]0;pwned\\u0007 [link=x]y[/link]"\n'
                       'packages = ["numpy"]\n[profiles.ml.env]\n'
                       'COLOR = "\\u001b[31mred\\u009b0m\\r"\n')
    code, out, err = run("profile", "show", "ml")
    assert code == 0, err
    assert "\x1b" not in out and "\x9b" not in out and "\r" not in out and "\x07" not in out
    assert "COLOR=\\x1b[31mred\\x9b0m\\x0d" in out
    assert "[link=x]y[/link]" in out  # text, not a hyperlink


def test_escape_codes_in_error_messages_are_shown_escaped(run: Run, tmp_path: Path) -> None:
    code, _, err = run("profile", "show", "no\x1b[2Jsuch")
    assert code == 1
    assert "\x1b" not in err and "\\x1b[2J" in err


# --- item 3: no option injection as root -------------------------------------------------


def test_system_plan_refuses_an_option_in_a_lock(run: Run, tmp_path: Path) -> None:
    entry = torch_entry("demo", "rocm6.4:gfx1100")
    bad = LockEntry(**{**entry.__dict__, "system": ("-oDPkg::Pre-Invoke::=touch /tmp/x",)})
    lock = write_lock(tmp_path / "mlstack.lock", [bad])
    code, out, err = run("system", "plan", "--lock", str(lock), "--distro", "ubuntu:24.04")
    clean_error(code, err, "bad system package name", "-oDPkg::Pre-Invoke::=touch /tmp/x")
    assert out == ""


@pytest.mark.parametrize("name", ["--allow-unauthenticated", "-y", "a b", "pkg=1.0", "x;y"])
def test_profile_system_names_are_checked_at_load(run: Run, tmp_path: Path, name: str) -> None:
    manifest(tmp_path, f'[profiles.ml]\npackages = ["numpy"]\nsystem = ["{name}"]\n')
    code, _, err = run("profile", "show", "ml")
    clean_error(code, err, "bad system package name", "mlstack.toml:3")


# --- item 5: bad input is a clean error --------------------------------------------------


def test_non_utf8_lock_is_one_clean_line(run: Run, tmp_path: Path) -> None:
    lock = team_lock(tmp_path / "mlstack.lock")
    data = lock.read_bytes()
    cut = data.index(b"\n[[entry]]") + 1
    lock.write_bytes(data[:cut] + b"# caf\xe9 \xff\xfe\n" + data[cut:])
    code, _, err = run("system", "plan", "--lock", str(lock), "--distro", "ubuntu:24.04")
    line = data[:cut].count(b"\n") + 1
    clean_error(code, err, f"{lock}: not UTF-8", f"offset {cut + 5}", f"line {line}")
    assert "caf" not in err


def test_non_utf8_manifest_and_config(run: Run, tmp_path: Path) -> None:
    (tmp_path / "mlstack.toml").write_bytes(b'default-env = "minimal"\n# \x80\n')
    code, _, err = run("profile", "list")
    clean_error(code, err, "mlstack.toml: not UTF-8", "offset 26", "line 2")
    config = tmp_path / "config.toml"
    config.write_bytes(b"[mirrors]\n\xc3\x28 = 1\n")
    with pytest.raises(MlstackError,
                       match=r"config.toml: not UTF-8 text \(byte 0xc3 at offset 10, line 2\)"):
        load_config(config)


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_files_that_are_not_regular_are_refused(run: Run, tmp_path: Path, kind: str) -> None:
    path = {"device": Path("/dev/zero"), "directory": tmp_path}.get(kind, tmp_path / "fifo")
    if kind == "fifo":
        os.mkfifo(path)
    code, _, err = run("system", "plan", "--lock", str(path), "--distro", "ubuntu:24.04")
    clean_error(code, err, str(path), "not a regular file")


def test_a_fifo_as_mlstack_toml_does_not_hang(run: Run, tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    os.mkfifo(project / "mlstack.toml")
    code, _, err = run("profile", "list", "--project", str(project / "mlstack.toml"))
    assert code == 1 and "Traceback" not in err


def test_oversized_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userfile, "MAX_BYTES", 1000)
    big = tmp_path / "mlstack.lock"
    big.write_text("# " + "x" * 2000 + "\n")
    with pytest.raises(MlstackError, match="larger than"):
        read_lock(big)


@pytest.mark.parametrize("target", ["/dev/null", "link"])
def test_output_onto_a_device_or_symlink_is_refused(tmp_path: Path, target: str) -> None:
    real = tmp_path / "real.lock"
    real.write_text("keep\n")
    path = Path(target) if target.startswith("/") else tmp_path / target
    if target == "link":
        path.symlink_to(real)
    with pytest.raises(MlstackError, match="refusing to write"):
        write_atomic(path, "new\n")
    assert real.read_text() == "keep\n"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_lock_dash_o_onto_a_device_is_refused(run: Run, tmp_path: Path) -> None:
    code, _, err = run("lock", "minimal", "--target", "cpu", "-o", "/dev/zero")
    clean_error(code, err, "/dev/zero")


MINIMAL_ENTRY = ('version = 1\n[[entry]]\nprofile = "p"\ntarget = "cpu"\npython = "3.12"\n'
                 'platform = "x86_64-manylinux_2_28"\ninputs-hash = "sha256:0"\n')


def _lock_text() -> str:
    lock = Lock((torch_entry("demo", "rocm6.4:gfx1100"),), "0.1.0", "0.13.9")
    return dumps(lock)


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda t: t.replace("size = ", "size = true, x = ", 1), "whole number"),
    (lambda t: t.replace("size = ", "size = -", 1), "whole number"),
    (lambda t: t.replace("size = ", "size = 1.5, x = ", 1), "whole number"),
    (lambda t: t.replace("version = 1", "version = true", 1), "format version"),
    (lambda t: t + t[t.index("[[entry]]"):], "already entry 1"),
    (lambda t: "version = 1\nentry = 3\n", "list of tables"),
    (lambda t: "version = 1\nentry = [1, 2]\n", "list of tables"),
    (lambda t: MINIMAL_ENTRY + 'package = "torch"\n', "list of tables"),
    (lambda t: MINIMAL_ENTRY + 'package = [{name = "torch", version = "2", wheels = "x"}]\n',
     "list of tables"),
    (lambda t: MINIMAL_ENTRY + 'env = ["X"]\n', "table of strings"),
    (lambda t: t.replace("wheels = [", "wheels = [1, ", 1), "list of tables"),
    (lambda t: t.replace("[entry.env]", "[entry.env]\nX = 1", 1), "table of strings"),
    (lambda t: t.replace('url = "https://', 'url = "https://{rocm}/', 1), "placeholder"),
    (lambda t: t.replace('url = "https://', 'url = "ftp://', 1), "not an http"),
    (lambda t: t.replace('url = "https://', 'url = "https://a b/', 1), "control"),
    (lambda t: t.replace('python = "3.12"', 'python = "3.\u0661\u0662"', 1), "not a Python"),
    (lambda t: t.replace('target = "rocm6.4', 'target = "rocm\u0666.\u0664', 1), "bad target"),
    (lambda t: t.replace("system = []", 'system = ["--force-yes"]', 1), "package name"),
    (lambda t: t.replace('platform = "', 'platform = "--help ', 1), "platform"),
    (lambda t: "[" * 5000, "invalid TOML"),
])
def test_malformed_locks_are_clean_errors(edit: Callable[[str], str], needle: str) -> None:
    text = edit(_lock_text())
    with pytest.raises(MlstackError) as err:
        loads(text, "mlstack.lock")
    assert needle in err.value.message
    assert err.value.exit_code == 1 and err.value.hint


def test_a_lock_with_a_duplicate_package_is_refused() -> None:
    text = _lock_text()
    start = text.index("[[entry.package]]")
    end = text.index("[[entry.package]]", start + 1)
    with pytest.raises(MlstackError, match="listed twice"):
        loads(text[:end] + text[start:end] + text[end:])


@pytest.mark.parametrize("text", ["rocm\u0666.\u0664:gfx1100", "rocm6.4:gfx\u0661100",
                                  "rocm\uff16.4:gfx1100"])
def test_targets_take_ascii_digits_only(text: str) -> None:
    with pytest.raises(MlstackError):
        Target.parse(text)


@pytest.mark.parametrize("text", ["", "3.\u0661\u0662", "\u0663.12", "3", "3.12.1", " 3.12"])
def test_python_versions_take_ascii_digits_only(text: str) -> None:
    with pytest.raises(MlstackError, match="not a Python version"):
        parse_python(text)


@pytest.mark.parametrize("args", [("--target", ""), ("--python", ""),
                                  ("--python", "3.\u0661\u0662"),
                                  ("--target", "rocm\u0666.\u0664:gfx1100")])
def test_empty_or_foreign_digit_options_are_clean_errors(run: Run, args: tuple[str, str]
                                                         ) -> None:
    code, _, err = run("lock", "minimal", *args)
    clean_error(code, err)


def test_manifest_python_takes_ascii_digits(run: Run, tmp_path: Path) -> None:
    manifest(tmp_path, 'python = "3.\u0661\u0662"\n')
    code, _, err = run("profile", "list")
    clean_error(code, err, "is not a Python version")


@pytest.mark.parametrize("files", ['["https://x/{nope}/"]', '["https://x/{index:>999999999}"]',
                                   '["https://x/{index.__class__}"]', '["https://x/{"]'])
def test_source_file_prefixes_take_only_known_placeholders(run: Run, tmp_path: Path,
                                                           files: str) -> None:
    manifest(tmp_path, f'[sources.mine]\nurl = "https://example.com/simple"\nfiles = {files}\n')
    code, _, err = run("profile", "list")
    clean_error(code, err, "unknown placeholder")


def test_extends_depth_is_capped() -> None:
    names = [f"p{i}" for i in range(MAX_EXTENDS_DEPTH + 2)]
    profiles = {n: Profile(n, extends=(names[i + 1],) if i + 1 < len(names) else ())
                for i, n in enumerate(names)}
    with pytest.raises(MlstackError, match="levels deep"):
        ProfileSet(profiles).get("p0")
    assert ProfileSet(profiles).get(names[2]).name == names[2]  # within the cap


def test_extends_diamonds_merge_once_each() -> None:
    """Each of 40 profiles extends every earlier one: 2^40 merges without memoising."""
    names = [f"p{i}" for i in range(40)]
    profiles = {n: Profile(n, extends=tuple(reversed(names[i + 1:i + 13])),
                           packages=(f"pkg{i}>=1",), env={f"V{i}": "x"})
                for i, n in enumerate(names)}
    merged = ProfileSet(profiles).get("p0")
    assert merged.packages[-1] == "pkg0>=1"
    assert len(merged.packages) == 40 and len(merged.env) == 40


# --- an unwritable or full MLSTACK_HOME --------------------------------------------------


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """A read-only directory: by permissions for a user, by a read-only mount for root
    (root writes through permissions)."""
    if os.geteuid() != 0:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            path.chmod(stat.S_IRWXU)
        return
    with mounted_tmpfs(path, "ro,size=1m"):
        yield


def test_read_only_home_is_a_clean_error_naming_it(run: Run, tmp_path: Path, isolated: Path,
                                                  fake_machine: Callable[[str], Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine("7900xtx")
    for key, value in failing_uv(tmp_path).items():
        monkeypatch.setenv(key, value)
    lock = team_lock(tmp_path / "team.lock")
    with read_only(isolated):
        code, _, err = run("env", "create", "demo", "--lock", str(lock))
        clean_error(code, err, str(isolated), "MLSTACK_HOME)")
        assert "Read-only file system" in err or "Permission denied" in err
        assert not any(isolated.iterdir())


def test_full_disk_is_a_clean_error_and_leaves_the_lock(run: Run, tmp_path: Path) -> None:
    """`-o` onto a full disk: the error names the path, the old lock stays whole."""
    disk = tmp_path / "disk"
    with mounted_tmpfs(disk, "size=64k"):
        old = team_lock(disk / "team.lock")
        before = old.read_bytes()
        (disk / "filler").write_bytes(b"\0" * (64 * 1024 - len(before) - 4096))
        with pytest.raises(OSError) as exc:
            write_atomic(old, before.decode() * 8)
        from mlstack_env.cli.report import filesystem_error

        err = filesystem_error(exc.value)
        assert "No space left on device" in err.message and str(disk) in err.message
        assert err.hint and "free some space" in err.hint
        assert old.read_bytes() == before
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "team.lock"]


def test_full_disk_through_a_fault_seam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    """The same without a tmpfs (no mount rights): fsync fails with ENOSPC, as it does
    when the last blocks cannot be written."""
    import errno

    from mlstack_env.cli.report import filesystem_error

    folder = tmp_path / "project"
    folder.mkdir()
    old = team_lock(folder / "team.lock")
    before = old.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as exc:
        write_atomic(old, "new\n")
    monkeypatch.undo()
    assert exc.value.filename == str(old)
    assert filesystem_error(exc.value).message == f"{old}: No space left on device"
    assert old.read_bytes() == before
    assert [p.name for p in folder.iterdir()] == ["team.lock"]


# --- an index that accepts and never answers ---------------------------------------------


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT``: accepts every connection, reads nothing, says nothing."""
    import socket
    import threading

    from tests.layoutmirror import serve_sockets

    def hold(conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            stop.wait()

    with serve_sockets(hold) as url:
        yield url


def test_a_hanging_index_times_out_with_a_clean_error(
        run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv gives up on a silent index after UV_HTTP_TIMEOUT (passed through; 30 s by
    default), and mlstack says which URL and what to do."""
    from tests.wheelindex import FILES, PYPI, PYTORCH, write_mirrors

    monkeypatch.setenv("UV_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    with silent_server() as url:
        mirrors = {PYTORCH: f"{url}/pytorch/", PYPI: f"{url}/pypi/simple", FILES: f"{url}/f/"}
        write_mirrors(tmp_path / "config.toml", mirrors)
        manifest(tmp_path, 'python = "3.12"\n[profiles.ml]\npackages = ["numpy"]\n')
        code, _, err = run("lock", "--target", "cpu")
    clean_error(code, err, url)
    assert not (tmp_path / "mlstack.lock").exists()


def test_uv_network_timeouts_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack_env.uv import clean_env

    monkeypatch.setenv("UV_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("UV_HTTP_RETRIES", "1")
    monkeypatch.setenv("UV_INDEX_URL", "https://elsewhere.example/simple")
    env = clean_env()
    assert env["UV_HTTP_TIMEOUT"] == "5" and env["UV_HTTP_RETRIES"] == "1"
    assert "UV_INDEX_URL" not in env


def test_diff_of_a_non_utf8_lock_is_a_clean_error(run: Run, tmp_path: Path) -> None:
    good = team_lock(tmp_path / "a.lock")
    bad = tmp_path / "b.lock"
    bad.write_bytes(b"\xff" + good.read_bytes())
    code, _, err = run("diff", str(good), str(bad))
    clean_error(code, err, f"{bad}: not UTF-8", "offset 0, line 1")


def test_diff_of_a_committed_non_utf8_lock_is_a_clean_error(run: Run, tmp_path: Path) -> None:
    lock = team_lock(tmp_path / "mlstack.lock")
    good = lock.read_bytes()
    lock.write_bytes(b"# \xe9\n" + good)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for args in (["init", "-q"], ["add", "mlstack.lock"], ["commit", "-qm", "x"]):
        subprocess.run([*git, *args], cwd=tmp_path, check=True, capture_output=True)
    lock.write_bytes(good)
    code, _, err = run("diff")
    clean_error(code, err, "not UTF-8", "offset 2, line 1")
