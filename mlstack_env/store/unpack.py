"""``env unpack``: an archive made by :mod:`mlstack_env.store.pack`, at another path.

``unpack FILE DIR`` extracts into a temporary directory beside DIR (refusing members that
would land outside it), points the venv at this node's interpreter for the same Python
X.Y (``pyvenv.cfg`` ``home`` and ``bin/python``; a clear error when the node has none),
rewrites console-script shebangs that named the old path (uv's ``--relocatable`` scripts
need none), writes ``DIR/bin/activate``, ``DIR/bin/activate.fish`` and
``DIR/mlstack-env.json`` for the new path, renames the directory to DIR, and registers DIR
as a generation of the named env under ``MLSTACK_HOME``, so ``mlstack env run|shell|
activate|info|verify NAME`` work on it. Registering the same DIR again (every node of a
job unpacking to the same node-local path, with one shared home) changes nothing.
"""

from __future__ import annotations

import errno
import json
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlstack_env import __version__
from mlstack_env.core import envvars, paths
from mlstack_env.core.envname import validate_env_name
from mlstack_env.core.errors import (
    BadValueError,
    StoreError,
    TargetError,
    UsageError,
)
from mlstack_env.lockfile import Lock, LockEntry, read_lock
from mlstack_env.store.entries import StoreEntry, now
from mlstack_env.store.files import recorded, remove_tree, temporary_dir
from mlstack_env.store.fingerprint import UNPACKED_FROM, Fingerprint, MachineFacts, read_fingerprint
from mlstack_env.store.generations import LOCK_NAME, Generation, NamedEnv
from mlstack_env.store.pack import (
    FORMAT,
    INTERPRETER_LINK,
    MANIFEST,
    PLACES,
    TRUSTED,
    VENV,
    ArchiveFormat,
    PythonFinder,
    _zstandard,
    archive_format,
    open_read,
)


@dataclass(frozen=True)
class Unpacked:
    name: str
    directory: Path
    python: str
    interpreter: Path
    registered: bool  # False: the same DIR was already this env's generation
    generation: int
    shebangs: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "directory": str(self.directory),
                "venv": str(self.directory / VENV), "python": self.python,
                "interpreter": str(self.interpreter), "registered": self.registered,
                "generation": self.generation, "shebangs_fixed": self.shebangs}



def _safe(member: tarfile.TarInfo, dest: Path) -> tarfile.TarInfo | None:
    """The member if it stays inside ``dest`` (tarfile's "data" filter where there is one)."""
    if hasattr(tarfile, "data_filter"):
        try:
            return tarfile.data_filter(member, str(dest))
        except tarfile.FilterError as e:
            raise StoreError(f"refusing archive member {member.name!r}: {e}",
                             hint="this archive was not made by `mlstack env pack`") from None
    target = (dest / member.name).resolve()
    if not target.is_relative_to(dest.resolve()) or member.isdev():
        raise StoreError(f"refusing archive member {member.name!r}: it leaves {dest}",
                         hint="this archive was not made by `mlstack env pack`")
    if member.issym() or member.islnk():
        link = (target.parent / member.linkname).resolve() if member.issym() \
            else (dest / member.linkname).resolve()
        if not link.is_relative_to(dest.resolve()):
            raise StoreError(f"refusing archive member {member.name!r}: its link leaves "
                             f"{dest}", hint="this archive was not made by `mlstack env pack`")
    return member


#: errnos that say where DIR lives cannot take the files, not that the archive is bad:
#: raised as they are, for the CLI's one filesystem error (path, reason, hint).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                           errno.EPERM, errno.EFBIG, errno.EMFILE, errno.ENFILE})


def _damaged(archive: Path, why: object) -> StoreError:
    return StoreError(f"{archive}: damaged or not an env archive ({why})",
                      hint="copy it again, or pack it again with `mlstack env pack NAME -o FILE`")


def _extract(archive: Path, dest: Path) -> dict[str, Any]:
    if archive_format(archive) is ArchiveFormat.SQUASHFS:
        from mlstack_env.store.squashfs import extract_image

        extract_image(archive, dest)
        return _manifest(archive, dest)
    import zlib

    damaged: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, zlib.error)
    if archive_format(archive) is ArchiveFormat.TAR_ZST:
        damaged += (_zstandard().ZstdError,)
    try:
        with open_read(archive) as tar:
            for member in tar:
                safe = _safe(member, dest)
                if safe is not None:
                    # Checked above; tarfile must not filter again (3.14 defaults to "data").
                    tar.extract(safe, dest, set_attrs=True, **TRUSTED)
    except OSError as e:
        if e.errno in _WRITE_ERRNOS:
            # A full disk says so (issue 21), not "damaged", naming where DIR goes.
            raise OSError(e.errno, e.strerror, str(dest.parent)) from None
        raise _damaged(archive, e) from None
    except damaged as e:
        raise _damaged(archive, e) from None
    return _manifest(archive, dest)


def _manifest(archive: Path, dest: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise StoreError(f"{archive} is not an env archive (no {MANIFEST})",
                         hint="make one with `mlstack env pack NAME -o FILE`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"{archive}: unknown archive format",
                         hint="unpack it with the mlstack version that packed it")
    return checked_manifest(archive, manifest)



def checked_manifest(archive: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """``mlstack-pack.json`` with every field checked: the archive is hostile data until
    shown otherwise (issue 21: a ``links`` map once wrote through a link outside DIR)."""
    from mlstack_env.manifest.sites import validate_site_rules

    def bad(field: str, why: str) -> StoreError:
        return StoreError(f"{archive}: {MANIFEST}: {field} {why}",
                          hint="this archive was not made by `mlstack env pack`; "
                          "pack the env again with `mlstack env pack NAME -o FILE`")

    out = dict(manifest)
    for key in ("name", "python", "python_version", "interpreter_home", "venv", "store_key",
                "entry", "mlstack_version"):
        value = manifest.get(key, "")
        if not isinstance(value, str) or any(c in value for c in "\0\n\r"):
            raise bad(key, "must be a one-line string")
    if not re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}", out.get("python", "")):
        raise bad("python", "must be a Python version X.Y")
    if not re.fullmatch(r"[A-Za-z0-9._-]{0,128}", out.get("store_key", "")) \
            or out.get("store_key") in (".", ".."):
        raise bad("store_key", "must be a store key")
    links = manifest.get("links", {})
    if not isinstance(links, dict):
        raise bad("links", "must be an object")
    for rel, target in links.items():
        if not isinstance(target, str) or not INTERPRETER_LINK.fullmatch(str(rel)):
            raise bad("links", f"may only name the venv's interpreter (bin/python*), "
                      f"not {str(rel)[:80]!r}")
    variables = manifest.get("variables", {})
    if not isinstance(variables, dict):
        raise bad("variables", "must be an object")
    for name, value in variables.items():
        try:
            envvars.check_variable(name, value)
        except BadValueError as e:
            raise bad("variables", f"are refused: {e.message}") from None
    site = manifest.get("site")
    if site is not None:
        try:
            out["site"] = validate_site_rules(site)
        except BadValueError as e:
            raise bad("site", f"is refused: {e.message}") from None
    return out


def _relink(venv: Path, manifest: dict[str, Any], interpreter: Path) -> None:
    """Point the venv at this node's interpreter: ``pyvenv.cfg`` and the dropped links."""
    cfg = venv / "pyvenv.cfg"
    lines = []
    for line in cfg.read_text(encoding="utf-8").splitlines():
        key = line.partition("=")[0].strip()
        lines.append(f"home = {interpreter.parent}" if key == "home" else line)
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for rel in dict(manifest.get("links", {})):
        # Names were checked (bin/python*); the place is checked again on disk: bin/ must
        # be a real directory of this venv, never a link that leads out of it.
        bindir = venv / "bin"
        if bindir.is_symlink() or not bindir.is_dir() \
                or bindir.resolve() != venv.resolve() / "bin":
            raise StoreError(f"refusing archive link {rel!r}: venv/bin is not a directory "
                             "inside the archive", hint="this archive was not made by "
                             "`mlstack env pack`")
        link = bindir / Path(str(rel)).name
        if link.exists() or link.is_symlink():
            raise StoreError(f"refusing archive link {rel!r}: the archive holds that file "
                             "already", hint="this archive was not made by `mlstack env pack`")
        # The packing node's interpreter becomes this node's (the old target is not used).
        link.symlink_to(interpreter)


def _fix_shebangs(venv: Path, old: str) -> int:
    """Scripts whose ``#!`` names the old venv path get the new one."""
    if not old:
        return 0
    fixed = 0
    prefix = f"#!{old}/".encode()
    bindir = venv / "bin"
    for path in sorted(bindir.iterdir()) if bindir.is_dir() else []:
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as f:
            head = f.read(len(prefix))
        if head != prefix:
            continue
        data = path.read_bytes()
        path.write_bytes(f"#!{venv}/".encode() + data[len(prefix):])
        fixed += 1
    return fixed


def _check_free(env: NamedEnv, venv: Path, lock_hash: str) -> Generation | None:
    """None when the name is free; the generation when it already is this DIR; else an error."""
    gen = env.current()
    if gen is None:
        return None
    fp = gen.fingerprint()
    if gen.venv.resolve() == venv.resolve() and fp is not None and fp.lock_hash == lock_hash:
        return gen
    raise StoreError(
        f"an env named {env.name!r} exists already",
        hint=f"unpack under another name (--name NAME), or `mlstack env remove {env.name}` first",
    )


def unpack_env(archive: Path, directory: Path, *, name: str | None = None,
               find_python: PythonFinder | None = None) -> Unpacked:
    """Unpack ``archive`` into ``directory`` and register it as env ``name`` (see module)."""
    from mlstack_env.activation.scripts import write_scripts

    archive, directory = _check_arguments(archive.absolute(), directory.absolute(), name)
    made = _first_missing(directory.parent)  # a refused unpack leaves none of them
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(directory.parent, f".{directory.name}.unpack-")
    with recorded(tmp):  # gc removes it if this command is killed
        try:
            manifest = _extract(archive, tmp)
            env_name = validate_env_name(name or str(manifest.get("name", "")))
            python = str(manifest.get("python", ""))
            lock = _packed_lock(archive, tmp)
            entry = lock.entries[0]
            env = NamedEnv(env_name)
            final_venv = directory / VENV
            packed_fp = read_fingerprint(tmp)
            lock_hash = entry.content_hash()
            _check_free(env, final_venv, lock_hash)
            interpreter = _interpreter(find_python, python, env_name, manifest)
            _relink(tmp / VENV, manifest, interpreter)
            shebangs = _fix_shebangs(tmp / VENV, str(manifest.get("venv", "")))
            variables = _unpacked_variables(manifest, entry, env, final_venv)
            site = manifest.get("site") or None
            write_scripts(tmp, name=env_name, venv=final_venv, variables=variables, site=site)
            if directory.exists():
                directory.rmdir()
            tmp.rename(directory)
        except BaseException:
            remove_tree(tmp)
            _unmake(made, directory.parent)
            raise

    def write(gen_dir: Path, n: str, venv: Path, v: Mapping[str, str]) -> None:
        write_scripts(gen_dir, name=n, venv=venv, variables=v, site=site)

    try:
        with env.lock():
            existing = _check_free(env, final_venv, lock_hash)
            if existing is not None:
                gen, registered = existing, False
            else:
                fp = _fingerprint(packed_fp, env_name, entry=entry, variables=variables,
                                  archive=archive, site=site)
                store_entry = StoreEntry(str(manifest.get("store_key", VENV)), final_venv)
                gen = env.add_generation(store_entry, lock, fp, variables, write)
                registered = True
    except BaseException:
        remove_tree(directory)
        _unmake(made, directory.parent)
        raise
    for key in (envvars.MIOPEN_USER_DB_PATH, envvars.MIOPEN_CUSTOM_CACHE_DIR):
        if key in variables:
            Path(variables[key]).mkdir(parents=True, exist_ok=True)
    return Unpacked(env_name, directory, python, interpreter, registered, gen.number, shebangs)


def _unpacked_variables(manifest: Mapping[str, Any], entry: LockEntry, env: NamedEnv,
                        final_venv: Path) -> dict[str, str]:
    """The packed variables but the places (this node's), with ROCm's and the caches'."""
    variables = {k: str(v) for k, v in dict(manifest.get("variables", {})).items()
                 if k not in PLACES}
    from mlstack_env.rocmwheels.rocmroot import entry_variables
    from mlstack_env.store.variables import cache_variables

    # ROCm inside the venv (ROCm as wheels) moved with it: its variables follow.
    variables |= entry_variables(entry, final_venv)
    return dict(sorted(
        (cache_variables(entry, env.path, paths.home(), variables) | variables).items()))


def _check_arguments(archive: Path, directory: Path, name: str | None) -> tuple[Path, Path]:
    """Refuse before anything is made: no archive, a directory in use, a bad name."""
    if not archive.is_file():
        raise StoreError(f"{archive}: no such file",
                         hint="make one with `mlstack env pack NAME -o FILE`")
    archive_format(archive)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UsageError(f"{directory} exists and is not empty",
                         hint="unpack into a new directory (it is made for you)")
    if name is not None:
        validate_env_name(name)
    return archive, directory


def _packed_lock(archive: Path, tmp: Path) -> Lock:
    """The unpacked lock.toml: one entry, the env's."""
    lock = read_lock(tmp / LOCK_NAME)
    if len(lock.entries) != 1:
        raise StoreError(f"{archive}: its lock.toml should hold one entry",
                         hint="pack the env again with `mlstack env pack NAME -o FILE`")
    return lock


def _interpreter(find_python: PythonFinder | None, python: str, env_name: str,
                 manifest: Mapping[str, Any]) -> Path:
    """This node's Python ``python`` for the env, or an error saying what to install."""
    if find_python is None:
        from mlstack_env.store.install import interpreter_for

        find_python = interpreter_for
    try:
        return find_python(python)
    except TargetError:
        raise TargetError(
            f"env {env_name} needs Python {python} (packed with "
            f"{manifest.get('python_version') or python}), and this node has none",
            hint=f"install Python {python} here (a module, pyenv or the distro's "
            f"python{python}), or pack an env locked for a Python this node has",
        ) from None


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None: it exists)."""
    missing = None
    while not path.exists() and path != path.parent:
        missing, path = path, path.parent
    return missing


def _unmake(top: Path | None, leaf: Path) -> None:
    """Remove the folders from ``leaf`` up to ``top`` that unpack made, while empty."""
    if top is None:
        return
    path = leaf
    while True:
        try:
            path.rmdir()
        except OSError:
            return
        if path == top:
            return
        path = path.parent


def _fingerprint(packed: Fingerprint | None, name: str, *, entry: Any,
                 variables: dict[str, str], archive: Path, site: Any) -> Fingerprint:
    base = packed or Fingerprint(
        name=name, generation=0, lock_hash=entry.content_hash(), store_key="",
        profile=entry.profile, target=str(entry.target), python=entry.python,
        platform=entry.platform, machine=MachineFacts((), None, None),
        mlstack_version=__version__, uv_version="", created="",
    )
    return replace(base, name=name, generation=0, created=now(), variables=variables,
                   source=f"{UNPACKED_FROM}{archive}", wheels="",
                   site=str(site.get("name", "")) if isinstance(site, dict) else base.site)
