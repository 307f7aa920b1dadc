"""The fingerprint each generation keeps (STYLE habit 5): what it was made from, on what
machine, by which mlstack and uv. ``create`` skips work when it matches; ``doctor`` and
``env info`` explain drift from it."""

from __future__ import annotations

import json
from pathlib import Path

from mlstack_env.core.record import field, record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

    from mlstack_env.hardware.machine import Machine

FINGERPRINT_NAME = "fingerprint.json"
SCHEMA = 1
UNPACKED_FROM = "unpacked from "  # the source of an env registered by ``env unpack``


@record
class MachineFacts:
    """The machine facts an env's variables were decided from."""

    gfx: tuple[str, ...]
    rocm: str | None
    kernel: str | None

    @classmethod
    def of(cls, machine: Machine) -> MachineFacts:
        return cls(
            gfx=tuple(g.gfx for g in machine.gpus),
            rocm=machine.rocm.version if machine.rocm else None,
            kernel=machine.kernel,
        )

    def to_json(self) -> dict[str, Any]:
        return {"gfx": list(self.gfx), "rocm": self.rocm, "kernel": self.kernel}


@record
class Fingerprint:
    """What a generation was made from (lock entry hash, store key, machine facts, source)."""
    name: str
    generation: int
    lock_hash: str  # LockEntry.content_hash()
    store_key: str
    profile: str
    target: str
    python: str
    platform: str
    machine: MachineFacts
    mlstack_version: str
    uv_version: str
    created: str
    variables: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the lock file it came from, or "built-in profile NAME"
    wheels: str = ""  # the wheel bundle folder it was installed from (--wheels), if any
    site: str = ""  # the project's cluster preset (site = "…" in mlstack.toml), if any

    @property
    def unpacked_from(self) -> str | None:
        """The archive ``env unpack`` registered this env from; None for a created env."""
        return self.source.removeprefix(UNPACKED_FROM) \
            if self.source.startswith(UNPACKED_FROM) else None

    def recreate_command(self) -> str:
        """The command that makes this env again from what it was made from."""
        import shlex

        cmd = f"mlstack env create {shlex.quote(self.profile)} --name {shlex.quote(self.name)}"
        if self.source.endswith(".lock"):
            cmd += f" --lock {shlex.quote(self.source)}"
        if self.wheels:
            cmd += f" --wheels {shlex.quote(self.wheels)}"
        return cmd

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "generation": self.generation,
            "lock_hash": self.lock_hash,
            "store_key": self.store_key,
            "profile": self.profile,
            "target": self.target,
            "python": self.python,
            "platform": self.platform,
            "machine": self.machine.to_json(),
            "mlstack_version": self.mlstack_version,
            "uv_version": self.uv_version,
            "created": self.created,
            "variables": dict(self.variables),
            "source": self.source,
            "wheels": self.wheels,
            "site": self.site,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        m = data.get("machine") or {}
        return cls(
            name=str(data["name"]),
            generation=int(data["generation"]),
            lock_hash=str(data["lock_hash"]),
            store_key=str(data["store_key"]),
            profile=str(data["profile"]),
            target=str(data["target"]),
            python=str(data["python"]),
            platform=str(data.get("platform", "")),
            machine=MachineFacts(
                gfx=tuple(m.get("gfx") or ()), rocm=m.get("rocm"), kernel=m.get("kernel")
            ),
            mlstack_version=str(data.get("mlstack_version", "")),
            uv_version=str(data.get("uv_version", "")),
            created=str(data.get("created", "")),
            variables={str(k): str(v) for k, v in (data.get("variables") or {}).items()},
            source=str(data.get("source", "")),
            wheels=str(data.get("wheels", "")),
            site=str(data.get("site", "")),
        )

    def matches(self, other: Fingerprint) -> bool:
        """Would ``other`` make the same generation? (Name, number, times aside.)"""
        return (
            self.lock_hash == other.lock_hash
            and self.store_key == other.store_key
            and self.variables == other.variables
            and self.machine == other.machine
            and self.mlstack_version == other.mlstack_version
            and self.site == other.site
        )


def read_fingerprint(gen_dir: Path) -> Fingerprint | None:
    try:
        data = json.loads((gen_dir / FINGERPRINT_NAME).read_text(encoding="utf-8"))
        return Fingerprint.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
