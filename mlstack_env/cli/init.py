"""``mlstack init``: write mlstack.toml for the current directory."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.options import JSON, Opt
from mlstack_env.cli.output import Result, emit
from mlstack_env.cli.signature import takes

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.actions.manifest_init import InitPlan
    from mlstack_env.catalog.target import Target


@dataclass(frozen=True)
class InitResult(Result):
    plan: InitPlan

    def to_json(self) -> dict[str, Any]:
        return self.plan.to_json()

    def render(self, console: Console) -> None:
        p = self.plan
        lines = [
            f"wrote {p.path}",
            f"  profile   {p.profile} (also default-env): "
            + ", ".join(c.title for c in p.chosen),
            f"  targets   {', '.join(str(t) for t in p.targets)}",
            f"  python    {p.python} ({p.python_why})",
            f"  packages  {', '.join(r for r, _ in p.packages)}",
        ]
        if p.system:
            lines.append(f"  system    {', '.join(p.system)}")
        lines += [f"  {k}={v}" for k, v, _ in p.env]
        lines += [f"note: {note}" for note in p.notes]
        lines.append("next:      mlstack lock   then   mlstack env create")
        for line in lines:
            console.print(line, soft_wrap=True, markup=False)


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@dataclass(frozen=True)
class InitOptions:
    """``mlstack init``'s options (:mod:`mlstack_env.cli.options`)."""

    target: Annotated[list[str] | None, Opt(
        "--target", "-t", metavar="T", help="Also lock for this target, e.g. "
        "rocm7.0:gfx942; repeatable (the detected one is always included).")] = None
    python: Annotated[str | None, Opt(
        "--python", metavar="X.Y", help="The Python to lock for (default: what the "
        "components need, else the one mlstack runs on).")] = None
    with_: Annotated[list[str] | None, Opt(
        "--with", metavar="C,C…", help="Components to include, comma-separated or "
        "repeated (default: pytorch). See the picker for the list.")] = None
    profile: Annotated[str | None, Opt(
        "--profile", metavar="NAME", help="The profile and default-env name (default: "
        "the folder's name).")] = None
    yes: Annotated[bool, Opt(
        "--yes", "-y", help="No picker: take --with (or the defaults).")] = False
    force: Annotated[bool, Opt("--force", help="Replace an existing mlstack.toml.")] = False
    no_detect: Annotated[bool, Opt(
        "--no-detect", help="Only the --target targets, not this machine's.")] = False
    as_json: Annotated[bool, JSON] = False


def register(app: typer.Typer) -> None:
    @app.command("init")
    @takes(InitOptions)
    def init_cmd(options: InitOptions) -> int:
        """Write mlstack.toml here: targets, Python, default-env, and a profile built from
        components (PyTorch, Transformers, vLLM, ONNX Runtime, DeepSpeed, …)."""
        from mlstack_env.actions.manifest_init import pick, plan_init, render, write
        from mlstack_env.core.errors import ExitCode, ManifestError
        from mlstack_env.core.projectdir import MANIFEST_NAME

        o = options
        root = Path.cwd()
        if (root / MANIFEST_NAME).exists() and not o.force:
            raise ManifestError(f"{root / MANIFEST_NAME} already exists",
                                hint="edit it, or replace it with `mlstack init --force`")
        targets = _targets(o)
        ids = _split(o.with_)
        if not o.yes and not o.as_json and sys.stdin.isatty() and sys.stdout.isatty():
            from mlstack_env.actions.manifest_init import PickerQuit

            try:
                ids = pick(targets, o.python, input, print, ids)
            except PickerQuit:
                sys.stderr.write("mlstack init: stopped, nothing written\n")
                return ExitCode.OK
        if not o.no_detect and not o.target:
            targets = [_machine_target(ids, targets[0])]
        plan = plan_init(root, targets, o.python, ids, profile=o.profile)
        write(plan, render(plan), force=o.force)
        return emit(InitResult(plan), o.as_json)


def _targets(o: InitOptions) -> list[Target]:
    """This machine's target (unless --no-detect), then each --target not already there."""
    from mlstack_env.catalog.target import Target

    targets: list[Target] = []
    if not o.no_detect:
        from mlstack_env.hardware import detect

        targets.append(detect().target)
    for t in o.target or []:
        parsed = Target.parse(t)
        if parsed not in targets:
            targets.append(parsed)
    return targets


def _machine_target(ids: list[str] | None, detected: Target) -> Target:
    """This machine's target for the components picked: the detected one, or the nearest
    one the host's driver runs where a source-only component (vLLM) has a build (the same
    choice as `env create`'s, :mod:`mlstack_env.actions.target_fit`)."""
    from mlstack_env.actions.manifest_init import resolve_choice
    from mlstack_env.actions.target_fit import choose_for
    from mlstack_env.core.errors import TargetError
    from mlstack_env.hardware import detect

    comps = [c for c in resolve_choice(ids) if c.source and c.included is None]
    if not comps:
        return detected
    try:
        return choose_for(comps, "this project", detect()).target
    except TargetError:
        return detected  # plan_init says what is missing where
