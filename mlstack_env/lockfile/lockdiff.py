"""What changed between two locks, entry by entry: ``mlstack diff``.

Made for pull-request review: everything is sorted, so the same two locks always give
the same report. A wheel whose sha256 changed while its package version did not (a file
re-uploaded under the same name, or a lock edited by hand) is the one change a reviewer
must never miss: it is reported apart, as ``hash_changed``.

The two locks come from :mod:`mlstack_env.lockfile.lockside` (a file, or a git revision).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from mlstack_env.core.record import field, record

if TYPE_CHECKING:
    from mlstack_env.lockfile import LockedPackage, LockEntry
    from mlstack_env.lockfile.lockside import Side

# --- the comparison --------------------------------------------------------------------


@record
class VersionChange:
    name: str
    old: str
    new: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "old": self.old, "new": self.new}


@record
class HashChange:
    """Same package and version, same wheel file name, a different sha256."""

    name: str
    version: str
    filename: str
    old_sha256: str
    new_sha256: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "filename": self.filename,
                "old_sha256": self.old_sha256, "new_sha256": self.new_sha256}


class DiffStatus(StrEnum):
    """How a lock entry differs (its value is the JSON ``status``)."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class PackageChange(StrEnum):
    """How a package differs between two entries of the same key; each value names the
    :class:`EntryDiff` field (and the JSON ``packages`` key) that lists such changes."""

    ADDED = "added"
    REMOVED = "removed"
    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    HASH_CHANGED = "hash_changed"  # same version and file name, another sha256
    WHEELS_CHANGED = "wheels_changed"  # same version, another set of wheel files
    INDEX_CHANGED = "index_changed"


@record
class EntryDiff:
    key: str
    status: DiffStatus
    package_count: int = 0  # for added/removed entries
    added: tuple[tuple[str, str], ...] = ()  # (name, version)
    removed: tuple[tuple[str, str], ...] = ()
    upgraded: tuple[VersionChange, ...] = ()
    downgraded: tuple[VersionChange, ...] = ()
    hash_changed: tuple[HashChange, ...] = ()
    # Same version, the set of wheel files changed (a platform wheel added or dropped).
    wheels_changed: tuple[str, ...] = ()
    index_changed: tuple[VersionChange, ...] = ()  # old/new are index URLs
    env_added: tuple[tuple[str, str], ...] = ()
    env_removed: tuple[tuple[str, str], ...] = ()
    env_changed: tuple[tuple[str, str, str], ...] = ()  # (name, old, new)
    system_added: tuple[str, ...] = ()
    system_removed: tuple[str, ...] = ()
    notes_added: tuple[str, ...] = ()
    notes_removed: tuple[str, ...] = ()
    platform: tuple[str, str] | None = None  # (old, new) uv --python-platform
    inputs_changed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "packages": {
                "count": self.package_count,
                "added": [{"name": n, "version": v} for n, v in self.added],
                "removed": [{"name": n, "version": v} for n, v in self.removed],
                "upgraded": [c.to_json() for c in self.upgraded],
                "downgraded": [c.to_json() for c in self.downgraded],
                "hash_changed": [c.to_json() for c in self.hash_changed],
                "wheels_changed": list(self.wheels_changed),
                "index_changed": [c.to_json() for c in self.index_changed],
            },
            "env": {
                "added": dict(self.env_added),
                "removed": dict(self.env_removed),
                "changed": {k: {"old": o, "new": n} for k, o, n in self.env_changed},
            },
            "system": {"added": list(self.system_added), "removed": list(self.system_removed)},
            "notes": {"added": list(self.notes_added), "removed": list(self.notes_removed)},
            "platform": {"old": self.platform[0], "new": self.platform[1]}
            if self.platform else None,
            "inputs_changed": self.inputs_changed,
        }


@record
class LockDiff:
    old: str
    new: str
    entries: tuple[EntryDiff, ...]
    unchanged: tuple[str, ...] = ()
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)  # mlstack/uv

    @property
    def identical(self) -> bool:
        return not self.entries and not self.versions

    @property
    def hash_changes(self) -> int:
        return sum(len(e.hash_changed) for e in self.entries)

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "identical": self.identical,
            "hash_changes": self.hash_changes,
            "entries": [e.to_json() for e in self.entries],
            "unchanged": list(self.unchanged),
            "written_by": {k: {"old": o, "new": n} for k, (o, n) in sorted(self.versions.items())},
        }


def _newer(old: str, new: str) -> bool | None:
    """True if ``new`` is a higher version, False if lower, None if equal or unorderable.
    packaging's version loads here, for a package whose version changed."""
    from packaging.version import InvalidVersion, Version

    try:
        a, b = Version(old), Version(new)
    except InvalidVersion:
        return None if old == new else new > old
    if a == b:
        return None
    return b > a


Changes = dict[PackageChange, list[Any]]


def _compare_packages(old: LockEntry, new: LockEntry) -> dict[str, Any]:
    """The package changes from ``old`` to ``new``, as :class:`EntryDiff` fields."""
    before = {p.name: p for p in old.packages}
    after = {p.name: p for p in new.packages}
    out: Changes = {k: [] for k in PackageChange}
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is None and b is not None:
            out[PackageChange.ADDED].append((name, b.version))
        elif b is None and a is not None:
            out[PackageChange.REMOVED].append((name, a.version))
        elif a is not None and b is not None:
            _compare_package(a, b, out)
    return {k.value: tuple(v) for k, v in out.items()}


def _compare_package(a: LockedPackage, b: LockedPackage, out: Changes) -> None:
    if a.version != b.version:
        newer = _newer(a.version, b.version)
        kind = PackageChange.DOWNGRADED if newer is False else PackageChange.UPGRADED
        out[kind].append(VersionChange(a.name, a.version, b.version))
        return
    old_files = {w.filename: w.sha256 for w in a.files}  # the selector: its sdist
    new_files = {w.filename: w.sha256 for w in b.files}
    for filename in sorted(set(old_files) & set(new_files)):
        if old_files[filename] != new_files[filename]:
            out[PackageChange.HASH_CHANGED].append(HashChange(
                a.name, a.version, filename, old_files[filename], new_files[filename]))
    if set(old_files) != set(new_files):
        out[PackageChange.WHEELS_CHANGED].append(a.name)
    if a.index != b.index:
        out[PackageChange.INDEX_CHANGED].append(
            VersionChange(a.name, a.index or "-", b.index or "-"))


def compare_entries(old: LockEntry, new: LockEntry) -> EntryDiff | None:
    """How ``new`` differs from ``old`` (the same key); None when they install and set
    the same (inputs-hash aside, which alone means nothing to install)."""
    packages = _compare_packages(old, new)
    env_added = tuple(sorted((k, v) for k, v in new.env.items() if k not in old.env))
    env_removed = tuple(sorted((k, v) for k, v in old.env.items() if k not in new.env))
    env_changed = tuple(sorted((k, old.env[k], v) for k, v in new.env.items()
                               if k in old.env and old.env[k] != v))
    system_added = tuple(sorted(set(new.system) - set(old.system)))
    system_removed = tuple(sorted(set(old.system) - set(new.system)))
    diff = EntryDiff(
        key=new.key, status=DiffStatus.CHANGED, package_count=len(new.packages), **packages,
        env_added=env_added, env_removed=env_removed, env_changed=env_changed,
        system_added=system_added, system_removed=system_removed,
        notes_added=tuple(n for n in new.notes if n not in old.notes),
        notes_removed=tuple(n for n in old.notes if n not in new.notes),
        platform=(old.platform, new.platform) if old.platform != new.platform else None,
        inputs_changed=old.inputs_hash != new.inputs_hash,
    )
    if old.content_hash() == new.content_hash() and old.inputs_hash == new.inputs_hash:
        return None
    return diff


def compare(old: Side, new: Side) -> LockDiff:
    before = {e.key: e for e in old.lock.entries}
    after = {e.key: e for e in new.lock.entries}
    entries: list[EntryDiff] = []
    unchanged: list[str] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None and b is not None:
            entries.append(EntryDiff(key, DiffStatus.ADDED, len(b.packages),
                                     added=tuple((p.name, p.version) for p in b.packages)))
        elif b is None and a is not None:
            entries.append(EntryDiff(key, DiffStatus.REMOVED, len(a.packages),
                                     removed=tuple((p.name, p.version) for p in a.packages)))
        elif a is not None and b is not None:
            d = compare_entries(a, b)
            if d is None:
                unchanged.append(key)
            else:
                entries.append(d)
    versions: dict[str, tuple[str, str]] = {}
    if old.lock.entries and new.lock.entries:
        for what, x, y in (("mlstack", old.lock.mlstack_version, new.lock.mlstack_version),
                           ("uv", old.lock.uv_version, new.lock.uv_version)):
            if x != y:
                versions[what] = (x, y)
    return LockDiff(old.label, new.label, tuple(entries), tuple(unchanged), versions)


# --- the text a reviewer reads ---------------------------------------------------------


def render_lines(diff: LockDiff) -> list[str]:
    """The report as plain lines (the CLI prints them; tests read them)."""
    lines = [f"--- {diff.old}", f"+++ {diff.new}"]
    if diff.identical:
        lines.append("no changes")
        return lines
    for e in diff.entries:
        lines.append("")
        if e.status is DiffStatus.ADDED:
            lines.append(f"+ entry {e.key} ({_count(e.package_count)})")
            lines += [f"    + {n} {v}" for n, v in e.added]
            continue
        if e.status is DiffStatus.REMOVED:
            lines.append(f"- entry {e.key} ({_count(e.package_count)})")
            lines += [f"    - {n} {v}" for n, v in e.removed]
            continue
        lines += _changed_lines(e)
    for what, (o, n) in sorted(diff.versions.items()):
        lines.append("")
        lines.append(f"written by {what} {o or '?'} -> {n or '?'}")
    lines.append("")
    lines.append(summary(diff))
    return lines


def _changed_lines(e: EntryDiff) -> list[str]:
    """The lines of an entry in both locks, that changed."""
    lines = [f"~ entry {e.key}"]
    for h in e.hash_changed:
        lines.append(f"    !! hash changed: {h.name} {h.version}: same version, another "
                     "file (re-uploaded, or the lock was edited)")
        lines.append(f"       {h.filename} sha256 {h.old_sha256[:16]}… -> "
                     f"{h.new_sha256[:16]}…")
    lines += [f"    + {n} {v}" for n, v in e.added]
    lines += [f"    - {n} {v}" for n, v in e.removed]
    lines += [f"    ^ {c.name} {c.old} -> {c.new}" for c in e.upgraded]
    lines += [f"    v {c.name} {c.old} -> {c.new} (downgraded)" for c in e.downgraded]
    lines += [f"    ~ {n}: wheel files changed (same version)" for n in e.wheels_changed]
    lines += [f"    ~ {c.name}: index {c.old} -> {c.new}" for c in e.index_changed]
    lines += [f"    env + {k}={v}" for k, v in e.env_added]
    lines += [f"    env - {k}={v}" for k, v in e.env_removed]
    lines += [f"    env ~ {k}: {o} -> {n}" for k, o, n in e.env_changed]
    lines += [f"    system + {s}" for s in e.system_added]
    lines += [f"    system - {s}" for s in e.system_removed]
    if e.platform:
        lines.append(f"    platform {e.platform[0]} -> {e.platform[1]}")
    lines += [f"    note + {n}" for n in e.notes_added]
    lines += [f"    note - {n}" for n in e.notes_removed]
    if e.inputs_changed and _only_inputs(e):
        lines.append("    inputs changed (profile, sources or catalog); "
                     "the same packages were locked")
    return lines


def _only_inputs(e: EntryDiff) -> bool:
    return not (e.added or e.removed or e.upgraded or e.downgraded or e.hash_changed
                or e.wheels_changed or e.index_changed or e.env_added or e.env_removed
                or e.env_changed or e.system_added or e.system_removed or e.platform
                or e.notes_added or e.notes_removed)


def _count(n: int) -> str:
    return f"{n} package{'s' if n != 1 else ''}"


def summary(diff: LockDiff) -> str:
    counts = {s: sum(1 for e in diff.entries if e.status is s) for s in DiffStatus}
    parts = [f"{n} entr{'y' if n == 1 else 'ies'} {s}" for s, n in counts.items() if n]
    if diff.unchanged:
        parts.append(f"{len(diff.unchanged)} unchanged")
    text = ", ".join(parts) or "entries unchanged"
    if diff.hash_changes:
        n = diff.hash_changes
        text += (f"; !! {n} wheel{'s' if n != 1 else ''} changed hash without a version "
                 "change: do not merge before you know why")
    return text
