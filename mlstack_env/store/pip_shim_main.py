# The `pip` of an mlstack env (written as bin/pip, pip3, pip3.X of every store entry by
# mlstack_env.store.pipshim, after a prelude that runs it with the env's own python; as
# site-packages/pip/__main__.py for `python -m pip`; and as bin/uv, where it refuses the
# uv commands that would install into this env and hands every other one to the real uv).
#
# An env is an immutable store entry shared by every env with the same lock: installing
# into it would change other envs and break `env verify`, and a `pip` found further down
# PATH would install into another Python. So the commands that change or fetch packages
# are refused with one message naming `mlstack add`; the read-only ones (list, freeze,
# show, --version) answer from the env's installed metadata with the standard library,
# as the env's python sees it. Runs on every Python an env may have (3.10+), stdlib only.

import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path

REFUSED = ("install", "uninstall", "download", "wheel")
READ_ONLY = ("list", "freeze", "show")
# Global pip options that change nothing here (pip accepts them before or after the command).
IGNORED = {"-q", "--quiet", "-v", "--verbose", "--no-color", "--isolated", "--no-input",
           "--disable-pip-version-check", "-l", "--local", "--no-python-version-warning"}
USAGE = """\
This env's pip is mlstack's read-only stand-in: the env is an immutable store entry.

  pip list [--format columns|freeze|json]   installed packages
  pip freeze                                 installed packages as NAME==VERSION
  pip show NAME...                           one package's metadata
  pip --version

To add a package, add it to the env's profile and rebuild the env:

  mlstack add PKG       (then `mlstack env create` makes the new generation)
"""


def fail(message: str, hint: str) -> int:
    sys.stderr.write(f"error: {message}\nhint: {hint}\n")
    return 1


def env_label() -> str:
    name = os.environ.get("MLSTACK_ENV")
    return f"mlstack env {name}" if name else "this mlstack env"


def dists() -> dict[str, metadata.Distribution]:
    """Installed distributions by normalized name, as this python's sys.path finds them."""
    out: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = field(dist, "Name")
        if name:
            out.setdefault(normalize(name), dist)
    return out


def field(dist: metadata.Distribution, key: str) -> str:
    """A metadata field, "" when absent (indexing a missing one is deprecated)."""
    values = dist.metadata.get_all(key) or []
    return str(values[0]) if values else ""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(dist: metadata.Distribution) -> list[str]:
    """Names of what ``dist`` requires unconditionally (extras left out, as pip show does)."""
    names = []
    for req in dist.requires or []:
        _, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m:
            names.append(m.group(1))
    return sorted(set(names), key=str.lower)


def cmd_list(args: list[str]) -> int:
    fmt = "columns"
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in IGNORED:
            continue
        if arg == "--format" and rest:
            fmt = rest.pop(0)
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        else:
            return fail(f"pip list {arg}: not supported by {env_label()}'s read-only pip",
                        "supported: pip list [--format columns|freeze|json]")
    rows = sorted(((field(d, "Name"), d.version) for d in dists().values()),
                  key=lambda r: r[0].lower())
    if fmt == "json":
        sys.stdout.write(json.dumps([{"name": n, "version": v} for n, v in rows]) + "\n")
    elif fmt == "freeze":
        sys.stdout.writelines(f"{n}=={v}\n" for n, v in rows)
    elif fmt == "columns":
        width = max([len("Package"), *(len(n) for n, _ in rows)])
        vwidth = max([len("Version"), *(len(v) for _, v in rows)])
        sys.stdout.write(f"{'Package':<{width}} Version\n{'-' * width} {'-' * vwidth}\n")
        sys.stdout.writelines(f"{n:<{width}} {v}\n" for n, v in rows)
    else:
        return fail(f"pip list --format {fmt}: unknown format",
                    "use --format columns, freeze or json")
    return 0


def cmd_freeze(args: list[str]) -> int:
    unknown = [a for a in args if a not in IGNORED]
    if unknown:
        return fail(f"pip freeze {unknown[0]}: not supported by {env_label()}'s read-only pip",
                    "run plain `pip freeze`")
    return cmd_list(["--format", "freeze"])


def cmd_show(args: list[str]) -> int:
    names = [a for a in args if a not in IGNORED]
    if not names or any(n.startswith("-") for n in names):
        return fail("usage: pip show NAME...", "e.g. pip show torch")
    installed = dists()
    required_by: dict[str, list[str]] = {}
    for dist in installed.values():
        for req in requirement_names(dist):
            required_by.setdefault(normalize(req), []).append(field(dist, "Name"))
    found = 0
    for i, name in enumerate(names):
        found_dist = installed.get(normalize(name))
        if found_dist is None:
            sys.stderr.write(f"WARNING: Package(s) not found: {name}\n")
            continue
        found += 1
        dist = found_dist
        location = str(dist.locate_file(""))
        fields = [
            ("Name", field(dist, "Name")),
            ("Version", dist.version),
            *((key, field(dist, key))
              for key in ("Summary", "Home-page", "Author", "Author-email", "License")),
            ("Location", location),
            ("Requires", ", ".join(requirement_names(dist))),
            ("Required-by", ", ".join(sorted(required_by.get(normalize(name), []),
                                             key=str.lower))),
        ]
        if i:
            sys.stdout.write("---\n")
        sys.stdout.writelines(f"{k}: {v}".rstrip() + "\n" for k, v in fields)
    return 0 if found else 1


# Options of pip install/download/wheel whose value is the next argument, not a package.
TAKES_VALUE = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i",
               "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target",
               "--prefix", "--root", "-d", "--dest", "-w", "--wheel-dir", "--python"}


def refuse(command: str, args: list[str], tool: str = "pip") -> int:
    packages = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in TAKES_VALUE:
            skip = True
        elif not arg.startswith("-"):
            packages.append(arg)
    what = " ".join(packages) if packages else "PKG"
    # `mlstack add` edits a project's profile: it works in the project whose profile made
    # the env, and nowhere else (outside one: "no mlstack.toml"; in another: another
    # profile). An env of a built-in profile has no project: the user makes one first.
    verb = "remove" if command in ("uninstall", "remove") else "add"
    hint = (f"change the env's profile instead: in the project that made it, `mlstack {verb} "
            f"{what}` (then `mlstack env create`); for an env of a built-in profile (minimal, "
            f"inference, training), make a project first: `mlstack init --yes && mlstack "
            f"{verb} {what} && mlstack env create`")
    return fail(
        f"`{tool} {command}` cannot change {env_label()}: envs are immutable store entries "
        "built from a lock, and nothing was installed",
        hint,
    )


# uv: `uv pip install|uninstall|sync` install into the active env (VIRTUAL_ENV) unless told
# another one; `uv add|remove|sync|run --active` sync a project into it
# (https://docs.astral.sh/uv/pip/environments/, https://docs.astral.sh/uv/concepts/projects/config/).
# A venv is never "externally managed" for uv or pip (PEP 668 exempts virtual environments),
# so the refusal has to happen here, before the real uv runs.
UV_PIP_CHANGES = ("install", "uninstall", "sync")
UV_ELSEWHERE = ("--system", "--target", "--prefix")
UV_ACTIVE = ("add", "remove", "sync", "run")


def _ours(path: str) -> bool:
    # The folder, not the file: an env's bin/python is a link to the interpreter it was
    # made with, outside the env.
    here = Path(sys.prefix).resolve()
    there = Path(path).absolute()
    there = there.parent.resolve() / there.name
    return there == here or here in there.parents


def uv_target_is_this_env(args: list[str]) -> str | None:
    """The uv command that would change this env (``pip install``, ``add --active``), or
    None when it changes nothing here (another --python, --system, --target, …)."""
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return None
    if words[0] == "pip" and len(words) > 1 and words[1] in UV_PIP_CHANGES:
        if any(a in UV_ELSEWHERE or a.split("=", 1)[0] in UV_ELSEWHERE for a in args):
            return None
        for i, a in enumerate(args):
            value = None
            if a in ("--python", "-p") and i + 1 < len(args):
                value = args[i + 1]
            elif a.startswith("--python="):
                value = a.split("=", 1)[1]
            if value is not None and os.sep in value and not _ours(value):
                return None  # an interpreter by path, not this env's
        return f"pip {words[1]}"
    if words[0] in UV_ACTIVE and "--active" in args:
        return f"{words[0]} --active"
    return None


def real_uv() -> str | None:
    """The first ``uv`` on PATH that is not this env's (or any env's) stand-in."""
    me = Path(sys.argv[0]).resolve()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / "uv"
        if not os.access(candidate, os.X_OK) or candidate.is_dir():
            continue
        real = candidate.resolve()
        if real == me:
            continue
        try:
            with real.open("rb") as f:
                if MARK in f.read(4096):  # another env's stand-in, further down PATH
                    continue
        except OSError:
            continue
        return str(candidate)
    return None


MARK = b"The `pip` of an mlstack env"


def uv_main(argv: list[str]) -> int:  # returns only on a refusal
    command = uv_target_is_this_env(argv)
    if command is not None:
        word = command.split()[1] if command.startswith("pip ") else command.split()[0]
        after = argv[argv.index(word) + 1:]
        return refuse(word, [a for a in after if a != "--active"],
                      tool="uv pip" if command.startswith("pip ") else "uv")
    uv = real_uv()
    if uv is None:
        return fail("uv is not installed outside this env",
                    "install uv (https://docs.astral.sh/uv/) or put it on PATH")
    os.execv(uv, [uv, *argv])  # noqa: S606 - hand the command to the real uv


def main(argv: list[str]) -> int:
    rest = [a for a in argv if a not in IGNORED]
    if any(a in ("-V", "--version") for a in rest[:1]):
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        sys.stdout.write(f"pip (mlstack read-only) from {sys.prefix} (python {version})\n")
        return 0
    if not rest or rest[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    command, args = rest[0], rest[1:]
    if command in REFUSED:
        return refuse(command, args)
    if command == "list":
        return cmd_list(args)
    if command == "freeze":
        return cmd_freeze(args)
    if command == "show":
        return cmd_show(args)
    return fail(
        f"`pip {command}` is not available in {env_label()}",
        "its pip is read-only: pip list, pip freeze, pip show NAME; to change the env use "
        "`mlstack add PKG` / `mlstack remove PKG`",
    )


if __name__ == "__main__":
    sys.exit((uv_main if Path(sys.argv[0]).name == "uv" else main)(sys.argv[1:]))
