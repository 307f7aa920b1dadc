"""Pure parsers and readers for the KFD topology and DRM sysfs (ROCM-FACTS §2)."""

from __future__ import annotations

import re
from pathlib import Path

from mlstack_env.core.record import record

AMD_VENDOR_ID = 0x1002
HEAP_FB_PUBLIC = 1
HEAP_FB_PRIVATE = 2


def parse_properties(text: str) -> dict[str, int]:
    """Parse a KFD ``properties`` file: ``key value`` lines, decimal values."""
    props: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            props[parts[0]] = int(parts[1])
        except ValueError:
            continue
    return props


def decode_gfx_target_version(value: int) -> str:
    """90010 -> gfx90a, 110501 -> gfx1151: major decimal, minor and step in hex."""
    major = value // 10000 % 100
    minor = value // 100 % 100
    step = value % 100
    return f"gfx{major}{minor:x}{step:x}"


def format_device_id(value: int) -> str:
    return f"0x{value:04x}"


def format_uuid(unique_id: int | None) -> str | None:
    """The ROCr UUID of a GPU as rocminfo prints it: ``GPU-`` and the KFD ``unique_id`` in
    16 hex digits (HSA_AMD_AGENT_INFO_UUID). None for 0 or absent: such a GPU (rocminfo
    shows ``GPU-XX``, common on consumer cards) can only be selected by index (FACTS §1)."""
    if not unique_id or unique_id < 0:
        return None
    return f"GPU-{unique_id:016x}"


@record
class KfdNode:
    """One KFD topology node as sysfs shows it."""
    # libhsakmt's node id, the ``<n>`` of HSA_OVERRIDE_GFX_VERSION_<n>: sysfs nodes in
    # order, CPU nodes included, nodes it cannot read skipped and the rest renumbered
    # (ROCT-Thunk-Interface src/topology.c, map_user_to_sysfs_node_id; FACTS §1). Equal to
    # the sysfs node number unless a node before it is unreadable.
    node: int
    gfx: str
    device_id: int
    vendor_id: int
    vram_bytes: int | None
    render_minor: int | None
    unique_id: int | None = None  # KFD ``unique_id``; 0 or absent on many consumer cards


def _node_number(path: Path) -> int:
    return int(path.name) if path.name.isdigit() else 1 << 30


def read_kfd_nodes(root: Path, notes: list[str]) -> list[KfdNode] | None:
    """GPU nodes of the KFD topology in node order; None when there is no KFD at all.

    CPU nodes (no SIMDs, gpu_id 0) are skipped, and so are nodes that cannot be read
    (EPERM under a device cgroup), as ROCm itself does. Each node's ``node`` is its
    compacted id (see :class:`KfdNode`): unreadable nodes do not count, CPU nodes do. (A
    render node libhsakmt cannot open is skipped by it too; sysfs cannot show that.)
    """
    nodes_dir = root / "sys/class/kfd/kfd/topology/nodes"
    if not nodes_dir.is_dir():
        return None
    gpus: list[KfdNode] = []
    compact = -1
    for node_dir in sorted(nodes_dir.iterdir(), key=_node_number):
        if not node_dir.name.isdigit():
            continue
        try:
            props = parse_properties((node_dir / "properties").read_text(errors="replace"))
            gpu_id = int((node_dir / "gpu_id").read_text().strip(), 0)
        except (OSError, ValueError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else e
            notes.append(f"KFD node {node_dir.name} skipped: {why}")
            continue
        compact += 1
        if props.get("simd_count", 0) == 0 or gpu_id == 0:
            continue
        version = props.get("gfx_target_version", 0)
        if version == 0:
            continue
        render_minor = props.get("drm_render_minor")
        gpus.append(
            KfdNode(
                node=compact,
                gfx=decode_gfx_target_version(version),
                device_id=props.get("device_id", 0),
                vendor_id=props.get("vendor_id", 0),
                vram_bytes=_kfd_vram(node_dir) or _drm_vram_by_render_minor(root, render_minor),
                render_minor=render_minor,
                unique_id=props.get("unique_id") or None,
            )
        )
    return gpus


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip(), 0)
    except (OSError, ValueError):
        return None


def _kfd_vram(node_dir: Path) -> int | None:
    banks = node_dir / "mem_banks"
    if not banks.is_dir():
        return None
    total = 0
    for bank in banks.iterdir():
        try:
            props = parse_properties((bank / "properties").read_text(errors="replace"))
        except OSError:
            continue
        if props.get("heap_type") in (HEAP_FB_PUBLIC, HEAP_FB_PRIVATE):
            total += props.get("size_in_bytes", 0)
    return total or None


def _drm_vram_by_render_minor(root: Path, minor: int | None) -> int | None:
    if minor is None:
        return None
    return _read_int(root / f"sys/class/drm/renderD{minor}/device/mem_info_vram_total")


_CARD_RE = re.compile(r"^card\d+$")


@record
class DrmCard:
    """One DRM card as sysfs shows it: PCI device id and VRAM."""
    card: str
    device_id: int
    vram_bytes: int | None


def read_drm_cards(root: Path) -> list[DrmCard]:
    """AMD cards under ``sys/class/drm/card*/device`` (vendor 0x1002), in card order."""
    drm = root / "sys/class/drm"
    if not drm.is_dir():
        return []
    cards: list[DrmCard] = []
    names = sorted(
        (p for p in drm.iterdir() if _CARD_RE.match(p.name)), key=lambda p: int(p.name[4:])
    )
    for card in names:
        device = card / "device"
        if _read_int(device / "vendor") != AMD_VENDOR_ID:
            continue
        device_id = _read_int(device / "device")
        if device_id is None:
            continue
        cards.append(DrmCard(card.name, device_id, _read_int(device / "mem_info_vram_total")))
    return cards
