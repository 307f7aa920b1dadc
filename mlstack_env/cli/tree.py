"""``mlstack tree [NAME]``: an env's (or a lock entry's) packages, versions, sizes, and
which profile requirement pulled each in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstack_env.cli.output import emit, human_bytes
from mlstack_env.errors import MlstackError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.tree import PackageTree, TreePackage


@dataclass(frozen=True)
class TreeResult:
    tree: PackageTree

    def to_json(self) -> dict[str, Any]:
        return self.tree.to_json()

    def render(self, console: Console) -> None:
        # In batches: one print per line is rich's per-call work per package.
        lines = render_lines(self.tree)
        for start in range(0, len(lines), 2000):
            console.print("\n".join(lines[start:start + 2000]), soft_wrap=True, markup=False,
                          highlight=False)


def render_lines(tree: PackageTree) -> list[str]:
    """The profile's requirements at the top level, what each pulls in below it; a
    package shown before is marked (*) and not expanded again."""
    by_name = {p.name: p for p in tree.packages}
    size = f"wheels {human_bytes(tree.wheel_total)}"
    unsized = sum(1 for p in tree.packages if p.wheel_size is None)
    if unsized:
        size += f" + {unsized} of unrecorded size"
    if tree.disk is not None:
        size += f", {human_bytes(tree.disk)} on disk"
    lines = [f"{tree.source}: {tree.key}, {len(tree.packages)} packages, {size}"]
    shown: set[str] = set()
    repeated = False

    def label(p: TreePackage) -> str:
        text = f"{p.name} {p.version}"
        if p.wheel_size is not None:
            text += f" ({human_bytes(p.wheel_size)})"
        return text

    def walk(name: str, prefix: str) -> None:
        nonlocal repeated
        kids = by_name[name].requires
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            branch = "└── " if last else "├── "
            p = by_name[kid]
            if kid in shown:
                repeated = True
                lines.append(f"{prefix}{branch}{p.name} {p.version} (*)")
                continue
            shown.add(kid)
            lines.append(f"{prefix}{branch}{label(p)}")
            walk(kid, prefix + ("    " if last else "│   "))

    for p in tree.packages:
        if p.requirement is None:
            continue
        req = f"  [{p.requirement}]" if p.requirement != p.name else ""
        lines.append(label(p) + req)
        shown.add(p.name)
        if tree.graph_from is not None:
            walk(p.name, "")
    rest = [p for p in tree.packages if p.name not in shown]
    if rest:
        lines.append("not reached from the requirements above:" if tree.graph_from else
                     "the other locked packages (who requires them is unknown):")
        lines += [f"  {label(p)}" for p in rest]
    lines.append("")
    if repeated:
        lines.append("(*) shown above")
    lines.append(f"requirements: {tree.direct_from}")
    if tree.graph_from is None:
        lines.append("why each package is there: unknown: no env, store entry or uv cache "
                     "holds its metadata; create an env from this lock and ask again")
    else:
        lines.append(f"dependencies: Requires-Dist of {tree.graph_from}")
        if tree.missing_metadata:
            lines.append(f"no metadata found for: {', '.join(tree.missing_metadata)}")
    if tree.key_versions:
        lines.append(f"key versions: {', '.join(tree.key_versions)}")
    return lines


def register(app: typer.Typer) -> None:
    @app.command("tree")
    def tree_cmd(  # noqa: PLR0917 - typer maps each option to a parameter
        name: Annotated[str | None, typer.Argument(
            metavar="[NAME]", help="The env (default: the project's default-env, else the "
            "only env).")] = None,
        lock_file: Annotated[Path | None, typer.Option(
            "--lock", metavar="FILE", help="Show an entry of this lock instead of an env.")]
        = None,
        profile: Annotated[str | None, typer.Option(
            "--profile", metavar="P", help="With --lock: the entry's profile.")] = None,
        target: Annotated[str | None, typer.Option(
            "--target", metavar="T", help="With --lock: the entry's target (default: this "
            "machine's).")] = None,
        python: Annotated[str | None, typer.Option(
            "--python", metavar="X.Y", help="With --lock: the entry's Python.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
        = False,
    ) -> int:
        """An env's packages with versions and sizes, and which profile requirement pulled
        each in (or a lock entry's, with --lock)."""
        from mlstack_env import tree

        if lock_file is None:
            if profile or target or python:
                raise MlstackError("--profile, --target and --python go with --lock FILE",
                                   hint="mlstack tree --lock mlstack.lock --profile P --target T")
            if name is None:
                from mlstack_env.activation.lookup import default_env_name

                name = default_env_name("mlstack tree NAME")
            return emit(TreeResult(tree.env_tree(name)), as_json)
        if name is not None:
            raise MlstackError("give an env NAME or --lock FILE, not both",
                               hint="mlstack tree NAME, or mlstack tree --lock FILE")
        from mlstack_env.lockfile import read_lock, select_entry
        from mlstack_env.target import Target

        if target is not None:
            chosen = Target.parse(target)
        else:
            from mlstack_env.hardware import detect

            chosen = detect().target
        entry = select_entry(read_lock(lock_file), chosen, profile, python,
                             source=str(lock_file))
        return emit(TreeResult(tree.entry_tree(entry, str(lock_file), lock_file.absolute().parent)),
             as_json)
