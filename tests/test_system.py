"""System packages: catalog, package databases, check, plan, apply, and the CLI."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from mlstack_env.actions.wanted import wanted_from_lock
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.hardware import detect
from mlstack_env.hardware.machine import Distro
from mlstack_env.lockfile import Lock, LockEntry, dumps
from mlstack_env.system import check_packages, make_plan, parse_distro, system_catalog
from mlstack_env.system.apply import apply_plan
from mlstack_env.system.catalog import repo_version
from mlstack_env.system.packagedb import DpkgDb, parse_dpkg, parse_pacman, parse_rpm
from tests import machines

Cli = Callable[..., subprocess.CompletedProcess[str]]


class FakeDb:
    """A package database that knows what it was told, and records what it was asked."""

    def __init__(self, installed: dict[str, str]) -> None:
        self.installed = installed
        self.asked: list[list[str]] = []

    def query(self, names: Iterable[str]) -> dict[str, str | None]:
        wanted = sorted(names)
        self.asked.append(wanted)
        return {n: self.installed.get(n) for n in wanted}


def distro(ident: str, version: str, like: tuple[str, ...] = ()) -> Distro:
    return Distro(id=ident, version_id=version, name=f"{ident} {version}", id_like=like)


def entry(target: str, system: tuple[str, ...], profile: str = "minimal") -> LockEntry:
    return LockEntry(profile=profile, target=Target.parse(target), python="3.12",
                     platform="x86_64-manylinux_2_28", packages=(), system=system)


def write_lock(path: Path, *entries: LockEntry) -> Path:
    path.write_text(dumps(Lock(tuple(entries), "0.1.0", "0.13.9")))
    return path


# --- families and names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ident", "like", "family", "manager"),
    [
        ("ubuntu", (), "debian", "apt"),
        ("debian", (), "debian", "apt"),
        ("rhel", (), "el", "dnf"),
        ("rocky", ("rhel", "centos", "fedora"), "el", "dnf"),
        ("almalinux", (), "el", "dnf"),
        ("ol", (), "el", "dnf"),
        ("fedora", (), "fedora", "dnf"),
        ("sles", (), "suse", "zypper"),
        ("opensuse-leap", ("suse", "opensuse"), "suse", "zypper"),
        ("arch", (), "arch", "pacman"),
        ("linuxmint", ("ubuntu", "debian"), "debian", "apt"),
        ("endeavouros", ("arch",), "arch", "pacman"),
    ],
)
def test_family_from_os_release_id_and_id_like(
    ident: str, like: tuple[str, ...], family: str, manager: str
) -> None:
    found = system_catalog().family_of(distro(ident, "1", like))
    assert (found.name, found.manager) == (family, manager)


def test_unknown_distro_is_named_in_a_clear_error() -> None:
    with pytest.raises(MlstackError) as err:
        system_catalog().family_of(Distro("gentoo", "2.15", "Gentoo Linux"))
    assert "Gentoo Linux" in err.value.message and "gentoo" in err.value.message
    assert err.value.hint and "--distro" in err.value.hint


def test_debian_names_map_to_each_family() -> None:
    cat = system_catalog()
    fam = cat.families
    assert cat.names("libopenmpi-dev", fam["debian"]) == ("libopenmpi-dev",)
    assert cat.names("libopenmpi-dev", fam["el"]) == ("openmpi-devel",)
    assert cat.names("libopenmpi-dev", fam["arch"]) == ("openmpi",)
    assert cat.names("rocm-hip-runtime", fam["el"]) == ("rocm-hip-runtime",)
    assert cat.names("build-essential", fam["el"]) == ("gcc", "gcc-c++", "make")
    assert cat.names("amdgpu-dkms", fam["fedora"]) == ()  # the kernel carries the driver
    assert cat.names("migraphx", fam["fedora"]) is None  # no package at all
    assert cat.names("some-unknown-tool", fam["el"]) == ("some-unknown-tool",)


def test_every_rocm_name_of_the_issue_is_in_the_catalog() -> None:
    names = ["rocm", "rocm-hip-runtime", "rocm-hip-sdk", "rocm-ml-libraries", "miopen-hip",
             "rocm-developer-tools", "amd-smi-lib", "rocm-smi-lib", "rccl", "migraphx",
             "hipblaslt", "rocblas"]
    cat = system_catalog()
    assert all(cat.source(n) == "rocm" for n in names)
    assert cat.source("amdgpu-dkms") == "amdgpu"
    assert cat.source("coreutils") == "distro"


def test_repo_version_folds_x_y_0() -> None:
    assert repo_version("6.4.0") == "6.4"
    assert repo_version("6.4") == "6.4"
    assert repo_version("6.4.1") == "6.4.1"


# --- package databases -----------------------------------------------------------------


def test_parse_dpkg_keeps_installed_states_only() -> None:
    text = (
        "coreutils\tii \t9.1-1\n"
        "rocm-hip-runtime\trc \t6.3.0.60300-39~24.04\n"  # removed, config files left
        "libfoo\tiW \t1.0\n"  # installed, triggers awaited
        "libc6:amd64\tii \t2.36-9\n"
        "garbage line\n"
    )
    assert parse_dpkg(text) == {"coreutils": "9.1-1", "libfoo": "1.0", "libc6": "2.36-9"}


def test_parse_rpm_skips_not_installed_lines() -> None:
    text = "rocm-hip-runtime\t6.4.0.60400-47.el9\npackage rccl is not installed\n"
    assert parse_rpm(text) == {"rocm-hip-runtime": "6.4.0.60400-47.el9"}


def test_parse_pacman() -> None:
    assert parse_pacman("rocm-hip-runtime 6.4.1-1\ncoreutils 9.7-1\n") == {
        "rocm-hip-runtime": "6.4.1-1", "coreutils": "9.7-1"}


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg (Debian/Ubuntu)")
def test_real_dpkg_knows_coreutils_and_not_rocm() -> None:
    found = DpkgDb().query(["coreutils", "rocm-hip-runtime"])
    assert found["coreutils"]  # a version string
    assert found["rocm-hip-runtime"] is None


# --- check -----------------------------------------------------------------------------


def test_check_maps_names_and_asks_the_database_once() -> None:
    cat = system_catalog()
    db = FakeDb({"openmpi-devel": "4.1.1-7.el9", "gcc": "11.4", "gcc-c++": "11.4"})
    statuses = check_packages(["libopenmpi-dev", "build-essential", "rocm-hip-runtime"],
                              cat.families["el"], cat, db)
    assert len(db.asked) == 1
    by = {s.name: s for s in statuses}
    assert by["libopenmpi-dev"].installed and by["libopenmpi-dev"].version == "4.1.1-7.el9"
    assert not by["build-essential"].installed  # make is missing
    assert not by["rocm-hip-runtime"].installed and by["rocm-hip-runtime"].version is None
    assert [s.name for s in statuses] == sorted(by)


def test_check_kernel_provided_and_unavailable_packages() -> None:
    cat = system_catalog()
    statuses = check_packages(["amdgpu-dkms", "migraphx"], cat.families["fedora"], cat,
                              FakeDb({}))
    by = {s.name: s for s in statuses}
    assert by["amdgpu-dkms"].installed
    assert not by["migraphx"].installed and not by["migraphx"].available
    assert by["migraphx"].to_json()["available"] is False


# --- plan ------------------------------------------------------------------------------

APT_NOBLE = [
    "sudo mkdir --parents --mode=0755 /etc/apt/keyrings",
    "{ wget -qO- https://repo.radeon.com/rocm/rocm.gpg.key | gpg --dearmor | "
    "sudo tee /etc/apt/keyrings/rocm.gpg.part > /dev/null && "
    "test -s /etc/apt/keyrings/rocm.gpg.part && "
    "sudo mv -f /etc/apt/keyrings/rocm.gpg.part /etc/apt/keyrings/rocm.gpg; } || "
    "{ sudo rm -f /etc/apt/keyrings/rocm.gpg.part; false; }",
    "printf '%s\\n' 'deb [arch=amd64 signed-by=/etc/apt/keyrings/rocm.gpg] "
    "https://repo.radeon.com/rocm/apt/6.4 noble main' | "
    "sudo tee /etc/apt/sources.list.d/rocm.list > /dev/null",
    "printf '%s\\n' 'Package: *' 'Pin: release o=repo.radeon.com' 'Pin-Priority: 600' | "
    "sudo tee /etc/apt/preferences.d/rocm-pin-600 > /dev/null",
    "sudo apt-get update",
    "sudo apt-get install -y -- coreutils rocm-hip-runtime",
]


def test_apt_plan_is_rocm_facts_section_5() -> None:
    plan = make_plan(["rocm-hip-runtime", "coreutils"], parse_distro("ubuntu:24.04"),
                     system_catalog(), "6.4.0", sudo=True)
    assert [s.command for s in plan.steps] == APT_NOBLE
    assert plan.rocm == "6.4"
    assert plan.install == ("coreutils", "rocm-hip-runtime")


def test_apt_plan_uses_jammy_for_22_04_and_no_sudo_for_root() -> None:
    plan = make_plan(["rocm-hip-runtime"], parse_distro("ubuntu:22.04"), system_catalog(),
                     "6.3", sudo=False)
    script = plan.script()
    assert "https://repo.radeon.com/rocm/apt/6.3 jammy main" in script
    assert "sudo" not in script


def test_plan_without_rocm_packages_adds_no_repository() -> None:
    plan = make_plan(["coreutils", "git"], parse_distro("ubuntu:24.04"), system_catalog(),
                     None, sudo=True)
    assert [s.command for s in plan.steps] == [
        "sudo apt-get update", "sudo apt-get install -y -- coreutils git"]


def test_dnf_plan_writes_the_el9_repo_file() -> None:
    plan = make_plan(["rocm-hip-runtime", "libopenmpi-dev"], parse_distro("rocky:9.4"),
                     system_catalog(), "6.4.1", sudo=True)
    *prereqs, repo_step, install = plan.steps
    # AMD's prerequisites for RHEL (FACTS §5): EPEL, CRB, kernel headers.
    assert [s.command for s in prereqs] == [
        "sudo dnf install -y "
        "https://dl.fedoraproject.org/pub/epel/epel-release-latest-9.noarch.rpm",
        "sudo dnf install -y dnf-plugins-core",
        "sudo crb enable",
        "sudo dnf install -y kernel-headers kernel-devel",
    ]
    argv = shlex.split(repo_step.command.split("|")[0])
    assert argv[:2] == ["printf", "%s\\n"]
    assert "baseurl=https://repo.radeon.com/rocm/el9/6.4.1/main" in argv
    assert "gpgkey=https://repo.radeon.com/rocm/rocm.gpg.key" in argv
    assert repo_step.command.endswith("sudo tee /etc/yum.repos.d/rocm.repo > /dev/null")
    assert install.command == "sudo dnf install -y -- openmpi-devel rocm-hip-runtime"


def test_el8_epel_follows_the_release() -> None:
    plan = make_plan(["rocm-hip-runtime"], parse_distro("rhel:8.10"), system_catalog(),
                     "6.4", sudo=False)
    assert plan.steps[0].command == (
        "dnf install -y https://dl.fedoraproject.org/pub/epel/epel-release-latest-8.noarch.rpm")
    assert "baseurl=https://repo.radeon.com/rocm/el8/6.4/main" in plan.script()


def test_zypper_plan_has_sles_prerequisites_and_the_zyp_repo() -> None:
    plan = make_plan(["rocm-hip-runtime"], parse_distro("sles:15.6"), system_catalog(),
                     "6.4.0", sudo=True)
    commands = [s.command for s in plan.steps]
    assert commands[:3] == [
        "sudo SUSEConnect --product sle-module-desktop-applications/15.6/x86_64",
        "sudo SUSEConnect --product sle-module-development-tools/15.6/x86_64",
        "sudo SUSEConnect --product PackageHub/15.6/x86_64",
    ]
    script = plan.script()
    assert ("baseurl=https://download.opensuse.org/repositories/devel:/languages:/perl/15.6/"
            in script)
    assert "sudo tee /etc/zypp/repos.d/devel_languages_perl.repo > /dev/null" in script
    assert "https://download.opensuse.org/repositories/Education/15.6/" in script
    assert "sudo zypper --non-interactive install kernel-default-devel" in commands
    # X.Y.0 folds to X.Y; the baseurl is FACTS §5's, no longer marked unconfirmed.
    assert "baseurl=https://repo.radeon.com/rocm/zyp/6.4/main" in script
    assert not any("UNCONFIRMED" in n for n in plan.notes)
    # the prerequisites come before AMD's repository, the install last
    titles = [s.title for s in plan.steps]
    assert titles.index("add the ROCm 6.4 repository") > titles.index(
        "install the kernel headers (amdgpu-dkms builds against them)")
    assert commands[-1] == "sudo zypper --non-interactive install -- rocm-hip-runtime"


def test_opensuse_leap_skips_suseconnect() -> None:
    plan = make_plan(["rocm-hip-runtime"], parse_distro("opensuse-leap:15.6"),
                     system_catalog(), "6.4", sudo=True)
    assert "SUSEConnect" not in plan.script()
    assert "devel:/languages:/perl/15.6/" in plan.script()


def test_rocm7_apt_plan_adds_the_graphics_line() -> None:
    plan = make_plan(["rocm-hip-runtime"], parse_distro("ubuntu:24.04"), system_catalog(),
                     "7.0.0", sudo=True)
    [repo] = [s for s in plan.steps if s.title.startswith("add the ROCm 7.0 repositor")]
    assert shlex.split(repo.command.split("|")[0])[2:] == [
        "deb [arch=amd64 signed-by=/etc/apt/keyrings/rocm.gpg] "
        "https://repo.radeon.com/rocm/apt/7.0 noble main",
        "deb [arch=amd64 signed-by=/etc/apt/keyrings/rocm.gpg] "
        "https://repo.radeon.com/graphics/7.0/ubuntu noble main",
    ]
    six = make_plan(["rocm-hip-runtime"], parse_distro("ubuntu:24.04"), system_catalog(),
                    "6.4.1", sudo=True)
    assert "graphics" not in six.script()
    assert "https://repo.radeon.com/rocm/apt/6.4.1 noble main" in six.script()


def test_debian_12_from_rocm_631() -> None:
    plan = make_plan(["rocm-hip-runtime"], parse_distro("debian:12"), system_catalog(),
                     "6.3.1", sudo=True)
    assert "https://repo.radeon.com/rocm/apt/6.3.1 jammy main" in plan.script()
    with pytest.raises(MlstackError, match="debian:12"):
        make_plan(["rocm-hip-runtime"], parse_distro("debian:12"), system_catalog(),
                  "6.3.0", sudo=True)


def test_fedora_and_arch_use_the_distros_own_rocm() -> None:
    plan = make_plan(["rocm-hip-runtime", "amdgpu-dkms"], parse_distro("arch"),
                     system_catalog(), "6.4", sudo=True)
    assert [s.command for s in plan.steps] == [
        "sudo pacman -S --needed --noconfirm -- rocm-hip-runtime"]
    assert any("own packages" in n for n in plan.notes)
    assert any("amdgpu-dkms" in n for n in plan.notes)


def test_release_without_a_rocm_repository_is_an_error() -> None:
    with pytest.raises(MlstackError) as err:
        make_plan(["rocm-hip-runtime"], parse_distro("ubuntu:20.04"), system_catalog(),
                  "6.4", sudo=True)
    assert "20.04" in err.value.message
    assert err.value.hint and "ubuntu:24.04" in err.value.hint


def test_rocm_packages_without_a_rocm_version_are_an_error() -> None:
    with pytest.raises(MlstackError, match="no ROCm version"):
        make_plan(["rocm-hip-runtime"], parse_distro("ubuntu:24.04"), system_catalog(),
                  None, sudo=True)


@pytest.mark.parametrize("name", [
    "-oDPkg::Pre-Invoke::=touch /tmp/x", "--allow-unauthenticated", "x;touch /tmp/pwned",
    "$(reboot)", "rocm hip", "", "pkg=1.0", "../x", "rocm-hip-runtime\n-y",
])
def test_plan_refuses_what_is_not_a_package_name(name: str) -> None:
    with pytest.raises(MlstackError, match="bad system package name"):
        make_plan([name], parse_distro("ubuntu:24.04"), system_catalog(), None, sudo=True)


@pytest.mark.parametrize("distro_text", ["ubuntu:24.04", "rocky:9.4", "opensuse-leap:15.6",
                                         "arch"])
def test_install_commands_end_options_before_the_names(distro_text: str) -> None:
    plan = make_plan(["coreutils"], parse_distro(distro_text), system_catalog(), None,
                     sudo=True)
    argv = shlex.split(plan.steps[-1].command)
    assert argv[-2:] == ["--", "coreutils"]


@pytest.mark.parametrize("text", ["ubuntu 24.04", "", ":24.04", "ubuntu:"])
def test_bad_distro_option(text: str) -> None:
    with pytest.raises(MlstackError, match="bad distro"):
        parse_distro(text)


# --- apply -----------------------------------------------------------------------------


def test_apply_runs_steps_in_order_and_stops_at_a_failure(tmp_path: Path) -> None:
    plan = make_plan(["rocm-hip-runtime"], parse_distro("ubuntu:24.04"), system_catalog(),
                     "6.4", sudo=False)
    ran: list[str] = []

    def runner(command: str) -> int:
        ran.append(command)
        return 100 if command.startswith("apt-get update") else 0

    out = (tmp_path / "out.txt").open("w")
    with pytest.raises(MlstackError) as err:
        apply_plan(plan, runner, out)
    out.close()
    assert ran == [s.command for s in plan.steps[:5]]
    assert "step 5/6" in err.value.message and "100" in err.value.message
    assert "$ apt-get update" in (tmp_path / "out.txt").read_text()


def test_apply_runs_the_shell_text_itself(tmp_path: Path) -> None:
    """What plan prints is what apply runs: a real shell runs a real (harmless) plan."""
    from mlstack_env.system.apply import run_shell
    from mlstack_env.system.plan import Plan, Step

    target = tmp_path / "pin file"
    step = Step("write", f"printf '%s\\n' 'a b' '$HOME' | tee {shlex.quote(str(target))} "
                "> /dev/null")
    cat = system_catalog()
    plan = Plan(distro("ubuntu", "24.04"), cat.families["debian"], None, (), (step,))
    apply_plan(plan, run_shell, (tmp_path / "log").open("w"))
    assert target.read_text() == "a b\n$HOME\n"


def test_apply_runs_each_step_with_pipefail(tmp_path: Path) -> None:
    """A failed download piped into tee must fail the step and stop the plan (before,
    it left a 0-byte keyring and went on)."""
    from mlstack_env.system.apply import run_shell
    from mlstack_env.system.plan import Plan, Step

    keyring, after = tmp_path / "rocm.gpg", tmp_path / "after"
    steps = (
        Step("add the key", f"false | tee {shlex.quote(str(keyring))} > /dev/null"),
        Step("next", f"touch {shlex.quote(str(after))}"),
    )
    plan = Plan(distro("ubuntu", "24.04"), system_catalog().families["debian"], None, (),
                steps)
    with pytest.raises(MlstackError, match=r"step 1/2 \(add the key\) failed"):
        apply_plan(plan, run_shell, (tmp_path / "log").open("w"))
    assert not after.exists()
    assert run_shell("true | true") == 0


# --- which entry -----------------------------------------------------------------------


def test_wanted_uses_the_entry_that_fits(tmp_path: Path) -> None:
    machine = detect(machines.MACHINES["7900xtx"](tmp_path / "m"), {})
    lock = Lock((entry("rocm6.4:gfx1100", ("rocm-hip-runtime",)),
                 entry("rocm7.1:gfx942", ("rccl",))), "0.1.0", "0.13.9")
    wanted = wanted_from_lock(lock, machine, "mlstack.lock")
    assert wanted.system == ("rocm-hip-runtime",)
    assert wanted.rocm == "6.4"
    assert wanted.misfit is None and not wanted.notes


def test_wanted_before_rocm_is_installed_goes_by_gpu(tmp_path: Path) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX], rocm=None)
    machine = detect(root, {})
    # Without ROCm, detect proposes a ROCm-as-wheels release (issue 9); the lock has none.
    assert str(machine.target) == "rocm10.0:gfx1100"
    lock = Lock((entry("rocm6.4:gfx1100", ("rocm-hip-runtime",)),
                 entry("rocm6.4:gfx1100", ("migraphx",), profile="inference"),
                 entry("rocm6.3:gfx1100", ("rocblas",)),
                 entry("rocm7.1:gfx942", ("rccl",))), "0.1.0", "0.13.9")
    wanted = wanted_from_lock(lock, machine, "mlstack.lock")
    assert wanted.rocm == "6.4"  # the newest for this GPU
    assert wanted.system == ("migraphx", "rocm-hip-runtime")
    assert wanted.misfit is not None and "no entry" in wanted.misfit.message
    assert "detected rocm10.0:gfx1100" in wanted.notes[0]


def test_wanted_prefers_the_installed_rocm_release(tmp_path: Path) -> None:
    machine = detect(machines.build(tmp_path / "m", [machines.RX_7900_XTX], rocm="6.3.1"), {})
    lock = Lock((entry("rocm6.4:gfx1100", ("a",)), entry("rocm6.3:gfx1100,gfx1101", ("b",))),
                "0.1.0", "0.13.9")
    # rocm6.3:gfx1100,gfx1101 fits strictly (6.3 = 6.3, gfx covered)
    assert wanted_from_lock(lock, machine, "x").system == ("b",)


# --- the CLI ---------------------------------------------------------------------------


def test_cli_check_on_this_machine(cli: Cli, tmp_path: Path,
                                   fake_machine: Callable[[str], Path]) -> None:
    """A Debian-family fake machine, so the real dpkg of this machine answers."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("needs dpkg")
    fake_machine("7900xtx")
    lock = write_lock(tmp_path / "mlstack.lock",
                      entry("rocm6.4:gfx1100", ("coreutils", "rocm-hip-runtime")))
    r = cli("system", "check", "--lock", str(lock))
    assert r.returncode == 1, r.stderr
    assert r.stderr == ""
    assert "coreutils" in r.stdout and "missing: rocm-hip-runtime" in r.stdout
    r = cli("system", "check", "--lock", str(lock), "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    by = {p["name"]: p for p in data["packages"]}
    assert by["coreutils"]["installed"] is True and by["coreutils"]["version"]
    assert by["rocm-hip-runtime"] == {**by["rocm-hip-runtime"], "installed": False,
                                      "version": None}
    assert data["missing"] == ["rocm-hip-runtime"]
    assert data["manager"] == "apt" and data["rocm"] == "6.4"


def test_cli_check_exit_0_when_all_installed(cli: Cli, tmp_path: Path,
                                             fake_machine: Callable[[str], Path]) -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("needs dpkg")
    fake_machine("7900xtx")
    lock = write_lock(tmp_path / "mlstack.lock", entry("rocm6.4:gfx1100", ("coreutils",)))
    r = cli("system", "check", cwd=tmp_path)  # the project's lock, found from the cwd
    assert r.returncode == 0, r.stderr
    assert "all installed" in r.stdout
    assert lock.exists()


def test_cli_plan_prints_the_apt_commands(cli: Cli, tmp_path: Path,
                                          fake_machine: Callable[[str], Path]) -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("needs dpkg")
    fake_machine("7900xtx")  # Ubuntu 24.04
    lock = write_lock(tmp_path / "mlstack.lock",
                      entry("rocm6.4:gfx1100", ("coreutils", "rocm-hip-runtime")))
    r = cli("system", "plan", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    commands = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
    prefix = "" if __import__("os").geteuid() == 0 else "sudo "
    expected = [c.replace("sudo ", prefix) for c in APT_NOBLE]
    expected[-1] = f"{prefix}apt-get install -y -- rocm-hip-runtime"  # coreutils is here
    assert commands == expected
    r = cli("system", "plan", "--lock", str(lock), "--json")
    data = json.loads(r.stdout)
    assert data["install"] == ["rocm-hip-runtime"]
    assert [s["command"] for s in data["steps"]] == expected


def test_cli_plan_for_another_distro(cli: Cli, tmp_path: Path) -> None:
    lock = write_lock(tmp_path / "mlstack.lock",
                      entry("rocm6.4:gfx1100", ("coreutils", "rocm-hip-runtime")))
    r = cli("system", "plan", "--lock", str(lock), "--distro", "rhel:9.6")
    assert r.returncode == 0, r.stderr
    assert "https://repo.radeon.com/rocm/el9/6.4/main" in r.stdout
    assert "sudo dnf install -y -- coreutils rocm-hip-runtime" in r.stdout
    r = cli("system", "plan", "--lock", str(lock), "--distro", "ubuntu:18.04")
    assert r.returncode == 1
    assert r.stderr.startswith("error: AMD's ROCm 6.4 repository has no packages")
    assert r.stderr.count("\n") == 2 and "\nhint: " in r.stderr


def test_cli_unknown_distro_is_a_clear_error(cli: Cli, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX], distro="gentoo",
                          version="2.15", codename="")
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    lock = write_lock(tmp_path / "mlstack.lock", entry("rocm6.4:gfx1100", ("coreutils",)))
    r = cli("system", "check", "--lock", str(lock))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == "error: unsupported distribution 'gentoo 2.15' (ID=gentoo)"
    assert lines[1].startswith("hint: ") and len(lines) == 2
    assert r.stdout == ""


def test_cli_without_a_lock(cli: Cli, tmp_path: Path) -> None:
    r = cli("system", "check", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("error: no lock to read system packages from\nhint: ")


def test_cli_apply_refuses_without_yes(cli: Cli, tmp_path: Path) -> None:
    lock = write_lock(tmp_path / "mlstack.lock", entry("rocm6.4:gfx1100", ("rocm-hip-runtime",)))
    r = cli("system", "apply", "--lock", str(lock))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "error: `mlstack system apply` changes the system and runs only with --yes",
        "hint: review the commands with `mlstack system plan`, then run "
        "`mlstack system apply --yes`",
    ]


def test_cli_apply_with_nothing_to_do(cli: Cli, tmp_path: Path,
                                      fake_machine: Callable[[str], Path]) -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("needs dpkg")
    fake_machine("7900xtx")
    lock = write_lock(tmp_path / "mlstack.lock", entry("rocm6.4:gfx1100", ("coreutils",)))
    r = cli("system", "apply", "--yes", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "nothing to do: every system package is installed\n"
