"""``mlstack export docker|apptainer [NAME | --lock FILE …] -o PATH``: a container recipe
(see :mod:`mlstack_env.export.containers`)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.options import JSON, Arg, Opt
from mlstack_env.cli.output import Result, emit
from mlstack_env.cli.signature import takes
from mlstack_env.core.errors import EnvNotFound, LockError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.export.containers import Recipe
    from mlstack_env.lockfile import LockEntry


@dataclass(frozen=True)
class ExportResult(Result):
    summary = True  # -q silences it (output.emit)
    recipe: Recipe
    recipe_path: Path
    lock_path: Path

    def to_json(self) -> dict[str, Any]:
        return self.recipe.to_json(self.recipe_path, self.lock_path)

    def render(self, console: Console) -> None:
        r = self.recipe
        beside = " and ".join([self.lock_path.name, *(n for n, _ in r.files)])
        console.print(f"wrote {self.recipe_path} and {beside} beside it, for "
                      f"{r.entry.key}", soft_wrap=True)
        console.print(f"  base      {r.base}", soft_wrap=True)
        if r.mirrors:
            console.print(f"  mirrors   {', '.join(r.mirrors.values())} (in the recipe)",
                          soft_wrap=True)
        where = self.recipe_path.parent
        if r.kind == "docker":
            console.print(f"build:     docker build -t {r.entry.profile} {where}",
                          soft_wrap=True)
        else:
            console.print(f"build:     cd {where} && apptainer build {r.entry.profile}.sif "
                          f"{self.recipe_path.name}", soft_wrap=True)


def _entry(name: str | None, *, lock_file: Path | None, profile: str | None,
           target: str | None, python: str | None, project: Path | None,
           again: str = "mlstack export docker -o PATH") -> tuple[LockEntry, str, str]:
    """The entry to export, the name its pylock file is called after, and where the entry
    came from (a lock file's path, or what the env was made from)."""
    if name is not None:
        if lock_file is not None or profile or target or python:
            raise UsageError("an env NAME and --lock/--profile/--target/--python do not go "
                             "together", hint="export an env by name, or an entry of a lock")
        from mlstack_env.store.generations import get_env

        gen = get_env(name).current()
        if gen is None:
            raise EnvNotFound(name)
        fingerprint = gen.fingerprint()
        return gen.entry(), name, fingerprint.source if fingerprint else f"env {name}"
    from mlstack_env.catalog.target import Target
    from mlstack_env.export.bundle import lock_path_for
    from mlstack_env.lockfile import read_lock, select_entry

    path = lock_path_for(lock_file, project, Path.cwd())
    lock = read_lock(path)
    if target is not None:
        entry = select_entry(lock, Target.parse(target), profile, python, source=str(path))
        return entry, entry.profile, str(path)
    found = [e for e in lock.entries if (profile is None or e.profile == profile)
             and (python is None or e.python == python)]
    if len(found) != 1:
        raise _not_one(path, found, lock_file, again)
    return found[0], found[0].profile, str(path)


def _not_one(path: Path, found: list[LockEntry], lock_file: Path | None,
             again: str) -> LockError:
    """None or several entries match: the error, with the command that exports each."""
    keys = ", ".join(e.key for e in found) or "none"
    # The command that exports each, to paste (the one the user ran, narrowed).
    picks = "; ".join(
        f"`{again} --lock {shlex.quote(str(lock_file or path.name))} --profile "
        f"{shlex.quote(e.profile)} --target {e.target}"
        + (f" --python {e.python}" if sum(f.profile == e.profile and f.target == e.target
                                             for f in found) > 1 else "") + "`"
        for e in found)
    return LockError(
        f"{path}: {len(found)} entries match ({keys})" if found else
        f"{path} has no entry for that profile/Python",
        hint=f"pick one: {picks}" if found else
        "choose one with --profile P and --target T (see `mlstack lock`'s targets)",
    )


@dataclass(frozen=True)
class ExportOptions:
    """``mlstack export``'s options (:mod:`mlstack_env.cli.options`)."""

    kind: Annotated[str, Arg(metavar="docker|apptainer", help="The recipe to write.")]
    name: Annotated[str | None, Arg(
        metavar="[NAME]", help="An env to export (else an entry of --lock).")] = None
    output: Annotated[Path | None, Opt(
        "-o", "--output", metavar="PATH", help="The recipe (e.g. Dockerfile, NAME.def); "
        "the lock is written beside it. Required.")] = None
    lock_file: Annotated[Path | None, Opt(
        "--lock", metavar="FILE", help="The lock (default: the project's).")] = None
    profile: Annotated[str | None, Opt(
        "--profile", metavar="P", help="The lock entry's profile.")] = None
    target: Annotated[str | None, Opt(
        "--target", metavar="T", help="The lock entry's target, e.g. rocm6.4:gfx942.")] = None
    python: Annotated[str | None, Opt(
        "--python", metavar="X.Y", help="The lock entry's Python.")] = None
    project: Annotated[Path | None, Opt(
        "--project", metavar="DIR", help="The project directory.")] = None
    base: Annotated[str | None, Opt(
        "--base", metavar="IMAGE", help="Base image instead of AMD's ROCm image for the "
        "entry's ROCm version.")] = None
    with_mirrors: Annotated[bool, Opt(
        "--with-mirrors", help="Put the config's [mirrors] into the recipe (default: "
        "canonical URLs only; pass mirrors at build time).")] = False
    as_json: Annotated[bool, JSON] = False


def register(app: typer.Typer) -> None:
    @app.command("export")
    @takes(ExportOptions)
    def export_cmd(options: ExportOptions) -> int:
        """Write a Dockerfile or Apptainer definition that rebuilds a lock entry in an image."""
        from mlstack_env.export.containers import KINDS, make_recipe, write_recipe

        o = options
        if o.kind not in KINDS:
            raise UsageError(f"unknown container kind {o.kind!r}",
                             hint="use `mlstack export docker` or `mlstack export apptainer`")
        if o.output is None:
            example = "Dockerfile" if o.kind == "docker" else "env.def"
            raise UsageError(f"where to? `mlstack export {o.kind}` needs -o PATH",
                             hint=f"e.g. mlstack export {o.kind} NAME -o {example}")
        entry, slug, source = _entry(
            o.name, lock_file=o.lock_file, profile=o.profile, target=o.target,
            python=o.python, project=o.project,
            again=f"mlstack export {o.kind} -o {shlex.quote(str(o.output))}")
        from mlstack_env.fetch.urlpolicy import url_policy

        policy = url_policy(source, o.project)  # make_recipe checks the entry against it
        mirrors = None
        if o.with_mirrors:
            from mlstack_env.fetch.config import load_config

            mirrors = dict(load_config().mirrors)
        recipe = make_recipe(o.kind, entry, name=slug, policy=policy, source=source,
                             mirrors=mirrors, base=o.base)
        recipe_path, lock_path = write_recipe(recipe, o.output)
        return emit(ExportResult(recipe, recipe_path, lock_path), o.as_json)
