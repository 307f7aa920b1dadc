"""``mlstack add`` / ``mlstack remove``: change a project profile's packages, re-lock what
that changed, and re-create the project's default env when it exists — one command, like
``uv add``.

* The profile: ``--profile P``, else the project's ``default-env``, else its only profile.
  It must be a ``[profiles.NAME]`` of mlstack.toml: a built-in profile is package data,
  and a project profile cannot take its name and extend it (``extends`` of itself is a
  cycle), so a built-in one is refused with the two lines to add instead.
* mlstack.toml is edited with tomlkit: comments, order and layout stay; an ``add`` of a
  package the profile already names replaces that requirement.
* Re-locked: the entries of that profile and of every profile whose inputs the edit
  changed (one that ``extends`` it), on every target the lock holds for them (plus the
  project's ``targets``), keeping every other package's version (uv's preferences). All
  or nothing: when one target cannot be resolved (no build of the package for it), the
  error names that entry and neither file is changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlstack_env.core.errors import ManifestError, UsageError

if TYPE_CHECKING:
    from mlstack_env.actions.create import CreateOutcome
    from mlstack_env.manifest.project import Project
    from mlstack_env.resolve.locking import LockOutcome


@dataclass(frozen=True)
class EditRequest:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    profile: str | None = None
    project_dir: Path | None = None
    offline: bool = False


@dataclass(frozen=True)
class EditOutcome:
    manifest: Path
    profile: str
    added: tuple[str, ...]  # requirements written
    removed: tuple[str, ...]  # requirements taken out
    lock: LockOutcome
    env: CreateOutcome | None  # the default env, re-created


def edit_packages(
    request: EditRequest,
    *,
    on_wait: Callable[[str], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> EditOutcome:
    from mlstack_env.core.userfile import write_atomic
    from mlstack_env.manifest.project import find_project
    from mlstack_env.resolve.locking import LockRequest, existing_lock, lock_held
    from mlstack_env.resolve.lockwrite import held, stale_keys

    project = find_project(Path.cwd(), request.project_dir)
    if project is None:
        raise ManifestError("no mlstack.toml here or in any parent directory",
                            "start a project with `mlstack init`, or pass --project DIR")
    name = _profile_name(project, request.profile)
    reqs = [_requirement(r) for r in request.add]
    for r in request.remove:
        _requirement(r, 'write the package name, e.g. mlstack remove tqdm')
    edit_text(project, name, reqs, list(request.remove))  # refuse early, before waiting
    with held(project.lock_path, on_wait):
        # Read again under the lock: another add/remove may have written both files.
        project = _reread(project)
        name = _profile_name(project, request.profile)
        text, added, removed = edit_text(project, name, reqs, list(request.remove))
        edited = _load_edited(project, text)
        existing = existing_lock(project.lock_path)
        profiles = {name}
        if existing is not None:
            stale = set(stale_keys(existing, edited.profile_set(), edited.catalog()))
            profiles |= {e.profile for e in existing.entries
                         if e.key in stale and e.profile in edited.profile_set().names()}
        outcome = lock_held(edited, LockRequest(profiles=sorted(profiles),
                                                offline=request.offline),
                            output=project.lock_path)
        write_atomic(project.manifest_path, text)
    if announce is not None and outcome.change is not None:
        for line in outcome.change.lines():
            announce(line)
    env = _recreate_default_env(edited, profiles, request.offline, on_wait)
    return EditOutcome(project.manifest_path, name, tuple(added), tuple(removed), outcome, env)


def _reread(project: Project) -> Project:
    """``project`` as its mlstack.toml says now (read under the write lock)."""
    from mlstack_env.manifest.project import load_project

    return dataclasses.replace(load_project(project.manifest_path), root=project.root,
                               manifest_path=project.manifest_path)


def _profile_name(project: Project, wanted: str | None) -> str:
    name = wanted or project.default_env
    if name is None:
        if len(project.profiles) == 1:
            return next(iter(project.profiles))
        known = ", ".join(sorted(project.profiles)) or "none"
        raise UsageError(
            f"which profile? {project.manifest_path} has no default-env and "
            f"{len(project.profiles)} profiles ({known})",
            "name one with --profile NAME",
        )
    if name in project.profiles:
        return name
    names = project.profile_set().names()
    if name in names:  # a built-in profile
        own = f"{project.root.name or 'project'}-{name}"
        raise ManifestError(
            f"profile {name!r} is built in, not a profile of {project.manifest_path}",
            f"add [profiles.{own}] with extends = [\"{name}\"] to mlstack.toml (and "
            f"default-env = \"{own}\"), then `mlstack add PKG --profile {own}`",
        )
    from mlstack_env.manifest.profiles import unknown_profile_error

    raise unknown_profile_error(name, names)


def _requirement(text: str, hint: str = 'write a package name with an optional version, '
                 'e.g. mlstack add "tqdm>=4.66"') -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise UsageError(f"{text!r} is not a PEP 508 requirement: "
                         f"{str(exc).splitlines()[0]}", hint) from None
    return text.strip()


def edit_text(project: Project, profile: str, add: Sequence[str], remove: Sequence[str]
              ) -> tuple[str, list[str], list[str]]:
    """mlstack.toml's new text (tomlkit: comments and layout kept), and what was added
    and removed. Refuses to remove what the profile does not list itself."""
    import tomlkit
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    doc = tomlkit.parse(project.text)
    table = doc["profiles"][profile]  # load_project checked that it is a table
    if "packages" not in table:
        table["packages"] = tomlkit.array()
    packages = table["packages"]

    def key(req: object) -> str:
        return str(canonicalize_name(Requirement(str(req)).name))

    added: list[str] = []
    for req in add:
        at = next((i for i, p in enumerate(packages) if key(p) == key(req)), None)
        if at is None:
            packages.append(req)
        elif str(packages[at]) != req:
            packages[at] = req
        else:
            continue
        added.append(req)
    removed: list[str] = []
    for name in remove:
        at = next((i for i, p in enumerate(packages) if key(p) == key(name)), None)
        if at is None:
            inherited = any(key(p) == key(name)
                            for p in project.profile_set().get(profile).packages)
            where = (f"it comes from a profile {profile} extends" if inherited
                     else "it is not among its packages")
            raise UsageError(
                f"profile {profile} in {project.manifest_path} does not list {name}: {where}",
                "see `mlstack profile show " + profile + "`",
            )
        removed.append(str(packages[at]))
        del packages[at]
    return tomlkit.dumps(doc), added, removed


def _load_edited(project: Project, text: str) -> Project:
    """The project as the edited text describes it (checked like any mlstack.toml, its
    errors naming the manifest itself), before the file is written."""
    from mlstack_env.manifest.project import load_project

    edited = load_project(project.manifest_path, text)
    return dataclasses.replace(edited, root=project.root, manifest_path=project.manifest_path)


def _recreate_default_env(project: Project, profiles: set[str], offline: bool,
                          on_wait: Callable[[str], None] | None) -> CreateOutcome | None:
    """The default env, re-created from the new lock when it exists and its profile was
    re-locked (no resolving: the entry is fresh now)."""
    if not project.default_env:
        return None
    from mlstack_env.actions.create import CreateRequest, create
    from mlstack_env.catalog.target import Target
    from mlstack_env.store.generations import NamedEnv

    env = NamedEnv(project.default_env)
    gen = env.current() if env.exists() else None
    fp = gen.fingerprint() if gen else None
    if fp is None or fp.profile not in profiles:
        return None
    request = CreateRequest(profile=fp.profile, name=env.name, target=Target.parse(fp.target),
                            offline=offline, project_dir=project.root)
    return create(request, on_wait=on_wait)
