"""One side of ``mlstack diff``: a lock and where it came from.

Where a lock comes from (:func:`load_side`): a file; ``REV:PATH`` or a bare ``REV``
through ``git show``; by default the committed ``mlstack.lock`` (``HEAD``) against the
working file. :mod:`mlstack_env.lockfile.lockdiff` compares two sides.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlstack_env.core import userfile
from mlstack_env.core.errors import LockError, UsageError
from mlstack_env.core.record import record
from mlstack_env.lockfile import LOCK_NAME, Lock, loads, read_lock

if TYPE_CHECKING:  # loaded to run git only: a diff of two files starts no process
    import subprocess


@record
class Side:
    """A lock and where it came from (``mlstack.lock (HEAD)``, a path)."""

    label: str
    lock: Lock


def load_side(spec: str | None, project_root: Path, *, default_rev: str | None = None) -> Side:
    """The lock ``spec`` names: a file; else ``REV:PATH`` or ``REV`` (git). ``None``:
    ``project_root/mlstack.lock`` from git ``default_rev``, or the working file when
    ``default_rev`` is None."""
    if spec is None:
        if default_rev is not None:
            return _git_side(default_rev, LOCK_NAME, project_root, missing_ok=True)
        side = _file_side(project_root / LOCK_NAME)
        return Side(f"{LOCK_NAME} (working file)", side.lock)
    path = Path(spec)
    if path.is_file():
        return _file_side(path)
    rev, sep, rel = spec.partition(":")
    if sep and rev:
        return _git_side(rev, rel or LOCK_NAME, Path.cwd(), missing_ok=False)
    if not sep and _is_rev(spec, project_root):
        return _git_side(spec, LOCK_NAME, project_root, missing_ok=False)
    raise LockError(
        f"{spec}: no such lock file, and not a git revision",
        hint="give a lock file, a git revision (`main`, `HEAD~1`) or REV:PATH "
        "(`origin/main:mlstack.lock`)",
    )


def project_root(start: Path) -> Path:
    """The folder of the project's lock: the nearest one upward from ``start`` holding
    ``mlstack.toml`` or ``mlstack.lock`` (no manifest validation: a diff must work even
    while the manifest is broken); ``start`` when there is none."""
    from mlstack_env.core.projectdir import MANIFEST_NAME, find_upward

    found = find_upward(start, (MANIFEST_NAME, LOCK_NAME))
    return Path(found) if found is not None else start.absolute()


def _file_side(path: Path) -> Side:
    return Side(str(path), read_lock(path))


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import subprocess

    try:
        # surrogateescape: a committed file that is not UTF-8 reaches userfile.decode whole
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              encoding="utf-8", errors="surrogateescape", check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed, so mlstack diff cannot read a committed lock",
                         hint="install git, or compare two files: mlstack diff OLD NEW") from None


def _is_rev(text: str, cwd: Path) -> bool:
    if text.startswith("-"):
        return False
    proc = _git(["rev-parse", "--verify", "--quiet", text + "^{commit}"], cwd)
    return proc.returncode == 0


def _git_side(rev: str, rel: str, cwd: Path, *, missing_ok: bool) -> Side:
    # `REV:./PATH` is relative to cwd, so `mlstack diff` works from any project subfolder.
    spec = f"{rev}:{rel if rel.startswith(('./', '../', '/')) else './' + rel}"
    label = f"{rel} ({rev})"
    inside = _git(["rev-parse", "--is-inside-work-tree"], cwd)
    if inside.returncode != 0:
        raise UsageError(
            f"{cwd} is not in a git repository, so there is no committed {rel} to compare with",
            hint="compare two files instead: mlstack diff OLD NEW",
        )
    proc = _git(["show", spec], cwd)
    if proc.returncode != 0:
        if missing_ok and _is_rev(rev, cwd):
            # A lock not committed yet: everything in the working file is new.
            return Side(f"{rel} ({rev}: not committed)", Lock((), "", ""))
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "git failed"
        raise LockError(f"cannot read {spec} from git: {reason.removeprefix('fatal: ')}",
                        hint="check the revision and the path (`git log -- mlstack.lock`)")
    data = proc.stdout.encode("utf-8", "surrogateescape")
    text = userfile.decode(data, label, "that commit's lock is damaged; compare other revisions, "
                           "or re-create the lock with `mlstack lock`", kind=LockError)
    return Side(label, loads(text, label))
