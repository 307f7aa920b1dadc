"""``core/metadata.py`` reads a METADATA's headers as ``email``'s HeaderParser does."""

from __future__ import annotations

from email.parser import HeaderParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlstack_env.core.metadata import metadata_headers

SAMPLES = [
    "Metadata-Version: 2.1\nName: torch\nVersion: 2.8.0+rocm6.4\n"
    "Requires-Dist: filelock\nRequires-Dist: numpy; extra == 'opt'\n\nBody: not a header\n",
    "Name: a\r\nVersion: 1\r\nRequires-Dist: b (>=1)\r\n  ; python_version < '3.12'\r\n",
    "Name:  spaced\t\nversion:1\nREQUIRES-DIST: x\n",
    "Name: a\nnot a header line\nVersion: 2\n",
    "From someone\nName: a\n continued\n:empty name\n folded after nothing\nVersion: 1\n",
    " leading continuation\nName: a\n",
    "Name: a\rVersion: 1\r\rRequires-Dist: body\n",
    "",
]


def _email(text: str) -> dict[str, list[str]]:
    message = HeaderParser().parsestr(text, headersonly=True)
    out: dict[str, list[str]] = {}
    for key, value in message.items():
        out.setdefault(key.lower(), []).append(value)
    return out


@pytest.mark.parametrize("text", SAMPLES)
def test_same_headers_as_the_email_parser(text: str) -> None:
    assert metadata_headers(text) == _email(text.replace("\r\n", "\n"))


@given(st.lists(st.sampled_from([
    "Name: a", "Requires-Dist: b", "  folded", "\tfolded", "", "x y: z", ":v", "From x",
    "Key:", "K:v:w", "Ünï: x", "A-B_C.d: e",
]), max_size=8).map("\n".join))
def test_same_headers_as_the_email_parser_for_any_lines(text: str) -> None:
    assert metadata_headers(text) == _email(text)
