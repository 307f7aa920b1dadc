"""The user config file: ``[mirrors]`` (canonical URL prefix -> mirror prefix).

Mirrors apply only when fetching: every index URL is rewritten with
:meth:`UserConfig.rewrite` just before uv sees it. A file URL uv reports back becomes
canonical with :meth:`UserConfig.canonical` only for a mirror that copies the upstream
layout; for any other, the lock records the file by name (resolve/entry.py), and installs
find it by name on the mirror's project page (locate.py). A lock therefore never contains
a mirror URL, and teams behind different mirrors share one lock.

Example ``config.toml``::

    [mirrors]
    "https://download.pytorch.org/whl/rocm6.4" = "https://artifacts.example.com/api/pypi/torch-rocm64/simple"
    "https://pypi.org/simple" = "https://artifacts.example.com/api/pypi/pypi/simple"
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mlstack_env.core import paths, userfile
from mlstack_env.core.errors import ManifestError
from mlstack_env.core.record import field, record

KNOWN_TABLES = ("mirrors", "downloads")
# [downloads]: how mlstack fetches a lock's files (mlstack_env/fetch/download.py, docs/team.md).
DOWNLOAD_KEYS = {"parallel": "files at once", "timeout": "seconds without a byte",
                 "retries": "further attempts", "deadline": "seconds per file in all"}


@record
class UserConfig:
    """The parsed user config. ``mirrors`` maps canonical prefixes to replacement prefixes."""

    mirrors: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    downloads: dict[str, float] = field(default_factory=dict)  # [downloads], checked

    def rewrite(self, url: str) -> str:
        """The URL to fetch: the longest matching canonical prefix replaced by its mirror."""
        return _swap(url, self.mirrors.items())

    def canonical(self, url: str) -> str:
        """The URL to record: the longest matching mirror prefix replaced by its canonical one."""
        return _swap(url, ((mirror, canon) for canon, mirror in self.mirrors.items()))


def _swap(url: str, pairs: Iterable[tuple[str, str]]) -> str:
    best: tuple[str, str] | None = None
    for prefix, replacement in pairs:
        if url.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, replacement)
    if best is None:
        return url
    return best[1] + url[len(best[0]) :]


def load_config(path: Path | None = None) -> UserConfig:
    """Read the user config (``paths.config_file()`` unless ``path``); absent means empty."""
    path = path or paths.config_file()
    try:
        text = userfile.read_text(
            path, "fix its permissions, or point MLSTACK_CONFIG at another file",
            kind=ManifestError)
    except FileNotFoundError:
        return UserConfig(path=None)
    data = userfile.parse_toml(  # private: mirror URLs may carry credentials
        text, path, "fix the syntax at that line (see https://toml.io), or move the file away",
        kind=ManifestError, private=True)
    for key in data:
        if key not in KNOWN_TABLES:
            import difflib

            close = difflib.get_close_matches(key, KNOWN_TABLES, n=1)
            hint = f"did you mean [{close[0]}]?" if close else \
                "the known tables are: [mirrors], [downloads]"
            raise ManifestError(f"{path}: unknown key {key!r} in the user config", hint)
    raw = data.get("mirrors", {})
    if not isinstance(raw, dict):
        raise ManifestError(
            f"{path}: [mirrors] must be a table of URL prefix = replacement prefix",
            '[mirrors]\n"https://pypi.org/simple" = "https://mirror.example/pypi/simple"',
        )
    mirrors: dict[str, str] = {}
    for prefix, replacement in raw.items():
        if not isinstance(replacement, str) or not replacement:
            raise ManifestError(
                f"{path}: mirror for {prefix!r} must be a non-empty URL string",
                f'write it as "{prefix}" = "https://mirror.example/..."',
            )
        for value in (prefix, replacement):
            if "://" not in value:
                raise ManifestError(
                    f"{path}: mirror prefix {value!r} is not a URL",
                    "mirror prefixes start with a scheme, e.g. https:// or file://",
                )
        mirrors[prefix] = replacement
    return UserConfig(mirrors=mirrors, path=path, downloads=_downloads(data, path))


def _downloads(data: dict[str, object], path: Path) -> dict[str, float]:
    raw = data.get("downloads", {})
    example = "[downloads]\nparallel = 4\ntimeout = 30\nretries = 3\ndeadline = 7200"
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: [downloads] must be a table", example)
    out: dict[str, float] = {}
    for key, value in raw.items():
        if key not in DOWNLOAD_KEYS:
            known = ", ".join(f"{k} ({w})" for k, w in DOWNLOAD_KEYS.items())
            raise ManifestError(f"{path}: unknown key {key!r} in [downloads]",
                                f"the keys are: {known}")
        whole = key in ("parallel", "retries")
        ok = isinstance(value, int) if whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or value < (0 if key == "retries" else 1e-9):
            kind = "a whole number" if whole else "a number of seconds"
            floor = "0 or more" if key == "retries" else "above 0"
            raise ManifestError(f"{path}: [downloads] {key} = {value!r} is not {kind} {floor}",
                                example)
        out[key] = float(value)
    return out


# Hosts a canonical URL implies: PyPI's simple index serves files from files.pythonhosted.org.
_IMPLIED = {"https://pypi.org/": ("https://files.pythonhosted.org/",)}


def host_prefix(url: str) -> str:
    """``https://download.pytorch.org/whl/rocm6.4`` -> ``https://download.pytorch.org/``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return f"{scheme}://{rest.split('/', 1)[0]}/"


def mirror_advice(urls: Iterable[str], config: UserConfig) -> str:
    """The hint for an unreachable index: which hosts no ``[mirrors]`` entry covers, and
    the exact lines to add to the user config; or, when every host is mirrored, the
    mirrors to check."""
    hosts: list[str] = []
    for url in urls:
        prefix = host_prefix(url)
        for host in (prefix, *_IMPLIED.get(prefix, ())):
            if host not in hosts:
                hosts.append(host)
    file = config.path or paths.config_file()
    uncovered = [h for h in hosts if config.rewrite(h) == h
                 and not any(m.startswith(h) for m in config.mirrors)]
    if not uncovered:
        mirrors = ", ".join(dict.fromkeys(config.rewrite(h) for h in hosts))
        return f"check the network and that the mirrors in {file} are reachable: {mirrors}"
    names = ", ".join(h.split("://", 1)[-1].rstrip("/") for h in uncovered)
    lines = "\n".join(f'"{h}" = "https://MIRROR.example/{_slug(h)}/"' for h in uncovered)
    return (f"no [mirrors] entry covers {names}: check the network, or add to {file} "
            f"(with your mirror's URLs; see docs/team.md):\n[mirrors]\n{lines}")


def _slug(host: str) -> str:
    """A folder name for a mirror of ``host``: ``https://download.pytorch.org/`` ->
    ``pytorch``; a host without a domain (``localhost:1``) names itself."""
    name = host.split("://", 1)[-1].rstrip("/").split("/", 1)[0].split(":", 1)[0]
    parts = [p for p in name.split(".") if p]
    slug = parts[-2] if len(parts) >= 2 else (parts[0] if parts else "")
    return "".join(c for c in slug if c.isalnum() or c in "-_") or "mirror"
