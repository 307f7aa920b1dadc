"""``env pack -o FILE.sqsh`` / ``env unpack FILE.sqsh``: the archive as a squashfs image,
made and read by squashfs-tools (``mksquashfs``/``unsquashfs``), same layout as the tar
archives (:mod:`mlstack_env.store.pack`). LUMI's recipe (ROCM-FACTS §5b):
``mksquashfs … -processors 1 -no-xattrs``.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

from mlstack_env.core.errors import StoreError
from mlstack_env.store.files import writable

_HINT = "install squashfs-tools (apt-get install squashfs-tools, dnf install squashfs-tools)"


def tool(name: str, why: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StoreError(f"{why} needs {name}, and it is not on PATH",
                         hint=f"{_HINT}, or use a .tar.zst name")
    return found


def _run(cmd: list[str], what: str, writes: Path | None = None) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0 and writes is not None \
            and os.strerror(errno.ENOSPC) in r.stderr + r.stdout:
        # A full disk is said as one (the CLI's filesystem error), not as a tool failure.
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(writes))
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise StoreError(f"{what} failed (exit {r.returncode}): {last[0]}",
                         hint=f"run `{' '.join(cmd)}` to see all of its output")


def stage_file(src: Path, dest: Path) -> None:
    """``dest`` gets ``src``'s content: a hard link when the filesystem allows, else a copy
    (a real env is gigabytes; the staging tree is thrown away once the image is made)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        dest.symlink_to(src.readlink())
    elif src.is_dir():
        dest.mkdir(exist_ok=True)
        shutil.copymode(src, dest)
        dest.chmod(writable(dest.stat().st_mode))  # a sealed store folder: staged into
    else:
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)


def make_image(tree: Path, image: Path) -> None:
    """``tree``'s content as the root of squashfs ``image`` (replaced), owned by root."""
    exe = tool("mksquashfs", f"packing {image.name}")
    _run([exe, str(tree), str(image), "-noappend", "-all-root", "-no-xattrs",
          "-processors", "1", "-no-progress"], "mksquashfs")


def extract_image(image: Path, dest: Path) -> None:
    """Unpack squashfs ``image`` into the existing empty ``dest``; refuse devices and links
    that leave it (an image not made by ``env pack``)."""
    exe = tool("unsquashfs", f"unpacking {image.name}")
    _run([exe, "-f", "-no-xattrs", "-no-progress", "-d", str(dest), str(image)],
         "unsquashfs", writes=dest)
    root = dest.resolve()
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = path.relative_to(dest)
            if path.is_symlink():
                target = (path.parent / path.readlink()).resolve()
                if not target.is_relative_to(root):
                    raise StoreError(f"refusing image member {rel}: its link leaves {dest}",
                                     hint="this image was not made by `mlstack env pack`")
            elif not (path.is_dir() or path.is_file()):
                raise StoreError(f"refusing image member {rel}: not a file or directory",
                                 hint="this image was not made by `mlstack env pack`")
