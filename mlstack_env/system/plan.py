"""The exact shell commands that install an entry's system packages on a distro.

A plan is data: steps of shell text in which every value is quoted (``shlex.quote``), so
what ``mlstack system plan`` prints is what ``mlstack system apply --yes`` runs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlstack_env.core.errors import SystemPackagesError, UsageError
from mlstack_env.core.system_names import check_system_package
from mlstack_env.hardware.machine import Distro
from mlstack_env.system.catalog import (
    Family,
    Prerequisite,
    Repo,
    SystemCatalog,
    repo_version,
)


@dataclass(frozen=True)
class Step:
    title: str
    command: str  # one line of POSIX shell

    def to_json(self) -> dict[str, str]:
        return {"title": self.title, "command": self.command}


@dataclass(frozen=True)
class Plan:
    distro: Distro
    family: Family
    rocm: str | None  # the ROCm release whose repository the plan adds
    install: tuple[str, ...]  # the family's package names it installs
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "distro": f"{self.distro.id}:{self.distro.version_id}",
            "manager": self.family.manager,
            "rocm": self.rocm,
            "install": list(self.install),
            "steps": [s.to_json() for s in self.steps],
            "notes": list(self.notes),
        }

    def script(self) -> str:
        return "".join(f"{s.command}\n" for s in self.steps)


_DISTRO_RE = re.compile(r"^(?P<id>[a-z0-9._-]+)(?::(?P<version>[0-9][0-9A-Za-z._-]*))?$")


def parse_distro(text: str) -> Distro:
    """``ubuntu:24.04`` (or ``arch``, a rolling release without a version) -> a Distro."""
    m = _DISTRO_RE.match(text.strip().lower())
    if not m:
        raise UsageError(
            f"bad distro {text!r}",
            hint="write it as ID:VERSION as in /etc/os-release, e.g. ubuntu:24.04 or rhel:9.4",
        )
    ident, version = m.group("id"), m.group("version") or ""
    return Distro(id=ident, version_id=version, name=f"{ident} {version}".strip())


def _cmd(*argv: str) -> str:
    return shlex.join(argv)


def _as_root(sudo: bool, *argv: str) -> str:
    return _cmd("sudo", *argv) if sudo else _cmd(*argv)


def _write_file(sudo: bool, path: str, lines: Sequence[str]) -> str:
    """``printf '%s\\n' LINE… | [sudo] tee PATH > /dev/null``: no shell expansion of lines."""
    printf = _cmd("printf", "%s\\n", *lines)
    return f"{printf} | {_as_root(sudo, 'tee', path)} > /dev/null"


def _key_step(repo: Repo, sudo: bool) -> str:
    """Download, dearmor into ``KEYRING.part``, and only a non-empty result becomes the
    keyring; a failed download removes the part and fails the step. ``test -s`` keeps
    this true when pasted into a shell without pipefail (issue 21: a 0-byte keyring)."""
    part = f"{repo.keyring}.part"
    fetch = (f"{_cmd('wget', '-qO-', repo.key_url)} | {_cmd('gpg', '--dearmor')} | "
             f"{_as_root(sudo, 'tee', part)} > /dev/null")
    install = f"{_cmd('test', '-s', part)} && {_as_root(sudo, 'mv', '-f', part, repo.keyring)}"
    return f"{{ {fetch} && {install}; }} || {{ {_as_root(sudo, 'rm', '-f', part)}; false; }}"


def _apt_repo_steps(repo: Repo, codename: str, rocm: str, sudo: bool) -> list[Step]:
    keyring_dir = repo.keyring.rsplit("/", 1)[0]
    lines = [
        f"deb [arch={repo.arch} signed-by={repo.keyring}] "
        f"{url.format(rocm=rocm, release=codename)} {codename} {repo.component}"
        for url in (repo.url, *repo.extra_urls)
    ]
    return [
        Step("create the keyring folder",
             _as_root(sudo, "mkdir", "--parents", "--mode=0755", keyring_dir)),
        Step("add AMD's signing key", _key_step(repo, sudo)),
        Step(f"add the ROCm {rocm} repositor{'ies' if len(lines) > 1 else 'y'}",
             _write_file(sudo, repo.list_file, lines)),
        Step(f"prefer {repo.pin.split('o=', 1)[-1]} packages (pin priority {repo.pin_priority})",
             _write_file(sudo, repo.pin_file, [
                 "Package: *", f"Pin: {repo.pin}", f"Pin-Priority: {repo.pin_priority}",
             ])),
    ]


def _rpm_repo_steps(repo: Repo, release: str, rocm: str, sudo: bool) -> list[Step]:
    url = repo.url.format(rocm=rocm, release=release)
    lines = [
        "[rocm]",
        f"name=ROCm {rocm}",
        f"baseurl={url}",
        "enabled=1",
        "priority=50",
        "gpgcheck=1",
        f"gpgkey={repo.key_url}",
    ]
    if repo.kind == "zypper":
        lines.append("type=rpm-md")
    steps = [Step(f"add the ROCm {rocm} repository", _write_file(sudo, repo.repo_file, lines))]
    if repo.kind == "zypper":
        key = Step("add AMD's signing key", _as_root(sudo, "rpm", "--import", repo.key_url))
        steps.insert(0, key)
    return steps


def _prerequisite_steps(prereqs: Sequence[Prerequisite], distro: Distro,
                        sudo: bool) -> list[Step]:
    """AMD's prerequisites for the release: {major} 9 and {version} 9.4 of rhel:9.4."""
    fill = {"major": distro.version_id.split(".")[0], "version": distro.version_id}
    steps = []
    for p in prereqs:
        if p.file:
            command = _write_file(sudo, p.file, [line.format(**fill) for line in p.lines])
        else:
            command = _as_root(sudo, *(arg.format(**fill) for arg in p.command))
        steps.append(Step(p.title, command))
    return steps


def make_plan(
    names: Sequence[str],
    distro: Distro,
    catalog: SystemCatalog,
    rocm: str | None,
    sudo: bool,
) -> Plan:
    """The steps that install ``names`` (ROCm's Debian names) on ``distro``.

    AMD's repository for ``rocm`` is added only when a package needs it. ``names`` are the
    packages to install: the missing ones on this machine, every one for another.
    """
    for name in names:
        check_system_package(name)
    family = catalog.family_of(distro)
    notes: list[str] = []
    install, needs_amd = _packages(names, catalog, family, notes)
    steps: list[Step] = []
    planned_rocm: str | None = None
    has_repo = catalog.has_repo(family)
    if needs_amd and not has_repo:
        notes.append(
            f"ROCm comes from {distro.name}'s own packages: their version follows the "
            "distro release" + (f", not ROCm {rocm}" if rocm else "")
        )
    elif needs_amd:
        if rocm is None:
            raise SystemPackagesError(
                "no ROCm version to add AMD's repository for",
                hint="pass a lock whose entry targets a ROCm release (--lock FILE)",
            )
        repo, release = catalog.repo_for(family, distro, rocm)
        planned_rocm = repo_version(rocm)
        steps += _prerequisite_steps(catalog.prerequisites_for(family, distro), distro, sudo)
        if repo.kind == "apt":
            steps += _apt_repo_steps(repo, release, planned_rocm, sudo)
        else:
            steps += _rpm_repo_steps(repo, release, planned_rocm, sudo)
        if repo.unconfirmed:
            notes.append(
                f"the ROCm repository for {distro.id}:{distro.version_id} is UNCONFIRMED "
                "data in mlstack's catalog; check it against AMD's install guide"
            )
    if install:
        if family.update:
            steps.append(Step("refresh the package lists", _as_root(sudo, *family.update)))
        # "--": nothing after it is an option, whatever a name looks like (they are
        # checked at load time too: system_names).
        steps.append(Step("install the packages",
                          _as_root(sudo, *family.install, "--", *install)))
    return Plan(distro, family, planned_rocm, tuple(install), tuple(steps), tuple(notes))


def _packages(names: Sequence[str], catalog: SystemCatalog, family: Family, notes: list[str]
              ) -> tuple[list[str], bool]:
    """The family's packages for ``names`` (notes for those it cannot install), and
    whether one comes from AMD's ROCm repository."""
    install: list[str] = []
    needs_amd = False
    for name in sorted(set(names)):
        pkgs = catalog.names(name, family)
        if pkgs is None:
            notes.append(f"{name}: no {family.name} package is known; install it by hand")
            continue
        if not pkgs:
            notes.append(f"{name}: nothing to install on {family.name} (the kernel provides it)")
            continue
        if name not in catalog.packages and family.name != "debian":
            notes.append(f"{name}: not in mlstack's catalog; assumed to have the same name")
        if catalog.source(name) == "amdgpu":
            # AMD's driver repository is another one, per driver release: not planned here.
            notes.append(
                f"{name}: comes from AMD's amdgpu driver repository, which this plan does not "
                "add (see AMD's install guide); ROCm runs on the kernel's own amdgpu driver "
                "too"
            )
            continue
        if catalog.source(name) == "rocm":
            needs_amd = True
        install.extend(p for p in pkgs if p not in install)
    return install, needs_amd
