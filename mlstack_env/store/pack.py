"""``env pack`` / ``env unpack``: an env as one relocatable archive, for another path on
another node, without network (ROCM-FACTS §5b: stage the env to node-local NVMe with
``sbcast``, "NVMe > Lustre >> NFS").

An archive (``tar.zst`` when the ``zstandard`` module is there, else ``tar.gz``) holds::

    mlstack-pack.json   what it is: env name, Python X.Y it needs, the venv's old path,
                        the links that pointed at the packing node's interpreter, the
                        activation data (variables and site rules)
    lock.toml           the generation's lock (one entry): what `env verify` checks
    fingerprint.json    where it came from
    venv/…              the store entry: a relocatable uv venv, minus its links to the
                        packing node's interpreter

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

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from mlstack_env import __version__, envvars, paths
from mlstack_env.envname import validate_env_name
from mlstack_env.errors import MlstackError
from mlstack_env.lockfile import read_lock
from mlstack_env.store.entries import StoreEntry, now
from mlstack_env.store.files import remove_tree
from mlstack_env.store.fingerprint import FINGERPRINT_NAME, Fingerprint, read_fingerprint
from mlstack_env.store.generations import LOCK_NAME, Generation, NamedEnv, get_env

MANIFEST = "mlstack-pack.json"
FORMAT = 1
VENV = "venv"
SUFFIXES = {".tar.zst": "tar.zst", ".tzst": "tar.zst", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}
#: Variables that name places under the packing node's MLSTACK_HOME: set again at unpack.
_PLACES = (envvars.MIOPEN_USER_DB_PATH, envvars.MIOPEN_CUSTOM_CACHE_DIR,
           envvars.PYTORCH_TUNABLEOP_FILENAME)

PythonFinder = Callable[[str], Path]
_TRUSTED: dict[str, Any] = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}


@dataclass(frozen=True)
class Packed:
    name: str
    path: Path
    format: str
    size: int
    python: str
    files: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "format": self.format,
                "size": self.size, "python": self.python, "files": self.files}


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


def archive_format(path: Path) -> str:
    name = path.name
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise MlstackError(
        f"{path}: unknown archive type",
        hint="name it NAME.tar.zst (zstd) or NAME.tar.gz (gzip)",
    )


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise MlstackError(
            "this mlstack has no zstd support (the zstandard module is missing)",
            hint="install it (pip install zstandard) or use a .tar.gz name",
        ) from None
    return zstandard


@contextmanager
def _open_write(path: Path, fmt: str) -> Iterator[tarfile.TarFile]:
    with path.open("wb") as raw:
        if fmt == "tar.gz":
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                yield tar
            return
        cctx = _zstandard().ZstdCompressor(level=10, threads=-1)
        with cctx.stream_writer(raw, closefd=False) as zw, \
                tarfile.open(fileobj=zw, mode="w|") as tar:
            yield tar


@contextmanager
def _open_read(path: Path) -> Iterator[tarfile.TarFile]:
    fmt = archive_format(path)
    try:
        raw: IO[bytes] = path.open("rb")
    except OSError as e:
        raise MlstackError(f"cannot read {path}: {e.strerror}",
                           hint="check the path and its permissions") from None
    with raw:
        if fmt == "tar.gz":
            with tarfile.open(fileobj=raw, mode="r|gz") as tar:
                yield tar
            return
        dctx = _zstandard().ZstdDecompressor()
        with dctx.stream_reader(raw, closefd=False) as zr, \
                tarfile.open(fileobj=zr, mode="r|") as tar:
            yield tar


# --- pack --------------------------------------------------------------------------------


def _pyvenv(venv: Path) -> dict[str, str]:
    out = {}
    try:
        text = (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _outside_links(venv: Path) -> dict[str, str]:
    """Symlinks in the venv that leave it (``bin/python`` -> the host interpreter)."""
    links = {}
    root = venv.resolve()
    for dirpath, dirnames, filenames in os.walk(venv):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                continue
            target = str(path.readlink())
            resolved = (path.parent / target).resolve()
            if Path(target).is_absolute() or not resolved.is_relative_to(root):
                links[path.relative_to(venv).as_posix()] = target
    return links


def _member_filter(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def pack_env(name: str, output: Path) -> Packed:
    """Write env ``name``'s current generation to ``output`` (replaced only when complete)."""
    fmt = archive_format(output)
    if fmt == "tar.zst":
        _zstandard()
    env = get_env(name)
    gen = env.current()
    if gen is None:
        raise MlstackError(f"no env named {name!r}", hint="see `mlstack env list`")
    venv = gen.venv.resolve()
    cfg = _pyvenv(venv)
    if cfg.get("relocatable") != "true":
        raise MlstackError(
            f"env {name}: its venv {venv} is not relocatable",
            hint=f"re-create it with this mlstack (`mlstack env create --name {name} "
            "--reinstall`), which makes relocatable venvs",
        )
    entry = gen.entry()
    from mlstack_env.activation.data import load_env_json

    activation = load_env_json(gen.path)
    links = _outside_links(venv)
    manifest = {
        "format": FORMAT,
        "name": name,
        "python": entry.python,
        "python_version": cfg.get("version_info", ""),
        "interpreter_home": cfg.get("home", ""),
        "venv": str(venv),
        "links": links,
        "store_key": venv.name,
        "entry": entry.key,
        "variables": activation.variables,
        "site": activation.site,
        "mlstack_version": __version__,
    }
    output = output.absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    files = 0
    try:
        with _open_write(tmp, fmt) as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            tar.add(gen.path / LOCK_NAME, arcname=LOCK_NAME, filter=_member_filter)
            if (gen.path / FINGERPRINT_NAME).is_file():
                tar.add(gen.path / FINGERPRINT_NAME, arcname=FINGERPRINT_NAME,
                        filter=_member_filter)
            for path in sorted(_walk(venv)):
                rel = path.relative_to(venv).as_posix()
                if rel in links:
                    continue
                tar.add(path, arcname=f"{VENV}/{rel}", recursive=False, filter=_member_filter)
                files += 1
        tmp.chmod(0o666 & ~_umask())
        tmp.replace(output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Packed(name, output, fmt, output.stat().st_size, entry.python, files)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames:
            yield base / name
        for name in filenames:
            yield base / name


def _add_bytes(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


# --- unpack ------------------------------------------------------------------------------


def _safe(member: tarfile.TarInfo, dest: Path) -> tarfile.TarInfo | None:
    """The member if it stays inside ``dest`` (tarfile's "data" filter where there is one)."""
    if hasattr(tarfile, "data_filter"):
        try:
            return tarfile.data_filter(member, str(dest))
        except tarfile.FilterError as e:
            raise MlstackError(f"refusing archive member {member.name!r}: {e}",
                               hint="this archive was not made by `mlstack env pack`") from None
    target = (dest / member.name).resolve()
    if not target.is_relative_to(dest.resolve()) or member.isdev():
        raise MlstackError(f"refusing archive member {member.name!r}: it leaves {dest}",
                           hint="this archive was not made by `mlstack env pack`")
    if member.issym() or member.islnk():
        link = (target.parent / member.linkname).resolve() if member.issym() \
            else (dest / member.linkname).resolve()
        if not link.is_relative_to(dest.resolve()):
            raise MlstackError(f"refusing archive member {member.name!r}: its link leaves "
                               f"{dest}", hint="this archive was not made by `mlstack env pack`")
    return member


def _extract(archive: Path, dest: Path) -> dict[str, Any]:
    with _open_read(archive) as tar:
        try:
            for member in tar:
                safe = _safe(member, dest)
                if safe is not None:
                    # Checked above; tarfile must not filter again (3.14 defaults to "data").
                    tar.extract(safe, dest, set_attrs=True, **_TRUSTED)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise MlstackError(f"{archive}: damaged or not an env archive ({e})",
                               hint="copy it again, or pack it again with "
                               "`mlstack env pack NAME -o FILE`") from None
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MlstackError(f"{archive} is not an env archive (no {MANIFEST})",
                           hint="make one with `mlstack env pack NAME -o FILE`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MlstackError(f"{archive}: unknown archive format",
                           hint="unpack it with the mlstack version that packed it")
    return manifest


def _relink(venv: Path, manifest: dict[str, Any], interpreter: Path) -> None:
    """Point the venv at this node's interpreter: ``pyvenv.cfg`` and the dropped links."""
    old_home = str(manifest.get("interpreter_home", ""))
    cfg = venv / "pyvenv.cfg"
    lines = []
    for line in cfg.read_text(encoding="utf-8").splitlines():
        key = line.partition("=")[0].strip()
        lines.append(f"home = {interpreter.parent}" if key == "home" else line)
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for rel, target in dict(manifest.get("links", {})).items():
        link = Path(os.path.normpath(venv / str(rel)))
        if not link.is_relative_to(venv):
            continue
        link.unlink(missing_ok=True)
        # The packing node's interpreter becomes this node's; other links stay as they were.
        old = Path(str(target))
        is_python = old.parent == Path(old_home) or old.name.startswith("python")
        link.symlink_to(interpreter if is_python else old)


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
    raise MlstackError(
        f"an env named {env.name!r} exists already",
        hint=f"unpack under another name (--name NAME), or `mlstack env remove {env.name}` first",
    )


def unpack_env(archive: Path, directory: Path, *, name: str | None = None,
               find_python: PythonFinder | None = None) -> Unpacked:
    """Unpack ``archive`` into ``directory`` and register it as env ``name`` (see module)."""
    from mlstack_env.activation.scripts import write_scripts

    if find_python is None:
        from mlstack_env.store.entries import interpreter_for

        find_python = interpreter_for
    archive = archive.absolute()
    directory = directory.absolute()
    if not archive.is_file():
        raise MlstackError(f"{archive}: no such file",
                           hint="make one with `mlstack env pack NAME -o FILE`")
    archive_format(archive)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise MlstackError(f"{directory} exists and is not empty",
                           hint="unpack into a new directory (it is made for you)")
    if name is not None:
        validate_env_name(name)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.unpack-", dir=directory.parent))
    try:
        manifest = _extract(archive, tmp)
        env_name = validate_env_name(name or str(manifest.get("name", "")))
        python = str(manifest.get("python", ""))
        lock = read_lock(tmp / LOCK_NAME)
        if len(lock.entries) != 1:
            raise MlstackError(f"{archive}: its lock.toml should hold one entry",
                               hint="pack the env again with `mlstack env pack NAME -o FILE`")
        entry = lock.entries[0]
        env = NamedEnv(env_name)
        final_venv = directory / VENV
        packed_fp = read_fingerprint(tmp)
        lock_hash = entry.content_hash()
        _check_free(env, final_venv, lock_hash)
        try:
            interpreter = find_python(python)
        except MlstackError:
            raise MlstackError(
                f"env {env_name} needs Python {python} (packed with "
                f"{manifest.get('python_version') or python}), and this node has none",
                hint=f"install Python {python} here (a module, pyenv or the distro's "
                f"python{python}), or pack an env locked for a Python this node has",
            ) from None
        _relink(tmp / VENV, manifest, interpreter)
        shebangs = _fix_shebangs(tmp / VENV, str(manifest.get("venv", "")))
        variables = {k: str(v) for k, v in dict(manifest.get("variables", {})).items()
                     if k not in _PLACES}
        from mlstack_env.rocmsdk import entry_variables
        from mlstack_env.store.variables import cache_variables

        # ROCm inside the venv (ROCm as wheels) moved with it: its variables follow.
        variables |= entry_variables(entry, final_venv)
        variables = dict(sorted(
            (cache_variables(entry, env.path, paths.home(), variables) | variables).items()))
        site = manifest.get("site") or None
        write_scripts(tmp, name=env_name, venv=final_venv, variables=variables, site=site)
        if directory.exists():
            directory.rmdir()
        tmp.rename(directory)
    except BaseException:
        remove_tree(tmp)
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
        raise
    for key in (envvars.MIOPEN_USER_DB_PATH, envvars.MIOPEN_CUSTOM_CACHE_DIR):
        if key in variables:
            Path(variables[key]).mkdir(parents=True, exist_ok=True)
    return Unpacked(env_name, directory, python, interpreter, registered, gen.number, shebangs)


def _fingerprint(packed: Fingerprint | None, name: str, *, entry: Any,
                 variables: dict[str, str], archive: Path, site: Any) -> Fingerprint:
    from mlstack_env.store.fingerprint import MachineFacts

    base = packed or Fingerprint(
        name=name, generation=0, lock_hash=entry.content_hash(), store_key="",
        profile=entry.profile, target=str(entry.target), python=entry.python,
        platform=entry.platform, machine=MachineFacts((), None, None),
        mlstack_version=__version__, uv_version="", created="",
    )
    return replace(base, name=name, generation=0, created=now(), variables=variables,
                   source=f"unpacked from {archive}", wheels="",
                   site=str(site.get("name", "")) if isinstance(site, dict) else base.site)
