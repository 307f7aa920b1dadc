"""``core/digest.py``: the sha256 of a text, without hashlib, is hashlib's."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text", ["", "torch 2.8.0+rocm6.4", "ünïcode\n" * 100])
def test_sha256_hex_is_hashlibs(text: str) -> None:
    import hashlib

    from mlstack_env.core.digest import sha256_hex

    assert sha256_hex(text) == hashlib.sha256(text.encode()).hexdigest()
