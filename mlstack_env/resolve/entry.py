"""One request through uv into a lock entry: compile to pylock, read it back with canonical
URLs (a lock never holds a mirror URL), check for CUDA builds, add the entry's variables."""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path

from packaging.utils import canonicalize_name

from mlstack_env import rocmsdk
from mlstack_env.config import UserConfig, load_config
from mlstack_env.errors import InternalError, MlstackError
from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel
from mlstack_env.resolve.cudacheck import check_rocm
from mlstack_env.resolve.prerelease import check_prereleases
from mlstack_env.resolve.request import Request, entry_env
from mlstack_env.resolve.uvcompile import Upgrade, compile_request


def resolve(request: Request, config: UserConfig | None = None, offline: bool = False, *,
            previous: LockEntry | None = None, upgrade: Upgrade | None = None) -> LockEntry:
    """Resolve one request through uv into a lock entry (canonical URLs, checked for CUDA).

    ``previous``: the entry it replaces, whose versions uv keeps where it can (only what
    the changed inputs or ``upgrade`` need moves)."""
    config = config or load_config()
    with tempfile.TemporaryDirectory(prefix="mlstack-lock-") as tmp:
        workdir = Path(tmp)
        output = workdir / "pylock.toml"  # uv insists on this name
        compile_request(request, config, workdir, "pylock.toml", output, offline=offline,
                        previous=previous, upgrade=upgrade)
        packages = _parse_pylock(output, request, config)
        rocmsdk.check_entry(request.target, packages, request.wheel_indexes, request.key,
                            device_all=rocmsdk.asks_device_all(request.profile.packages))
        check_prereleases(packages, request, config, offline=offline)
        check_rocm(packages, request, config, workdir, offline)
    core = next((p for p in packages if p.name == rocmsdk.CORE), None)
    if rocmsdk.release_of(request.target) is not None and core is not None \
            and core.index is not None:
        # torch imports rocm_sdk, which only the selector sdist ships: pin it beside the
        # rocm-sdk-* wheels, same index, same version (rocmselector: unpacked, never built).
        from mlstack_env.rocmselector import locate

        packages.append(locate(core.index, core.version, config, offline=offline,
                               previous=previous, key=request.key))
    torch = next((p.version for p in packages if p.name == "torch"), None)
    env, notes = entry_env(request.profile, request.target, torch)
    size = rocmsdk.device_all_note(request.target, packages)
    if size is not None:
        notes.append(size)
    system = request.profile.system if request.target.is_rocm else ()
    if rocmsdk.release_of(request.target) is not None:
        # ROCm itself is in the entry: the host provides none of ROCm's packages.
        from mlstack_env.system.catalog import system_catalog

        system, dropped = system_catalog().beside_rocm_wheels(system)
        if dropped:
            notes.append(f"ROCm's user space is in the entry (rocm-sdk-* wheels): "
                         f"{', '.join(dropped)} not needed from the host")
    return LockEntry(
        profile=request.profile.name,
        target=request.target,
        python=request.python,
        platform=request.platform,
        packages=tuple(sorted(packages, key=lambda p: p.name)),
        env=env,
        system=tuple(system),
        notes=tuple(notes),
        inputs_hash=request.inputs_hash(),
    )


def _parse_pylock(path: Path, request: Request, config: UserConfig) -> list[LockedPackage]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InternalError(f"cannot read uv's pylock output {path}: {exc}") from None
    packages: list[LockedPackage] = []
    for p in raw.get("packages", []):
        name = canonicalize_name(p["name"])
        wheels = []
        for w in p.get("wheels", []):
            url = config.canonical(w["url"])
            sha = w.get("hashes", {}).get("sha256")
            if not sha:
                raise MlstackError(
                    f"resolving {request.key}: {w['url']} has no sha256 on its index",
                    "use an index that publishes hashes (PEP 503 #sha256= fragments)",
                )
            wheels.append(Wheel(url, sha, w.get("size")))
        if not wheels:
            raise MlstackError(
                f"resolving {request.key}: {name} {p.get('version')} has no wheel for "
                f"Python {request.python} on {request.platform}",
                "pin a version with wheels, or choose another Python",
            )
        index = next((s.url for s in request.sources if s.kind == "index"
                      and all(s.owns(w.url) for w in wheels)), None)
        if index is None:
            index = next((s.url for s in request.sources if s.default), None)
        packages.append(LockedPackage(name, str(p["version"]), index, tuple(wheels)))
    return packages
