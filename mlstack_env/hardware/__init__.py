"""Knowing the machine: probes read sysfs and files under MLSTACK_ROOT into a Machine."""

from mlstack_env.hardware.machine import Distro, Gpu, Machine, RocmInstall
from mlstack_env.hardware.probe import detect

__all__ = ["Distro", "Gpu", "Machine", "RocmInstall", "detect"]
