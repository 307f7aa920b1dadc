"""A target: what a lock entry is resolved for (backend, ROCm version, gfx list)."""

from __future__ import annotations

import re
from enum import StrEnum

from mlstack_env.core.errors import TargetError
from mlstack_env.core.record import record

# re.ASCII: \d would also match other scripts' digits (Arabic-Indic ٦), which int() reads.
_ROCM_RE = re.compile(r"^rocm(?P<version>\d+\.\d+(?:\.\d+)?)(?::(?P<gfx>[A-Za-z0-9,]*))?$",
                      re.ASCII)
_PYTHON_RE = re.compile(r"3\.[0-9]{1,3}", re.ASCII)


TARGET_HINT = "write a target as 'cpu' or 'rocmX.Y[.Z]:gfxA[,gfxB…]', e.g. rocm6.4:gfx1100"


def parse_python(text: str, where: str = "--python") -> str:
    """A Python version as a target names it, ``X.Y``; anything else is a user error
    (``where`` says which option or file key held it)."""
    if not _PYTHON_RE.fullmatch(text):
        raise TargetError(f"{where} {text!r} is not a Python version",
                          hint="write it as X.Y, e.g. 3.12")
    return text


class Backend(StrEnum):
    CPU = "cpu"
    ROCM = "rocm"


@record(order=True)
class Target:
    """A target: a backend (ROCm or CPU), its ROCm version as written, and the gfx list."""
    backend: Backend
    rocm: str | None = None  # "6.4" or "6.2.4", exactly as written
    gfx: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.backend is Backend.CPU:
            return "cpu"
        return f"rocm{self.rocm}:{','.join(self.gfx)}"

    @property
    def is_rocm(self) -> bool:
        return self.backend is Backend.ROCM

    @property
    def rocm_minor(self) -> str | None:
        """``6.4`` for ``6.4`` and ``6.4.1``."""
        if self.rocm is None:
            return None
        return ".".join(self.rocm.split(".")[:2])

    @classmethod
    def cpu(cls) -> Target:
        return cls(Backend.CPU)

    @classmethod
    def rocm_for(cls, version: str, gfx: list[str] | tuple[str, ...]) -> Target:
        return cls(Backend.ROCM, version, tuple(sorted(set(gfx), key=_gfx_key)))

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse and validate a target string; unknown gfx names are errors."""
        from mlstack_env.catalog import gpu_table, unknown_gfx_error

        value = text.strip()
        if value == "cpu":
            return cls.cpu()
        m = _ROCM_RE.match(value)
        if not m:
            raise TargetError(f"bad target {text!r}", hint=TARGET_HINT)
        gfx_text = m.group("gfx") or ""
        gfx = [g.strip().lower() for g in gfx_text.split(",") if g.strip()]
        if not gfx:  # "rocm6.4", "rocm6.4:" and "rocm6.4:," alike
            raise TargetError(
                f"target {text!r} names no GPU architecture",
                hint=f"add the gfx list: rocm{m.group('version')}:gfx1100 (see `mlstack detect`)",
            )
        table = gpu_table()
        for g in gfx:
            if g not in table.models:
                raise unknown_gfx_error(g, table)
        return cls.rocm_for(m.group("version"), gfx)


def _gfx_key(gfx: str) -> tuple[int, str]:
    # gfx90a < gfx942 < gfx1030 < gfx1100: order by length of the number, then text.
    return (len(gfx), gfx)
