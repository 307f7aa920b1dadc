"""The results ``mlstack env …`` commands return: JSON for ``--json`` and a human rendering,
both printed by :func:`mlstack_env.cli.output.emit`."""

from __future__ import annotations

import sys

from mlstack_env.cli.output import Result
from mlstack_env.core.errors import ExitCode
from mlstack_env.core.units import human_bytes

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from mlstack_env.actions.create import CreateOutcome
    from mlstack_env.lockfile import LockEntry
    from mlstack_env.store.gc import GcReport
    from mlstack_env.store.generations import Generation, NamedEnv
    from mlstack_env.store.verify import VerifyReport


# Results are plain classes: creating a dataclass costs ~0.5 ms at import, on the paths
# of `env create` (a store hit) and `env list` (docs/performance.md).


# --- create ----------------------------------------------------------------------------


class CreateResult(Result):
    """`env create`'s result, rendered for people or as JSON."""
    summary = True  # -q silences it (output.emit)

    def __init__(self, outcome: CreateOutcome) -> None:
        self.outcome = outcome

    @property
    def size(self) -> int:
        """Bytes the store entry takes on disk (hardlinks shared with uv's cache counted once)."""
        from mlstack_env.core.diskusage import usage

        return usage(self.outcome.created.store_entry.path).total

    def to_json(self) -> dict[str, Any]:
        from mlstack_env.lockfile import key_versions

        data = self.outcome.created.to_json()
        data["source"] = self.outcome.source
        data["python_why"] = self.outcome.python_why
        data["target_why"] = self.outcome.target_why
        data["key_versions"] = key_versions(self.outcome.created.entry)
        data["lock_change"] = self.outcome.change.to_json() if self.outcome.change else None
        # What mlstack downloaded for this create (None: nothing to fetch, a store hit).
        fetched = sys.modules.get("mlstack_env.fetch.download")  # loaded only if files were needed
        report = fetched.last_report() if fetched is not None else None
        data["downloads"] = report.to_json() if report is not None else None
        return data

    def render(self, console: Console) -> None:
        c = self.outcome.created
        if c.up_to_date:
            head = f"env {c.name} is up to date (generation {c.generation.number})"
        else:
            head = f"created env {c.name}, generation {c.generation.number}"
        console.print(head, soft_wrap=True)
        console.print(f"  from      {self.outcome.source}: {c.entry.key}", soft_wrap=True)
        if self.outcome.target_why:
            console.print(f"  target    {c.entry.target} ({self.outcome.target_why})",
                          soft_wrap=True)
        why = f" ({self.outcome.python_why})" if self.outcome.python_why else ""
        console.print(f"  python    {c.entry.python}{why}", soft_wrap=True)
        how = "reused, no install" if c.reused else "built"
        console.print(f"  store     {c.store_entry.key} ({how}, {human_bytes(self.size)})",
                      soft_wrap=True)
        for line in installed_summary(c.entry):
            console.print(f"  {line}", soft_wrap=True)
        for k, v in c.variables.items():
            console.print(f"  {k}={v}", soft_wrap=True)
        for note in c.notes:
            console.print(f"note: {note}", soft_wrap=True)
        from mlstack_env.core.progname import prog

        console.print(
            f"use it:    {prog()} env shell {c.name}   or   {prog()} env run {c.name} -- CMD",
            soft_wrap=True,
        )


def installed_summary(entry: LockEntry) -> list[str]:
    """What matters in an env, one line each (:data:`mlstack_env.lockfile.KEY_PACKAGES`), with
    the build a local version label names: ``torch     2.8.0+rocm6.4 (ROCm 6.4 build)``."""
    from mlstack_env.lockfile import KEY_PACKAGES

    lines = []
    for name in KEY_PACKAGES:
        pkg = entry.package(name)
        if pkg is None:
            continue
        if name == "rocm-sdk-core":  # ROCm's user space itself, as wheels (ROCM-FACTS §4b)
            lines.append(f"{'rocm':<9} {pkg.version} (inside the env: rocm-sdk-* wheels)")
            continue
        _, _, local = pkg.version.partition("+")
        build = f" (ROCm {local[4:]} build)" if local.startswith("rocm") else \
            " (CPU build)" if local == "cpu" else ""
        lines.append(f"{name:<9} {pkg.version}{build}")
    return lines


# --- list / info -----------------------------------------------------------------------


def summary(env: NamedEnv) -> dict[str, Any]:
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
        "behind_lock": _behind(env.name, str(gen.path)) if gen else None,
    }


def _behind(name: str, generation: str) -> str | None:
    """The lock an env is behind (its entry there changed since it was made), or None."""
    from mlstack_env.store.lookup import lock_stamp_changed

    lock = lock_stamp_changed(generation)
    if lock is None:
        return None
    from mlstack_env.actions.create import behind_lock

    return lock if behind_lock(name, generation, lock) is not None else None


class ListResult(Result):
    """`env list`'s result."""

    def __init__(self, envs: list[dict[str, Any]]) -> None:
        self.envs = envs

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
        behind = [e["name"] for e in self.envs if e.get("behind_lock")]
        if behind:
            console.print(f"behind their lock (the next `mlstack run` syncs them, or "
                          f"`mlstack sync`): {', '.join(behind)}", soft_wrap=True)


class InfoResult(Result):
    """`env info`'s result: one env's current generation."""

    def __init__(self, env: NamedEnv, generation: Generation) -> None:
        self.env = env
        self.generation = generation

    def to_json(self) -> dict[str, Any]:

        fp = self.generation.fingerprint()
        prev = self.env.previous()
        venv = self.generation.venv.resolve()
        return {
            "name": self.env.name,
            "path": str(self.env.path),
            "generation": self.generation.number,
            "generation_path": str(self.generation.path),
            "generations": [g.number for g in self.env.generations()],
            "previous": prev.number if prev else None,
            "venv": str(venv),
            "store_key": self.generation.store_key,
            "fingerprint": fp.to_json() if fp else None,
            "size": self._size(),
            "rocm": self._rocm(),
        }

    def _size(self) -> dict[str, int]:
        """Disk the env's store entry takes; ``shared`` is what links outside it (uv's
        cache, other entries holding the same wheels) keep too."""
        from mlstack_env.core.diskusage import usage

        u = usage(self.generation.venv.resolve())
        return {"size": u.total, "shared": u.total - u.exclusive, "files": u.files}

    def _rocm(self) -> dict[str, Any] | None:
        """Which ROCm the env runs on: its own (rocm-sdk-* wheels, FACTS §4b) or the host's."""
        from mlstack_env.rocmwheels import rocmroot, rocmsdk

        entry = self.generation.entry()
        if not entry.target.is_rocm:
            return None
        core = entry.package(rocmsdk.CORE)
        if core is None:
            return {"from": "host", "version": entry.target.rocm, "path": None}
        root = rocmroot.root_in(self.generation.venv.resolve(), entry)
        return {"from": "env", "version": core.version, "path": str(root)}

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
            *([("site", f"{fp['site']} (cluster preset: its job rules apply when the env "
                        "is entered)")] if fp.get("site") else []),
            ("store", f"{data['store_key']} ({data['venv']})"),
            ("size", _size_line(data["size"])),
            ("rocm", _rocm_line(data["rocm"])),
            ("machine", _machine_line(fp.get("machine") or {})),
            ("made by",
             f"mlstack {fp.get('mlstack_version', '?')}, uv {fp.get('uv_version', '?')}"),
            ("created", fp.get("created", "-")),
        ]
        for key, value in rows:
            console.print(f"{key:<11}{value}", soft_wrap=True)
        for k, v in (fp.get("variables") or {}).items():
            console.print(f"{'':<11}{k}={v}", soft_wrap=True)


def _size_line(size: dict[str, int]) -> str:
    shared = size["shared"]
    line = f"{human_bytes(size['size'])} in {size['files']} files"
    if shared:
        line += (f", {human_bytes(shared)} of it hardlinked from uv's cache: envs holding the "
                 "same wheels share one copy")
    return line


def _rocm_line(rocm: dict[str, Any] | None) -> str:
    if rocm is None:
        return "none (a CPU env)"
    if rocm["from"] == "env":
        return f"{rocm['version']} inside the env (rocm-sdk-* wheels) at {rocm['path']}"
    return f"the host's; torch bundles ROCm {rocm['version']}'s libraries"


def _machine_line(m: dict[str, Any]) -> str:
    gfx = ",".join(m.get("gfx") or []) or "no GPU"
    return f"{gfx}; ROCm {m.get('rocm') or '-'}; kernel {m.get('kernel') or '-'}"


# --- verify / gc -----------------------------------------------------------------------


class VerifyResult(Result):
    """`env verify`'s result; exits 1 when the env differs from its lock."""

    def __init__(self, name: str, generation: int, report: VerifyReport) -> None:
        self.name = name
        self.generation = generation
        self.report = report

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.report.ok else ExitCode.USER_ERROR

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


class GcResult(Result):
    """`gc`'s result: what was removed and what it freed."""

    def __init__(self, report: GcReport) -> None:
        self.report = report

    def to_json(self) -> dict[str, Any]:
        return self.report.to_json()

    def render(self, console: Console) -> None:
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
