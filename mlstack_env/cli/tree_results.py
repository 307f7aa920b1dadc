"""``mlstack tree``'s body and result, free of typer (the fast path runs it): an env's (or
a lock entry's) packages, versions, sizes, and which profile requirement pulled each in.
The command's declaration is ``cli/tree.py``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.cli.output import Result, emit, human_bytes
from mlstack_env.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.actions.tree import PackageTree, TreePackage


class TreeResult(Result):
    """A plain class: a dataclass costs its creation at import on this path."""

    def __init__(self, tree: PackageTree) -> None:
        self.tree = tree

    def to_json(self) -> dict[str, Any]:
        return self.tree.to_json()

    def render(self, console: Console) -> None:
        # In batches: one print per line is the console's per-call work per package.
        lines = render_lines(self.tree)
        for start in range(0, len(lines), 2000):
            console.print("\n".join(lines[start:start + 2000]), soft_wrap=True, markup=False,
                          highlight=False)


def render_lines(tree: PackageTree) -> list[str]:
    """The profile's requirements at the top level, what each pulls in below it; a
    package shown before is marked (*) and not expanded again."""
    by_name = {p.name: p for p in tree.packages}
    lines = [f"{tree.source}: {tree.key}, {len(tree.packages)} packages, {_sizes(tree)}"]
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
    return lines + _footer(tree)


def _sizes(tree: PackageTree) -> str:
    """The wheels' total size (and how many have none recorded), and the size on disk."""
    size = f"wheels {human_bytes(tree.wheel_total)}"
    unsized = sum(1 for p in tree.packages if p.wheel_size is None)
    if unsized:
        size += f" + {unsized} of unrecorded size"
    if tree.disk is not None:
        size += f", {human_bytes(tree.disk)} on disk"
    return size


def _footer(tree: PackageTree) -> list[str]:
    """Where the requirements and the dependencies were read, and the key versions."""
    lines = [f"requirements: {tree.direct_from}"]
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


def tree(  # noqa: PLR0917 - one parameter per option of `tree`
        name: str | None = None, lock_file: Path | None = None, profile: str | None = None,
        target: str | None = None, python: str | None = None, as_json: bool = False) -> int:
    """``tree``: an env's packages (or, with ``lock_file``, a lock entry's)."""
    from mlstack_env.actions import tree as trees

    if lock_file is None:
        if profile or target or python:
            raise UsageError("--profile, --target and --python go with --lock FILE",
                             hint="mlstack tree --lock mlstack.lock --profile P --target T")
        if name is None:
            from mlstack_env.store.lookup import default_env_name

            name = default_env_name("mlstack tree NAME")
        return emit(TreeResult(trees.env_tree(name)), as_json)
    if name is not None:
        raise UsageError("give an env NAME or --lock FILE, not both",
                         hint="mlstack tree NAME, or mlstack tree --lock FILE")
    from mlstack_env.catalog.target import Target
    from mlstack_env.lockfile import read_lock, select_entry

    if target is not None:
        chosen = Target.parse(target)
    else:
        from mlstack_env.hardware import detect

        chosen = detect().target
    entry = select_entry(read_lock(lock_file), chosen, profile, python,
                         source=str(lock_file))
    where = lock_file.absolute().parent
    return emit(TreeResult(trees.entry_tree(entry, str(lock_file), where)), as_json)
