"""Installing a lock entry into a new venv with uv: the entry's files made local first
(the bundle folder, else mlstack's download cache, where missing files are downloaded
after locate.py found them on the mirrors: mlstack_env/fetch/download.py), then a venv (a
copy of what ``uv venv`` wrote once: :func:`new_venv`) and ``uv pip sync`` of a
hash-pinned pylock of ``file://`` URLs (``--no-index``, no network), progress from uv's
own lines, the installed set checked against the lock, the env's ``pip`` and ROCm's
selector added.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from mlstack_env.core.errors import SourceError, StoreError
from mlstack_env.core.metadata import canonical_name
from mlstack_env.core.record import field, record
from mlstack_env.fetch.config import UserConfig
from mlstack_env.lockfile import SELECTOR, LockEntry, to_pylock
from mlstack_env.store.entries import Progress
from mlstack_env.store.pipshim import write_pip_shims

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

    from mlstack_env import uv


@record
class UvInstaller:
    """A venv as ``uv venv --relocatable`` writes it with the locked Python, then a
    hash-checked ``uv pip sync`` of exactly the locked wheels (the entry as PEP 751 ``pylock.toml``,
    mirror URLs swapped in for fetching only).

    ``wheels_dir`` is a bundle folder (``mlstack bundle``): each locked wheel found there
    by filename is fetched as a ``file://`` URL instead, still checked by uv against the
    locked sha256; ``offline`` then requires every locked wheel to be there.
    """

    mirrors: Mapping[str, str] = field(default_factory=dict)
    offline: bool = False
    downloads: Mapping[str, float] = field(default_factory=dict)  # [downloads] settings
    # Fetch the wheels again instead of trusting uv's cache. Installed files are hardlinks
    # into the cache, so a file edited in an env is edited in the cache too; a reinstall
    # must not link the same damaged file back.
    refresh: bool = False
    wheels_dir: Path | None = None

    def bundled(self, entry: LockEntry) -> dict[str, str]:
        """Locked sha256 -> ``file://`` URL of the same file in ``wheels_dir``."""
        if self.wheels_dir is None:
            return {}
        found = {}
        for package in entry.packages:
            for wheel in package.files:  # the rocm selector's sdist is bundled too
                path = self.wheels_dir / wheel.filename
                if path.is_file():
                    found[wheel.sha256] = path.absolute().as_uri()
        return found

    def check_bundle(self, entry: LockEntry) -> None:
        """``--offline --wheels DIR``: nothing can be fetched, so every locked wheel must
        be in DIR; say which are not before uv runs (uv would name only the first)."""
        if self.wheels_dir is None or not self.offline:
            return
        from mlstack_env.fetch.download import cached, want

        bundled = self.bundled(entry)
        missing = sorted({w.filename for p in entry.packages for w in p.files
                          if w.sha256 not in bundled and cached(want(w)) is None})
        if missing:
            raise SourceError(
                f"{len(missing)} locked wheel{'s are' if len(missing) != 1 else ' is'} not in "
                f"{self.wheels_dir}: {', '.join(missing)}",
                "on a machine with network access run `mlstack bundle --lock LOCK -o DIR` "
                "and copy DIR here, or drop --offline",
            )

    def local_files(self, entry: LockEntry, progress: Progress) -> dict[str, str]:
        """Locked sha256 -> ``file://`` URL of every locked file: the bundle folder's, else
        mlstack's download cache (keyed by sha256, so filled through any mirror). A file
        the cache lacks is found first (locate.py: by name on the mirror of its index,
        else its canonical URL) — all before any download, so a file no mirror lists stops
        the create early — then downloaded (download.py)."""
        from mlstack_env.fetch import download

        bundled = self.bundled(entry)
        files = [(p, w) for p in entry.packages for w in p.files if w.sha256 not in bundled]
        if not files:
            return bundled
        wants = {w.sha256: download.want(w) for _, w in files}
        missing = [(p, w) for p, w in files if download.cached(wants[w.sha256]) is None]
        if missing and not self.offline:
            from mlstack_env.fetch.locate import FileLocator

            config = UserConfig(mirrors=dict(self.mirrors))
            locator = FileLocator(config)
            with progress.step("finding the locked files on the mirrors") if self.mirrors \
                    else contextlib.nullcontext():
                for package, wheel in missing:
                    wants[wheel.sha256] = download.want(wheel, locator.url(package, wheel),
                                                        self.mirrors)
        reporter = getattr(progress, "downloads", None)
        got = download.fetch_all(
            list(wants.values()), settings=download.settings_from(self.downloads),
            progress=reporter() if callable(reporter) else None, offline=self.offline,
            verify=self.refresh)
        return {**{sha: path.absolute().as_uri() for sha, path in got.items()}, **bundled}

    def _refresh_args(self) -> list[str]:
        # uv keys its unpacked copy of a local wheel by the file's ctime, so --refresh
        # would link the same (damaged) unpacked files back; bypassing its cache unpacks
        # the checked wheel again for this install.
        return ["--no-cache"] if self.refresh else []

    def install(self, entry: LockEntry, venv: Path, workdir: Path, progress: Progress) -> str:
        from mlstack_env import uv  # the installer runs uv; a store hit needs neither

        self.check_bundle(entry)
        located = self.local_files(entry, progress)  # the network part: before uv runs
        interpreter = interpreter_for(entry.python)
        uv_version = uv.version()
        with progress.step(f"creating a Python {entry.python} venv"):
            new_venv(entry.python, interpreter, venv, uv_version)
        pylock = workdir / "pylock.toml"
        pylock.write_text(to_pylock(entry, located=located, require_urls=False),
                          encoding="utf-8")
        stages = _SyncStages(entry, progress)
        with stages:
            uv.run(
                [
                    "pip", "sync", "--python", str(venv / "bin" / "python"),
                    "--preview-features", "pylock", "--no-index",
                    *self._refresh_args(), str(pylock),
                ],
                what=f"installing {entry.key}",
                cwd=workdir,
                offline=True,  # every file is local: uv needs no network
                hint=lambda kind: _sync_hint(kind, self.wheels_dir),
                on_line=stages.line,
            )
        self._install_selector(entry, venv, located, progress)
        with progress.step("checking the installed packages against the lock"):
            check_installed(entry, venv)
        write_pip_shims(venv, entry.python, frozenset(p.name for p in entry.packages))
        return uv_version


    def _install_selector(self, entry: LockEntry, venv: Path, located: Mapping[str, str],
                          progress: Progress) -> None:
        """The rocm selector's ``rocm_sdk`` package, unpacked from its locked sdist, never
        built (mlstack_env/rocmwheels/rocmselector.py); nothing for an entry without one."""
        if entry.package(SELECTOR) is None:  # most entries: the module need not load
            return
        from mlstack_env.rocmwheels import rocmselector
        from mlstack_env.store.verify import site_packages

        package = rocmselector.selector_of(entry)
        site = site_packages(venv)
        if package is None or package.sdist is None or site is None:
            return
        with progress.step(f"unpacking rocm_sdk from {package.sdist.filename} (not built)"):
            data = rocmselector.fetch(package.sdist, located.get(package.sdist.sha256, ""),
                                      self.wheels_dir,
                                      offline=self.offline,
                                      config=UserConfig(mirrors=dict(self.mirrors)))
            rocmselector.install(entry, venv, site, data)


class _SyncStages:
    """``uv pip sync`` is one process that downloads, then links; its stderr says when each
    part ends ("Prepared 3 packages in 146ms", "Installed 3 packages in 20ms"). Each part
    is one progress step, closed when uv reports it done."""

    def __init__(self, entry: LockEntry, progress: Progress) -> None:
        self._progress = progress
        self._stack = contextlib.ExitStack()
        wheels = [w for p in entry.packages for w in p.wheels]
        # The files are local by now (downloaded, cached or bundled): uv unpacks them.
        self._fetch = (f"unpacking {len(wheels)} wheel{'s' if len(wheels) != 1 else ''} "
                       "(uv's cache serves the ones it holds)")
        count = sum(1 for p in entry.packages if p.wheels)  # uv links these; not the selector
        self._link = f"linking {count} package{'s' if count != 1 else ''} into the env"
        self._stage = ""

    def __enter__(self) -> _SyncStages:
        self._stack.__enter__()
        self._enter(self._fetch)
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self._stack.__exit__(*exc)

    def _enter(self, stage: str) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(self._progress.step(stage))
        self._stage = stage

    def line(self, text: str) -> None:
        if text.startswith("Prepared ") and self._stage == self._fetch:
            self._enter(self._link)
        elif text.startswith(("Installed ", "Audited ")):
            if self._stage == self._fetch:  # all cached: uv prepared nothing
                self._enter(self._link)
            self._stack.close()
            self._stage = ""


def check_installed(entry: LockEntry, venv: Path) -> None:
    """The installed set is exactly the locked one (names and versions; uv checked each
    wheel's sha256 as it fetched it, and `env verify` checks every file).

    Read first from the ``.dist-info`` directory names (``{name}-{version}.dist-info``,
    the name escaped, by the spec for recording installed projects), which costs a
    directory listing; only when those disagree with the lock is each ``METADATA`` read
    (``store/verify.py``, with the email parser and packaging: ~25 ms of imports)."""
    want = {canonical_name(p.name): p.version for p in entry.packages}
    if _agrees(_dist_infos(venv), want):
        return
    from mlstack_env.store.verify import installed, site_packages

    site = site_packages(venv)
    have: dict[str, str] = {d.name: d.version for d in installed(site)} if site else {}
    wrong = sorted(n for n in set(have) | set(want) if not _same(have.get(n), want.get(n)))
    if wrong:
        raise StoreError(
            f"uv installed a different set than the lock {entry.key}: {', '.join(wrong)}",
            "this is a bug in mlstack or uv; rerun with -v and report it",
        )


def _dist_infos(venv: Path) -> dict[str, str]:
    """Name -> version of each ``*.dist-info`` with a METADATA, from its directory name."""
    found: dict[str, str] = {}
    for site in sorted(venv.glob("lib/python3.*/site-packages"))[:1]:
        for d in site.glob("*.dist-info"):
            name, _, version = d.name[: -len(".dist-info")].partition("-")
            if (d / "METADATA").is_file():
                found[canonical_name(name)] = version
    return found


def _agrees(have: Mapping[str, str], want: Mapping[str, str]) -> bool:
    return have.keys() == want.keys() and all(have[n] == v for n, v in want.items())


def _same(a: str | None, b: str | None) -> bool:
    from packaging.version import InvalidVersion, Version

    if a is None or b is None:
        return a == b
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def new_venv(python: str, interpreter: Path, venv: Path, uv_version: str) -> None:
    """What ``uv venv --relocatable --python INTERPRETER VENV`` writes, copied from a
    template uv wrote once for this uv and this interpreter (``cache/venvs/``, removed
    by ``cache clean``).

    A relocatable venv holds no path of its own: its files are the same byte for byte
    wherever it is and whatever its name (a test compares a copy with uv's own), so the
    copy is what uv would have written, without a uv process on every store miss. The
    template is keyed by uv's version and the interpreter's real path, size and
    modification time (``pyvenv.cfg`` records its directory and version)."""
    try:
        template = _venv_template(python, interpreter, uv_version)
    except OSError:  # the interpreter cannot be read, or no template written: uv's own way
        _uv_venv(python, interpreter, venv)
        return
    _copy_tree(template, venv)


def _copy_tree(source: Path, target: Path) -> None:
    """``shutil.copytree(source, target, symlinks=True, copy_function=shutil.copy)`` for
    a venv template's few small files — links copied as links, files and folders with
    their permission bits — without importing ``shutil`` (and ``bz2``, ``lzma``)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        to = target / path.name
        if path.is_symlink():
            to.symlink_to(path.readlink())
        elif path.is_dir():
            _copy_tree(path, to)
        else:
            with path.open("rb") as f, to.open("xb") as out:
                out.write(f.read())
            to.chmod(path.stat().st_mode & 0o7777)
    target.chmod(source.stat().st_mode & 0o7777)


def _uv_venv(python: str, interpreter: Path, venv: Path) -> None:
    from mlstack_env import uv

    uv.run(["venv", "--relocatable", "--quiet", "--python", str(interpreter), str(venv)],
           what=f"creating a Python {python} venv", cwd=venv.parent)


def _venv_template(python: str, interpreter: Path, uv_version: str) -> Path:
    """The template venv for this uv and interpreter, made by uv if missing: in a
    temporary folder, renamed into place only once complete (a concurrent create that
    got there first wins; its template is the same)."""
    from mlstack_env.core import paths
    from mlstack_env.core.digest import sha256_hex

    st = interpreter.stat()
    stamp = f"{uv_version}|{interpreter}|{st.st_size}|{st.st_mtime_ns}"
    root = paths.venv_templates_dir()
    template = root / sha256_hex(stamp)[:16]
    if (template / "pyvenv.cfg").is_file():
        return template
    from mlstack_env.store.files import remove_tree, temporary_dir

    root.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(root, ".tmp-")
    try:
        _uv_venv(python, interpreter, tmp / "venv")
        if template.exists() and not (template / "pyvenv.cfg").is_file():
            remove_tree(template)  # damaged: a complete one appears at once, by a rename
        with contextlib.suppress(OSError):  # a concurrent create's is in place: the same
            (tmp / "venv").rename(template)
    finally:
        remove_tree(tmp)
    return template


def interpreter_for(version: str) -> Path:
    """The real interpreter for ``X.Y``, found once and remembered (``uv.find_python``)."""
    from mlstack_env import uv

    return uv.find_python(version)


def _sync_hint(kind: uv.UvFailure, wheels_dir: Path | None = None) -> str:
    from mlstack_env import uv

    if wheels_dir is not None:
        return (
            f"a hash mismatch means a file in {wheels_dir} differs from the lock: bundle it "
            f"again with `mlstack bundle --lock LOCK -o {wheels_dir}`"
        )
    if kind is uv.UvFailure.HASH:
        return ("a file in mlstack's download cache was changed after it was checked: run "
                "`mlstack cache clean`, then the same command again")
    return "rerun with -v to see uv's full output"
