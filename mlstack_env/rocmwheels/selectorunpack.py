"""Unpacking the ``rocm`` selector's ``rocm_sdk`` package from its sdist — the one home of
those rules, for ``env create`` and for container builds.

``env create`` calls :func:`package_files` and :func:`install` (through
:mod:`mlstack_env.rocmwheels.rocmselector`, which fetches the locked sdist). ``mlstack export``
copies this file beside the recipe, and the image's Python runs it (``python -I
selectorunpack.py URL SHA256 VERSION VENV SITE MIRRORS_VARIABLE METADATA_BASE64``), so it
imports nothing but the standard library.

The rules: only regular files under ``<top>/src/rocm_sdk/`` are taken; a link, a device,
an absolute path or ``..`` anywhere in the package refuses the whole sdist before anything
is written; ``setup.py`` is never run. The package gets a ``rocm-<version>.dist-info``
(METADATA as mlstack computes it for the entry, INSTALLER, entry_points.txt, RECORD with
every file's sha256) and a relocatable ``bin/rocm-sdk``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import sys
import tarfile
from pathlib import Path, PurePosixPath

PACKAGE = "rocm_sdk"
SELECTOR = "rocm"  # lockfile.SELECTOR; this file may not import mlstack
SCRIPT = "rocm-sdk"
# uv's relocatable console-script header (``uv venv --relocatable``): the store entry is
# built in a temporary folder and renamed, and env unpack moves it again.
LAUNCHER = ("#!/bin/sh\n"
            "'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/'python' \"$0\" \"$@\"\n"
            "' '''\n")


class Refused(ValueError):
    """The sdist is not one mlstack unpacks; the message says why."""


def package_files(data: bytes) -> dict[str, bytes]:
    """``rocm_sdk/<path>`` -> bytes for every file under ``<top>/src/rocm_sdk/`` of the
    sdist ``data``; anything else in the tarball is ignored. Raises :class:`Refused`."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if (member.name.startswith("/") or ".." in parts
                        or (len(parts) > 2 and parts[1:3] == ("src", PACKAGE)
                            and not (member.isfile() or member.isdir()))):
                    raise Refused(f"holds {member.name!r}, which mlstack does not unpack "
                                  "(a link, a device, or a path leaving the package)")
                if len(parts) < 4 or parts[1:3] != ("src", PACKAGE) or not member.isfile():
                    continue
                f = tar.extractfile(member)
                if f is not None:
                    out[PurePosixPath(PACKAGE, *parts[3:]).as_posix()] = f.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Refused(f"cannot be read: {exc}") from None
    if f"{PACKAGE}/__init__.py" not in out:
        raise Refused(f"holds no src/{PACKAGE}/__init__.py")
    return out


def _digest(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def install(files: dict[str, bytes], version: str, metadata: str, *, venv: Path, site: Path,
            umask: int) -> list[str]:
    """Write ``files`` (:func:`package_files`) into ``site`` (of ``venv``) with the
    dist-info and ``bin/rocm-sdk``; the files, relative to ``site``. Modes follow
    ``umask``, as an installer's do."""
    dist_info = f"{SELECTOR}-{version}.dist-info"
    script = LAUNCHER + (
        "import sys\n"
        f"from {PACKAGE}.__main__ import main\n"
        "if __name__ == \"__main__\":\n"
        "    sys.exit(main())\n"
    )
    files = {**files,
             f"{dist_info}/METADATA": metadata.encode(),
             f"{dist_info}/INSTALLER": b"mlstack\n",
             f"{dist_info}/entry_points.txt":
                 f"[console_scripts]\n{SCRIPT} = {PACKAGE}.__main__:main\n".encode()}
    bin_rel = os.path.relpath(venv / "bin" / SCRIPT, site)
    rows: list[tuple[str, str, str]] = []
    for rel, content in sorted(files.items()):
        dest = site / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)  # created per the umask, as uv's installs are
        rows.append((rel, _digest(content), str(len(content))))
    script_path = venv / "bin" / SCRIPT
    script_path.parent.mkdir(parents=True, exist_ok=True)
    script_path.write_text(script, encoding="utf-8")
    script_path.chmod(0o777 & ~umask)
    rows.append((bin_rel, _digest(script.encode()), str(len(script.encode()))))
    rows.append((f"{dist_info}/RECORD", "", ""))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (site / dist_info / "RECORD").write_text(out.getvalue(), encoding="utf-8")
    return [r[0] for r in rows]


def main(argv: list[str]) -> int:
    """In a container build: fetch the locked sdist (through the mirrors the build
    argument names, ``prefix=replacement`` words), check its sha256, unpack it."""
    import urllib.request

    url, sha256, version, venv, site, mirrors_variable, metadata_b64 = argv
    mirrors = dict(word.split("=", 1) for word in os.environ.get(mirrors_variable, "").split()
                   if "=" in word)
    prefix = next((p for p in sorted(mirrors, key=len, reverse=True) if url.startswith(p)),
                  None)
    fetched = mirrors[prefix] + url[len(prefix):] if prefix is not None else url
    with urllib.request.urlopen(fetched, timeout=60) as response:  # noqa: S310 - the lock's URL
        data = response.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        sys.stderr.write(f"error: the sha256 of {fetched} does not match the lock\n")
        return 1
    try:
        files = package_files(data)
    except Refused as exc:
        sys.stderr.write(f"error: the rocm selector {url} {exc}\n")
        return 1
    # The build's umask (mlstack's userfile.current_umask, which this file may not import,
    # reads it without setting it; a container build step is one thread).
    umask = os.umask(0o022)
    os.umask(umask)
    install(files, version, base64.b64decode(metadata_b64).decode(), venv=Path(venv),
            site=Path(site), umask=umask)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
