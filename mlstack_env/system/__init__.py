"""System packages: which an entry needs, which are installed, how to install the rest.

Profiles name system packages by ROCm's Debian names; ``catalog/system.toml`` maps them
to each distro family and says how to add AMD's repository (ROCM-FACTS §5).
"""

from mlstack_env.system.catalog import Family, SystemCatalog, system_catalog
from mlstack_env.system.check import PackageStatus, check_packages
from mlstack_env.system.packagedb import PackageDb, package_db
from mlstack_env.system.plan import Plan, Step, make_plan, parse_distro

__all__ = [
    "Family",
    "PackageDb",
    "PackageStatus",
    "Plan",
    "Step",
    "SystemCatalog",
    "check_packages",
    "make_plan",
    "package_db",
    "parse_distro",
    "system_catalog",
]
