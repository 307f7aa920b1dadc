"""``mlstack cache clean|prune``: uv's cache under MLSTACK_HOME."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from mlstack_env.cli.output import Result, emit, human_bytes
from mlstack_env.cli.signature import JsonOpt

if TYPE_CHECKING:
    from rich.console import Console

    from mlstack_env.actions.cache import CacheReport

cache_app = typer.Typer(
    name="cache",
    help="The download caches under MLSTACK_HOME (mlstack's and uv's): clean or prune "
    "(gc frees the store).",
    no_args_is_help=True,
    rich_markup_mode=None,
)



@dataclass(frozen=True)
class CacheResult(Result):
    report: CacheReport

    def to_json(self) -> dict[str, Any]:
        return self.report.to_json()

    def render(self, console: Console) -> None:
        r = self.report
        if r.files_before:
            what = "cleaned" if r.action == "clean" else "pruned"
            console.print(f"{what} mlstack's download cache at {r.files_path}: "
                          f"{human_bytes(r.files_before)} -> {human_bytes(r.files_after)}",
                          soft_wrap=True, markup=False)
        if r.before.total == 0 and r.after.total == 0:
            if not r.files_before:
                console.print(f"uv's cache at {r.path} is empty: nothing to {r.action}",
                              soft_wrap=True, markup=False)
            return
        what = "cleaned" if r.action == "clean" else "pruned"
        line = (f"{what} uv's cache at {r.path}: {human_bytes(r.before.total)} -> "
                f"{human_bytes(r.after.total)}, freed {human_bytes(r.freed)}")
        console.print(line, soft_wrap=True, markup=False)
        if r.shared:
            console.print(f"({human_bytes(r.shared)} of it is hardlinked into envs: their "
                          "files stay until `mlstack env remove` and `mlstack gc`)",
                          soft_wrap=True, markup=False)


def _waiting() -> None:
    sys.stderr.write("waiting for running `mlstack env create` commands to finish\n")
    sys.stderr.flush()


@cache_app.command("clean")
def clean_cmd(as_json: JsonOpt = False) -> int:
    """Remove mlstack's download cache and uv's cache (the next create downloads again)."""
    from mlstack_env.actions.cache import run

    return emit(CacheResult(run("clean", on_wait=_waiting)), as_json)


@cache_app.command("prune")
def prune_cmd(as_json: JsonOpt = False) -> int:
    """Remove partial downloads, files unused for 30 days, and what uv no longer needs."""
    from mlstack_env.actions.cache import run

    return emit(CacheResult(run("prune", on_wait=_waiting)), as_json)
