"""``env pack``: an env as one relocatable archive, for another path on another node,
without network (ROCM-FACTS §5b: stage the env to node-local NVMe with
``sbcast``, "NVMe > Lustre >> NFS").

An archive (``tar.zst`` when the ``zstandard`` module is there, else ``tar.gz``, or a
squashfs image made by ``mksquashfs``: :mod:`mlstack_env.store.squashfs`) holds::

    mlstack-pack.json   what it is: env name, Python X.Y it needs, the venv's old path,
                        the links that pointed at the packing node's interpreter, the
                        activation data (variables and site rules)
    lock.toml           the generation's lock (one entry): what `env verify` checks
    fingerprint.json    where it came from
    venv/…              the store entry: a relocatable uv venv, minus its links to the
                        packing node's interpreter

The other half, unpacking at another path: :mod:`mlstack_env.store.unpack`.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mlstack_env import __version__
from mlstack_env.core import envvars
from mlstack_env.core.errors import EnvNotFound, StoreError, UsageError
from mlstack_env.core.userfile import current_umask
from mlstack_env.store.files import recorded, remove_tree, temporary_dir, writable
from mlstack_env.store.fingerprint import FINGERPRINT_NAME
from mlstack_env.store.generations import LOCK_NAME, Generation, get_env

if TYPE_CHECKING:
    from mlstack_env.activation.data import ActivationData
    from mlstack_env.lockfile import LockEntry

MANIFEST = "mlstack-pack.json"
FORMAT = 1
VENV = "venv"
#: The links a packed uv venv may ask for: its interpreter (``bin/python``,
#: ``bin/python3``, ``bin/python3.12``), which becomes this node's at unpack.
INTERPRETER_LINK = re.compile(r"bin/python[0-9.]{0,8}")


class ArchiveFormat(StrEnum):
    """What ``env pack`` writes, by the output's suffix (its value is the JSON ``format``)."""

    TAR_ZST = "tar.zst"
    TAR_GZ = "tar.gz"
    SQUASHFS = "squashfs"


SUFFIXES = {".tar.zst": ArchiveFormat.TAR_ZST, ".tzst": ArchiveFormat.TAR_ZST,
            ".tar.gz": ArchiveFormat.TAR_GZ, ".tgz": ArchiveFormat.TAR_GZ,
            ".sqsh": ArchiveFormat.SQUASHFS, ".squashfs": ArchiveFormat.SQUASHFS}
#: Variables that name places under the packing node's MLSTACK_HOME: set again at unpack.
PLACES = (envvars.MIOPEN_USER_DB_PATH, envvars.MIOPEN_CUSTOM_CACHE_DIR,
           envvars.PYTORCH_TUNABLEOP_FILENAME)

PythonFinder = Callable[[str], Path]
TRUSTED: dict[str, Any] = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}


@dataclass(frozen=True)
class Packed:
    name: str
    path: Path
    format: ArchiveFormat
    size: int
    python: str
    files: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "format": self.format.value,
                "size": self.size, "python": self.python, "files": self.files}


def archive_format(path: Path) -> ArchiveFormat:
    name = path.name
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise UsageError(
        f"{path}: unknown archive type",
        hint="name it NAME.tar.zst (zstd), NAME.tar.gz (gzip) or NAME.sqsh (squashfs)",
    )


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise StoreError(
            "this mlstack has no zstd support (the zstandard module is missing)",
            hint="install it (pip install zstandard) or use a .tar.gz name",
        ) from None
    return zstandard


@contextmanager
def _open_write(path: Path, fmt: ArchiveFormat) -> Iterator[tarfile.TarFile]:
    with path.open("wb") as raw:
        if fmt is ArchiveFormat.TAR_GZ:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                yield tar
            return
        cctx = _zstandard().ZstdCompressor(level=10, threads=-1)
        with cctx.stream_writer(raw, closefd=False) as zw, \
                tarfile.open(fileobj=zw, mode="w|") as tar:
            yield tar


@contextmanager
def open_read(path: Path) -> Iterator[tarfile.TarFile]:
    fmt = archive_format(path)
    try:
        raw: IO[bytes] = path.open("rb")
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror}",
                         hint="check the path and its permissions") from None
    with raw:
        if fmt is ArchiveFormat.TAR_GZ:
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
    if member.isdir():  # a sealed store folder (store/files.seal): unpack writes into it
        member.mode = writable(member.mode)
    return member


def pack_env(name: str, output: Path) -> Packed:
    """Write env ``name``'s current generation to ``output`` (replaced only when complete)."""
    fmt = archive_format(output)
    if fmt is ArchiveFormat.TAR_ZST:
        _zstandard()
    if fmt is ArchiveFormat.SQUASHFS:
        from mlstack_env.store.squashfs import tool

        tool("mksquashfs", f"packing {output.name}")
    gen, venv, cfg = _relocatable(name)
    entry = gen.entry()
    from mlstack_env.activation.data import load_env_json

    activation = load_env_json(gen.path)
    links = _outside_links(venv)
    for rel, target in links.items():
        if not INTERPRETER_LINK.fullmatch(rel):
            # unpack relinks only the interpreter; anything else would dangle or leave DIR
            raise StoreError(f"env {name}: venv/{rel} links outside the venv (to {target})",
                             hint=f"remove that link, or re-create the env: `mlstack env "
                             f"create --name {name} --reinstall`")
    manifest = _manifest(name, entry, cfg, venv, links=links, activation=activation)
    output = output.absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    manifest_text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    members = [(gen.path / n, n) for n in (LOCK_NAME, FINGERPRINT_NAME)
               if (gen.path / n).is_file()]
    venv_members = [(path, f"{VENV}/{path.relative_to(venv).as_posix()}")
                    for path in sorted(_walk(venv))
                    if path.relative_to(venv).as_posix() not in links]
    fd, tmp_name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    with recorded(tmp):  # gc removes it if this command is killed
        try:
            if fmt is ArchiveFormat.SQUASHFS:
                _write_image(tmp, manifest_text, [*members, *venv_members])
            else:
                with _open_write(tmp, fmt) as tar:
                    _add_bytes(tar, MANIFEST, manifest_text)
                    for path, arcname in [*members, *venv_members]:
                        tar.add(path, arcname=arcname, recursive=False, filter=_member_filter)
            tmp.chmod(0o666 & ~current_umask())
            tmp.replace(output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return Packed(name, output, fmt, output.stat().st_size, entry.python, len(venv_members))


def _relocatable(name: str) -> tuple[Generation, Path, dict[str, str]]:
    """Env ``name``'s current generation, its venv and the venv's pyvenv.cfg: a venv unpack
    can move (relocatable), or an error."""
    gen = get_env(name).current()
    if gen is None:
        raise EnvNotFound(name)
    venv = gen.venv.resolve()
    cfg = _pyvenv(venv)
    if cfg.get("relocatable") != "true":
        raise StoreError(
            f"env {name}: its venv {venv} is not relocatable",
            hint=f"re-create it with this mlstack (`mlstack env create --name {name} "
            "--reinstall`), which makes relocatable venvs",
        )
    return gen, venv, cfg


def _manifest(name: str, entry: LockEntry, cfg: Mapping[str, str], venv: Path, *,
              links: Mapping[str, str], activation: ActivationData) -> dict[str, Any]:
    """What unpack needs to know of the packed env (the archive's manifest.json)."""
    return {
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


def _write_image(image: Path, manifest_text: str, members: list[tuple[Path, str]]) -> None:
    """The same members as a squashfs image: staged (hard links) beside it, then made."""
    from mlstack_env.store.squashfs import make_image, stage_file

    stage = temporary_dir(image.parent, f"{image.name}.stage-")
    try:
        with recorded(stage):  # gc removes it if this command is killed
            stage.chmod(0o777 & ~current_umask())  # the image's root, and so DIR at unpack
            (stage / MANIFEST).write_text(manifest_text, encoding="utf-8")
            for path, arcname in members:
                stage_file(path, stage / arcname)
            make_image(stage, image)
    finally:
        remove_tree(stage)


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
