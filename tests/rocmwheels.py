"""ROCm as wheels (ROCM-FACTS §4b) for the loopback index: AMD's multi-arch release
indexes with tiny stand-ins, and the placeholders PyPI holds under the same names.

PYTEST_DONT_REWRITE: no asserts here (imported by tests/wheelindex.py).

What is served (beside tests/wheelindex.py's tree, same server; canonical URLs map onto it
through :data:`AMD_HOSTS` in ``WheelIndex.mirrors``):

* ``https://repo.amd.com/rocm/whl-multi-arch/`` (ROCm 7.14) and
  ``https://stable.repo.amd.com/rocm/whl-next/`` (ROCm 10.0): PEP 503 pages, ``#sha256=``
  fragments, PEP 658 ``.metadata`` files; files beside the pages.
* ``https://download.pytorch.org/whl/test/rocm7.14``, PyTorch's mirror
  (pytorch/test-infra#8662): AMD's ``rocm`` and ``rocm-sdk-*`` files (every device wheel of
  the release) and PyTorch's own torch (:func:`pytorch_mirror_dists`).
* On the PyPI stand-in: the placeholders ``rocm-sdk-device-gfx1100``,
  ``amd-torch-device-gfx1100``, ``amd-torchvision-device-gfx1100`` 0.0.1.dev0 and the old
  ``rocm``/``rocm-sdk-core`` 0.1.0 (ROCM-FACTS §4b "Traps").

How the release index is shaped, and where that comes from (ROCm/TheRock, read for this):

* ``rocm`` is the *selector*, published as an **sdist only**: ``templates/rocm/setup.py``
  computes ``install_requires`` at build time from the GPU of the building machine
  (``_dist_info.determine_target_family``: ``ROCM_SDK_TARGET_FAMILY``, else
  ``offload-arch``), with extras ``libraries``, ``devel`` and, in multi-arch builds, one
  ``device-<gfx>`` per target, each ``<dist>==<version>``. Here: ``rocm-7.14.0.tar.gz``
  with those extras in its PKG-INFO; a wheels-only resolver cannot use it.
* ``rocm-sdk-core`` (compiler, HIP runtime, tools): the files live in the platform package
  ``_rocm_sdk_core/`` in site-packages (``bin/hipcc``, ``bin/rocminfo``, ``bin/amd-smi``,
  ``share/therock/dist_info.json``); the venv's ``bin/`` gets console-script trampolines
  (``templates/rocm-sdk-core/setup.py`` entry points ``hipcc``, ``amd-smi``, ``rocminfo``,
  ``rocm-smi``, ``rocm_agent_enumerator`` … → ``rocm_sdk_core._cli``, which execs
  ``<root>/bin/<tool>``, the root being the devel tree when rocm-sdk-devel is installed and
  core's otherwise: see ``_CLI``). ``rocm-sdk-libraries`` (host code,
  ``_rocm_sdk_libraries``), ``rocm-sdk-device-<gfx>`` (per-GPU kernels overlaid into
  ``_rocm_sdk_libraries/``, with a ``.devel_links/<gfx>.json`` manifest) and
  ``rocm-sdk-devel`` (the full tree packed in ``_devel.tar``, expanded by ``rocm-sdk
  init``: see ``_SDK_MAIN``) are wheels at the same version; the whl-next package list is
  ``build_tools/packaging/python/rocm_whl_next_ownership.yaml``.
* The ``rocm-sdk`` CLI (``path|test|version|targets|init``) and the ``rocm_sdk`` package
  torch imports ship only in the selector sdist (``src/rocm_sdk/__init__.py`` with
  ``initialize_process``, ``__main__.py``, a pre-generated ``_dist_info.py``; setup.py's
  entry point ``rocm-sdk = rocm_sdk.__main__:main``). The stand-in sdist has that layout,
  and its setup.py refuses to run: mlstack unpacks ``src/rocm_sdk`` (rocmselector.py), never
  builds it. ``rocm-sdk-core`` carries no ``rocm-sdk``.
* torch ``2.14.0+rocm7.14`` requires ``rocm[libraries]==7.14.0`` (TheRock
  ``python_packaging.md``: ``PYTORCH_EXTRA_INSTALL_REQUIREMENTS="rocm[libraries]==…"``) and
  provides ``device-<gfx>`` extras pulling ``amd-torch-device-<gfx>`` at torch's exact
  version (seen as ``amd-torch-device-gfx1103==2.14.0+rocm10.1.0a20260822`` beside that torch
  in install notes); ``device-all`` pulls every one. torchvision is split the same way
  (``amd-torchvision-device-<gfx>``); each kernel wheel requires ``rocm-sdk-device-<gfx>``
  at the ROCm version (TheRock
  ``.github/workflows/multi_arch_build_portable_linux_pytorch_wheels.yml``:
  ``split_python_wheels --device-package-prefix amd-torch-device`` / ``amd-torchvision-device``,
  ``--device-requires-dist "rocm-sdk-device-@GFXARCH@ == <rocm>"``). Its Triton
  is ``triton`` (whl-next ownership list). Its ``torch/_rocm_init.py`` does ``import
  rocm_sdk; rocm_sdk.initialize_process(preload_shortnames=[...], check_version=...)``,
  called from ``torch/__init__.py`` with TheRock's idiom (``python_packaging.md``
  "Performing Initialization": ``try: from . import _rocm_init`` / ``except
  ModuleNotFoundError: pass`` / ``else: _rocm_init.initialize()``), so ``import torch``
  fails without ``rocm_sdk``.
"""

from __future__ import annotations

from pathlib import Path

from mlstack_env.catalog import wheel_gfx
from tests.wheelindex import LINUX, Dist, Sdist, _cp_tags, _torch_files, write_index

# Canonical host prefix -> path on the loopback server.
AMD_HOSTS = {
    "https://repo.amd.com/": "amd",
    "https://stable.repo.amd.com/": "amd-stable",
    "https://nightly.repo.amd.com/": "amd-nightly",
}
AMD_714 = "https://repo.amd.com/rocm/whl-multi-arch/"
AMD_100 = "https://stable.repo.amd.com/rocm/whl-next/"

PLATFORM_TAG = f"py3-none-{LINUX}"


def _sh(text: str) -> str:
    return "#!/bin/sh\n# stand-in built by tests/rocmwheels.py\n" + text


def _tools(version: str) -> tuple[tuple[str, str], ...]:
    """``_rocm_sdk_core/bin``: tiny scripts that answer as the real tools' first lines do."""
    root = '"$(cd "$(dirname "$0")/.." && pwd)"'
    return (
        ("_rocm_sdk_core/bin/hipcc", _sh(
            'case "$1" in\n'
            f'  --version) echo "HIP version: {version}-stand-in"; '
            f'echo "InstalledDir: {root}/lib/llvm/bin" ;;\n'
            '  *) echo "hipcc (stand-in): $*" ;;\nesac\n')),
        ("_rocm_sdk_core/bin/rocminfo", _sh(
            'echo "ROCk module is loaded"\necho "Runtime Version:         1.18"\n')),
        ("_rocm_sdk_core/bin/amd-smi", _sh(
            'case "$1" in\n'
            f'  version) echo "AMDSMI Tool: 26.1.0+stand-in | ROCm version: {version}" ;;\n'
            '  *) echo "amd-smi (stand-in): $*" ;;\nesac\n')),
    )


# rocm_sdk_core/_cli.py: console-script trampolines. As TheRock's
# (templates/rocm-sdk-core/src/rocm_sdk_core/_cli.py `_get_module_path`): the tools run from
# the devel tree when rocm-sdk-devel is installed — compiler tools expand it first with
# `python -m rocm_sdk init --quiet`, system-information tools (rocminfo, amd-smi) do not —
# and from the core tree otherwise.
_CLI = '''"""Trampolines for console scripts (stand-in for TheRock's rocm_sdk_core._cli)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import _rocm_sdk_core

CORE = Path(_rocm_sdk_core.__file__).parent


def _root(expand_devel):
    if importlib.util.find_spec("rocm_sdk_devel") is None:
        return CORE
    devel = CORE.parent / "_rocm_sdk_devel"
    if not (devel / "__init__.py").is_file():
        if not expand_devel:
            return CORE
        subprocess.check_call([sys.executable, "-m", "rocm_sdk", "init", "--quiet"])
    return devel


def _exec(relpath, expand_devel=True):
    path = _root(expand_devel) / relpath
    os.execv("/bin/sh", ["sh", str(path), *sys.argv[1:]])


def hipcc():
    _exec("bin/hipcc")


def rocm_info():
    _exec("bin/rocminfo", expand_devel=False)


def amd_smi():
    _exec("bin/amd-smi", expand_devel=False)
'''

# rocm_sdk/__main__.py of the selector: `rocm-sdk path|version|targets|init`, behaving as
# TheRock's (templates/rocm/src/rocm_sdk/__main__.py and _devel.py; written here from that
# behaviour, not copied):
# * `init` and `path` both go through the devel root. Without rocm_sdk_devel they fail
#   (exit 1): `path` says it needs the `rocm[devel]` package, `init` prints
#   "ERROR running init: …". So `path --root` answers only when rocm-sdk-devel is installed.
# * The first time, `rocm_sdk_devel/_devel.tar.xz` or `_devel.tar` is expanded into
#   site-packages (its members are named `_rocm_sdk_devel/…`); each member's parent
#   directory is emptied on first touch; a member that is a symlink to a file becomes a
#   hardlink; a row `<member>,,` (no hash, no size) is APPENDED to rocm-sdk-devel's RECORD
#   for every member that RECORD does not list already; then the tarball is DELETED. Later
#   calls find `_rocm_sdk_devel/__init__.py` and no tarball, and skip the expansion.
# * Every call then links the device files of each installed rocm-sdk-device-* wheel of
#   the same version into the devel tree: the wheel's `.devel_links/<gfx>.json` manifest
#   lists (relpath, target) pairs; each `<devel>/<relpath>` becomes a hardlink to
#   `<devel>/<relpath>/../<target>`, and `<path>,,` rows are added to THAT device wheel's
#   RECORD (rewritten without duplicate rows).
_SDK_MAIN = '''"""rocm-sdk stand-in: path, version, targets, init."""

import csv
import importlib.metadata as md
import json
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

import _rocm_sdk_core

from ._dist_info import __version__ as VERSION

CORE = Path(_rocm_sdk_core.__file__).parent


def _record_of(dist):
    for f in dist.files or ():
        if f.name == "RECORD" and f.parent.name.endswith(".dist-info"):
            return Path(f.locate())
    raise ImportError(f"No distribution RECORD found for {dist.metadata['Name']}")


def _expand(package, site, tar_path):
    dist = md.distribution("rocm-sdk-devel")
    listed = {str(f) for f in dist.files or ()}
    cleaned = set()
    mode = "r:xz" if tar_path.suffix == ".xz" else "r"
    with open(_record_of(dist), "a", encoding="utf-8") as record, \
            tarfile.open(tar_path, mode) as tar:
        for member in tar:
            dest = site / member.name
            if not (member.isfile() or member.issym()):
                continue
            if dest.parent not in cleaned:
                cleaned.add(dest.parent)
                shutil.rmtree(dest.parent, ignore_errors=True)
                dest.parent.mkdir(parents=True, exist_ok=True)
            if member.name not in listed:
                record.write(f"{member.name},,\\n")
            target = dest.parent / member.linkname if member.issym() else None
            if target is not None and target.is_file():
                os.link(target, dest)
            else:
                tar.extract(member, site, filter="data")
    tar_path.unlink()


def _base(version):
    return re.sub(r"\\.post\\d+", "", version, count=1)


def _link_devices(site, devel):
    for dist in md.distributions(path=[str(site)]):
        name = dist.metadata["Name"] or ""
        if not name.startswith("rocm-sdk-device-"):
            continue
        if _base(dist.version) != _base(VERSION):
            print(f"WARNING: skipping {name} {dist.version}: does not match rocm-sdk "
                  f"{VERSION}", file=sys.stderr)
            continue
        manifests = [f for f in dist.files or () if f.parent.name == ".devel_links"
                     and f.suffix == ".json"]
        if not manifests:
            continue
        links = json.loads(Path(manifests[0].locate()).read_text())["links"]
        rows = []
        for link in links:
            dest = devel / link["relpath"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            target = dest.parent / link["target"]
            if not (dest.is_file() and not dest.is_symlink() and dest.samefile(target)):
                if dest.exists() or dest.is_symlink():
                    dest.unlink()
                os.link(target, dest)
            rows.append((devel / link["relpath"]).relative_to(site).as_posix())
        record = _record_of(dist)
        lines = [line for line in record.read_text().splitlines() if line.strip()]
        seen, kept = set(), []
        for line in lines:
            path = next(csv.reader([line]))[0]
            if path not in seen:
                seen.add(path)
                kept.append(line)
        kept += [f"{r},," for r in rows if r not in seen]
        if kept != lines:
            record.write_text("\\n".join(kept) + "\\n")


def devel_root():
    import rocm_sdk_devel  # ModuleNotFoundError without rocm-sdk-devel, as the real one

    package = Path(rocm_sdk_devel.__file__).parent
    site = package.parent
    devel = site / "_rocm_sdk_devel"
    tars = [t for t in (package / "_devel.tar.xz", package / "_devel.tar") if t.exists()]
    if tars or not (devel / "__init__.py").exists():
        if not tars:
            raise ImportError(f"Expected to find _devel.tar or _devel.tar.xz in {package}")
        _expand(package, site, tars[0])
    _link_devices(site, devel)
    return devel


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command == "init":
        try:
            root = devel_root()
        except ModuleNotFoundError as e:
            print(f"ERROR running init: {e}", file=sys.stderr)
            sys.exit(1)
        if "--quiet" not in args:
            print(f"Devel contents expanded to '{root}'")
    elif command == "version":
        print(VERSION)
    elif command == "targets":
        info = json.loads((CORE / "share/therock/dist_info.json").read_text())
        print(info["dist_amdgpu_targets"])
    elif command == "path" and {"--root", "--bin", "--cmake"} & set(args):
        try:
            root = devel_root()
        except ModuleNotFoundError as e:
            print("ERROR: Could not load the `rocm[devel]` package, which is required to "
                  "access runtime tools and development files. Please install it with "
                  "your package manager (pip, uv, etc)", file=sys.stderr)
            print(f"ERROR: {e}", file=sys.stderr)
            sys.exit(1)
        print(root / "bin" if "--bin" in args else root / "lib" / "cmake" if "--cmake" in args
              else root)
    else:
        print("usage: rocm-sdk {command} ...", file=sys.stderr)
        sys.exit(2)
'''


# rocm_sdk/__init__.py of the selector: what torch's _rocm_init calls (TheRock
# templates/rocm/src/rocm_sdk/__init__.py: find_libraries by short name in the installed
# rocm-sdk-* packages, preload them, check the version against the caller's pattern).
_SDK_INIT = '''"""rocm_sdk stand-in: initialize_process, find_libraries."""

import re
import warnings
from pathlib import Path

from ._dist_info import __version__

__all__ = ["__version__", "find_libraries", "initialize_process"]
PRELOADED = {}


def find_libraries(*shortnames):
    import importlib

    paths = []
    for shortname in shortnames:
        for package in ("_rocm_sdk_core", "_rocm_sdk_libraries"):
            try:
                root = Path(importlib.import_module(package).__file__).parent
            except ModuleNotFoundError:
                continue
            found = sorted((root / "lib").glob(f"lib{shortname}.so*"))
            if found:
                paths.append(found[0])
                break
        else:
            raise FileNotFoundError(f"Could not find rocm library {shortname!r}")
    return paths


def initialize_process(*, preload_shortnames=None, check_version=None, **kwargs):
    for shortname, path in zip(preload_shortnames or (), find_libraries(*preload_shortnames or ())):
        PRELOADED[shortname] = path  # the real one: ctypes.CDLL(path, RTLD_GLOBAL)
    if check_version:
        pattern = re.escape(check_version).replace("\\\\*", ".*")
        if not re.match(f"^{pattern}$", __version__):
            warnings.warn(f"installed ROCm version {__version__} does not match {check_version}")
'''


def _devel_tar() -> bytes:
    """``_devel.tar`` as TheRock packs it (python_packaging.md "Devel package"): members
    named ``_rocm_sdk_devel/…`` relative to site-packages; what a runtime wheel already
    holds is a relative symlink to it (hipcc from core, libhipblas from libraries); the
    rest verbatim — among it the headers core lacks (hipBLAS's)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, text in (("_rocm_sdk_devel/__init__.py", ""),
                           ("_rocm_sdk_devel/include/hip/hip_runtime.h", "/* stand-in */\n"),
                           ("_rocm_sdk_devel/include/hipblas/hipblas.h", "/* stand-in */\n"),
                           ("_rocm_sdk_devel/lib/cmake/hip/hip-config.cmake", "# stand-in\n")):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
        for path, target in (("_rocm_sdk_devel/bin/hipcc", "../../_rocm_sdk_core/bin/hipcc"),
                             ("_rocm_sdk_devel/lib/libhipblas.so.3",
                              "../../_rocm_sdk_libraries/lib/libhipblas.so.3")):
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, 0
            tar.addfile(info)
    return buf.getvalue()


def _device_files(g: str) -> tuple[tuple[str, str], ...]:
    """rocm-sdk-device-<gfx>: kernel files overlaid into the libraries' platform package,
    and the ``.devel_links/<gfx>.json`` manifest `rocm-sdk init` links them into the devel
    tree from (TheRock ``_therock_utils/py_packaging.py`` populate_device_files: target
    ``../`` per part of relpath, then ``_rocm_sdk_libraries/<relpath>``)."""
    import json

    rel = f"lib/rocblas/library/TensileLibrary_{g}.dat"
    target = "/".join([".."] * len(rel.split("/")) + ["_rocm_sdk_libraries", rel])
    manifest = {"version": "", "links": [{"relpath": rel, "target": target}]}
    return ((f"_rocm_sdk_libraries/{rel}", f"kernels for {g}\n"),
            (f"_rocm_sdk_libraries/.devel_links/{g}.json", json.dumps(manifest, indent=2)))


def sdk_dists(version: str, gfx: tuple[str, ...]) -> tuple[Dist, ...]:
    """rocm-sdk-core/-libraries/-devel and one rocm-sdk-device-<gfx> per target."""
    core_files: tuple[tuple[str, str | bytes], ...] = (
        ("rocm_sdk_core/__init__.py", f'__version__ = "{version}"\n'),
        ("rocm_sdk_core/_cli.py", _CLI),
        ("_rocm_sdk_core/__init__.py", ""),
        ("_rocm_sdk_core/share/therock/dist_info.json",
         '{"dist_amdgpu_targets": "' + ";".join(gfx) + '"}\n'),
        *_tools(version),
    )
    core = Dist(
        "rocm-sdk-core", version, (), (PLATFORM_TAG,), ">=3.10", core_files,
        console_scripts=("hipcc = rocm_sdk_core._cli:hipcc",
                         "rocminfo = rocm_sdk_core._cli:rocm_info",
                         "amd-smi = rocm_sdk_core._cli:amd_smi"),
        executables=tuple(p for p, _ in _tools(version)),
    )
    libraries = Dist("rocm-sdk-libraries", version, (f"rocm-sdk-core=={version}",),
                     (PLATFORM_TAG,), ">=3.10",
                     (("rocm_sdk_libraries/__init__.py", ""),
                      ("_rocm_sdk_libraries/__init__.py", ""),
                      ("_rocm_sdk_libraries/lib/libhipblas.so.3", "stand-in\n")))
    devel = Dist("rocm-sdk-devel", version, (f"rocm-sdk-core=={version}",),
                 (PLATFORM_TAG,), ">=3.10",
                 (("rocm_sdk_devel/__init__.py", ""), ("rocm_sdk_devel/_devel.tar", _devel_tar())))
    return (core, libraries, devel, *device_dists(version, gfx))


def device_dists(version: str, gfx: tuple[str, ...]) -> tuple[Dist, ...]:
    """One rocm-sdk-device-<gfx> per gfx (its Requires-Dist: rocm-sdk-libraries at the
    same version, python_packaging.md "Device packages")."""
    return tuple(Dist(f"rocm-sdk-device-{g}", version, (f"rocm-sdk-libraries=={version}",),
                      (PLATFORM_TAG,), ">=3.10", _device_files(g)) for g in gfx)


def selector(version: str, gfx: tuple[str, ...]) -> Sdist:
    """The ``rocm`` selector sdist: its extras as PKG-INFO declares them."""
    lines = ["Metadata-Version: 2.1", "Name: rocm", f"Version: {version}",
             f"Requires-Dist: rocm-sdk-core=={version}"]
    extras = {"libraries": [f"rocm-sdk-libraries=={version}"],
              "devel": [f"rocm-sdk-devel=={version}"]}
    extras.update({f"device-{g}": [f"rocm-sdk-device-{g}=={version}"] for g in gfx})
    for extra, reqs in extras.items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in reqs]
    setup = ("# The real one computes install_requires from the building machine's GPU\n"
             "raise SystemExit('stand-in: never built in tests')\n")
    files = (("setup.py", setup),
             ("src/rocm_sdk/__init__.py", _SDK_INIT),
             ("src/rocm_sdk/__main__.py", _SDK_MAIN),
             ("src/rocm_sdk/_dist_info.py", f'__version__ = "{version}"\n'))
    return Sdist("rocm", version, "\n".join(lines) + "\n", files)


def _torch_rocm_files(torch: str, rocm: str) -> tuple[tuple[str, str], ...]:
    """torch's files on ROCm wheels: version.py, ``_rocm_init.py`` and an ``__init__`` that
    calls it before anything else (TheRock's idiom)."""
    files = dict(_torch_files(torch, hip=f"{rocm}-stand-in", cuda=None))
    files["torch/__init__.py"] = (
        "try:\n    from . import _rocm_init\nexcept ModuleNotFoundError:\n    pass\n"
        "else:\n    _rocm_init.initialize()\n    del _rocm_init\n" + files["torch/__init__.py"])
    files["torch/_rocm_init.py"] = (
        "def initialize():\n    import rocm_sdk\n"
        "    rocm_sdk.initialize_process(preload_shortnames=['hipblas'], "
        f"check_version='{rocm}')\n")
    return tuple(sorted(files.items()))


def torch_dists(torch: str, *, vision: str, audio: str, triton: str, rocm: str,
                gfx: tuple[str, ...]) -> tuple[Dist, ...]:
    """torch and torchvision as TheRock publishes them on AMD's indexes: host wheels with a
    ``device-<gfx>`` extra per GPU (and ``device-all``) pulling that GPU's kernel wheel
    (``amd-torch-device-<gfx>``, ``amd-torchvision-device-<gfx>``, at the host's version),
    each kernel wheel requiring ``rocm-sdk-device-<gfx>`` at the ROCm version and
    overlaying its files into the host package's directory (split_python_wheels
    ``--overlay-root torch/`` / ``torchvision/``); torchaudio and triton unsplit."""
    label = torch.split("+", 1)[1]
    base = torch.split("+", 1)[0]

    def split(host: str, version: str, prefix: str, requires: tuple[str, ...],
              files: tuple[tuple[str, str], ...]) -> tuple[Dist, ...]:
        reqs = list(requires)
        for g in gfx:
            device = f"{prefix}-{g}=={version}"
            reqs += [f'{device}; extra == "device-{g}"', f'{device}; extra == "device-all"']
        host_dist = Dist(host, version, tuple(reqs), _cp_tags(), ">=3.10", files,
                         extras=(*(f"device-{g}" for g in gfx), "device-all"))
        devices = tuple(
            Dist(f"{prefix}-{g}", version, (f"rocm-sdk-device-{g}=={rocm}",),
                 (PLATFORM_TAG,), ">=3.10",
                 ((f"{host}/.kpack/{host}_{g}.kpack", f"{host} kernels for {g}\n"),))
            for g in gfx
        )
        return (host_dist, *devices)

    vision_files = (("torchvision/__init__.py", f'__version__ = "{vision}"\n'),)
    return (
        *split("torch", torch, "amd-torch-device",
               ("filelock", f"rocm[libraries]=={rocm}", f"triton=={triton}"),
               _torch_rocm_files(torch, rocm)),
        *split("torchvision", vision, "amd-torchvision-device",
               ("numpy", f"torch=={base}+{label}"), vision_files),
        Dist("torchaudio", audio, (f"torch=={base}+{label}",), _cp_tags()),
        Dist("triton", triton, (), _cp_tags(),
             files=(("triton/__init__.py", f'__version__ = "{triton}"\n'),)),
    )


def pytorch_mirror_dists(torch: str, *, vision: str, audio: str, triton: str, rocm: str,
                         gfx: tuple[str, ...]) -> tuple[Dist, ...]:
    """What PyTorch's mirror of a ROCm-as-wheels release holds besides ``rocm`` and
    ``rocm-sdk-*`` (copied from AMD's index): PyTorch's own torch, built with every GPU's
    kernels inside, requiring ``rocm[libraries,device-all]==X.Y`` and offering no device
    extras (pytorch#191688, pytorch#190276); torchvision unsplit; the companion Triton is
    ``triton-rocm`` (PyTorch's name from torch 2.10). No ``amd-torch-device-*``."""
    label = torch.split("+", 1)[1]
    base = torch.split("+", 1)[0]
    files = dict(_torch_rocm_files(torch, rocm))
    files.update({f"torch/lib/kernels_{g}.hsaco": f"{g}\n" for g in gfx})
    return (
        Dist("torch", torch, ("filelock", f"rocm[libraries,device-all]=={rocm}",
                              f"triton-rocm=={triton}"), _cp_tags(), ">=3.10",
             tuple(sorted(files.items()))),
        Dist("torchvision", vision, ("numpy", f"torch=={base}+{label}"), _cp_tags(),
             files=(("torchvision/__init__.py", f'__version__ = "{vision}"\n'),)),
        Dist("torchaudio", audio, (f"torch=={base}+{label}",), _cp_tags()),
        Dist("triton-rocm", triton, (), _cp_tags(),
             files=(("triton/__init__.py", f'__version__ = "{triton}"\n'),)),
    )


ROCM_714_GFX = ("gfx1100", "gfx942")
ROCM_100_GFX = ("gfx1100", "gfx942", "gfx90a")

# Release index path (under the loopback root) -> (wheels, sdists).
RELEASE_INDEXES: dict[str, tuple[tuple[Dist, ...], tuple[Sdist, ...]]] = {
    "amd/rocm/whl-multi-arch": (
        (*sdk_dists("7.14.0", ROCM_714_GFX),
         *torch_dists("2.14.0+rocm7.14", vision="0.29.0+rocm7.14", audio="2.14.0+rocm7.14",
                      triton="3.6.0+rocm7.14", rocm="7.14.0", gfx=ROCM_714_GFX)),
        (selector("7.14.0", ROCM_714_GFX),),
    ),
    "amd-stable/rocm/whl-next": (
        (*sdk_dists("10.0.0", ROCM_100_GFX),
         *torch_dists("2.13.0+rocm10.0.0", vision="0.28.0+rocm10.0.0",
                      audio="2.13.0+rocm10.0.0", triton="3.5.0+rocm10.0.0", rocm="10.0.0",
                      gfx=ROCM_100_GFX)),
        (selector("10.0.0", ROCM_100_GFX),),
    ),
}
# PyTorch's mirror of the 7.14 release (pytorch/test-infra#8662): AMD's rocm and rocm-sdk-*
# files, and PyTorch's own torch beside them.
# The same files as AMD's (one filename, one hash), with every device wheel of the release
# (its torch asks for rocm[device-all]).
ROCM_714_MORE = tuple(sorted(set(wheel_gfx("7.14") or ()) - set(ROCM_714_GFX)))
RELEASE_INDEXES["pytorch/whl/test/rocm7.14"] = (
    (*sdk_dists("7.14.0", ROCM_714_GFX), *device_dists("7.14.0", ROCM_714_MORE),
     *pytorch_mirror_dists("2.14.0+rocm7.14", vision="0.29.0+rocm7.14",
                           audio="2.14.0+rocm7.14", triton="3.6.0", rocm="7.14.0",
                           gfx=ROCM_714_GFX)),
    (selector("7.14.0", ROCM_714_GFX),),
)

# ROCM-FACTS §4b: what PyPI holds under the names of AMD's wheels.
PYPI_PLACEHOLDERS: tuple[Dist, ...] = (
    Dist("rocm-sdk-device-gfx1100", "0.0.1.dev0"),
    Dist("amd-torch-device-gfx1100", "0.0.1.dev0"),
    Dist("amd-torchvision-device-gfx1100", "0.0.1.dev0"),
    Dist("rocm-sdk-core", "0.1.0"),
    Dist("rocm", "0.1.0"),
)


def build_indexes(root: Path, hashes: dict[str, str]) -> None:
    """Write every release index under ``root`` (wheel and sdist hashes into ``hashes``)."""
    for path, (dists, sdists) in RELEASE_INDEXES.items():
        write_index(root / path, dists, hashes, sdists)
