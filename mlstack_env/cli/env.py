"""``mlstack env …``: create, list, info, remove, export, verify, rollback.

Commands parse, call :mod:`mlstack_env.actions.create` or :mod:`mlstack_env.store`, and return
what :func:`~mlstack_env.cli.output.emit` renders (results in ``cli/env_results.py``); activation's
commands (run, activate, shell) register themselves from ``cli/env_activation.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlstack_env.cli import lean
from mlstack_env.cli.env_results import GcResult, VerifyResult
from mlstack_env.cli.options import OFFLINE, PROJECT, REINSTALL, CreateOptions
from mlstack_env.cli.output import emit
from mlstack_env.cli.progress import is_quiet, say
from mlstack_env.cli.signature import JsonOpt, param, takes
from mlstack_env.core.errors import EnvNotFound, ExitCode, LockError, StoreError

if TYPE_CHECKING:
    from mlstack_env.store.fingerprint import Fingerprint
    from mlstack_env.store.generations import Generation, NamedEnv

env_app = typer.Typer(
    name="env",
    help="Create, inspect, verify and use environments.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

OfflineOpt = Annotated[bool, param(OFFLINE)]
ProjectOpt = Annotated[Path | None, param(PROJECT)]
ReinstallOpt = Annotated[bool, param(REINSTALL)]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The env's name.")]


# --- create ----------------------------------------------------------------------------


def _say(message: str) -> None:
    say(message)


# --- commands --------------------------------------------------------------------------


@env_app.command("create")
@takes(CreateOptions)
def create_cmd(options: CreateOptions) -> int:
    """Materialize a lock entry as a named env (a new generation when it exists)."""
    return lean.env_create(options)


@env_app.command("list")
def list_cmd(as_json: JsonOpt = False) -> int:
    """List the envs."""
    return lean.env_list(**locals())


def _current(name: str) -> tuple[NamedEnv, Generation]:
    from mlstack_env.store.generations import get_env

    env = get_env(name)
    gen = env.current()
    if gen is None:  # removed between the two reads
        raise EnvNotFound(name)
    return env, gen


@env_app.command("info")
def info_cmd(name: NameArg, as_json: JsonOpt = False) -> int:
    """Show an env: generation, fingerprint, store entry, variables."""
    return lean.env_info(**locals())


@env_app.command("remove")
def remove_cmd(name: NameArg) -> None:
    """Remove an env (all its generations); `mlstack gc` then frees its store entries."""
    from mlstack_env.store.generations import get_env
    from mlstack_env.store.removal import remove_env, removed_message

    env = get_env(name)
    with env.lock(on_wait=lambda: _say(f"waiting for another mlstack command on env {name}")):
        env = get_env(name)  # it may have gone while we waited
        held = remove_env(env)
    if not is_quiet():
        typer.echo(removed_message(name, held))


@env_app.command("export")
def export_cmd(
    name: NameArg,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")] = None,
) -> None:
    """Print the env's lock (one entry), for a teammate's `env create --lock FILE`."""
    _env, gen = _current(name)
    try:
        text = (gen.path / "lock.toml").read_text(encoding="utf-8")
    except OSError as e:
        raise StoreError(f"cannot read the lock of env {name}: {e.strerror}",
                         hint=f"re-create the env: mlstack env create --name {name}") from None
    if output is None:
        sys.stdout.write(text)
        return
    from mlstack_env.core.userfile import write_atomic

    write_atomic(output, text)
    say(f"wrote the lock of env {name} to {output}")


@env_app.command("verify")
def verify_cmd(name: NameArg, as_json: JsonOpt = False) -> int:
    """Check installed files against their RECORD hashes and the locked versions."""
    from mlstack_env.store.verify import verify_venv

    _env, gen = _current(name)
    result = VerifyResult(name, gen.number, verify_venv(gen.venv, gen.entry()))
    if emit(result, as_json) != 0:
        err = StoreError(
            f"env {name} does not match its lock: {', '.join(result.report.changed)}",
            hint=_repair_hint(gen),
        )
        if as_json:  # stdout holds the result already: one JSON document, the error on stderr
            from mlstack_env.cli.report import report

            return report(err)
        raise err
    return ExitCode.OK


def _sharing(gen: Generation) -> list[str]:
    """The other envs whose current generation links the same store entry."""
    from mlstack_env.store.generations import all_envs

    out = []
    for env in all_envs():
        cur = env.current()
        if env.name != gen.env and cur is not None and cur.store_key == gen.store_key:
            out.append(env.name)
    return out


def _source_holds(fp: Fingerprint) -> bool:
    """Does the lock file the env was made from still hold its entry (it may have moved
    on: the reinstall then brings the env to the lock, as `mlstack run` would)?"""
    from mlstack_env.lockfile import read_lock

    if not fp.source.endswith(".lock") or not Path(fp.source).is_file():
        return False
    try:
        return read_lock(Path(fp.source)).get(
            f"{fp.profile}@{fp.target}@py{fp.python}") is not None
    except LockError:
        return False


def _from_own_lock(gen: Generation, fp: Fingerprint) -> str:
    """The create that rebuilds exactly this generation's entry, from its own copy of it
    (the lock it came from lost the entry, or it came from a profile resolved then)."""
    import shlex

    from mlstack_env.store.generations import LOCK_NAME

    cmd = (f"mlstack env create {shlex.quote(fp.profile)} --name {shlex.quote(fp.name)} "
           f"--lock {shlex.quote(str(gen.path / LOCK_NAME))}")
    return cmd + (f" --wheels {shlex.quote(fp.wheels)}" if fp.wheels else "")


def _repair_hint(gen: Generation) -> str:
    """How to get the env's files back: reinstall a created env; unpack an unpacked one
    again (its venv was never installed here, and unpack keeps an existing DIR)."""
    import shlex

    fp = gen.fingerprint()
    if fp is None:
        return f"reinstall it: `mlstack env create --name {gen.env} --reinstall`"
    archive = fp.unpacked_from
    if archive is None:
        shared = _sharing(gen)
        also = (f"; it rebuilds the store entry {gen.store_key}, which env"
                f"{'s' if len(shared) > 1 else ''} {', '.join(shared)} also use"
                f"{'' if len(shared) > 1 else 's'}") if shared else ""
        again = fp.recreate_command() if _source_holds(fp) else _from_own_lock(gen, fp)
        return f"reinstall it: `{again} --reinstall`{also}"
    name, directory = shlex.quote(gen.env), shlex.quote(str(gen.venv.resolve().parent))
    return (f"unpack the archive again: `mlstack env remove {name}`, delete {directory}, "
            f"then `mlstack env unpack {shlex.quote(archive)} {directory} --name {name}`")


@env_app.command("rollback")
def rollback_cmd(name: NameArg) -> None:
    """Switch back to the previous generation."""
    from mlstack_env.store.generations import get_env

    env = get_env(name)
    with env.lock(on_wait=lambda: _say(f"waiting for another mlstack command on env {name}")):
        env = get_env(name)
        cur = env.current()
        prev = env.previous()
        if cur is None or prev is None:
            raise StoreError(
                f"env {name} has no generation before {cur.number if cur else '?'}",
                hint="gc keeps only the current and previous generations; "
                "see `mlstack env info NAME`",
            )
        env.switch(prev)
    if not is_quiet():
        typer.echo(f"env {name}: generation {cur.number} -> {prev.number}")


def register_gc(app: typer.Typer) -> None:
    @app.command("gc")
    def gc_cmd(
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")]
        = False,
        as_json: JsonOpt = False,
    ) -> int:
        """Remove store entries no env uses, and generations older than the previous one."""
        from mlstack_env.store.gc import collect

        return emit(GcResult(collect(dry_run=dry_run)), as_json)


def _register_activation() -> None:
    from mlstack_env.cli import env_activation, pack

    env_activation.register(env_app)
    pack.register(env_app)


_register_activation()
