"""Where a locked file is fetched from now: the one rule that ``env create``, ``mlstack
bundle`` and the rocm selector's fetch share.

* Its index is mirrored (``[mirrors]`` rewrites the package's canonical ``index``): the
  file is found **by name** on the mirror's project page (indexpages.py), whatever the
  mirror's path layout, and its listed sha256 must be the lock's.
* Not mirrored, and the lock records its canonical URL: that URL, through any
  ``[mirrors]`` prefix that covers it (a mirror of the file host alone, or of a
  find-links folder, whose package has no index: its files keep their names there).
* Not mirrored, and the lock has no URL (it was locked through a mirror of another
  layout): by name on the canonical index's own page.

Pages are read once per :class:`FileLocator` (one per command run).
"""

from __future__ import annotations

from mlstack_env.core.errors import LockError
from mlstack_env.fetch.config import UserConfig
from mlstack_env.fetch.indexpages import ProjectPages
from mlstack_env.lockfile.model import LockedPackage, Wheel


class FileLocator:
    def __init__(self, config: UserConfig, pages: ProjectPages | None = None) -> None:
        self.config = config
        self.pages = pages or ProjectPages()

    def url(self, package: LockedPackage, wheel: Wheel) -> str:
        """The URL to fetch ``wheel`` (a file of ``package``) from; a clear
        :class:`~mlstack_env.fetch.indexpages.MirrorError` when its mirror or index does not
        list it with the locked sha256."""
        index = package.index
        if index is not None:
            mirror = self.config.rewrite(index)
            if mirror != index:
                return self.pages.locate(mirror, package.name, wheel.filename, wheel.sha256,
                                         what="mirror")
            if not wheel.url:
                return self.pages.locate(index, package.name, wheel.filename, wheel.sha256,
                                         what="index")
        if not wheel.url:  # no index and no URL: nothing says where it lives
            raise LockError(f"the lock names {wheel.filename} of {package.name} with "
                            "neither a URL nor an index",
                            "re-lock with `mlstack lock`")
        return self.config.rewrite(wheel.url)
