"""``mlstack env …``: create, list, info, remove, export, verify, rollback.

Commands parse, call :mod:`mlstack_env.store`, and render a result; activation's
commands (run, activate, shell) register themselves from ``cli/env_activation.py``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import emit, human_bytes
from mlstack_env.cli.progress import StepProgress, is_quiet, say
from mlstack_env.errors import MlstackError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.hardware import Machine
    from mlstack_env.lockfile import LockEntry
    from mlstack_env.store import Created, Generation, NamedEnv
    from mlstack_env.store.gc import GcReport
    from mlstack_env.store.verify import VerifyReport

env_app = typer.Typer(
    name="env",
    help="Create, inspect, verify and use environments.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The env's name.")]
_PYTHON_RE = re.compile(r"3\.\d+")


# --- create ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateResult:
    created: Created
    source: str

    @property
    def size(self) -> int:
        from mlstack_env.store.files import tree_size

        return tree_size(self.created.store_entry.path)

    def to_json(self) -> dict[str, Any]:
        data = self.created.to_json()
        data["source"] = self.source
        return data

    def render(self, console: Console) -> None:
        c = self.created
        if c.up_to_date:
            head = f"env {c.name} is up to date (generation {c.generation.number})"
        else:
            head = f"created env {c.name}, generation {c.generation.number}"
        console.print(head, soft_wrap=True)
        console.print(f"  from      {self.source}: {c.entry.key}", soft_wrap=True)
        how = "reused, no install" if c.reused else "built"
        console.print(f"  store     {c.store_entry.key} ({how}, {human_bytes(self.size)})",
                      soft_wrap=True)
        for line in installed_summary(c.entry):
            console.print(f"  {line}", soft_wrap=True)
        for k, v in c.variables.items():
            console.print(f"  {k}={v}", soft_wrap=True)
        for note in c.notes:
            console.print(f"note: {note}", soft_wrap=True)
        console.print(
            f"use it:    mlstack env shell {c.name}   or   mlstack env run {c.name} -- CMD",
            soft_wrap=True,
        )


@dataclass(frozen=True)
class Choice:
    entry: LockEntry
    source: str
    lock_versions: tuple[str, str] | None


def choose_entry(
    *,
    profile: str | None,
    lock_file: Path | None,
    target_text: str | None,
    python: str | None,
    offline: bool,
    locked: bool,
    project_dir: Path | None,
    machine: Machine,
) -> Choice:
    """The lock entry to materialize: from ``--lock FILE`` exactly, else the project's lock
    (re-locked when stale), else the built-in profile resolved for this machine."""
    from mlstack_env.lockfile import fits, read_lock, select_entry
    from mlstack_env.target import Target

    if python is not None and not _PYTHON_RE.fullmatch(python):
        raise MlstackError(f"invalid --python {python!r}", hint="write it as X.Y, e.g. 3.12")
    target = Target.parse(target_text) if target_text else machine.target
    if lock_file is not None:
        lock = read_lock(lock_file)
        if profile is None:
            fitting = sorted({e.profile for e in lock.entries if fits(e, target, python)})
            if len(fitting) > 1:
                raise MlstackError(
                    f"several profiles of {lock_file} fit this machine: {', '.join(fitting)}",
                    hint=f"name one: mlstack env create {fitting[0]} --lock {lock_file}",
                )
        entry = select_entry(lock, target, profile, python, source=str(lock_file))
        return Choice(entry, str(lock_file), (lock.mlstack_version, lock.uv_version))
    from mlstack_env.project import find_project
    from mlstack_env.resolve import entry_for_env

    project = find_project(Path.cwd(), project_dir)
    if profile is None:
        if project is None or not project.default_env:
            where = f"{project.manifest_path} sets no default-env" if project else \
                "there is no mlstack.toml here"
            raise MlstackError(
                f"which profile? {where}",
                hint="name one: mlstack env create minimal (built-in: minimal, inference, "
                "training), or pass --lock FILE",
            )
        profile = project.default_env
    chosen = entry_for_env(profile, target, python, project_dir, locked=locked, offline=offline)
    if project is None:
        return Choice(chosen, f"built-in profile {profile}", None)
    return Choice(chosen, str(project.lock_path), None)


def create(
    profile: str | None,
    *,
    name: str | None,
    lock_file: Path | None,
    target_text: str | None,
    python: str | None,
    offline: bool,
    locked: bool,
    project_dir: Path | None,
    quiet: bool,
    reinstall: bool = False,
    wheels_dir: Path | None = None,
) -> CreateResult:
    from mlstack_env.config import load_config
    from mlstack_env.envname import validate_env_name
    from mlstack_env.hardware import detect
    from mlstack_env.store import UvInstaller, create_env
    from mlstack_env.store.entries import NoProgress

    if name is not None:
        validate_env_name(name)
    if lock_file is not None and locked:
        raise MlstackError(
            "--locked and --lock FILE do not go together",
            hint="--lock FILE already uses exactly that lock and never re-resolves",
        )
    if reinstall and offline and wheels_dir is None:
        raise MlstackError(
            "--reinstall fetches the wheels again; it cannot work --offline",
            hint="run it with network access (or a reachable [mirrors] entry), or give a "
            "wheel bundle with --wheels DIR",
        )
    if wheels_dir is not None and not wheels_dir.is_dir():
        raise MlstackError(
            f"--wheels {wheels_dir}: no such folder",
            hint="make one with `mlstack bundle --lock LOCK -o DIR` on a machine with network "
            "access, and copy it here",
        )
    machine = detect()
    progress = NoProgress() if quiet else StepProgress()
    with progress.step(_choosing(profile, lock_file, target_text or str(machine.target))):
        choice = choose_entry(
            profile=profile, lock_file=lock_file, target_text=target_text, python=python,
            offline=offline, locked=locked, project_dir=project_dir, machine=machine,
        )
    env_name = validate_env_name(name or choice.entry.profile)
    config = load_config()
    created = create_env(
        env_name,
        choice.entry,
        machine,
        installer=UvInstaller(mirrors=config.mirrors, offline=offline, refresh=reinstall,
                              wheels_dir=wheels_dir),
        source=choice.source,
        lock_versions=choice.lock_versions,
        progress=progress,
        on_wait=None if quiet else _say,
        reinstall=reinstall,
        wheels=str(wheels_dir.resolve()) if wheels_dir is not None else "",
    )
    return CreateResult(created, choice.source)


def _choosing(profile: str | None, lock_file: Path | None, target: str) -> str:
    if lock_file is not None:
        return f"reading {lock_file} for {target}"
    return f"resolving {profile or 'the default env'} for {target}"


def _say(message: str) -> None:
    say(message)


# --- list / info -----------------------------------------------------------------------


def installed_summary(entry: LockEntry) -> list[str]:
    """What matters in an env, one line each: torch and the build it is (ROCm or CPU,
    from its local version label, e.g. ``2.8.0+rocm6.4``)."""
    lines = []
    for name in ("torch", "torchvision", "vllm", "onnxruntime-rocm", "jax"):
        pkg = next((p for p in entry.packages if p.name == name), None)
        if pkg is None:
            continue
        _, _, local = pkg.version.partition("+")
        build = f" (ROCm {local[4:]} build)" if local.startswith("rocm") else \
            " (CPU build)" if local == "cpu" else ""
        lines.append(f"{name:<9} {pkg.version}{build}")
    return lines


def _summary(env: NamedEnv) -> dict[str, Any]:
    gen = env.current()
    fp = gen.fingerprint() if gen else None
    return {
        "name": env.name,
        "generation": gen.number if gen else None,
        "profile": fp.profile if fp else None,
        "target": fp.target if fp else None,
        "python": fp.python if fp else None,
        "store_key": gen.store_key if gen else None,
        "created": fp.created if fp else None,
        "path": str(env.path),
    }


@dataclass(frozen=True)
class ListResult:
    envs: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"envs": self.envs}

    def render(self, console: Console) -> None:
        if not self.envs:
            console.print("no envs yet; create one with `mlstack env create PROFILE`")
            return
        from mlstack_env.cli.tables import print_table

        rows = [[e["name"], str(e["generation"]), e["profile"] or "-", e["target"] or "-",
                 e["python"] or "-", e["created"] or "-"] for e in self.envs]
        print_table(console, ("name", "gen", "profile", "target", "python", "created"), rows)


@dataclass(frozen=True)
class InfoResult:
    env: NamedEnv
    generation: Generation

    def to_json(self) -> dict[str, Any]:
        fp = self.generation.fingerprint()
        prev = self.env.previous()
        return {
            "name": self.env.name,
            "path": str(self.env.path),
            "generation": self.generation.number,
            "generation_path": str(self.generation.path),
            "generations": [g.number for g in self.env.generations()],
            "previous": prev.number if prev else None,
            "venv": str(self.generation.venv.resolve()),
            "store_key": self.generation.store_key,
            "fingerprint": fp.to_json() if fp else None,
        }

    def render(self, console: Console) -> None:
        data = self.to_json()
        fp = data["fingerprint"] or {}
        rows = [
            ("env", f"{data['name']} ({data['path']})"),
            ("generation", f"{data['generation']} of {data['generations']}"
                           + (f"; rollback goes to {data['previous']}" if data["previous"]
                              else "")),
            ("profile", fp.get("profile", "-")),
            ("target", fp.get("target", "-")),
            ("python", fp.get("python", "-")),
            ("from", fp.get("source", "-")),
            ("lock hash", fp.get("lock_hash", "-")),
            ("store", f"{data['store_key']} ({data['venv']})"),
            ("machine", _machine_line(fp.get("machine") or {})),
            ("made by",
             f"mlstack {fp.get('mlstack_version', '?')}, uv {fp.get('uv_version', '?')}"),
            ("created", fp.get("created", "-")),
        ]
        for key, value in rows:
            console.print(f"{key:<11}{value}", soft_wrap=True)
        for k, v in (fp.get("variables") or {}).items():
            console.print(f"{'':<11}{k}={v}", soft_wrap=True)


def _machine_line(m: dict[str, Any]) -> str:
    gfx = ",".join(m.get("gfx") or []) or "no GPU"
    return f"{gfx}; ROCm {m.get('rocm') or '-'}; kernel {m.get('kernel') or '-'}"


# --- verify / gc -----------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    name: str
    generation: int
    report: VerifyReport

    @property
    def exit_code(self) -> int:
        return 0 if self.report.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "generation": self.generation, **self.report.to_json()}

    def render(self, console: Console) -> None:
        r = self.report
        if r.ok:
            console.print(
                f"env {self.name} (generation {self.generation}): {r.packages} packages, "
                f"{r.files} files match the lock and their RECORD hashes", soft_wrap=True,
            )
            return
        for p in r.problems:
            console.print(f"{p.package}: {p.detail}", soft_wrap=True)


@dataclass(frozen=True)
class GcResult:
    report: GcReport

    def to_json(self) -> dict[str, Any]:
        return self.report.to_json()

    def render(self, console: Console) -> None:
        from mlstack_env.cli.output import human_bytes

        r = self.report
        verb = "would remove" if r.dry_run else "removed"
        for g in r.generations:
            console.print(f"{verb} generation {g.number} of env {g.env}")
        for e in r.entries:
            console.print(f"{verb} store entry {e.key}")
        for g in r.held:
            console.print(f"kept generation {g.number} of env {g.env}: in use")
        for name in r.busy_envs:
            console.print(f"skipped env {name}: another mlstack command is working on it")
        if r.temporaries:
            console.print(f"{verb} {len(r.temporaries)} leftover temporary director"
                          f"{'y' if len(r.temporaries) == 1 else 'ies'}")
        if not (r.generations or r.entries or r.temporaries):
            console.print("nothing to remove")
        else:
            console.print(f"{verb} {human_bytes(r.freed_bytes)} of store entries")


# --- commands --------------------------------------------------------------------------


@env_app.command("create")
def create_cmd(  # noqa: PLR0917 - typer maps each option to a parameter
    profile: Annotated[str | None, typer.Argument(
        metavar="[PROFILE]",
        help="Profile to materialize (default: the project's default-env, or the only "
        "profile of --lock FILE).")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", metavar="N",
                                             help="Env name (default: the profile's).")] = None,
    lock_file: Annotated[Path | None, typer.Option(
        "--lock", metavar="FILE", help="Use exactly this lock; never resolve.")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", metavar="T", help="Target instead of the detected one, "
        "e.g. rocm6.4:gfx1100.")] = None,
    python: Annotated[str | None, typer.Option("--python", metavar="X.Y",
                                               help="Python version.")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="No network: the uv cache must hold the wheels.")] = False,
    locked: Annotated[bool, typer.Option(
        "--locked", help="Fail if the project's lock is stale instead of re-locking.")] = False,
    project: Annotated[Path | None, typer.Option(
        "--project", metavar="DIR", help="The project directory (default: found upward "
        "from here).")] = None,
    reinstall: Annotated[bool, typer.Option(
        "--reinstall", help="Install the wheels again even when the store holds them "
        "(after `env verify` found changed files).")] = False,
    wheels: Annotated[Path | None, typer.Option(
        "--wheels", metavar="DIR", help="Install the locked wheels found in this folder "
        "(made by `mlstack bundle`); with --offline all must be there.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Materialize a lock entry as a named env (a new generation when it exists)."""
    result = create(
        profile, name=name, lock_file=lock_file, target_text=target, python=python,
        offline=offline, locked=locked, project_dir=project, quiet=as_json or is_quiet(),
        reinstall=reinstall, wheels_dir=wheels,
    )
    if as_json or not is_quiet():  # -q: nothing on success
        emit(result, as_json)


@env_app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """List the envs."""
    from mlstack_env.store import all_envs

    emit(ListResult([_summary(e) for e in all_envs()]), as_json)


def _current(name: str) -> tuple[NamedEnv, Generation]:
    from mlstack_env.store import get_env

    env = get_env(name)
    gen = env.current()
    if gen is None:  # removed between the two reads
        raise MlstackError(f"no env named {name!r}", hint="see `mlstack env list`")
    return env, gen


@env_app.command("info")
def info_cmd(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show an env: generation, fingerprint, store entry, variables."""
    env, gen = _current(name)
    emit(InfoResult(env, gen), as_json)


@env_app.command("remove")
def remove_cmd(name: NameArg) -> None:
    """Remove an env (all its generations); `mlstack gc` then frees its store entries."""
    from mlstack_env.store import get_env
    from mlstack_env.store.generations import remove_env

    env = get_env(name)
    with env.lock(on_wait=lambda: _say(f"waiting for another mlstack command on env {name}")):
        env = get_env(name)  # it may have gone while we waited
        remove_env(env)
    if not is_quiet():
        typer.echo(f"removed env {name}; run `mlstack gc` to free store entries no env uses")


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
        raise MlstackError(f"cannot read the lock of env {name}: {e.strerror}",
                           hint=f"re-create the env: mlstack env create --name {name}") from None
    if output is None:
        sys.stdout.write(text)
        return
    from mlstack_env.lockfile import write_atomic

    write_atomic(output, text)
    say(f"wrote the lock of env {name} to {output}")


@env_app.command("verify")
def verify_cmd(name: NameArg, as_json: JsonOpt = False) -> None:
    """Check installed files against their RECORD hashes and the locked versions."""
    from mlstack_env.store.verify import verify_venv

    _env, gen = _current(name)
    result = VerifyResult(name, gen.number, verify_venv(gen.venv, gen.entry()))
    emit(result, as_json)
    if not result.report.ok:
        changed = ", ".join(result.report.changed)
        from mlstack_env.cli import report

        raise typer.Exit(report(MlstackError(
            f"env {name} does not match its lock: {changed}",
            hint=f"reinstall it: `{_reinstall_command(gen)}`",
        )))


def _reinstall_command(gen: Generation) -> str:
    fp = gen.fingerprint()
    if fp is None:
        return f"mlstack env create --name {gen.env} --reinstall"
    return f"{fp.recreate_command()} --reinstall"


@env_app.command("rollback")
def rollback_cmd(name: NameArg) -> None:
    """Switch back to the previous generation."""
    from mlstack_env.store import get_env

    env = get_env(name)
    with env.lock(on_wait=lambda: _say(f"waiting for another mlstack command on env {name}")):
        env = get_env(name)
        cur = env.current()
        prev = env.previous()
        if cur is None or prev is None:
            raise MlstackError(
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
    ) -> None:
        """Remove store entries no env uses, and generations older than the previous one."""
        from mlstack_env.store.gc import collect

        emit(GcResult(collect(dry_run=dry_run)), as_json)


def _register_activation() -> None:
    from mlstack_env.cli import env_activation

    env_activation.register(env_app)


_register_activation()
