"""The loopback wheel index itself: deterministic wheels, PEP 503/658/691 pages, tampering."""

from __future__ import annotations

import hashlib
import json
import urllib.request
import zipfile
from io import BytesIO

from tests.wheelindex import (
    PYTORCH_INDEXES,
    WheelIndex,
    build_wheel,
    torch_dist,
)

pytest_plugins = ["tests.wheelindex"]  # the wheel_index / mirrored fixtures


def _get(url: str, accept: str = "*/*") -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=30) as resp:
        data: bytes = resp.read()
        return data


def test_wheels_are_byte_stable_and_real() -> None:
    dist = torch_dist("2.8.0+rocm6.4", ())
    one = build_wheel(dist, "cp312-cp312-manylinux_2_28_x86_64")
    two = build_wheel(dist, "cp312-cp312-manylinux_2_28_x86_64")
    assert one.data == two.data
    assert one.filename == "torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(BytesIO(one.data)) as zf:
        names = zf.namelist()
        assert "torch/__init__.py" in names
        assert 'version__ = "2.8.0+rocm6.4"' in zf.read("torch/__init__.py").decode()
        record = zf.read("torch-2.8.0+rocm6.4.dist-info/RECORD").decode()
    assert "torch/__init__.py,sha256=" in record


def test_pages_hashes_and_metadata_match_the_files(wheel_index: WheelIndex) -> None:
    page = _get(f"{wheel_index.url}/pytorch/whl/rocm6.4/torch/").decode()
    assert "data-core-metadata=\"sha256=" in page
    name = "torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl"
    data = _get(f"{wheel_index.url}/pytorch/whl/rocm6.4/torch-2.8.0%2Brocm6.4-cp312-cp312-"
                "manylinux_2_28_x86_64.whl")
    assert hashlib.sha256(data).hexdigest() == wheel_index.sha256(name)
    assert f"#sha256={wheel_index.sha256(name)}" in page
    meta = _get(f"{wheel_index.url}/pytorch/whl/rocm6.4/torch-2.8.0%2Brocm6.4-cp312-cp312-"
                "manylinux_2_28_x86_64.whl.metadata").decode()
    assert "Requires-Dist: pytorch-triton-rocm==3.4.0" in meta
    assert {"rocm6.4", "rocm6.3", "rocm6.1", "rocm7.2", "cpu"} <= set(PYTORCH_INDEXES)


def test_pypi_stand_in_speaks_json_and_serves_a_cuda_torch(wheel_index: WheelIndex) -> None:
    doc = json.loads(_get(f"{wheel_index.url}/pypi/simple/torch/",
                          "application/vnd.pypi.simple.v1+json"))
    assert doc["versions"] == ["2.9.0"]
    assert all(f["size"] > 0 for f in doc["files"])
    meta_url = f"{wheel_index.url}/pypi/simple/torch/" + doc["files"][0]["url"] + ".metadata"
    assert "nvidia-cublas-cu12" in _get(meta_url).decode()


def test_tampered_view_serves_other_bytes(wheel_index: WheelIndex) -> None:
    path = "/pytorch/whl/cpu/torch-2.8.0%2Bcpu-cp312-cp312-manylinux_2_28_x86_64.whl"
    good = _get(wheel_index.url + path)
    bad = _get(wheel_index.url + "/tampered" + path)
    assert len(good) == len(bad)
    assert good != bad
    assert wheel_index.tampered_mirrors["https://download.pytorch.org/"].endswith(
        "/tampered/pytorch/"
    )
