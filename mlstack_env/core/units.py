"""Numbers as people read them."""

from __future__ import annotations


def human_bytes(n: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; None (a size nobody recorded) -> ``-``."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def seconds(s: float) -> str:
    """A step's duration: ``0.15 s``, ``12.3 s``, ``4 min 05 s``."""
    if s < 1:
        return f"{s:.2f} s"
    if s < 60:
        return f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    return f"{minutes} min {rest:02d} s"
