"""The sha256 of a small text (a store key, a lock entry's hash, the name of a parsed TOML
document in core/tomlmemo.py), without ``hashlib``.

Importing ``hashlib`` loads OpenSSL's libcrypto: 2-3 ms of every store hit, ``diff`` and
``tree``, which hash a few kilobytes. Python's own sha256 (the ``_sha2`` module, ``_sha256``
before Python 3.12: what ``hashlib`` falls back on) gives the same digest and loads in a
tenth of that. Files (downloads, RECORD digests) are hashed with ``hashlib``, faster on
large data.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not loaded on the fast paths; mypy reads the names
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _constructor() -> Callable[[bytes], Any]:
    for name in ("_sha2", "_sha256"):
        try:
            return __import__(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib  # a Python built without its own hashes

    return hashlib.sha256


_SHA256 = _constructor()


def sha256_hex(text: str) -> str:
    """The sha256 of ``text`` (UTF-8), as hex digits."""
    return str(_SHA256(text.encode()).hexdigest())


def sha256_digest(*parts: bytes) -> bytes:
    """The sha256 of ``parts`` one after the other, as 32 bytes (no copy of their join)."""
    h = _SHA256(b"")
    for part in parts:
        h.update(part)
    return bytes(h.digest())
