"""ROCm inside an env whose entry holds it as wheels (ROCM-FACTS §4b): where it is, the
variables that point at it, and the post-install step that makes it (the lock-time rules:
:mod:`mlstack_env.rocmwheels.rocmsdk`).

* **Where ROCm is in an env** (:func:`rocm_root`): what ``rocm-sdk path --root`` answers
  there — the devel tree with rocm-sdk-devel, core's tree without (``path --root`` then
  fails by design; the ``rocm_sdk_core._cli`` trampolines run the tools from core).
* **The post-install step** (:func:`initialize`): ``rocm-sdk init`` (the selector's
  console script) expands the devel tarball, deletes it, appends RECORD rows and links the
  device files in; it has work only when the entry holds ``rocm-sdk-devel``. mlstack
  records what it changed and the root it answers, for ``env verify`` and the variables.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlstack_env.core.errors import StoreError
from mlstack_env.lockfile import LockEntry
from mlstack_env.rocmwheels.rocmsdk import CORE, DEVEL

# Written by :func:`initialize`, read by store/verify.py: the files `rocm-sdk init` created
# or changed (RECORD format), and those it deleted.
INIT_RECORD = "mlstack-rocm-init.RECORD"
INIT_REMOVED = "mlstack-rocm-init.removed"

# The ROCm root's directory in site-packages. TheRock names the platform packages
# "_" + dist name + a build nonce (rocm_sdk/_dist_info.py get_py_package_name; the nonce is
# empty in the builds seen), so what an env holds is asked of it at create (ROOT_FILE).
CORE_ROOT = "_rocm_sdk_core"
DEVEL_ROOT = "_rocm_sdk_devel"
# In a store entry: the ROCm root `rocm-sdk path --root` answered at create, relative to
# site-packages (the entry is built in a temporary folder and moved, so never absolute).
ROOT_FILE = "mlstack-rocm-root"


def holds_rocm(entry: LockEntry) -> bool:
    """Does the entry carry ROCm's user space itself (rocm-sdk-core)?"""
    return entry.package(CORE) is not None


def needs_init(entry: LockEntry) -> bool:
    """``rocm-sdk init`` has work only with the devel tree (TheRock ``rocm-sdk init``)."""
    return holds_rocm(entry) and entry.package(DEVEL) is not None


def rocm_root(site_packages: Path, entry: LockEntry) -> Path:
    """ROCm's root inside an env whose site-packages is ``site_packages``: what
    ``rocm-sdk path --root`` answers there — the devel tree when the entry holds
    rocm-sdk-devel (TheRock's docs: ``-DROCM_HOME=$(rocm-sdk path --root)``); without
    rocm-sdk-devel that command fails by design, and the tools run from core's tree (the
    ``rocm_sdk_core._cli`` trampolines fall back to it), so that is the root then.

    The answer recorded at create (:data:`ROOT_FILE`) wins; before create (or in an image
    mlstack did not build) it is the name TheRock's builds use."""
    recorded = site_packages.parent.parent.parent / ROOT_FILE
    try:
        name = recorded.read_text(encoding="utf-8").strip()
    except OSError:
        name = DEVEL_ROOT if entry.package(DEVEL) is not None else CORE_ROOT
    return site_packages / name


def root_in(venv: Path, entry: LockEntry) -> Path:
    """ROCm's root in ``venv`` holding ``entry`` (:func:`rocm_root`), built or not yet."""
    return rocm_root(venv / "lib" / f"python{entry.python}" / "site-packages", entry)


def env_variables(root: Path) -> dict[str, str]:
    """``ROCM_PATH`` and what PyTorch also looks for (``ROCM_HOME``, ``HIP_PATH``: FACTS §6),
    all at the ROCm inside the env."""
    return {"ROCM_PATH": str(root), "ROCM_HOME": str(root), "HIP_PATH": str(root)}


def entry_variables(entry: LockEntry, venv: Path) -> dict[str, str]:
    """The ROCm variables of ``entry`` installed at ``venv`` (a store entry, or a path inside
    an image): none when the entry holds no ROCm, or when its profile sets ``ROCM_PATH``
    itself (the way to keep a system ROCm)."""
    if not holds_rocm(entry) or "ROCM_PATH" in entry.env:
        return {}
    return env_variables(root_in(venv, entry))


def version_at(root: Path) -> str | None:
    """The rocm-sdk-core version whose ROCm root (``site-packages/_rocm_sdk_core`` or
    ``_rocm_sdk_devel``) this is, from the dist-info beside it; None for any other
    directory."""
    if not root.name.startswith((CORE_ROOT, DEVEL_ROOT)) or not root.is_dir():
        return None
    for dist_info in sorted(root.parent.glob("rocm_sdk_core-*.dist-info")):
        return dist_info.name.removeprefix("rocm_sdk_core-").removesuffix(".dist-info")
    return None


# --- the post-install step, inside a store entry before it is published -----------------

def record_digest(path: Path) -> str:
    """A file's digest as a wheel RECORD writes it (urlsafe base64 sha256, unpadded)."""
    import base64
    import hashlib  # OpenSSL's: loaded only when a file is hashed, not on a store hit

    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def _site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    return found[0] if found else None


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """rel path -> (inode, size) of every regular file under ``root``."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (st.st_ino, st.st_size)
    return out


def initialize(entry: LockEntry, venv: Path) -> int:
    """Run ``rocm-sdk init`` in a store entry being built, record what it changed, and ask
    the env for its ROCm root.

    TheRock's init (``rocm_sdk/_devel.py``) expands ``rocm_sdk_devel/_devel.tar[.xz]`` into
    ``_rocm_sdk_devel/``, appends a row without hash for each new file to rocm-sdk-devel's
    RECORD, DELETES the tarball, and hard-links the installed device wheels' files into the
    tree (rows appended to each device wheel's RECORD). So ``env verify`` can check the
    entry afterwards, mlstack writes beside the venv:

    * ``mlstack-rocm-init.RECORD``: every file init created or changed (the expanded tree,
      the rewritten RECORDs), RECORD format with sha256, relative to site-packages;
    * ``mlstack-rocm-init.removed``: every file init deleted (the tarball), one a line;
      verify expects those absent although their wheel's RECORD still lists them;
    * :data:`ROOT_FILE`: ``rocm-sdk path --root``'s answer, relative to site-packages.

    Returns how many files init created or changed (0 when there is nothing to initialize;
    an entry locked before the selector was pinned has no ``rocm-sdk`` either).
    """
    tool = venv / "bin" / "rocm-sdk"
    site = _site_packages(venv)
    if not needs_init(entry) or site is None or not tool.is_file():
        return 0
    before = _files(site)
    _run_tool(entry, tool, venv, "init", "--quiet")
    # `path --root` goes through the same expansion and device linking: asked before the
    # files are taken stock of, whatever it touched is recorded too.
    answer = Path(_run_tool(entry, tool, venv, "path", "--root").strip())
    after = _files(site)
    made = sorted(rel for rel, ident in after.items() if before.get(rel) != ident)
    lines = [f"{rel},sha256={record_digest(site / rel)},{after[rel][1]}\n" for rel in made]
    (venv / INIT_RECORD).write_text("".join(lines), encoding="utf-8")
    removed = sorted(set(before) - set(after))
    (venv / INIT_REMOVED).write_text("".join(f"{rel}\n" for rel in removed), encoding="utf-8")
    try:
        relative = answer.resolve().relative_to(site.resolve())
    except ValueError:
        raise StoreError(
            f"`rocm-sdk path --root` in the new store entry for {entry.key} answered "
            f"{answer}, outside the env's site-packages",
            "nothing was published; report it with the output of `rocm-sdk path --root` "
            "from that env",
        ) from None
    (venv / ROOT_FILE).write_text(f"{relative.as_posix()}\n", encoding="utf-8")
    return len(made)


def _run_tool(entry: LockEntry, tool: Path, venv: Path, *args: str) -> str:
    """``rocm-sdk ARGS`` in a store entry being built; its stdout, or an error."""
    import subprocess

    # No inherited ROCm variables: rocm-sdk must see the env's ROCm, not the host's.
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("ROCM_", "HIP_", "HSA_", "PYTHON"))}
    proc = subprocess.run([str(tool), *args], capture_output=True, text=True,
                          env=environ, cwd=venv, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise StoreError(
            f"`rocm-sdk {' '.join(args)}` failed in the new store entry for {entry.key}: "
            f"{last}",
            "nothing was published; run the create again with -v, or report it with the "
            f"output of `rocm-sdk {' '.join(args)}` from that env",
        )
    return proc.stdout
