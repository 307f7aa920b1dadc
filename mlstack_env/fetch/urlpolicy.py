"""Which wheel URLs a lock entry may install from (the sources that resolved it, and a
project's ``allow-urls``): checked at create, bundle and export time, on canonical URLs,
before anything is written; ``[mirrors]`` apply after, to every URL.

Required wherever a lock's URLs are used: ``store.create.CreateEnvRequest.url_policy`` and
``export.containers.make_recipe(policy=...)`` take one (no default), and
``export.bundle.make_bundle`` makes its own from the lock's project. ``env pack`` and
``env unpack`` read no URL (they move a built venv)."""

from __future__ import annotations

from pathlib import Path

from mlstack_env.catalog.sourcemodel import source_backend, url_fill
from mlstack_env.catalog.sources import Catalog, catalog
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import SourceError
from mlstack_env.core.record import record
from mlstack_env.fetch.config import host_prefix

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from mlstack_env.lockfile import LockEntry
    from mlstack_env.manifest.project import Project


@record
class UrlPolicy:
    """The wheel URLs a lock entry may install from: the servers of the configured sources
    (the catalog with a project's ``[sources.NAME]``, enabled, for the entry's backend) and
    the project's ``allow-urls`` prefixes. A ``file://`` URL is never a source's: it needs
    ``allow-urls`` too. Checked on canonical URLs; ``[mirrors]`` apply after, to every one.
    """

    catalog: Catalog
    allow_urls: tuple[str, ...] = ()
    manifest: Path | None = None  # the mlstack.toml that configured them, if any

    def prefixes(self, target: Target) -> tuple[str, ...]:
        fill = url_fill(target)
        backend = source_backend(target)
        out: list[str] = []
        for src in self.catalog.sources.values():
            if not src.enabled or backend not in src.backends:
                continue
            # {version} never reaches the host prefix: any release of the source is its
            here = {**fill, "variant": src.variant(target.rocm) or "", "version": "x"}
            for url in (src.url, *src.files):
                if not url.format(**here):
                    continue  # {wheels} of a target that is no ROCm-as-wheels release
                prefix = host_prefix(url.format(**here))
                if not prefix.startswith("file:") and prefix not in out:
                    out.append(prefix)
        return (*out, *self.allow_urls)

    def check(self, entry: LockEntry, source: str) -> None:
        """Refuse the first wheel URL of ``entry`` outside the policy, naming ``source``
        (the lock file), the entry and the URL."""
        allowed = self.prefixes(entry.target)
        where = str(self.manifest) if self.manifest else "the project's mlstack.toml"
        for package in sorted(entry.packages, key=lambda p: p.name):
            for wheel in package.files:  # wheels, and the rocm selector's sdist
                # A file locked by name (no canonical URL) is fetched from its index.
                url = wheel.url or package.index or ""
                if any(url.startswith(p) for p in allowed):
                    continue
                local = url.lower().startswith("file:")
                what = "a local file, not a configured source" if local else \
                    "outside the configured sources"
                suggest = url.rsplit("/", 1)[0] + "/" if local else host_prefix(url)
                label = "wheel URL" if wheel.url else f"index of {wheel.filename}"
                raise SourceError(
                    f"{source}: entry {entry.key}: {label} {url} is {what}",
                    hint=f"re-lock from the configured sources (`mlstack lock`), or, if "
                    f"you trust it, allow it in {where}: allow-urls = [\"{suggest}\"]",
                )


def url_policy(lock_source: str, project_dir: Path | None = None,
               found: Project | None = None) -> UrlPolicy:
    """The policy for an entry from ``lock_source`` (a lock file's path, or a description
    such as "built-in profile minimal"): the project named by ``--project DIR``, else the
    one the lock file belongs to (found from its folder upward), else the catalog alone.
    ``found``: the project the caller found from the working directory or ``--project``,
    used when it is that project (not looked for again)."""
    from mlstack_env.manifest.project import find_project

    project = None
    lock = Path(lock_source)
    if project_dir is not None:
        project = found if found is not None else find_project(Path.cwd(), project_dir)
    elif found is not None and lock.absolute() == found.lock_path.absolute():
        project = found
    elif lock.is_file():
        project = find_project(lock.absolute().parent)
    if project is None:
        return UrlPolicy(catalog())
    return UrlPolicy(project.catalog(), project.allow_urls, project.manifest_path)
