"""The one declaration of a command's options, read by typer and the fast path alike.

A command with many options declares them once, as a frozen record (``core/record.py``:
a dataclass without its cost on the fast path) whose fields say each option's spellings
and help, in typer's own style::

    @record
    class LockOptions:
        python: Annotated[str | None, Opt("--python", help="…", metavar="X.Y")] = None

:func:`mlstack_env.cli.signature.takes` turns the class into the signature typer reads
(each :class:`Opt`/:class:`Arg` a ``typer.Option``/``typer.Argument`` with the same
words) and hands the command's body one instance; ``cli/fastgen.py`` writes the fast
path's table from the command typer builds of it, and the fast path
(:mod:`mlstack_env.cli.fast`) builds the same instance from what it parsed. The bodies
(:mod:`mlstack_env.cli.lean`) take that one typed object.

Standard library and ``core/record.py`` only: the fast path imports this module (and the
annotations, strings here, are evaluated only by the typer side). :data:`JSON` and the
other shared options are declared here once for every command that takes them.
"""

from __future__ import annotations

from pathlib import Path

from mlstack_env.core.record import record

TYPE_CHECKING = False  # typing costs an import on the fast path; mypy reads it
if TYPE_CHECKING:
    from typing import Annotated, Any


class Opt:
    """An option: its spellings, then typer.Option's keywords (help, metavar, …)."""

    __slots__ = ("decls", "info")

    def __init__(self, *decls: str, **info: Any) -> None:
        self.decls = decls
        self.info = info


class Arg:
    """A positional argument: typer.Argument's keywords (help, metavar, …)."""

    __slots__ = ("info",)

    def __init__(self, **info: Any) -> None:
        self.info = info


JSON = Opt("--json", help="Print one JSON document.")
# env create and sync.
OFFLINE = Opt("--offline", help="No network: the wheels must be in mlstack's download cache.")
PROJECT = Opt("--project", metavar="DIR",
              help="The project directory (default: found upward from here).")
REINSTALL = Opt("--reinstall", help="Install the wheels again even when the store holds "
                "them (after `env verify` found changed files).")
# lock, add and remove.
MANIFEST_DIR = Opt("--project", metavar="DIR", file_okay=False,
                   help="The directory holding mlstack.toml.")
CACHE_ONLY = Opt("--offline", help="Resolve from uv's cache only.")


@record
class CreateOptions:
    """``mlstack env create``'s options (and what ``sync`` hands the same body)."""

    profile: Annotated[str | None, Arg(
        metavar="[PROFILE]", help="Profile to materialize (default: the project's "
        "default-env, or the only profile of --lock FILE).")] = None
    name: Annotated[str | None, Opt(
        "--name", "-n", metavar="N", help="Env name (default: the profile's).")] = None
    lock_file: Annotated[Path | None, Opt(
        "--lock", metavar="FILE", help="Use exactly this lock; never resolve.")] = None
    target: Annotated[str | None, Opt(
        "--target", metavar="T", help="Target instead of the detected one, "
        "e.g. rocm6.4:gfx1100.")] = None
    python: Annotated[str | None, Opt("--python", metavar="X.Y",
                                      help="Python version.")] = None
    offline: Annotated[bool, OFFLINE] = False
    locked: Annotated[bool, Opt(
        "--locked", help="Fail if the project's lock is stale instead of re-locking.")] = False
    project: Annotated[Path | None, PROJECT] = None
    reinstall: Annotated[bool, REINSTALL] = False
    wheels: Annotated[Path | None, Opt(
        "--wheels", metavar="DIR", help="Install the locked wheels found in this folder "
        "(made by `mlstack bundle`); with --offline all must be there.")] = None
    as_json: Annotated[bool, JSON] = False


@record
class LockOptions:
    """``mlstack lock``'s options."""

    profiles: Annotated[list[str] | None, Arg(
        help="Profiles to lock (default: the project's, or its default-env).",
        show_default=False, metavar="[PROFILE]...")] = None
    target: Annotated[list[str] | None, Opt(
        "--target", "-t", help="Target to lock for, e.g. rocm6.4:gfx1100 or cpu; "
        "repeatable (default: the project's targets, else this machine's).",
        show_default=False, metavar="T")] = None
    python: Annotated[str | None, Opt(
        "--python", help="Python X.Y to lock for.", metavar="X.Y")] = None
    output: Annotated[Path | None, Opt(
        "-o", "--output", help="Lock file to write (default: mlstack.lock beside "
        "mlstack.toml).", dir_okay=False, metavar="FILE")] = None
    check: Annotated[bool, Opt(
        "--check", help="Exit 1 if the lock is missing or stale; write nothing.")] = False
    project_dir: Annotated[Path | None, MANIFEST_DIR] = None
    export_pylock: Annotated[Path | None, Opt(
        "--export-pylock", help="Also write one PEP 751 pylock.<name>.toml per entry "
        "into DIR.", metavar="DIR", file_okay=False)] = None
    offline: Annotated[bool, CACHE_ONLY] = False
    upgrade: Annotated[bool, Opt(
        "--upgrade", "-U", help="Take the newest versions the profiles allow, from fresh "
        "index pages (default: re-locked entries keep their versions).")] = False
    upgrade_package: Annotated[list[str] | None, Opt(
        "--upgrade-package", "-P", help="Take the newest version of P (from a fresh index "
        "page) and keep every other package; repeatable.", show_default=False,
        metavar="P")] = None
    locked: Annotated[bool, Opt("--locked", help="Fail instead of changing the lock.")] = False
    as_json: Annotated[bool, JSON] = False
