"""``mlstack env pack NAME -o FILE`` and ``mlstack env unpack FILE DIR``.

For the env group's owner (``cli/env.py``): ``pack.register(env_app)`` adds both commands.
The work is in :mod:`mlstack_env.store.pack`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import Result, emit, human_bytes
from mlstack_env.cli.signature import JsonOpt
from mlstack_env.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.store.pack import Packed
    from mlstack_env.store.unpack import Unpacked



@dataclass(frozen=True)
class PackResult(Result):
    summary = True  # -q silences it (output.emit)
    packed: Packed

    def to_json(self) -> dict[str, Any]:
        return self.packed.to_json()

    def render(self, console: Console) -> None:
        p = self.packed
        console.print(f"packed env {p.name} into {p.path} ({p.format}, {human_bytes(p.size)}, "
                      f"{p.files} files; needs Python {p.python} where it is unpacked)",
                      soft_wrap=True)
        console.print(f"unpack it:  mlstack env unpack {p.path.name} DIR", soft_wrap=True)


@dataclass(frozen=True)
class UnpackResult(Result):
    summary = True  # -q silences it (output.emit)
    unpacked: Unpacked

    def to_json(self) -> dict[str, Any]:
        return self.unpacked.to_json()

    def render(self, console: Console) -> None:
        u = self.unpacked
        if u.registered:
            head = f"unpacked env {u.name} into {u.directory} (generation {u.generation})"
        else:
            head = f"env {u.name} is already {u.directory} (generation {u.generation})"
        console.print(head, soft_wrap=True)
        console.print(f"  python    {u.python} ({u.interpreter})", soft_wrap=True)
        if u.shebangs:
            console.print(f"  fixed     {u.shebangs} script shebangs", soft_wrap=True)
        console.print(f"use it:    mlstack env run {u.name} -- CMD   or   "
                      f". {u.directory}/bin/activate", soft_wrap=True)


def pack(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The env to pack.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", metavar="FILE",
        help="The archive: NAME.tar.zst (zstd), NAME.tar.gz, or NAME.sqsh (squashfs, "
             "needs mksquashfs). Required.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pack an env into one archive that `env unpack` sets up at another path or node."""
    from mlstack_env.store.pack import pack_env

    if output is None:
        raise UsageError("where to? `mlstack env pack` needs -o FILE",
                         hint=f"e.g. mlstack env pack {name} -o {name}.tar.zst")
    emit(PackResult(pack_env(name, output)), as_json)


def unpack(
    archive: Annotated[Path, typer.Argument(metavar="FILE", help="An archive from `env pack`.")],
    directory: Annotated[Path, typer.Argument(
        metavar="DIR", help="Where the env goes (new or empty), e.g. node-local /tmp/NAME.")],
    name: Annotated[str | None, typer.Option(
        "--name", "-n", metavar="N", help="Register it under this name (default: the "
        "packed env's).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Unpack an env archive into DIR, no network needed, and register it as a named env."""
    from mlstack_env.store.unpack import unpack_env

    emit(UnpackResult(unpack_env(archive, directory, name=name)), as_json)


def register(env_app: typer.Typer) -> None:
    env_app.command("pack")(pack)
    env_app.command("unpack")(unpack)
