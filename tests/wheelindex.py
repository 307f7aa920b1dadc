"""A loopback package index with tiny real wheels, for tests without network.

PYTEST_DONT_REWRITE: no asserts here; test modules import it before pytest loads it as a
plugin.

What it serves (one threaded ``http.server`` on 127.0.0.1, port 0, per test session):

* ``/pytorch/whl/rocm6.4``, ``/pytorch/whl/rocm6.3``, ``/pytorch/whl/cpu`` — PEP 503
  indexes standing in for ``https://download.pytorch.org/whl/…``: torch ``2.8.0+rocm6.4``,
  ``2.7.1+rocm6.3``, ``2.8.0+cpu`` with their ``torchvision`` (same local label, exact
  ``torch==`` pin) and ``pytorch-triton-rocm`` (3.4.0 for 2.8, 3.3.1 for 2.7). Files live
  beside the pages, as on the real host.
* ``/pypi/simple`` — a PyPI stand-in (HTML, and PEP 691 JSON with sizes when asked):
  numpy, filelock, a NEWER plain CUDA torch ``2.9.0`` that requires
  ``nvidia-cublas-cu12`` (served too), ``cuda-kernels`` (a non-torch package pulling
  ``nvidia-cublas-cu12``) and ``vllm`` 0.10.0 requiring ``torch==2.9.0`` (unsatisfiable
  next to a ROCm torch index). Files under ``/files/packages/…`` like files.pythonhosted.org.
* ``/tampered/…`` — the same tree, but every ``.whl`` served there has bytes that differ
  from the advertised sha256 (for the refused-wheel case).

Every page has ``#sha256=`` fragments and PEP 658 ``data-core-metadata`` + ``.metadata``
files. Links are relative, so pages do not depend on the port; canonical URLs map onto
the server by prefix (:attr:`WheelIndex.mirrors`), which is what ``[mirrors]`` in the user
config does. Wheels are built deterministically (fixed zip timestamps, sorted entries), so
their hashes, and locks made from them, are the same bytes on every run.

Use in a test module::

    from tests.wheelindex import WheelIndex, write_project

    pytest_plugins = ["tests.wheelindex"]  # the wheel_index / mirrored fixtures

    def test_x(mirrored: WheelIndex, tmp_path: Path, cli) -> None:
        write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
        result = cli("lock", cwd=tmp_path)
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import html
import io
import json
import os
import socket
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

PYTORCH = "https://download.pytorch.org/"
PYPI = "https://pypi.org/simple"
FILES = "https://files.pythonhosted.org/"
VLLM = "https://wheels.vllm.ai/"
RADEON = "https://repo.radeon.com/"

LINUX = "manylinux_2_28_x86_64"
CPYTHONS = ("cp311", "cp312", "cp313")
ZIP_DATE = (2020, 2, 2, 0, 0, 0)
TRITON_MARKER = 'platform_system == "Linux" and platform_machine == "x86_64"'


@dataclass(frozen=True)
class Dist:
    """One distribution version: name, version, requirements, and the tags it is built for."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    tags: tuple[str, ...] = ("py3-none-any",)
    requires_python: str | None = ">=3.10"
    files: tuple[tuple[str, str | bytes], ...] = ()  # extra (path, content) in the wheel
    sdist: bool = False  # also (or, with no tags, only) a source distribution
    extras: tuple[str, ...] = ()  # Provides-Extra
    console_scripts: tuple[str, ...] = ()  # "name = module:function" (entry_points.txt)
    executables: tuple[str, ...] = ()  # paths among `files` installed with mode 0755

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")


@dataclass(frozen=True)
class BuiltWheel:
    filename: str
    data: bytes
    metadata: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _cp_tags() -> tuple[str, ...]:
    return tuple(f"{cp}-{cp}-{LINUX}" for cp in CPYTHONS)


def _torch_files(version: str, hip: str | None, cuda: str | None) -> tuple[tuple[str, str], ...]:
    init = f'__version__ = "{version}"\nfrom torch import version as version\n'
    ver = f'__version__ = "{version}"\nhip = {hip!r}\ncuda = {cuda!r}\n'
    return (("torch/__init__.py", init), ("torch/version.py", ver))


def torch_dist(version: str, requires: tuple[str, ...], hip: str | None = None,
               cuda: str | None = None) -> Dist:
    return Dist("torch", version, ("filelock", *requires), _cp_tags(), ">=3.9",
                _torch_files(version, hip, cuda))


def _torch_family(torch: str, vision: str, triton_version: str, label: str, hip: str, *,
                  triton: str = "pytorch-triton-rocm", cps: tuple[str, ...] = CPYTHONS,
                  linux: str = LINUX) -> tuple[Dist, ...]:
    """torch, torchvision (exact ``torch==`` pin) and the Triton companion torch pins
    (``pytorch-triton-rocm``; ``triton-rocm`` from torch 2.10), all labelled ``+label``."""
    tags = tuple(f"{cp}-{cp}-{linux}" for cp in cps)
    return (
        Dist("torch", f"{torch}+{label}",
             ("filelock", f"{triton}=={triton_version}; {TRITON_MARKER}"), tags, ">=3.9",
             _torch_files(f"{torch}+{label}", hip, None)),
        Dist("torchvision", f"{vision}+{label}", ("numpy", f"torch=={torch}"), tags),
        Dist(triton, triton_version, (), tags,
             files=(("triton/__init__.py", f'__version__ = "{triton_version}"\n'),)),
    )


# The PyTorch indexes: which dists each serves.
PYTORCH_INDEXES: dict[str, tuple[Dist, ...]] = {
    "rocm6.4": (
        torch_dist("2.8.0+rocm6.4", (f"pytorch-triton-rocm==3.4.0; {TRITON_MARKER}",),
                   hip="6.4.43482"),
        Dist("torchvision", "0.23.0+rocm6.4", ("numpy", "torch==2.8.0"), _cp_tags()),
        Dist("pytorch-triton-rocm", "3.4.0", (),
             _cp_tags(), files=(("triton/__init__.py", '__version__ = "3.4.0"\n'),)),
    ),
    "rocm6.3": (
        torch_dist("2.7.1+rocm6.3", (f"pytorch-triton-rocm==3.3.1; {TRITON_MARKER}",),
                   hip="6.3.42131"),
        Dist("torchvision", "0.22.1+rocm6.3", ("numpy", "torch==2.7.1"), _cp_tags()),
        Dist("pytorch-triton-rocm", "3.3.1", (), _cp_tags(),
             files=(("triton/__init__.py", '__version__ = "3.3.1"\n'),)),
    ),
    # Two torch releases on one index, with different gfx lists (the gfx list is not in
    # wheel metadata; it is catalog knowledge: torch 2.5 lacks gfx1101, 2.6 carries it).
    "rocm6.1": (
        *_torch_family("2.5.1", "0.20.1", "3.1.0", "rocm6.1", "6.1.40093"),
        *_torch_family("2.6.0", "0.21.0", "3.2.0", "rocm6.1", "6.1.40093"),
    ),
    "rocm6.0": _torch_family("2.4.1", "0.19.1", "3.0.0", "rocm6.0", "6.0.32830",
                             cps=("cp311", "cp312")),
    "rocm6.2": _torch_family("2.5.1", "0.20.1", "3.1.0", "rocm6.2", "6.2.41133"),
    "rocm6.2.4": _torch_family("2.7.1", "0.22.1", "3.3.1", "rocm6.2.4", "6.2.41134"),
    "rocm7.0": _torch_family("2.10.0", "0.25.0", "3.6.0", "rocm7.0", "7.0.51831",
                             triton="triton-rocm"),
    "rocm7.1": _torch_family("2.10.0", "0.25.0", "3.6.0", "rocm7.1", "7.1.52802",
                             triton="triton-rocm"),
    "rocm7.2": _torch_family("2.11.0", "0.26.0", "3.7.0", "rocm7.2", "7.2.53211",
                             triton="triton-rocm"),
    "cpu": (
        torch_dist("2.8.0+cpu", ()),
        Dist("torchvision", "0.23.0+cpu", ("numpy", "torch==2.8.0"), _cp_tags()),
    ),
}

# vLLM's ROCm indexes, one per release and variant under https://wheels.vllm.ai/rocm/ —
# ``…/rocm/<version>/<variant>`` as vLLM's docs give it (gpu.rocm.inc.md): vllm built for
# cp312 only on glibc >= 2.35 (manylinux_2_35), labelled +<variant>, pinning the torch it was
# built with; the index carries that torch and its companions ("use the included PyTorch"),
# which differ from the PyTorch index's torch for the same ROCm. Keyed "<version>/<variant>":
# the catalog's default release per variant, and one older rocm700 release a profile pins.
VLLM_LINUX = "manylinux_2_35_x86_64"


def _vllm(version: str, variant: str, torch: str, family: tuple[Dist, ...]) -> tuple[Dist, ...]:
    return (Dist("vllm", f"{version}+{variant}", (f"torch=={torch}", "transformers>=4.56"),
                 (f"cp312-cp312-{VLLM_LINUX}",), ">=3.12,<3.13"), *family)


_VLLM_TORCH_70 = _torch_family("2.9.1", "0.24.1", "3.5.1", "rocm7.0", "7.0.51831",
                               cps=("cp312",))
_VLLM_TORCH_72 = _torch_family("2.10.0", "0.25.0", "3.6.0", "rocm7.2", "7.2.53211",
                               cps=("cp312",), triton="triton-rocm")
VLLM_INDEXES: dict[str, tuple[Dist, ...]] = {
    "0.18.0/rocm700": _vllm("0.18.0", "rocm700", "2.9.1", _VLLM_TORCH_70),
    "0.14.0/rocm700": _vllm("0.14.0", "rocm700", "2.9.1", _VLLM_TORCH_70),
    "0.28.0/rocm722": _vllm("0.28.0", "rocm722", "2.10.0", _VLLM_TORCH_72),
}

# AMD's flat folders https://repo.radeon.com/rocm/manylinux/rocm-rel-X.Y/ (find-links):
# onnxruntime_migraphx built against that release's MIGraphX, cp310/cp312 only (FACTS §4).
AMD_FOLDERS: dict[str, tuple[Dist, ...]] = {
    rel: (Dist("onnxruntime-migraphx", version, ("numpy", "packaging"),
               tuple(f"{cp}-{cp}-{LINUX}" for cp in ("cp310", "cp312"))),)
    for rel, version in (("6.0", "1.17.0"), ("6.1", "1.17.0"), ("6.2", "1.18.0"),
                         ("6.2.4", "1.19.0"), ("6.3", "1.19.0"), ("6.4", "1.21.0"),
                         ("7.0", "1.22.0"), ("7.1", "1.22.0"), ("7.2", "1.23.0"),
                         ("7.2.2", "1.23.0"))
}

PYPI_DISTS: tuple[Dist, ...] = (
    Dist("numpy", "2.3.2", (), requires_python=">=3.11"),
    Dist("filelock", "3.18.0", (), requires_python=">=3.9"),
    torch_dist("2.9.0", ("nvidia-cublas-cu12==12.8.4.1",), cuda="12.8"),
    Dist("torchvision", "0.24.0", ("numpy", "torch==2.9.0"), _cp_tags()),
    Dist("nvidia-cublas-cu12", "12.8.4.1", (), ("py3-none-manylinux_2_27_x86_64",)),
    Dist("cuda-kernels", "1.0.0", ("nvidia-cublas-cu12",)),
    # PyPI's vllm is a CUDA build: one cp38-abi3 wheel that installs on any Python >= 3.8
    # (the trap of vllm#44660), pinning PyPI's CUDA torch and pulling nvidia-* packages.
    Dist("vllm", "0.10.0", ("torch==2.9.0", "nvidia-cublas-cu12"),
         ("cp38-abi3-manylinux_2_28_x86_64",), ">=3.8"),
    # What the built-in profiles name beside torch (pure Python unless noted).
    Dist("packaging", "25.0", ()),
    Dist("transformers", "4.57.1", ("numpy", "packaging", "filelock")),
    Dist("accelerate", "1.10.1", ("numpy", "packaging", "torch>=2.0.0")),
    # bitsandbytes: ROCm binaries in its PyPI wheels from 0.49; 0.50.2's carry libraries for
    # ROCm 6.4, 7.0, 7.1, 7.2, 7.14 and 7.15 (6.0-6.3 load the 6.4 one). 0.48.1 has none.
    Dist("bitsandbytes", "0.48.1", ("numpy", "torch>=2.3,<3"),
         ("py3-none-manylinux_2_24_x86_64",), ">=3.9"),
    Dist("bitsandbytes", "0.50.2", ("numpy", "torch>=2.3,<3"),
         ("py3-none-manylinux_2_24_x86_64",), ">=3.10",
         files=tuple((f"bitsandbytes/libbitsandbytes_{lib}.so", b"\x7fELF")
                     for lib in ("rocm64", "rocm70", "rocm71", "rocm72", "rocm714",
                                 "rocm715"))),
    Dist("megatron-core", "0.14.0", ("numpy<2", "packaging", "torch"), _cp_tags()),
    Dist("numpy", "1.26.4", (), _cp_tags(), ">=3.9"),
    Dist("datasets", "4.1.1", ("numpy", "filelock", "packaging")),
    Dist("wandb", "0.22.0", ("packaging",), ("py3-none-manylinux_2_28_x86_64",)),
    Dist("mpi4py", "4.1.0", (), _cp_tags(), ">=3.8"),
    Dist("einops", "0.8.1", ()),
    Dist("ninja", "1.13.0", (), ("py3-none-manylinux_2_28_x86_64",)),
    Dist("psutil", "7.1.0", (), ("cp36-abi3-manylinux_2_28_x86_64",)),
    Dist("py-cpuinfo", "9.0.0", ()),
    # DeepSpeed on PyPI as it is: every release since 2020 is an sdist for Linux (its ops
    # build at install time; a few have Windows wheels), and the one Linux wheel is the dev
    # release 0.3.1.dev5 — which uv's "pre-release if necessary" takes with --only-binary.
    Dist("deepspeed", "0.3.1.dev5", ("torch", "numpy")),
    Dist("deepspeed", "0.16.5", ("torch", "numpy"), ("cp312-cp312-win_amd64",), sdist=True),
    Dist("deepspeed", "0.17.6", ("torch", "numpy", "packaging", "ninja", "psutil",
                                 "py-cpuinfo", "einops"), (), sdist=True),
    Dist("tqdm", "4.67.1", (), requires_python=">=3.7"),  # what `mlstack add` adds
)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def build_wheel(dist: Dist, tag: str) -> BuiltWheel:
    """A real, installable wheel, the same bytes every time."""
    dist_info = f"{dist.module}-{dist.version}.dist-info"
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {dist.name}",
        f"Version: {dist.version}",
        "Summary: test stand-in built by tests/wheelindex.py",
    ]
    if dist.requires_python:
        meta.append(f"Requires-Python: {dist.requires_python}")
    meta += [f"Provides-Extra: {e}" for e in dist.extras]
    meta += [f"Requires-Dist: {r}" for r in dist.requires]
    metadata = ("\n".join(meta) + "\n").encode()
    purelib = tag.endswith("-any")
    wheel_text = (
        "Wheel-Version: 1.0\nGenerator: mlstack-tests\n"
        f"Root-Is-Purelib: {'true' if purelib else 'false'}\nTag: {tag}\n"
    ).encode()
    files = dict(dist.files) or {f"{dist.module}/__init__.py": f'__version__ = "{dist.version}"\n'}
    contents: list[tuple[str, bytes]] = [
        (p, c.encode() if isinstance(c, str) else c) for p, c in sorted(files.items())
    ]
    contents += [(f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel_text)]
    if dist.console_scripts:
        entry_points = "[console_scripts]\n" + "".join(s + "\n" for s in dist.console_scripts)
        contents.append((f"{dist_info}/entry_points.txt", entry_points.encode()))
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in contents)
    record += f"{dist_info}/RECORD,,\n"
    contents.append((f"{dist_info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents:
            info = zipfile.ZipInfo(path, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if path in dist.executables else 0o644) << 16
            zf.writestr(info, data)
    filename = f"{dist.module}-{dist.version}-{tag}.whl"
    return BuiltWheel(filename, buf.getvalue(), metadata)


def _anchor(href: str, wheel: BuiltWheel, requires_python: str | None) -> str:
    meta_sha = hashlib.sha256(wheel.metadata).hexdigest()
    rp = f' data-requires-python="{html.escape(requires_python)}"' if requires_python else ""
    return (
        f'<a href="{href}#sha256={wheel.sha256}"{rp} data-core-metadata="sha256={meta_sha}" '
        f'data-dist-info-metadata="sha256={meta_sha}">{html.escape(wheel.filename)}</a><br/>'
    )


def _page(title: str, anchors: list[str]) -> str:
    body = "\n".join(anchors)
    return (
        "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" "
        f'content="1.0"><title>{html.escape(title)}</title></head>\n<body>\n'
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


def _wheels(dists: tuple[Dist, ...]) -> dict[str, list[tuple[Dist, BuiltWheel]]]:
    by_project: dict[str, list[tuple[Dist, BuiltWheel]]] = {}
    for dist in dists:
        for tag in dist.tags:
            by_project.setdefault(dist.name, []).append((dist, build_wheel(dist, tag)))
    return by_project


@dataclass(frozen=True)
class Sdist:
    """A source distribution listed on an index page (no wheel, no PEP 658 metadata)."""

    name: str
    version: str
    pkg_info: str  # the PKG-INFO text
    files: tuple[tuple[str, str], ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}.tar.gz"

    def build(self) -> bytes:
        """A real .tar.gz, the same bytes every time."""
        top = self.filename.removesuffix(".tar.gz")
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, text in sorted((("PKG-INFO", self.pkg_info), *self.files)):
                data = text.encode()
                info = tarfile.TarInfo(f"{top}/{path}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()


def write_index(base: Path, dists: tuple[Dist, ...], hashes: dict[str, str],
                sdists: tuple[Sdist, ...] = ()) -> None:
    """A PEP 503 index under ``base``: one page per project, files beside the pages."""
    projects = _wheels(dists)
    anchors: dict[str, list[str]] = {}
    for project, wheels in sorted(projects.items()):
        for dist, wheel in wheels:
            _write(base / wheel.filename, wheel.data)
            _write(base / (wheel.filename + ".metadata"), wheel.metadata)
            hashes[wheel.filename] = wheel.sha256
            anchors.setdefault(project, []).append(
                _anchor("../" + quote(wheel.filename), wheel, dist.requires_python))
    for sdist in sdists:
        data = sdist.build()
        _write(base / sdist.filename, data)
        sha = hashlib.sha256(data).hexdigest()
        hashes[sdist.filename] = sha
        anchors.setdefault(sdist.name, []).append(
            f'<a href="../{quote(sdist.filename)}#sha256={sha}">'
            f"{html.escape(sdist.filename)}</a><br/>")
    for project, links in sorted(anchors.items()):
        _write(base / project / "index.html", _page(f"Links for {project}", links))
    root_links = [f'<a href="{p}/">{p}</a><br/>' for p in sorted(anchors)]
    _write(base / "index.html", _page("Simple index", root_links))


def write_mirrors(path: Path, table: dict[str, str]) -> Path:
    """A user config at ``path`` whose ``[mirrors]`` is ``table``."""
    _write(path, "[mirrors]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in table.items()))
    return path


def _write_flat(base: Path, dists: tuple[Dist, ...], hashes: dict[str, str]) -> None:
    """A flat folder for find-links: one page listing every file, files beside it."""
    anchors = []
    for _, wheels in sorted(_wheels(dists).items()):
        for _dist, wheel in wheels:
            _write(base / wheel.filename, wheel.data)
            hashes[wheel.filename] = wheel.sha256
            # An Apache-style listing: hashes, no PEP 658 metadata.
            anchors.append(f'<a href="{quote(wheel.filename)}#sha256={wheel.sha256}">'
                           f"{html.escape(wheel.filename)}</a><br/>")
    _write(base / "index.html", _page("rocm-rel", anchors))


def build_sdist(dist: Dist) -> tuple[str, bytes]:
    """A minimal sdist of ``dist`` (``name-version.tar.gz`` with PKG-INFO)."""
    info = (f"Metadata-Version: 2.1\nName: {dist.name}\nVersion: {dist.version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in dist.requires))
    sdist = Sdist(dist.name, dist.version, info)
    return sdist.filename, sdist.build()


def build_tree(root: Path) -> dict[str, str]:
    """Write every page and file under ``root``; return {wheel filename: sha256}."""
    from tests import rocmwheels  # it builds on this module's Dist and write_index

    hashes: dict[str, str] = {}
    for index, dists in PYTORCH_INDEXES.items():
        write_index(root / "pytorch" / "whl" / index, dists, hashes)
    for folder, dists in VLLM_INDEXES.items():
        write_index(root / "vllm" / "rocm" / folder, dists, hashes)
    for rel, dists in AMD_FOLDERS.items():
        _write_flat(root / "radeon" / "rocm" / "manylinux" / f"rocm-rel-{rel}", dists, hashes)
    rocmwheels.build_indexes(root, hashes)

    hashes.update(write_pypi(root, PYPI_DISTS))
    return hashes


def write_pypi(root: Path, dists: tuple[Dist, ...]) -> dict[str, str]:
    """The PyPI stand-in's pages and files for ``dists``; {wheel filename: sha256}."""
    hashes: dict[str, str] = {}
    simple = root / "pypi" / "simple"
    from tests import rocmwheels  # PyPI's placeholders of ROCm's wheels are always there

    projects = _wheels((*dists, *rocmwheels.PYPI_PLACEHOLDERS))
    for dist in dists:
        projects.setdefault(dist.name, [])  # sdist-only projects have a page too
    for project, wheels in sorted(projects.items()):
        anchors = []
        files_json = []
        for dist, wheel in wheels:
            # files.pythonhosted.org/packages/<2>/<2>/<rest of a blake2b digest>/<file>
            digest = hashlib.blake2b(wheel.data, digest_size=32).hexdigest()
            rel = f"packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{wheel.filename}"
            _write(root / "files" / rel, wheel.data)
            _write(root / "files" / (rel + ".metadata"), wheel.metadata)
            hashes[wheel.filename] = wheel.sha256
            href = "../../../files/" + "/".join(quote(p) for p in rel.split("/"))
            anchors.append(_anchor(href, wheel, dist.requires_python))
            meta_sha = hashlib.sha256(wheel.metadata).hexdigest()
            files_json.append({
                "filename": wheel.filename,
                "url": href,
                "hashes": {"sha256": wheel.sha256},
                "requires-python": dist.requires_python,
                "core-metadata": {"sha256": meta_sha},
                "size": len(wheel.data),
            })
        for dist in (d for d in dists if d.name == project and d.sdist):
            filename, data = build_sdist(dist)
            rel = f"packages/sd/{hashlib.sha256(data).hexdigest()[:16]}/{filename}"
            _write(root / "files" / rel, data)
            hashes[filename] = hashlib.sha256(data).hexdigest()
            href = "../../../files/" + rel
            anchors.append(f'<a href="{href}#sha256={hashes[filename]}">{filename}</a><br/>')
            files_json.append({"filename": filename, "url": href,
                               "hashes": {"sha256": hashes[filename]},
                               "requires-python": dist.requires_python, "size": len(data)})
        _write(simple / project / "index.html", _page(f"Links for {project}", anchors))
        doc = {"meta": {"api-version": "1.1"}, "name": project, "files": files_json,
               "versions": sorted({d.version for d in PYPI_DISTS if d.name == project})}
        _write(simple / project / "index.json", json.dumps(doc, indent=1, sort_keys=True))
    root_links = [f'<a href="{p}/">{p}</a><br/>' for p in sorted(projects)]
    _write(simple / "index.html", _page("Simple index", root_links))
    return hashes


JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class _Handler(SimpleHTTPRequestHandler):
    """Static files, PEP 691 JSON on request, and the ``/tampered/`` view."""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        tampered = self.path.startswith("/tampered/")
        if tampered:
            self.path = self.path[len("/tampered"):]
        local = Path(self.translate_path(self.path))
        wants_json = JSON_TYPE in self.headers.get("Accept", "")
        if wants_json and (local / "index.json").is_file() and self.path.endswith("/"):
            self._send(local / "index.json", JSON_TYPE)
            return
        if tampered and local.is_file() and local.name.endswith(".whl"):
            data = bytearray(local.read_bytes())
            data[-30] ^= 0xFF  # inside the zip's end records: same size, other hash
            self._send_bytes(bytes(data), "application/octet-stream")
            return
        if local.is_file() and local.suffix in (".whl", ".gz"):
            self._send_file(local)
            return
        super().do_GET()

    def _send_file(self, path: Path) -> None:
        """A file, from the offset of a ``Range: bytes=N-`` header (206) or whole (200),
        at the server's :attr:`_Server.rate`; logged in :attr:`_Server.log`."""
        server: _Server = self.server  # type: ignore[assignment]
        size = path.stat().st_size
        asked = self.headers.get("Range")
        start = 0
        if asked and asked.startswith("bytes=") and asked.endswith("-"):
            start = int(asked[6:-1])
        if start >= size and asked:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            server.record(Served(self.path, asked, 416, 0))
            return
        self.send_response(206 if asked else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        if asked:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        sent = 0
        try:
            with path.open("rb") as f:
                f.seek(start)
                while data := f.read(server.piece()):
                    self.wfile.write(data)
                    sent += len(data)
                    server.pace(len(data))
        finally:
            server.record(Served(self.path, asked, 206 if asked else 200, sent))

    def _send(self, path: Path, ctype: str) -> None:
        self._send_bytes(path.read_bytes(), ctype)

    def _send_bytes(self, data: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass(frozen=True)
class Served:
    """One file response: its path, the Range header asked (or None), status, bytes sent
    (what reached the socket before the client went away)."""

    path: str
    range: str | None
    status: int
    sent: int


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5. uv opens tens of connections at once; past the
    # backlog the kernel drops their SYNs, and each dropped one waits a full second for its
    # retransmission (about a second of every larger resolve, for nothing a real index does).
    request_queue_size = 128
    rate: int | None = None  # bytes per second per file response (None: as fast as it goes)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.log: list[Served] = []
        self._log_lock = threading.Lock()

    def record(self, served: Served) -> None:
        with self._log_lock:
            self.log.append(served)

    def piece(self) -> int:
        return 1 << 16 if self.rate is None else max(1, min(1 << 16, self.rate // 20))

    def pace(self, nbytes: int) -> None:
        if self.rate is not None:
            import time

            time.sleep(nbytes / self.rate)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-file (uv stops reading a wheel whose bytes are wrong)
        # is no error of the index; its traceback would land in an in-process CLI's stderr.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class WheelIndex:
    """The running index. ``url`` is its base (``http://127.0.0.1:PORT``)."""

    root: Path
    url: str
    hashes: dict[str, str] = field(default_factory=dict)
    published: tuple[Dist, ...] = ()  # releases added by publish()
    server: _Server | None = None

    @property
    def log(self) -> list[Served]:
        """Every wheel and sdist response so far (paths, Range headers, bytes sent)."""
        return list(self.server.log) if self.server is not None else []

    def throttle(self, rate: int | None) -> None:
        """Serve files at ``rate`` bytes per second (None: full speed)."""
        if self.server is not None:
            self.server.rate = rate

    @property
    def mirrors(self) -> dict[str, str]:
        """Canonical prefix -> this server: the ``[mirrors]`` table that routes to it."""
        from tests.rocmwheels import AMD_HOSTS

        return {
            PYTORCH: f"{self.url}/pytorch/",
            PYPI: f"{self.url}/pypi/simple",
            FILES: f"{self.url}/files/",
            VLLM: f"{self.url}/vllm/",
            RADEON: f"{self.url}/radeon/",
            **{host: f"{self.url}/{path}/" for host, path in AMD_HOSTS.items()},
        }

    @property
    def tampered_mirrors(self) -> dict[str, str]:
        """Like :attr:`mirrors`, but every wheel fetched through it fails its hash."""
        return {k: v.replace(self.url, self.url + "/tampered", 1) for k, v in self.mirrors.items()}

    def write_config(self, path: Path | None = None, *, tampered: bool = False,
                     mirrors: dict[str, str] | None = None) -> Path:
        """Write a user config with ``[mirrors]`` (to ``$MLSTACK_CONFIG`` by default)."""
        path = path or Path(os.environ["MLSTACK_CONFIG"])
        table = mirrors if mirrors is not None else (
            self.tampered_mirrors if tampered else self.mirrors
        )
        return write_mirrors(path, table)

    def sha256(self, filename: str) -> str:
        return self.hashes[filename]

    def publish(self, *dists: Dist) -> None:
        """New releases appear on the PyPI stand-in (only on an index of one's own:
        :func:`own_index`, never the session's shared one)."""
        self.published = (*self.published, *dists)
        self.hashes.update(write_pypi(self.root, PYPI_DISTS + self.published))


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Sockets bound and never listening, held for the life of the process: a connection to
# their port is refused, and no other server of the suite (another worker's index, a
# real component) can take the port, as it could one freed after free_port().
_HELD_CLOSED: list[socket.socket] = []


def closed_port_url() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens (an unreachable index), and nothing
    will while the tests run."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD_CLOSED.append(s)
    return f"http://127.0.0.1:{s.getsockname()[1]}"


@contextlib.contextmanager
def serve(root: Path) -> Iterator[WheelIndex]:
    """Build the tree under ``root`` and serve it until the block ends."""
    hashes = build_tree(root)
    server = _Server(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="wheel-index", daemon=True)
    thread.start()
    try:
        yield WheelIndex(root, f"http://127.0.0.1:{server.server_address[1]}", hashes,
                         server=server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="session")
def wheel_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelIndex]:
    """The session's loopback index (no config written; see :func:`mirrored`)."""
    with serve(tmp_path_factory.mktemp("wheel-index")) as index:
        yield index


@pytest.fixture
def own_index(tmp_path_factory: pytest.TempPathFactory,
              warm_interpreters: None) -> Iterator[WheelIndex]:
    """An index of this test's own, mirrored in its config, for :meth:`WheelIndex.publish`."""
    with serve(tmp_path_factory.mktemp("own-index")) as index:
        index.write_config()
        yield index


@pytest.fixture
def mirrored(wheel_index: WheelIndex, warm_interpreters: None) -> WheelIndex:
    """The index, with this test's ``$MLSTACK_CONFIG`` mirroring canonical URLs onto it."""
    wheel_index.write_config()
    return wheel_index


def write_project(
    directory: Path,
    *,
    profiles: dict[str, list[str]] | None = None,
    targets: list[str] | None = None,
    python: str | None = "3.12",
    default_env: str | None = None,
    extra: str = "",
) -> Path:
    """Write ``directory/mlstack.toml``; ``profiles`` maps a name to its packages."""
    lines = []
    if default_env:
        lines.append(f"default-env = {json.dumps(default_env)}")
    if python:
        lines.append(f"python = {json.dumps(python)}")
    if targets is not None:
        lines.append(f"targets = {json.dumps(targets)}")
    for name, packages in (profiles or {}).items():
        lines += ["", f"[profiles.{name}]", f"packages = {json.dumps(packages)}"]
    text = "\n".join(lines) + "\n" + (("\n" + extra) if extra else "")
    path = directory / "mlstack.toml"
    _write(path, text)
    return path


DONE_WHEN_TARGETS = ["rocm6.4:gfx1100", "rocm6.3:gfx1101", "cpu"]
DONE_WHEN_PROFILES = {"ml": ["torch", "torchvision", "numpy"]}
