"""``mlstack init``: a new project's ``mlstack.toml`` — targets, Python, default-env and a
profile built from components (``catalog/components.toml``).

The CLI decides which components (the picker on a terminal, else ``--with`` and the
defaults); this module checks them against every target, chooses the Python, writes the
file (tomlkit, with comments) and checks that the project loader accepts it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.catalog.components import Component, component, components, is_rdna
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import ManifestError, TargetError, UsageError
from mlstack_env.core.projectdir import MANIFEST_NAME

if TYPE_CHECKING:
    from mlstack_env.manifest.profiles import Profile
    from mlstack_env.resolve.request import PythonNeeds


@dataclass(frozen=True)
class InitPlan:
    path: Path
    profile: str
    targets: tuple[Target, ...]
    python: str
    python_why: str
    python_range: str
    chosen: tuple[Component, ...]
    packages: tuple[tuple[str, str], ...]  # (requirement, component title)
    system: tuple[str, ...]
    env: tuple[tuple[str, str, str], ...]  # (name, value, component title)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "profile": self.profile,
            "default_env": self.profile,
            "targets": [str(t) for t in self.targets],
            "python": self.python,
            "python_why": self.python_why,
            "components": [c.id for c in self.chosen],
            "packages": [r for r, _ in self.packages],
            "system": list(self.system),
            "env": {k: v for k, v, _ in self.env},
            "notes": list(self.notes),
        }


def profile_name_for(directory: Path) -> str:
    """A profile (and env) name from the project folder's name: envs are named globally,
    so ``main`` in every project would collide. What the env-name rule refuses becomes one
    ``-`` (a run of dots one ``.``), so ``my..proj`` gives ``my.proj``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.absolute().name)
    name = re.sub(r"\.{2,}", ".", name).strip("-._")[:64].rstrip("-._")
    return name or "project"


def _builtin_profile() -> Profile:
    """The profile whose Pythons the built-in profiles allow (PyTorch's wheels): one home,
    minimal's."""
    from mlstack_env.manifest.profiles import ProfileSet

    return ProfileSet.load().get("minimal")


def python_needs(chosen: Sequence[Component], targets: Sequence[Target],
                 running: tuple[int, int] | None = None) -> PythonNeeds:
    """What the chosen components ask of the Python, for the one rule
    (:func:`mlstack_env.resolve.request.choose_python`, with the built-in profiles' range):
    the Pythons those used on a target have wheels for, if any narrows it."""
    from mlstack_env.resolve.request import PythonNeeds

    needed: set[str] | None = None
    needer = ""
    for c in chosen:
        if c.python and any(t.backend in c.backends for t in targets):
            needed = set(c.python) if needed is None else needed & set(c.python)
            needer = c.title
    return PythonNeeds(versions=frozenset(needed) if needed is not None else None, who=needer,
                       range_of="the built-in profiles",
                       running=f"{running[0]}.{running[1]}" if running else None)


def resolve_choice(ids: Sequence[str] | None) -> list[Component]:
    """The components for ``ids`` (None: the defaults), plus the required ones, in catalog
    order; unknown ids are an error naming the known ones."""
    known = [c.id for c in components()]
    if ids is None:
        wanted = {c.id for c in components() if c.default}
    else:
        wanted = set()
        for cid in ids:
            if component(cid) is None:
                import difflib

                close = difflib.get_close_matches(cid, known, n=1)
                raise UsageError(
                    f"unknown component {cid!r}",
                    hint=(f"did you mean {close[0]!r}? " if close else "")
                    + f"components: {', '.join(known)}",
                )
            wanted.add(cid)
    return [c for c in components() if c.required or c.id in wanted]


def availability(c: Component, targets: Sequence[Target], python: str | None
                 ) -> dict[str, list[str]]:
    """Target -> why ``c`` is not available there (targets where it is are left out)."""
    out = {}
    for t in targets:
        problems = c.problems(t, python)
        if problems:
            out[str(t)] = problems
    return out


def plan_init(root: Path, targets: Sequence[Target], python: str | None,
              ids: Sequence[str] | None, *, profile: str | None = None,
              running: tuple[int, int] | None = None) -> InitPlan:
    from mlstack_env.core.envname import validate_env_name
    from mlstack_env.manifest.profiles import merge_requirements

    if not targets:
        raise UsageError("no target to lock for", hint="pass --target T (e.g. rocm6.4:gfx1100)")
    name = profile or profile_name_for(root)
    validate_env_name(name)  # it is the default-env too
    chosen = [c for c in resolve_choice(ids) if c.included is None]
    from mlstack_env.resolve.request import choose_python

    builtin = _builtin_profile()
    allowed = builtin.python or ">=3.10,<3.14"
    choice = choose_python(builtin, python, None, needs=python_needs(chosen, targets, running))
    py, why = choice.version, choice.why
    if any(c.python for c in chosen):
        # vLLM on another Python would resolve PyPI's CUDA abi3 wheel (ROCM-FACTS §4).
        allowed = f"=={py}.*"
    _check_available(chosen, targets, py)
    packages: list[str] = []
    origin: dict[str, str] = {}
    for c in chosen:
        packages = merge_requirements(packages, c.packages)
        for req in c.packages:
            origin[req] = c.title
    system: list[str] = []
    for c in chosen:
        system += [s for s in c.system if s not in system]
    env = _env_of(chosen, targets)
    notes = [f"{c.title}: {n}" for c in chosen for n in c.notes]
    return InitPlan(
        path=root / MANIFEST_NAME,
        profile=name,
        targets=tuple(targets),
        python=py,
        python_why=why,
        python_range=allowed,
        chosen=tuple(chosen),
        packages=tuple((r, origin[r]) for r in packages),
        system=tuple(system),
        env=tuple((k, v, who) for k, (v, who) in env.items()),
        notes=tuple(notes),
    )


def _check_available(chosen: Sequence[Component], targets: Sequence[Target], py: str) -> None:
    """Refuse a component with no build for a target or the Python."""
    for c in chosen:
        missing = availability(c, targets, py)
        if missing:
            where = "; ".join(f"{t}: {', '.join(p)}" for t, p in missing.items())
            raise TargetError(
                f"{c.title} is not available here ({where})" + (f" — {c.why}" if c.why else ""),
                hint=f"leave {c.id} out, or choose targets it supports with --target",
            )


def _env_of(chosen: Sequence[Component], targets: Sequence[Target]
            ) -> dict[str, tuple[str, str]]:
    """The profile's variables, each with the component that sets it (RDNA ones when a
    target is RDNA); a later component's value wins."""
    env: dict[str, tuple[str, str]] = {}
    rdna = any(is_rdna(t) for t in targets)
    for c in chosen:
        for k, v in c.env.items():
            env[k] = (v, c.title)
        if rdna:
            for k, v in c.env_rdna.items():
                env[k] = (v, f"{c.title} on RDNA")
    return env


def render(plan: InitPlan) -> str:
    """The manifest text: tomlkit, every choice commented."""
    import tomlkit

    doc = tomlkit.document()
    for line in (
        "mlstack project. `mlstack lock` resolves the profile below for every target into",
        "mlstack.lock (commit both files); `mlstack env create` builds the default env from",
        "the lock; `mlstack run -- CMD` and `mlstack shell` use it. Written by `mlstack init`;",
        "edit freely (docs/profiles.md).",
    ):
        doc.add(tomlkit.comment(line))
    doc.add(tomlkit.nl())
    doc.add(tomlkit.comment("The env `env create`, `run`, `shell` and `env activate` use "
                            "without a name."))
    doc.add("default-env", plan.profile)
    doc.add(tomlkit.comment(f"The Python to lock for: {plan.python_why}."))
    doc.add("python", plan.python)
    doc.add(tomlkit.comment("The machines the team locks for; `mlstack lock` resolves each."))
    targets = tomlkit.array()
    for t in plan.targets:
        targets.append(str(t))
    doc.add("targets", targets)
    profile = tomlkit.table()
    titles = ", ".join(c.title for c in plan.chosen)
    profile.add("description", f"{titles} (from mlstack init)")
    profile.add("python", plan.python_range)
    profile.add(tomlkit.comment("PEP 508 requirements; the comment says which component "
                                "asked for each."))
    packages = tomlkit.array()
    for req, title in plan.packages:
        packages.add_line(req, comment=title)
    packages.add_line(indent="")
    profile.add("packages", packages)
    if plan.system:
        profile.add(tomlkit.comment("System packages by ROCm's Debian names (`mlstack system "
                                    "check` looks for them)."))
    system = tomlkit.array()
    for s in plan.system:
        system.append(s)
    profile.add("system", system)
    if plan.env:
        env = tomlkit.table()
        for k, v, who in plan.env:
            env.add(k, v)
            env[k].comment(who)
        profile.add("env", env)
    profiles = tomlkit.table(is_super_table=True)
    profiles.add(plan.profile, profile)
    doc.add(tomlkit.nl())
    doc.add("profiles", profiles)
    return tomlkit.dumps(doc)


def write(plan: InitPlan, text: str, *, force: bool) -> None:
    """Write the manifest atomically (``userfile.write_atomic``: mode per the umask, 0644
    under 022), after checking that the project loader accepts it; refuse to replace one
    without ``force``."""
    from mlstack_env.core.userfile import write_atomic
    from mlstack_env.manifest.project import load_project

    if plan.path.exists() and not force:
        raise ManifestError(f"{plan.path} already exists",
                            hint="edit it, or replace it with `mlstack init --force`")
    # A file mlstack itself would refuse is a bug here, not the user's: checked before it
    # replaces anything.
    write_atomic(plan.path, text, check=load_project)


# --- the picker -----------------------------------------------------------------------


def picker_lines(items: Sequence[Component], picked: set[str], targets: Sequence[Target],
                 python: str | None) -> list[str]:
    """The checklist as text: one line per component, and what it needs below it.
    ``python`` None: not fixed yet (chosen from the components afterwards)."""
    head = ", ".join(str(t) for t in targets)
    lines = [f"Components for {head}" + (f", Python {python}:" if python else ":")]
    for i, c in enumerate(items, start=1):
        missing = availability(c, targets, python)
        if c.included:
            mark = "(=)"
        elif missing:
            mark = " - "
        else:
            mark = "[x]" if c.id in picked else "[ ]"
        parent = component(c.included) if c.included else None
        extra = "always" if c.required else (f"comes with {parent.title}" if parent else "")
        desc = ", ".join(c.packages)
        if extra:
            desc = f"{desc} ({extra})" if desc else f"({extra})"
        lines.append(f"{i:>3} {mark} {c.title:<26} {desc}".rstrip())
        if missing:
            where = "; ".join(f"{t}: {', '.join(p)}" for t, p in missing.items())
            lines.append(f"          not available: {where}")
        needs = c.needs(tuple(targets))
        if needs and not missing:
            lines.append(f"          {'; '.join(needs)}")
    return lines


class PickerQuit(Exception):
    """The user quit the checklist (``q``): nothing is written, and that is no error."""


# CSI and SS3 sequences (arrow keys, Home, F-keys) and any other ESC + one character.
_ESCAPES = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|O.|.)?")
PROMPT = "Toggle by number (e.g. `3 8`), Enter to accept, q to quit: "


def pick(targets: Sequence[Target], python: str | None, read: Callable[[str], str],
         write_line: Callable[[str], None], ids: Sequence[str] | None = None) -> list[str]:
    """The interactive checklist: numbers toggle, an empty line accepts. Returns the chosen
    component ids. Unavailable, required and included ones cannot be toggled."""
    items = list(components())
    picked = {c.id for c in resolve_choice(ids)}
    while True:
        for line in picker_lines(items, picked, targets, python):
            write_line(line)
        try:
            raw = read(PROMPT)
        except EOFError:
            raw = "q"
        # The line is read cooked: arrow keys arrive as escape sequences (ESC [ A), which
        # are no choice. Drop them; a line of nothing else is asked again, not accepted.
        answer = _ESCAPES.sub("", raw).strip()
        if answer == "" and raw.strip():
            write_line("  (arrow keys do nothing here: type the numbers to toggle)")
            continue
        if answer == "":
            return [c.id for c in items if c.id in picked]
        if answer.lower() in ("q", "quit"):
            raise PickerQuit
        for word in answer.replace(",", " ").split():
            if not word.isdigit() or not 1 <= int(word) <= len(items):
                write_line(f"  ? {word}: not a number from 1 to {len(items)}")
                continue
            c = items[int(word) - 1]
            if c.required or c.included:
                write_line(f"  {c.title} is always in")
            elif availability(c, targets, python):
                write_line(f"  {c.title} is not available for these targets")
            elif c.id in picked:
                picked.discard(c.id)
            else:
                picked.add(c.id)
