"""Profiles and the project manifest: built-ins, merging, discovery, sources, `mlstack profile`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.catalog.sources import catalog
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.core.paths import builtin_profiles_dir
from mlstack_env.manifest.profiles import Profile, ProfileSet, load_builtin
from mlstack_env.manifest.project import find_project

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_builtins_are_shipped_and_valid() -> None:
    assert builtin_profiles_dir().is_dir()
    profiles = ProfileSet.load()
    assert profiles.names() == ["inference", "minimal", "training"]
    minimal = profiles.get("minimal")
    assert minimal.packages == ("torch", "torchvision", "numpy")
    inference = profiles.get("inference")
    assert inference.packages[:3] == minimal.packages
    assert "vllm" in inference.packages
    assert inference.env["MIOPEN_FIND_MODE"] == "2"
    assert inference.env["PYTORCH_TUNABLEOP_TUNING"] == "0"
    training = profiles.get("training")
    assert {"megatron-core", "mpi4py"} <= set(training.packages)
    assert "deepspeed" not in training.packages  # sdist only on PyPI: see docs/profiles.md
    assert "rccl" in training.system
    assert training.env["PYTORCH_TUNABLEOP_TUNING"] == "1"


def test_every_builtin_entry_is_documented() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "profiles.md").read_text()
    for profile in load_builtin().values():
        for item in (*profile.packages, *profile.system, *profile.env):
            name = item.split(">")[0].split("=")[0]
            assert f"`{name}" in docs, f"{profile.name}: {name} is not in docs/profiles.md"


def test_merge_order_and_overrides() -> None:
    profiles = ProfileSet({
        "a": Profile("a", python=">=3.10", packages=("torch", "numpy<2"), system=("x",),
                     env={"A": "1", "B": "1"}),
        "b": Profile("b", packages=("numpy>=2",), system=("y", "x"), env={"B": "2"}),
        "c": Profile("c", extends=("a", "b"), packages=("numpy==2.3.2", "rich"),
                     env={"C": "3"}),
    })
    merged = profiles.get("c")
    assert merged.packages == ("torch", "numpy==2.3.2", "rich")
    assert merged.system == ("x", "y")
    assert merged.env == {"A": "1", "B": "2", "C": "3"}
    assert merged.python == ">=3.10"
    assert merged.extends == ("a", "b")


def test_cycles_and_unknown_parents() -> None:
    profiles = ProfileSet({"a": Profile("a", extends=("b",), source="m.toml"),
                           "b": Profile("b", extends=("a",), source="m.toml"),
                           "c": Profile("c", extends=("minimall",), source="m.toml")})
    with pytest.raises(MlstackError, match=r"extends itself \(a -> b -> a\)"):
        profiles.get("a")
    with pytest.raises(MlstackError, match="extends unknown profile 'minimall'") as info:
        profiles.get("c")
    assert info.value.hint and "a, b, c" in info.value.hint


def _manifest(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mlstack.toml").write_text(text)
    return tmp_path


def test_find_project_upward_and_explicit(tmp_path: Path) -> None:
    _manifest(tmp_path, 'default-env = "ml"\ntargets = ["cpu", "rocm6.4:gfx1100"]\n'
              'python = "3.12"\n[profiles.ml]\nextends = ["minimal"]\npackages = ["rich"]\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    project = find_project(deep)
    assert project is not None
    assert project.root == tmp_path
    assert project.manifest_path == tmp_path / "mlstack.toml"
    assert project.lock_path == tmp_path / "mlstack.lock"
    assert project.default_env == "ml"
    assert project.python == "3.12"
    assert project.targets == (Target.cpu(), Target.parse("rocm6.4:gfx1100"))
    assert project.profile_set().get("ml").packages == ("torch", "torchvision", "numpy",
                                                        "rich")
    assert find_project(Path("/"), tmp_path) == project


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles.ml]\npackages = [\n", "mlstack.toml: invalid TOML"),
        ('default_env = "ml"\n', "mlstack.toml:1: unknown key 'default_env'"),
        ('default-env = "nope"\n', "default-env 'nope' is not a known profile"),
        ('python = "3"\n', "python = '3' is not a Python version"),
        ("[profiles.ml]\npython = 3\n", "'python' must be a string"),
        ("[profiles.ml]\n[profiles.ml.env]\nX = 1\n", "variable X must be a string"),
        ('[profiles.ml]\n[profiles.ml.env]\nPATH = "/x"\n', "PATH cannot be set by an env"),
        ('[profiles.ml]\n[profiles.ml.env]\nVIRTUAL_ENV = "/x"\n', "cannot be set by an env"),
        ("[profiles.ml]\npackages = \"torch\"\n", "'packages' must be a list of strings"),
        ('[sources.pytorch]\nurl = "https://m/{idx}"\n', "unknown placeholder"),
        ('[sources.pytorch]\nurls = "https://m/"\n', "unknown key 'urls'"),
        ('[sources.extra]\nkind = "index"\n', "source 'extra': needs a url"),
        ('[profiles.ml]\nprereleases = "if-necessary"\n',
         "prereleases 'if-necessary' is not one of explicit, allow"),
        ('[sources.vllm-rocm]\nreleases = ["0.18.0"]\n',
         "'releases' must be a table of variant = release"),
    ],
)
def test_bad_manifests(tmp_path: Path, text: str, message: str) -> None:
    _manifest(tmp_path, text)
    with pytest.raises(MlstackError) as info:
        find_project(tmp_path)
    assert message in info.value.message
    assert str(tmp_path / "mlstack.toml") in info.value.message
    assert info.value.hint


def test_sources_for_targets_and_overrides(tmp_path: Path) -> None:
    rocm = catalog().for_target(Target.parse("rocm6.2.4:gfx1100"))
    assert [s.url for s in rocm] == ["https://download.pytorch.org/whl/rocm6.2.4",
                                     "https://pypi.org/simple"]
    cpu = catalog().for_target(Target.cpu())
    assert [s.url for s in cpu] == ["https://download.pytorch.org/whl/cpu",
                                    "https://pypi.org/simple"]
    with_vllm = catalog().for_target(Target.parse("rocm7.0:gfx942"), ("vLLM",))
    # vLLM's variant index for ROCm 7.0 first: torch comes from it when vllm does.
    assert [s.url for s in with_vllm][:2] == ["https://wheels.vllm.ai/rocm/0.18.0/rocm700",
                                              "https://download.pytorch.org/whl/rocm7.0"]
    # No vLLM variant for ROCm 6.4: the source is left out (make_request says why).
    no_vllm = catalog().for_target(Target.parse("rocm6.4:gfx942"), ("vLLM",))
    assert not any("vllm" in s.url for s in no_vllm)
    with pytest.raises(MlstackError, match=r"ROCm 5\.7") as info:
        catalog().for_target(Target.parse("rocm5.7:gfx1100"))
    assert info.value.hint and "rocm6.4" in info.value.hint

    _manifest(tmp_path, '[sources.pytorch]\nurl = "https://mirror.corp/torch/{index}"\n'
              '[sources.amd-rocm]\nenabled = true\n')
    project = find_project(tmp_path)
    assert project is not None
    sources = project.catalog().for_target(Target.parse("rocm6.4:gfx1100"))
    assert [(s.kind, s.url) for s in sources] == [
        ("index", "https://mirror.corp/torch/rocm6.4"),
        ("find-links", "https://repo.radeon.com/rocm/manylinux/rocm-rel-6.4/"),
        ("index", "https://pypi.org/simple"),
    ]


def test_profile_list_and_show_cli(tmp_path: Path, cli: Cli) -> None:
    _manifest(tmp_path, '[profiles.ml]\nextends = ["inference"]\npackages = ["rich"]\n'
              '[profiles.ml.env]\nMIOPEN_FIND_MODE = "1"\n')
    listed = cli("profile", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert [(p["name"], p["origin"]) for p in doc["profiles"]] == [
        ("inference", "builtin"), ("minimal", "builtin"), ("ml", "project"),
        ("training", "builtin")]
    shown = cli("profile", "show", "ml", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    ml = json.loads(shown.stdout)
    assert set(ml) == {"name", "description", "extends", "python", "packages", "system",
                       "env", "origin", "source"}
    assert ml["packages"][0] == "torch"
    assert ml["packages"][-1] == "rich"
    assert ml["env"]["MIOPEN_FIND_MODE"] == "1"
    human = cli("profile", "show", "minimal")
    assert human.returncode == 0
    assert "torchvision" in human.stdout
    text = cli("profile", "list", cwd=tmp_path)
    assert "ml" in text.stdout and "project" in text.stdout


def test_profile_show_unknown_is_a_clean_error(cli: Cli) -> None:
    result = cli("profile", "show", "minimall")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: unknown profile 'minimall'",
        "hint: did you mean 'minimal'? known profiles: inference, minimal, training",
    ]


def test_unclosed_toml_names_the_last_line(tmp_path: Path) -> None:
    _manifest(tmp_path, '[profiles.ml]\npackages = [\n')
    with pytest.raises(MlstackError) as info:
        find_project(tmp_path)
    assert "at the end of the file, line 2" in info.value.message


def test_prereleases_is_inherited_and_only_then_an_input(tmp_path: Path) -> None:
    _manifest(tmp_path, '[profiles.base]\npackages = ["torch"]\nprereleases = "allow"\n'
                        '[profiles.ml]\nextends = ["base"]\n'
                        '[profiles.strict]\nextends = ["base"]\nprereleases = "explicit"\n')
    profiles = find_project(tmp_path).profile_set()  # type: ignore[union-attr]
    assert profiles.get("ml").allows_prereleases
    assert not profiles.get("strict").allows_prereleases
    # A profile that does not set it locks with the inputs it always had.
    assert "prereleases" not in Profile("plain", packages=("torch",)).inputs()


def test_bad_manifest_cli_names_file_and_line(tmp_path: Path, cli: Cli) -> None:
    _manifest(tmp_path, '[profiles.ml]\npackages = ["torch"]\ndescripton = "x"\n')
    result = cli("profile", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'mlstack.toml'}:3: unknown key 'descripton' in profile 'ml'",
        "hint: did you mean 'description'?",
    ]


def test_vllm_variant_follows_the_exact_rocm_release() -> None:
    # vLLM's layout (docs/getting_started/installation/gpu.rocm.inc.md): one index per
    # release and variant, https://wheels.vllm.ai/rocm/<version>/<variant>.
    def urls(target: str, pins: dict[str, str] | None = None) -> list[str]:
        return [s.url for s in catalog().for_target(Target.parse(target), ("vllm",), pins)]

    assert "https://wheels.vllm.ai/rocm/0.20.1/rocm721" in urls("rocm7.2.1:gfx1100")
    assert "https://wheels.vllm.ai/rocm/0.28.0/rocm722" in urls("rocm7.2.2:gfx1100")
    assert "https://wheels.vllm.ai/rocm/0.30.0/rocm723" in urls("rocm7.2.3:gfx1100")
    # A profile's exact pin names the release folder.
    assert "https://wheels.vllm.ai/rocm/0.29.1/rocm722" in urls("rocm7.2.2:gfx1100",
                                                                {"vllm": "0.29.1"})
    # rocm72 (plain 7.2) is no longer built; nothing for 7.1 either.
    assert not any("wheels.vllm.ai" in u for u in urls("rocm7.2:gfx1100"))
    assert not any("wheels.vllm.ai" in u for u in urls("rocm7.1:gfx1100"))


def test_a_host_on_rocm_722_targets_722(tmp_path: Path) -> None:
    from mlstack_env.catalog.sources import target_rocm_version

    assert target_rocm_version("7.2.2") == "7.2.2"  # vLLM's rocm722 is 7.2.2's alone
    assert target_rocm_version("7.2.0") == "7.2"
    assert target_rocm_version("6.4.1") == "6.4"  # no source builds for 6.4.1 alone
    assert target_rocm_version("6.2.4") == "6.2.4"  # PyTorch's rocm6.2.4 index


@pytest.mark.parametrize(("target", "packages", "words"), [
    # ROCm 7.2.0: no variant; the error names the ones that exist, with their ROCm.
    ("rocm7.2:gfx1100", ("vllm",),
     ["no build for rocm7.2:gfx1100", "7.2.1 (rocm721), 7.2.2 (rocm722), 7.2.3 (rocm723)"]),
    # A label naming another (or an unknown) variant than the target's.
    ("rocm7.2.2:gfx1100", ("vllm==0.16.0+rocm72",),
     ["pins vllm built for rocm72", "does not have", "7.2.2 (rocm722)"]),
    ("rocm7.2.2:gfx1100", ("vllm==0.18.0+rocm700",),
     ["pins vllm built for rocm700", "whose variant is rocm722", "7.0 (rocm700)"]),
])
def test_vllm_unknown_variant_is_one_error(target: str, packages: tuple[str, ...],
                                           words: list[str]) -> None:
    from mlstack_env.manifest.profiles import Profile
    from mlstack_env.resolve.request import make_request

    with pytest.raises(MlstackError) as info:
        make_request(Profile("serve", packages=packages, python=">=3.12"),
                     Target.parse(target), "3.12", catalog())
    for w in words:
        assert w in info.value.message
    assert info.value.hint


def test_vllm_variant_without_a_known_release_asks_for_a_pin(tmp_path: Path) -> None:
    from mlstack_env.manifest.profiles import Profile
    from mlstack_env.resolve.request import make_request

    # A variant the catalog knows but names no release for (a project's override here).
    cat = catalog().with_overrides({"vllm-rocm": {"releases": {}}}, "mlstack.toml")
    with pytest.raises(MlstackError) as info:
        make_request(Profile("serve", packages=("vllm",), python=">=3.12"),
                     Target.parse("rocm7.2.2:gfx1100"), "3.12", cat)
    assert "published per release under https://wheels.vllm.ai/rocm/<version>/rocm722" \
        in info.value.message
    assert info.value.hint and "vllm==X.Y.Z" in info.value.hint
    pinned = make_request(Profile("serve", packages=("vllm==0.28.0",), python=">=3.12"),
                          Target.parse("rocm7.2.2:gfx1100"), "3.12", cat)
    assert pinned.sources[0].url == "https://wheels.vllm.ai/rocm/0.28.0/rocm722"


def test_a_package_of_an_exclusive_source_taken_elsewhere_is_refused() -> None:
    from mlstack_env.lockfile import LockedPackage, Wheel
    from mlstack_env.manifest.profiles import Profile
    from mlstack_env.resolve.cudacheck import check_exclusive
    from mlstack_env.resolve.request import make_request

    request = make_request(Profile("serve", packages=("vllm",), python=">=3.12"),
                           Target.parse("rocm7.0:gfx1100"), "3.12", catalog())
    pypi_vllm = LockedPackage("vllm", "0.10.0", "https://pypi.org/simple", (Wheel(
        "https://files.pythonhosted.org/packages/aa/bb/cc/vllm-0.10.0-cp38-abi3-"
        "manylinux_2_28_x86_64.whl", "0" * 64, 1),))
    with pytest.raises(MlstackError) as info:
        check_exclusive([pypi_vllm], request)
    assert "not from source 'vllm-rocm'" in info.value.message
    ours = LockedPackage("vllm", "0.18.0+rocm700", "https://wheels.vllm.ai/rocm/0.18.0/rocm700", (
        Wheel("https://wheels.vllm.ai/rocm/0.18.0/rocm700/vllm-0.18.0%2Brocm700-cp312-cp312-"
              "manylinux_2_35_x86_64.whl", "0" * 64, 1),))
    check_exclusive([ours], request)  # from its own source: fine


def test_url_policy_admits_the_vllm_and_amd_servers() -> None:
    from mlstack_env.fetch.urlpolicy import UrlPolicy

    prefixes = UrlPolicy(catalog()).prefixes(Target.parse("rocm7.0:gfx1100"))
    assert "https://wheels.vllm.ai/" in prefixes
    assert "https://repo.radeon.com/" in prefixes
