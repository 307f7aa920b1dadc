"""The store and generations below the CLI, with a hand-written installer (no uv)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from mlstack_env.catalog.sources import catalog
from mlstack_env.catalog.target import Target
from mlstack_env.core import paths
from mlstack_env.core.errors import MlstackError
from mlstack_env.core.locks import Busy, file_lock
from mlstack_env.fetch.urlpolicy import UrlPolicy
from mlstack_env.hardware import detect
from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel
from mlstack_env.store.create import Created, CreateEnvRequest, create_env
from mlstack_env.store.entries import Progress, Store, store_key
from mlstack_env.store.gc import collect
from mlstack_env.store.generations import NamedEnv, get_env, hold
from mlstack_env.store.removal import remove_env


class FakeInstaller:
    """Writes a venv-shaped directory and counts calls; fails when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self.venvs: list[Path] = []

    def install(self, entry: LockEntry, venv: Path, workdir: Path, progress: Progress) -> str:
        self.calls += 1
        self.venvs.append(venv)
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").write_text("#!/bin/sh\n")
        if self.fail:
            raise MlstackError("uv failed installing: boom", hint="fake")
        return "0.0.1"


def scripts(gen_dir: Path, name: str, venv: Path, variables: Mapping[str, str]) -> None:
    (gen_dir / "bin").mkdir()
    (gen_dir / "bin" / "activate").write_text(f"# {name} {venv}\n")


def entry(version: str = "1.0", profile: str = "p", env: dict[str, str] | None = None
          ) -> LockEntry:
    pkg = LockedPackage("foo", version, None,
                        (Wheel(f"https://x/foo-{version}-py3-none-any.whl", "a" * 64, 1),))
    return LockEntry(profile, Target.parse("rocm6.4:gfx1100"), "3.12", "x86_64-manylinux_2_28",
                     (pkg,), env=env or {})


@pytest.fixture
def make(fake_machine: Callable[[str], Path]) -> Callable[..., Created]:
    fake_machine("7900xtx")
    machine = detect()

    def _make(name: str, e: LockEntry, installer: FakeInstaller | None = None) -> Created:
        return create_env(CreateEnvRequest(name, e, machine, source="test",
                                           url_policy=UrlPolicy(catalog(), ("https://x/",))),
                          installer=installer or FakeInstaller(), write_scripts=scripts)

    return _make


def test_store_key_is_what_gets_installed() -> None:
    assert store_key(entry()) == store_key(entry(profile="other"))  # names are not content
    assert store_key(entry()) != store_key(entry("1.1"))
    assert store_key(entry()) != store_key(entry(env={"A": "1"}))
    assert len(store_key(entry())) == 32


def test_generations_number_up_and_current_swaps(make: Callable[..., Created]) -> None:
    make("demo", entry("1.0"))
    make("demo", entry("1.1"))
    env = get_env("demo")
    assert [g.number for g in env.generations()] == [1, 2]
    cur = env.current()
    assert cur is not None and cur.number == 2
    assert (env.path / "current").readlink() == Path("gen-2")
    assert cur.store_key == store_key(entry("1.1"))
    assert cur.venv.resolve() == (paths.store_dir() / store_key(entry("1.1"))).resolve()
    prev = env.previous()
    assert prev is not None and prev.number == 1
    fp = cur.fingerprint()
    assert fp is not None and fp.generation == 2 and fp.machine.gfx == ("gfx1100",)


def test_same_entry_again_is_up_to_date_and_builds_nothing(make: Callable[..., Created]) -> None:
    installer = FakeInstaller()
    make("demo", entry(), installer)
    again = make("demo", entry(), installer)
    other = make("other", entry(), installer)
    assert installer.calls == 1
    assert again.up_to_date and again.reused
    assert other.reused and not other.up_to_date
    assert [g.number for g in get_env("demo").generations()] == [1]


def test_failed_build_leaves_previous_generation_and_no_temporaries(
        make: Callable[..., Created]) -> None:
    make("demo", entry("1.0"))
    with pytest.raises(MlstackError, match="boom"):
        make("demo", entry("2.0"), FakeInstaller(fail=True))
    env = get_env("demo")
    cur = env.current()
    assert cur is not None and cur.number == 1
    assert Store().temporaries() == []
    assert not Store().has(store_key(entry("2.0")))


def test_failed_first_create_lists_nothing(make: Callable[..., Created]) -> None:
    with pytest.raises(MlstackError):
        make("demo", entry(), FakeInstaller(fail=True))
    with pytest.raises(MlstackError, match="no env named 'demo'"):
        get_env("demo")


def test_builds_for_one_python_reuse_one_path(make: Callable[..., Created]) -> None:
    """uv learns a venv's interpreter once per path: builds for one Python happen where
    the previous one happened, one path per concurrent build."""
    installer = FakeInstaller()
    make("a", entry("1.0"), installer)
    make("b", entry("2.0"), installer)
    assert installer.venvs[0] == installer.venvs[1]
    assert installer.venvs[0].parent == paths.store_dir()
    assert not installer.venvs[0].exists()  # renamed into the store
    with file_lock(paths.store_dir() / ".locks" / "build0py312.lock"):  # a build runs there
        make("c", entry("3.0"), installer)
    assert installer.venvs[2] not in installer.venvs[:2]
    assert Store().temporaries() == []


def test_a_killed_build_at_the_fixed_path_is_cleaned(make: Callable[..., Created]) -> None:
    installer = FakeInstaller()
    make("a", entry("1.0"), installer)
    left = installer.venvs[0]
    (left / "bin").mkdir(parents=True)  # what a killed build leaves
    make("b", entry("2.0"), installer)
    assert installer.venvs[1] == left and not left.exists()
    (left / "bin").mkdir(parents=True)
    collect(dry_run=False)
    assert not left.exists()


def test_stale_temporaries_are_cleaned_by_the_next_build(make: Callable[..., Created]) -> None:
    key = store_key(entry())
    stale = paths.store_dir() / f".tmp-{key}-killed"
    (stale / "venv").mkdir(parents=True)
    half_gen = paths.envs_dir() / "demo" / ".tmp-gen-1-killed"
    half_gen.mkdir(parents=True)
    make("demo", entry())
    assert not stale.exists() and not half_gen.exists()


def test_env_lock_is_exclusive(make: Callable[..., Created]) -> None:
    make("demo", entry())
    env = NamedEnv("demo")
    with env.lock(), pytest.raises(Busy), env.lock(wait=False):
        pass


def test_a_waiter_on_a_removed_env_locks_the_new_one(make: Callable[..., Created]) -> None:
    make("demo", entry())
    env = NamedEnv("demo")
    lock_file = env.path / ".lock"
    with env.lock():
        remove_env(env)
    # The old lock file went with the env; a new lock is taken on a fresh file.
    with file_lock(lock_file, wait=False):
        assert lock_file.exists()


def test_gc_keeps_current_and_previous_and_held(make: Callable[..., Created]) -> None:
    for v in ("1", "2", "3", "4"):
        make("demo", entry(v))
    env = get_env("demo")
    gen1 = env.generations()[0]
    fd = hold(gen1)  # a running `env run` on generation 1
    assert fd is not None
    try:
        dry = collect(dry_run=True)
        assert [g.number for g in dry.generations] == [2]
        assert [g.number for g in dry.held] == [1]
        assert [g.number for g in env.generations()] == [1, 2, 3, 4]  # dry run: nothing gone
        report = collect()
    finally:
        os.close(fd)
    assert [g.number for g in report.generations] == [2]
    assert [g.number for g in env.generations()] == [1, 3, 4]
    assert {e.key for e in report.entries} == {store_key(entry("2"))}
    assert sorted(e.key for e in Store().entries()) == sorted(
        store_key(entry(v)) for v in ("1", "3", "4"))
    # Released: generation 1 goes on the next gc, and its store entry with it.
    report = collect()
    assert [g.number for g in report.generations] == [1]
    assert {e.key for e in report.entries} == {store_key(entry("1"))}


def test_gc_frees_entries_of_removed_envs_but_not_shared_ones(
        make: Callable[..., Created]) -> None:
    make("a", entry("1"))
    make("b", entry("1"))
    make("c", entry("2"))
    with get_env("c").lock():
        remove_env(get_env("c"))
    with get_env("a").lock():
        remove_env(get_env("a"))
    report = collect()
    assert {e.key for e in report.entries} == {store_key(entry("2"))}
    assert [e.key for e in Store().entries()] == [store_key(entry("1"))]


def test_gc_skips_an_env_another_command_holds(make: Callable[..., Created]) -> None:
    for v in ("1", "2", "3"):
        make("demo", entry(v))
    with NamedEnv("demo").lock():
        report = collect()
    assert report.busy_envs == ["demo"]
    assert report.generations == [] and report.entries == []


def test_invalid_names_are_refused() -> None:
    for bad in ("../x", "a/b", "..", ".hidden", "x" * 65, "sp ace", ""):
        with pytest.raises(MlstackError, match="invalid env name"):
            NamedEnv(bad)


def _dist_info(site: Path, dirname: str, name: str, version: str) -> None:
    d = site / dirname
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_the_installed_set_is_checked_against_the_lock(tmp_path: Path) -> None:
    """Read from the dist-info names; a name that disagrees is read from METADATA (which
    may say the same version another way) before the install is refused."""
    from mlstack_env.store.install import check_installed

    site = tmp_path / "lib" / "python3.12" / "site-packages"
    _dist_info(site, "foo-1.0.dist-info", "Foo", "1.0")
    check_installed(entry("1.0"), tmp_path)
    check_installed(entry("1.0.0"), tmp_path)  # the same version, spelled another way
    with pytest.raises(MlstackError, match=r"different set than the lock .*: foo"):
        check_installed(entry("2.0"), tmp_path)
    _dist_info(site, "extra_pkg-3.dist-info", "extra.pkg", "3")
    with pytest.raises(MlstackError, match=r": extra-pkg$"):
        check_installed(entry("1.0"), tmp_path)


def _tree(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every path under ``root``: ("link", target), ("dir", b"") or ("file", content)."""
    out: dict[str, tuple[str, bytes]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", str(path.readlink()).encode())
        elif path.is_dir():
            out[rel] = ("dir", b"")
        else:
            out[rel] = (f"file {oct(path.stat().st_mode & 0o777)}", path.read_bytes())
    return out


def test_a_new_venv_is_what_uv_venv_writes(tmp_path: Path) -> None:
    """A store miss copies a template venv instead of running `uv venv`: the copy, under
    another name and path, is byte for byte what `uv venv --relocatable` writes there,
    and the template is made once per uv and interpreter."""
    from mlstack_env import uv
    from mlstack_env.store.install import new_venv

    python, interpreter = uv.running_python()
    version = uv.version()
    new_venv(python, interpreter, tmp_path / "a" / "venv", version)
    new_venv(python, interpreter, tmp_path / "b" / "other", version)
    uv.run(["venv", "--relocatable", "--quiet", "--python", str(interpreter),
            str(tmp_path / "by-uv")], what="creating a venv")
    want = _tree(tmp_path / "by-uv")
    assert "pyvenv.cfg" in want and "bin/activate" in want
    assert _tree(tmp_path / "a" / "venv") == want
    assert _tree(tmp_path / "b" / "other") == want
    templates = list(paths.venv_templates_dir().iterdir())
    assert len(templates) == 1  # made once, no temporaries left
    (templates[0] / "pyvenv.cfg").unlink()  # damaged: made again
    new_venv(python, interpreter, tmp_path / "c" / "venv", version)
    assert _tree(tmp_path / "c" / "venv") == want


def test_each_idle_hands_out_only_what_no_one_holds(tmp_path: Path) -> None:
    """cache prune and gc's reclaim of records scan with core/locks.each_idle: a path
    another open file holds locked, or one that cannot be opened, is skipped; each one
    handed out is locked (another lock attempt is refused) until the loop moves on."""
    from mlstack_env.core.locks import each_idle

    held, free, gone = tmp_path / "held", tmp_path / "free", tmp_path / "gone"
    held.write_text("h")
    free.write_text("f")
    seen = []
    with file_lock(held):
        for path, fd in each_idle([held, free, gone], os.O_RDONLY):
            assert os.read(fd, 1) == b"f"
            with pytest.raises(Busy), file_lock(path, wait=False):
                pass
            seen.append(path)
    assert seen == [free]
    with file_lock(free, wait=False):  # released once the loop moved on
        pass
    created = tmp_path / "made" / ".part"
    created.parent.mkdir()
    assert [p for p, _ in each_idle([created], os.O_RDWR | os.O_CREAT)] == [created]
    assert created.is_file()


def test_remove_tree_removes_what_it_is_given_and_never_through_a_link(tmp_path: Path) -> None:
    """A file, a link (never what it points to), a folder of files and links,
    a tree, a sealed entry, and a path already gone."""
    from mlstack_env.store.files import remove_tree, seal

    kept = tmp_path / "kept"
    (kept / "sub").mkdir(parents=True)
    (kept / "sub" / "f").write_text("x")
    link = tmp_path / "link"
    link.symlink_to(kept)
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "pylock.toml").write_text("x")
    (flat / "to-kept").symlink_to(kept)
    tree = tmp_path / "tree" / "a" / "b"
    tree.mkdir(parents=True)
    (tree / "f").write_text("x")
    sealed = tmp_path / "entry"
    (sealed / "bin").mkdir(parents=True)
    (sealed / "bin" / "python").write_text("x")
    site = sealed / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "m.py").write_text("x")
    seal(sealed)
    for path in (tmp_path / "kept" / "sub" / "f", link, flat, tmp_path / "tree", sealed,
                 tmp_path / "never-was"):
        remove_tree(path)
        assert not path.exists() and not path.is_symlink(), path
    assert (kept / "sub").is_dir()  # not removed through the links


def test_a_venv_for_a_missing_interpreter_is_uvs_error(tmp_path: Path) -> None:
    """No template for an interpreter that cannot be read: uv is asked as before, and its
    failure is a clean error (not a traceback from the template's stat)."""
    from mlstack_env import uv
    from mlstack_env.store.install import new_venv

    with pytest.raises(uv.UvError, match=r"^uv failed creating a Python 3\.99 venv: "):
        new_venv("3.99", tmp_path / "gone" / "python3.99", tmp_path / "venv", uv.version())
    assert not (tmp_path / "venv").exists()
    assert not paths.venv_templates_dir().exists()
