"""Profiles: load, validate and merge (``extends``) built-in and project profiles.

A profile's keys (SPEC.md): ``description``, ``extends``, ``python``, ``packages`` (PEP 508),
``system`` (ROCm Debian package names) and ``env``. Built-in profiles are the top level of
``profiles/NAME.toml``; a project's are ``[profiles.NAME]`` tables of ``mlstack.toml``.

Merging ``extends = ["a", "b"]``: parents are merged first, in order, then the profile's own
keys. Later wins: a requirement for the same package replaces the earlier one, ``env``
variables are overridden, ``system`` packages accumulate, ``python`` and ``description``
come from the last one that sets them. A project profile may extend a built-in one; a
project profile of the same name as a built-in one replaces it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from mlstack_env.core import envvars, paths, userfile
from mlstack_env.core.envname import NAME_HINT, is_env_name
from mlstack_env.core.errors import BadValueError, ManifestError
from mlstack_env.core.record import field, record
from mlstack_env.core.system_names import check_system_package
from mlstack_env.core.userfile import unknown_key_error
from mlstack_env.core.userfile import where_key as _where

PROFILE_KEYS = ("description", "extends", "python", "packages", "system", "env",
                "prereleases")
# How a profile takes pre-releases and dev releases (uv's --prerelease modes):
# "explicit" (the default): only where a requirement names one (``deepspeed==0.3.1.dev5``,
# ``torch>=2.15.0a0``) — never because it is the only wheel (resolve/prerelease.py);
# "allow": any, the newest wins, as uv's ``--prerelease allow``.
PRERELEASE_MODES = ("explicit", "allow")


@record
class Profile:
    """One profile as written (``extends`` not applied) or merged (``extends`` applied)."""

    name: str
    description: str = ""
    extends: tuple[str, ...] = ()
    python: str | None = None  # a specifier set, ">=3.10,<3.14"
    packages: tuple[str, ...] = ()
    system: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    prereleases: str | None = None  # PRERELEASE_MODES; None: "explicit", or the parent's
    origin: str = "builtin"  # "builtin" or "project"
    source: str = ""  # the file it was read from, for messages

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "extends": list(self.extends),
            "python": self.python,
            "packages": list(self.packages),
            "system": list(self.system),
            "env": dict(sorted(self.env.items())),
            "origin": self.origin,
            "source": self.source,
            # only when set: a lock's inputs (and so every existing lock) stay as they were
            **({"prereleases": self.prereleases} if self.prereleases else {}),
        }

    @property
    def allows_prereleases(self) -> bool:
        return self.prereleases == "allow"

    def inputs(self) -> dict[str, Any]:
        """What a lock depends on: everything but where the profile was read from."""
        data = self.to_json()
        del data["source"], data["origin"]
        return data

    def allows_python(self, version: str) -> bool:
        if not self.python:
            return True
        return SpecifierSet(self.python).contains(version + ".0", prereleases=True)


# --- parsing one profile ---------------------------------------------------------------


def parse_profile(name: str, raw: Mapping[str, Any], *, origin: str, source: str,
                  text: str | None = None, table: str | None = None) -> Profile:
    """Validate one profile's table. ``table`` is its header (``[profiles.ml]``) for lines."""
    what = f"profile {name!r}"
    if not is_env_name(name):  # a profile names its env: the env-name rule
        raise ManifestError(f"{_where(source, text, name)}: bad profile name {name!r}",
                            NAME_HINT)
    for key in raw:
        if key not in PROFILE_KEYS:
            raise unknown_key_error(source, text, key, PROFILE_KEYS, what, after=table)

    def strings(key: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ManifestError(
                f"{_where(source, text, key, table)}: {what}: {key!r} must be a list of strings",
                f'write it as {key} = ["…", "…"]',
            )
        return tuple(value)

    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ManifestError(f"{_where(source, text, 'description', table)}: {what}: "
                            "'description' must be a string", 'write description = "…"')

    def at(key: str) -> str:  # where a value is, and whose, for an error
        return f"{_where(source, text, key, table)}: {what}"

    python = _profile_python(raw.get("python"), at)
    packages = strings("packages")
    _check_requirements(packages, at)
    env = _profile_env(raw.get("env", {}), at)
    prereleases = raw.get("prereleases")
    if prereleases is not None and prereleases not in PRERELEASE_MODES:
        raise ManifestError(
            f"{_where(source, text, 'prereleases', table)}: {what}: prereleases "
            f"{prereleases!r} is not one of {', '.join(PRERELEASE_MODES)}",
            'write prereleases = "allow" to take pre-releases and dev releases, or leave it '
            "out to take them only where a requirement names one")
    system = strings("system")
    _check_system(system, at)
    return Profile(
        name=name,
        description=description,
        extends=strings("extends"),
        python=python,
        packages=packages,
        system=system,
        env=dict(env),
        prereleases=prereleases,
        origin=origin,
        source=source,
    )


def _profile_python(python: object, at: Callable[[str], str]) -> str | None:
    """A profile's ``python``: a PEP 440 specifier, or None."""
    if python is None:
        return None
    if not isinstance(python, str):
        raise ManifestError(f"{at('python')}: 'python' "
                            "must be a string", 'write python = ">=3.10,<3.14"')
    try:
        SpecifierSet(python)
    except InvalidSpecifier:
        raise ManifestError(
            f"{at(python)}: bad Python specifier "
            f"{python!r}",
            'write it as a PEP 440 specifier, e.g. python = ">=3.10,<3.14"',
        ) from None
    return python


def _check_requirements(packages: Sequence[str], at: Callable[[str], str]) -> None:
    for req in packages:
        try:
            Requirement(req)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]
            raise ManifestError(
                f"{at(req)}: bad requirement {req!r} "
                f"({reason})",
                'write PEP 508 requirements, e.g. "torch", "transformers>=4.50", '
                '"numpy<2; python_version < \'3.12\'"',
            ) from None


def _check_system(system: Sequence[str], at: Callable[[str], str]) -> None:
    for package in system:
        try:
            check_system_package(package)
        except BadValueError as err:
            raise ManifestError(f"{at(package)}: {err.message}", err.hint) from None


def _profile_env(env: object, at: Callable[[str], str]) -> dict[str, str]:
    """A profile's ``[env]``: variables by the one rule for names and values."""
    if not isinstance(env, dict):
        raise ManifestError(f"{at('env')}: 'env' must be a "
                            "table of NAME = \"value\"", 'write [env] then NAME = "value"')
    for key, value in env.items():
        if not isinstance(value, str):
            raise ManifestError(
                f"{at(key)}: variable {key} must be a "
                f"string, not {type(value).__name__}",
                f'quote the value: {key} = "…"',
            )
        try:  # the one rule for names and values, so a bad profile fails before a lock
            envvars.check_variable(key, value)
        except BadValueError as err:
            raise ManifestError(f"{at(key)}: {err.message}",
                                err.hint) from None
    return env


def load_builtin(directory: Path | None = None) -> dict[str, Profile]:
    """Every ``profiles/NAME.toml`` shipped with mlstack, unmerged."""
    directory = directory or paths.builtin_profiles_dir()
    out: dict[str, Profile] = {}
    for path in sorted(directory.glob("*.toml")):
        raw, text = userfile.read_toml(path, kind=ManifestError)  # shipped: never missing
        out[path.stem] = parse_profile(path.stem, raw, origin="builtin", source=str(path),
                                       text=text)
    return out


# --- merging ---------------------------------------------------------------------------


#: How deep ``extends`` may nest: a deeper chain is a mistake (or a hostile file).
MAX_EXTENDS_DEPTH = 16


@functools.lru_cache(maxsize=4096)
def _requirement_name(req: str) -> str:
    return canonicalize_name(Requirement(req).name)


def merge_requirements(base: Sequence[str], more: Sequence[str]) -> list[str]:
    """``base`` then ``more``, later winning: a requirement for a package already there
    replaces it (and moves last)."""
    merged: dict[str, str] = {}
    _merge_packages(merged, base)
    _merge_packages(merged, more)
    return list(merged.values())


def _merge_packages(into: dict[str, str], more: Sequence[str]) -> None:
    """Later wins: a requirement for a package already there replaces it (and moves last)."""
    for req in more:
        name = _requirement_name(req)
        into.pop(name, None)
        into[name] = req


@record
class ProfileSet:
    """The profiles visible from one place: built-ins, then the project's (which win)."""

    profiles: Mapping[str, Profile]
    # Merged profiles, each computed once: a diamond of extends stays linear.
    _cache: dict[str, Profile] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, project_profiles: Mapping[str, Profile] | None = None) -> ProfileSet:
        merged = dict(load_builtin())
        merged.update(project_profiles or {})
        return cls(merged)

    def names(self) -> list[str]:
        return sorted(self.profiles)

    def raw(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise unknown_profile_error(name, self.names()) from None

    def get(self, name: str) -> Profile:
        """The profile with ``extends`` applied."""
        return self._merged(name, ())

    def _merged(self, name: str, chain: tuple[str, ...]) -> Profile:
        if name in self._cache:
            return self._cache[name]
        if name in chain:
            cycle = " -> ".join((*chain[chain.index(name):], name))
            raise ManifestError(
                f"{self.profiles[name].source}: profile {name!r} extends itself ({cycle})",
                "remove one of the extends in that cycle",
            )
        if len(chain) >= MAX_EXTENDS_DEPTH:
            raise ManifestError(
                f"{self.profiles[name].source}: profile {chain[0]!r} extends profiles "
                f"{MAX_EXTENDS_DEPTH} levels deep ({' -> '.join((*chain[:3], '…', name))})",
                f"flatten the chain: at most {MAX_EXTENDS_DEPTH} levels of extends",
            )
        own = self.raw(name)
        packages: dict[str, str] = {}
        system: dict[str, None] = {}
        env: dict[str, str] = {}
        python: str | None = None
        prereleases: str | None = None
        description = ""
        for parent_name in own.extends:
            if parent_name not in self.profiles:
                err = unknown_profile_error(parent_name, self.names())
                raise ManifestError(
                    f"{own.source}: profile {name!r} extends unknown profile {parent_name!r}",
                    err.hint,
                )
            parent = self._merged(parent_name, (*chain, name))
            _merge_packages(packages, parent.packages)
            system.update(dict.fromkeys(parent.system))
            env.update(parent.env)
            python = parent.python or python
            prereleases = parent.prereleases or prereleases
            description = parent.description or description
        _merge_packages(packages, own.packages)
        system.update(dict.fromkeys(own.system))
        env.update(own.env)
        merged = Profile(
            name=name,
            description=own.description or description,
            extends=own.extends,
            python=own.python or python,
            packages=tuple(packages.values()),
            system=tuple(system),
            env=env,
            prereleases=own.prereleases or prereleases,
            origin=own.origin,
            source=own.source,
        )
        self._cache[name] = merged
        return merged


def unknown_profile_error(name: str, known: list[str]) -> ManifestError:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"known profiles: {', '.join(known) or 'none'}"
    if close:
        hint = f"did you mean {close[0]!r}? " + hint
    return ManifestError(f"unknown profile {name!r}", hint)
