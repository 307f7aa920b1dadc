"""``mlstack export docker|apptainer``: a container recipe that rebuilds a lock entry inside
the image, hash-checked, with the env's variables.

The recipe and the entry's PEP 751 lock go side by side (``Dockerfile`` +
``pylock.<name>.toml``, named by PEP 751's rule as ``lock --export-pylock`` names files:
:func:`mlstack_env.lockfile.pylock_file_name`); the build copies the lock in and installs
it with the same pinned uv as ``env create`` (``uv venv --relocatable`` then ``uv pip
sync`` of the pylock, which checks every wheel's sha256). The text is deterministic: same
entry, same bytes.

* Base image: AMD's ROCm image for the entry's ROCm version
  (``rocm/dev-ubuntu-24.04:X.Y.Z``, or ``:X.Y-complete`` for an X.Y target; 22.04 before
  ROCm 6.2, the first release for
  24.04, ROCM-FACTS §7); for ROCm-as-wheels entries (ROCm 7.14+, 10.x; ROCM-FACTS §4b) the
  wheels carry ROCm's user space and the image needs only the kernel driver's interface
  (``/dev/kfd``, ``/dev/dri``), so a plain ``ubuntu:24.04``; ``cpu`` entries too.
* Mirrors: the lock holds canonical URLs only, and so does the recipe, unless asked
  (``--with-mirrors``). A build behind a mirror passes them at build time instead:
  ``--build-arg MLSTACK_MIRRORS="https://download.pytorch.org/=https://mirror/pytorch/ …"``
  (space-separated ``FROM=TO`` URL prefixes, longest first, like ``[mirrors]``); the
  install step rewrites a temporary copy of the lock, never the one in the image.
* Variables: the entry's own (``[env]`` of the profile and what the lock derived from its
  gfx list). What depends on one machine or one job (``ROCM_PATH``, visible devices,
  MIOpen's cache paths) is not baked in: the image's ROCm sets the first, the job the rest.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import BadValueError, LockError, ManifestError, UsageError
from mlstack_env.core.userfile import write_atomic
from mlstack_env.lockfile import LockEntry, pylock_file_name, to_pylock
from mlstack_env.rocmwheels.rocmroot import entry_variables, needs_init
from mlstack_env.rocmwheels.rocmsdk import release_of

if TYPE_CHECKING:
    from mlstack_env.fetch.urlpolicy import UrlPolicy

KINDS = ("docker", "apptainer")
PREFIX = "/opt/mlstack"
VENV = f"{PREFIX}/venv"
# Where the install step rewrites the lock for a mirror: the image's own /tmp, removed after.
SCRATCH = "/tmp/mlstack-lock"  # noqa: S108
UV_IMAGE = "ghcr.io/astral-sh/uv"
PLAIN_BASE = "ubuntu:24.04"
MIRRORS_ARG = "MLSTACK_MIRRORS"
DOCKER_RUN = "--device=/dev/kfd --device=/dev/dri --group-add video"

# One line of Python (no single quote and no $: it sits in sh single quotes, in a
# Dockerfile RUN too) that copies the pylock with the mirror prefixes swapped in.
_REWRITE = ";".join([
    "import os,re,sys",
    'm=dict(p.split("=",1) for p in os.environ[sys.argv[3]].split() if "=" in p)',
    "k=sorted(m,key=len,reverse=True)",
    "t=open(sys.argv[1]).read()",
    't=re.sub("\\""+"("+"|".join(map(re.escape,k))+")",lambda g:"\\""+m[g[1]],t) if k else t',
    'open(sys.argv[2],"w").write(t)',
])

# ROCm's `rocm` selector (ROCm-as-wheels entries): uv cannot install it without building
# its setup.py, which mlstack never runs, so the recipe unpacks its pure-Python rocm_sdk
# package (what torch's _rocm_init imports) as env create does: with the same file,
# mlstack_env/rocmwheels/selectorunpack.py, copied beside the recipe and run by the image's Python.
SELECTOR_SCRIPT = "selectorunpack.py"


def rocm_as_wheels(target: Target) -> bool:
    """Does the entry lock ROCm's user space as wheels (ROCm 7.14, 10.0; ROCM-FACTS §4b)?
    The catalog's ``[rocm-wheels]`` releases (:func:`mlstack_env.rocmwheels.rocmsdk.release_of`)."""
    return release_of(target) is not None


def base_image(target: Target) -> str:
    """AMD's ROCm image for the entry's ROCm version, or a plain one (see the module)."""
    if not target.is_rocm or target.rocm is None or rocm_as_wheels(target):
        return PLAIN_BASE
    parts = target.rocm.split(".")
    major, minor = int(parts[0]), int(parts[1])
    ubuntu = "24.04" if (major, minor) >= (6, 2) else "22.04"
    # Tags seen in use: X.Y.Z (6.4.1 … 6.4.4, 7.2.4) and X.Y-complete (6.3-complete,
    # 7.0-complete); a plain X.Y tag is not confirmed, so X.Y takes its -complete image.
    tag = target.rocm if len(parts) > 2 else f"{target.rocm}-complete"
    return f"rocm/dev-ubuntu-{ubuntu}:{tag}"


# What ends a line somewhere: a Dockerfile instruction, or an Apptainer definition's line
# (a line starting with `%` opens a section, and %setup runs on the build host).
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def one_line(what: str, value: str, kind: str) -> str:
    """``value``, refused when it holds a line break: no recipe format can carry one as
    data (a Dockerfile ends the instruction there; an Apptainer definition reads a line
    starting with ``%`` as a new section, whatever quotes came before)."""
    if _LINE_BREAKS.search(value):
        recipe = "a Dockerfile" if kind == "docker" else "an Apptainer definition"
        raise BadValueError(
            f"{what} holds a line break, which {recipe} cannot carry as data: {value!r}",
            hint="drop the line break (from the profile's [env], the lock or the option), "
            "or ship the env with `mlstack env pack`",
        )
    return value


def docker_quote(name: str, value: str) -> str:
    """A Dockerfile word that is exactly ``value``: BuildKit's lexer takes single-quoted
    text as-is and ``\\`` escapes outside quotes (frontend/dockerfile/shell/lex.go), like sh.
    A newline cannot be written in a Dockerfile instruction at all."""
    return shlex.quote(one_line(f"variable {name}", value, "docker"))


@dataclass(frozen=True)
class Recipe:
    kind: str
    text: str
    lock_name: str  # pylock.<name>.toml, beside the recipe
    lock_text: str
    base: str
    entry: LockEntry
    variables: dict[str, str]
    mirrors: dict[str, str]
    files: tuple[tuple[str, str], ...] = ()  # (name, text) also copied from beside it

    def to_json(self, recipe_path: Path, lock_path: Path) -> dict[str, Any]:
        return {"kind": self.kind, "recipe": str(recipe_path), "lock": str(lock_path),
                "files": [str(recipe_path.parent / name) for name, _ in self.files],
                "base_image": self.base, "entry": self.entry.key,
                "variables": dict(self.variables), "mirrors": dict(self.mirrors)}


def _install_lines(entry: LockEntry, lock_in_image: str) -> list[str]:
    """The install step, shared by both recipes: one shell command per item. The mirrored
    copy keeps the lock's own (PEP 751) name: uv reads the same name either way."""
    tmp = SCRATCH
    copy = f"{tmp}/{lock_in_image.rsplit('/', 1)[-1]}"
    return [
        "set -eu",
        f"export UV_NO_CACHE=1 UV_PYTHON_INSTALL_DIR={PREFIX}/python",
        f"uv venv --no-config --relocatable --quiet --python {entry.python} {VENV}",
        f"lock={lock_in_image}",
        f'case "${{{MIRRORS_ARG}-}}" in *=*)',
        f"    mkdir -p {tmp}",
        f"    {VENV}/bin/python -I -c '{_REWRITE}' \"$lock\" {copy} {MIRRORS_ARG}",
        f"    lock={copy} ;;",
        "esac",
        f'uv pip sync --no-config --python {VENV}/bin/python --preview-features pylock '
        '--no-index "$lock"',
        f"rm -rf {tmp}",
        *_selector_lines(entry),
        # ROCm as wheels with its devel tree: the post-install step, as env create runs it.
        *([f"if [ -x {VENV}/bin/rocm-sdk ]; then {VENV}/bin/rocm-sdk init --quiet; fi"]
          if needs_init(entry) else []),
    ]


def _selector_lines(entry: LockEntry) -> list[str]:
    """The rocm selector's rocm_sdk, unpacked from its locked sdist (not in the pylock:
    uv would build it) by :mod:`mlstack_env.rocmwheels.selectorunpack`, copied into the image;
    nothing for an entry without one."""
    import base64

    from mlstack_env.rocmwheels.rocmselector import metadata, selector_of

    package = selector_of(entry)
    if package is None or package.sdist is None:
        return []
    if not package.sdist.url:  # locked by name through a mirror of another layout
        raise LockError(
            f"{entry.key}: the rocm selector {package.sdist.filename} was locked through a "
            "mirror without its canonical URL, which the recipe needs",
            "lock once where the canonical index is reachable (or through a mirror that "
            "copies its layout): `mlstack lock` then keeps the URL")
    site = f"{VENV}/lib/python{entry.python}/site-packages"
    meta = base64.b64encode(metadata(entry, package.version).encode()).decode()
    args = " ".join(shlex.quote(a) for a in (package.sdist.url, package.sdist.sha256,
                                              package.version, VENV, site, MIRRORS_ARG, meta))
    return [f"{VENV}/bin/python -I {PREFIX}/{SELECTOR_SCRIPT} {args}"]


def _build_files(entry: LockEntry) -> tuple[tuple[str, str], ...]:
    """Files the recipe copies from beside it besides the lock: the selector's unpacker,
    for an entry that holds the selector."""
    from mlstack_env.rocmwheels import selectorunpack
    from mlstack_env.rocmwheels.rocmselector import selector_of

    if selector_of(entry) is None:
        return ()
    return ((SELECTOR_SCRIPT, Path(selectorunpack.__file__).read_text(encoding="utf-8")),)


def _header(entry: LockEntry, kind: str, image_hint: str) -> list[str]:
    lines = [
        f"# Written by `mlstack export {kind}` for {entry.key}; re-run it rather than edit.",
        f"# Installs the locked wheels (sha256-checked by uv) into {VENV}.",
        f"# Lock entry hash: {entry.content_hash()}",
        "#",
    ]
    return [*lines, *image_hint.splitlines()]


def _docker(entry: LockEntry, *, lock_name: str, base: str, variables: Mapping[str, str],
            mirrors: str, uv_version: str, files: tuple[str, ...]) -> str:
    lock_in_image = f"{PREFIX}/{lock_name}"
    gpu = entry.target.is_rocm
    hint = (
        "# Build:  docker build -t IMAGE .      (this file, with "
        f"{lock_name} beside it)\n"
        "#         behind a mirror: --build-arg "
        f'{MIRRORS_ARG}="https://download.pytorch.org/=https://mirror.example/pytorch/"\n'
        + (f"# Run:    docker run --rm -it {DOCKER_RUN} IMAGE python ...\n"
           "#         (podman: the same flags; add --group-add render where /dev/dri/renderD*\n"
           "#         belongs to the render group)\n" if gpu else
           "# Run:    docker run --rm -it IMAGE python ...\n")
    )
    install = _install_lines(entry, lock_in_image)
    body = []
    for i, line in enumerate(install):
        last = i == len(install) - 1
        if last:
            body.append(f"    {line}")
        elif line.endswith(("*=*)", ";;")):  # no `;` after a case pattern or its end
            body.append(f"    {line} \\")
        else:
            body.append(f"    {line}; \\")
    body[0] = body[0].replace("    ", "RUN ", 1)
    env_lines = [f"ENV VIRTUAL_ENV={VENV}", f"ENV PATH={VENV}/bin:$PATH"]
    env_lines += [f"ENV {k}={docker_quote(k, v)}" for k, v in variables.items()]
    lines = [
        *_header(entry, "docker", hint),
        f"FROM {UV_IMAGE}:{uv_version} AS uv",
        "",
        f"FROM {base}",
        "COPY --from=uv /uv /usr/local/bin/uv",
        f"ARG {MIRRORS_ARG}={docker_quote(MIRRORS_ARG, mirrors)}",
        f"COPY {lock_name} {lock_in_image}",
        *(f"COPY {name} {PREFIX}/{name}" for name in files),
        *body,
        *env_lines,
        f"LABEL io.mlstack.entry={docker_quote('label', entry.key)} "
        f"io.mlstack.lock-hash={docker_quote('label', entry.content_hash())}",
    ]
    return "\n".join(lines) + "\n"


def _apptainer(entry: LockEntry, *, lock_name: str, base: str, variables: Mapping[str, str],
               mirrors: str, uv_version: str, files: tuple[str, ...]) -> str:
    lock_in_image = f"{PREFIX}/{lock_name}"
    gpu = entry.target.is_rocm
    hint = (
        "# Build:  apptainer build IMAGE.sif THIS.def   (in this folder: %files reads "
        f"{lock_name})\n"
        "#         behind a mirror (Apptainer >= 1.2): --build-arg "
        f'{MIRRORS_ARG}="https://download.pytorch.org/=https://mirror.example/pytorch/"\n'
        + ("# Run:    apptainer exec --rocm IMAGE.sif python ...   (--rocm binds the GPU\n"
           "#         devices and the host's ROCm driver interface)\n" if gpu else
           "# Run:    apptainer exec IMAGE.sif python ...\n")
    )
    env = [f"    export VIRTUAL_ENV={VENV}", f'    export PATH="{VENV}/bin:$PATH"']
    env += [f"    export {k}={shlex.quote(v)}" for k, v in variables.items()]
    post = [f"    export {MIRRORS_ARG}={shlex.quote('{{ ' + MIRRORS_ARG + ' }}')}",
            *(f"    {line}" for line in _install_lines(entry, lock_in_image))]
    lines = [
        *_header(entry, "apptainer", hint),
        "Bootstrap: docker",
        f"From: {UV_IMAGE}:{uv_version}",
        "Stage: uv",
        "",
        "Bootstrap: docker",
        f"From: {base}",
        "Stage: final",
        "",
        "%arguments",
        f"    {MIRRORS_ARG}={mirrors}",
        "",
        "%files from uv",
        "    /uv /usr/local/bin/uv",
        "",
        "%files",
        f"    {lock_name} {lock_in_image}",
        *(f"    {name} {PREFIX}/{name}" for name in files),
        "",
        "%post",
        *post,
        "",
        "%environment",
        *env,
        "",
        "%labels",
        f"    io.mlstack.entry {entry.key}",
        f"    io.mlstack.lock-hash {entry.content_hash()}",
    ]
    return "\n".join(lines) + "\n"


def _no_template(what: str, value: str) -> None:
    """Apptainer (>= 1.2) replaces ``{{ NAME }}`` anywhere in a definition with a build
    argument, and has no escape for it (apptainer.org/docs/user/main/definition_files.html,
    "Templating"), so such text in a value would not stay data."""
    if "{{" in value:
        raise BadValueError(
            f"{what} holds '{{{{', which an Apptainer definition reads as a build argument: "
            f"{value!r}",
            hint="drop the '{{' from the value, or export it with `mlstack export docker`",
        )


def _checked(kind: str, entry: LockEntry, variables: Mapping[str, str], base: str,
             mirrors: Mapping[str, str]) -> None:
    """Every value the recipe writes is one line (:func:`one_line`), for both formats:
    the variables, the entry's key (comments, labels), the base and the mirrors, and the
    selector's URL and version; a mirror prefix also stays inside sh single quotes."""
    values = {**{f"variable {k}": v for k, v in variables.items()},
              "the entry's profile": entry.key, "--base": base}
    for what, value in values.items():
        one_line(what, value, kind)
        if kind == "apptainer":
            _no_template(what, value)
    for package in entry.packages:
        for f in package.files:
            one_line(f"package {package.name}'s URL", f.url, kind)
        one_line(f"package {package.name}'s version", package.version, kind)
    for k, v in mirrors.items():
        if not k or not v or "=" in k or re.search(r"[\s'\"\\]", k + v):
            raise ManifestError(f"a [mirrors] prefix ({k!r} = {v!r}) holds a space, quote or "
                                "'=', which the build argument cannot carry",
                                hint="fix [mirrors] in the mlstack config")


def make_recipe(kind: str, entry: LockEntry, *, name: str, policy: UrlPolicy, source: str,
                mirrors: Mapping[str, str] | None = None, base: str | None = None) -> Recipe:
    """The recipe for ``entry`` of the lock ``source``; ``mirrors`` (``--with-mirrors``)
    become the build argument's default, else it is empty and the recipe names canonical
    URLs only. ``policy``: the rule env create and bundle apply, required — a recipe
    installs only what a create of this entry would (the configured sources and
    allow-urls), on canonical URLs."""
    from mlstack_env import uv

    if kind not in KINDS:
        raise UsageError(f"unknown container kind {kind!r}",
                         hint="use `mlstack export docker` or `mlstack export apptainer`")
    policy.check(entry, source)
    mirror_text = " ".join(f"{k}={v}" for k, v in
                           sorted((mirrors or {}).items(), key=lambda kv: -len(kv[0])))
    # ROCm inside the image's venv (ROCm as wheels) is the same path on every machine.
    variables = dict(sorted({**entry_variables(entry, Path(VENV)), **entry.env}.items()))
    lock_name = pylock_file_name(name)
    chosen = base or base_image(entry.target)
    _checked(kind, entry, variables, chosen, mirrors or {})
    render = _docker if kind == "docker" else _apptainer
    files = _build_files(entry)
    text = render(entry, lock_name=lock_name, base=chosen, variables=variables,
                  mirrors=mirror_text, uv_version=uv.PINNED_VERSION,
                  files=tuple(name for name, _ in files))
    return Recipe(kind, text, lock_name, to_pylock(entry), chosen, entry, variables,
                  dict(mirrors or {}), files)


def write_recipe(recipe: Recipe, output: Path) -> tuple[Path, Path]:
    """Write the recipe to ``output``, the lock and the recipe's other files beside it;
    returns the recipe's and the lock's paths."""
    lock_path = output.parent / recipe.lock_name
    taken = {recipe.lock_name: "the lock's", **{n: "a file the recipe copies, its" for n, _
                                                in recipe.files}}
    if output.name in taken:
        raise UsageError(f"-o {output} is {taken[output.name]} own name",
                         hint="name the recipe Dockerfile or NAME.def")
    write_atomic(lock_path, recipe.lock_text)
    for name, text in recipe.files:
        write_atomic(output.parent / name, text)
    write_atomic(output, recipe.text)
    return output, lock_path
