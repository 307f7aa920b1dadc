"""User config: [mirrors] parsing, longest-prefix rewrite and its reverse, clean errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack_env.core.errors import MlstackError
from mlstack_env.fetch.config import UserConfig, load_config


def test_absent_config_is_empty() -> None:
    config = load_config()
    assert config.mirrors == {}
    assert config.rewrite("https://pypi.org/simple/x/") == "https://pypi.org/simple/x/"


def test_rewrite_uses_longest_prefix_and_canonical_reverses_it() -> None:
    config = UserConfig(
        mirrors={
            "https://download.pytorch.org/": "http://m/all/",
            "https://download.pytorch.org/whl/rocm6.4": "http://m/rocm64",
        }
    )
    assert config.rewrite("https://download.pytorch.org/whl/rocm6.4/torch/") == (
        "http://m/rocm64/torch/"
    )
    assert config.rewrite("https://download.pytorch.org/whl/cpu") == "http://m/all/whl/cpu"
    assert config.rewrite("https://pypi.org/simple") == "https://pypi.org/simple"
    for url in (
        "https://download.pytorch.org/whl/rocm6.4/torch/",
        "https://download.pytorch.org/whl/cpu",
    ):
        assert config.canonical(config.rewrite(url)) == url


def test_load_mirrors_from_mlstack_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[mirrors]\n"https://pypi.org/simple" = "http://127.0.0.1:9/pypi/simple"\n')
    config = load_config()
    assert config.mirrors == {"https://pypi.org/simple": "http://127.0.0.1:9/pypi/simple"}
    assert config.path == path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[mirrors\n", "invalid TOML"),
        ("[mirors]\n", "unknown key 'mirors'"),
        ("mirrors = 3\n", "must be a table"),
        ('[mirrors]\n"https://a/" = 3\n', "non-empty URL"),
        ('[mirrors]\n"pypi" = "https://m/"\n', "not a URL"),
    ],
)
def test_bad_config_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(MlstackError) as info:
        load_config()
    assert str(path) in info.value.message
    assert expected in info.value.message
    assert info.value.hint
