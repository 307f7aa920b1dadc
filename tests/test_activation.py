"""Activation as data: write_scripts, mlstack-env.json, apply, lookup, and quoting."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstack_env.activation.data import ActivationData, apply, load_env_json
from mlstack_env.activation.scripts import fish_quote, sh_quote, write_scripts
from mlstack_env.core.errors import MlstackError
from mlstack_env.store.lookup import current_generation, known_envs
from tests.activation_envs import ROCM, VARIABLES, fake_venv, make_env, shell_path


def test_write_scripts_writes_the_three_files(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "venv")
    gen = tmp_path / "gen"
    write_scripts(gen, name="demo", venv=venv, variables=ROCM)
    assert sorted(str(p.relative_to(gen)) for p in gen.rglob("*") if p.is_file()) == [
        "bin/activate", "bin/activate.fish", "mlstack-env.json",
    ]
    data = json.loads((gen / "mlstack-env.json").read_text(encoding="utf-8"))
    assert data == {
        "format": 1,
        "name": "demo",
        "venv": str(venv),
        "path": [str(venv / "bin")],
        "prompt": "demo",
        "variables": dict(sorted(ROCM.items())),
    }
    # Sourced, never executed.
    assert (gen / "bin/activate").stat().st_mode & 0o777 == 0o644


def test_nothing_refers_to_the_build_directory(tmp_path: Path) -> None:
    """The store builds a generation in a temporary directory and renames it."""
    venv = fake_venv(tmp_path / "store" / "entry")
    tmp_gen = tmp_path / "envs" / "demo" / ".tmp-gen-1-xyz"
    write_scripts(tmp_gen, name="demo", venv=venv, variables=ROCM)
    for f in tmp_gen.rglob("*"):
        if f.is_file():
            assert ".tmp-gen" not in f.read_text(encoding="utf-8"), f


def test_json_round_trips_every_value(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "venv")
    write_scripts(tmp_path / "gen", name="demo", venv=venv, variables=VARIABLES)
    data = load_env_json(tmp_path / "gen")
    assert data == ActivationData(name="demo", venv=venv, variables=VARIABLES)
    assert data.variables == VARIABLES
    assert data.path == (venv / "bin",)


def test_writing_is_deterministic(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "venv")
    write_scripts(tmp_path / "a", name="demo", venv=venv, variables=VARIABLES)
    write_scripts(tmp_path / "b", name="demo", venv=venv,
                  variables=dict(reversed(list(VARIABLES.items()))))
    for rel in ("bin/activate", "bin/activate.fish", "mlstack-env.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


@pytest.mark.parametrize(
    "name", ["1ABC", "A-B", "A B", "", "A=B", "ÄB", "$X", "A;B", "A\nB", "a.b"]
)
def test_invalid_variable_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(MlstackError, match="invalid environment variable name") as e:
        write_scripts(tmp_path / "gen", name="demo", venv=tmp_path / "v", variables={name: "x"})
    assert e.value.hint
    assert not (tmp_path / "gen").exists()


@pytest.mark.parametrize(
    "name", ["PATH", "VIRTUAL_ENV", "MLSTACK_ENV", "PYTHONHOME", "PS1", "IFS", "_MLSTACK_OLD_X"]
)
def test_variables_activation_manages_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(MlstackError, match="cannot be set by an env"):
        write_scripts(tmp_path / "gen", name="demo", venv=tmp_path / "v", variables={name: "x"})


def test_nul_in_a_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MlstackError, match="invalid value"):
        write_scripts(tmp_path / "gen", name="demo", venv=tmp_path / "v",
                      variables={"A": "x\0y"})


def test_invalid_env_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MlstackError, match="invalid env name"):
        write_scripts(tmp_path / "gen", name="../x", venv=tmp_path / "v", variables={})


def test_venv_path_with_a_colon_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MlstackError, match="cannot be put on PATH"):
        write_scripts(tmp_path / "gen", name="demo", venv=tmp_path / "a:b", variables={})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is missing"),
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"format": 99, "name": "d", "venv": "/v"}', "unknown format 99"),
        ('{"format": 1, "venv": "/v"}', "'name' must be"),
        ('{"format": 1, "name": "d", "venv": "/v", "variables": {"A": 1}}', "'variables'"),
        ('{"format": 1, "name": "d", "venv": "/v", "variables": {"A B": "1"}}',
         "invalid environment variable name"),
    ],
)
def test_damaged_env_json_is_an_error(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "mlstack-env.json").write_text(content)
    with pytest.raises(MlstackError, match=message) as e:
        load_env_json(tmp_path)
    assert e.value.hint


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "mlstack-env.json").write_text(
        '{"format": 1, "name": "d", "venv": "/v", "future": true}')
    assert load_env_json(tmp_path).venv == Path("/v")


def _data(tmp_path: Path) -> ActivationData:
    return ActivationData(name="demo", venv=tmp_path / "venv", variables=VARIABLES)


def test_apply_gives_the_child_environment(tmp_path: Path) -> None:
    data = _data(tmp_path)
    env = apply({"PATH": "/usr/bin:/bin", "PYTHONHOME": "/elsewhere", "HOME": "/home/u",
                 "HIP_VISIBLE_DEVICES": "7"}, data)
    assert env == {
        **VARIABLES,
        "HOME": "/home/u",
        "PATH": f"{tmp_path / 'venv' / 'bin'}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(tmp_path / "venv"),
        "MLSTACK_ENV": "demo",
    }


def test_apply_does_not_change_its_input(tmp_path: Path) -> None:
    environ = {"PATH": "/bin"}
    apply(environ, _data(tmp_path))
    assert environ == {"PATH": "/bin"}


def test_apply_moves_the_env_bin_to_the_front_instead_of_stacking(tmp_path: Path) -> None:
    data = _data(tmp_path)
    bin_dir = str(tmp_path / "venv" / "bin")
    once = apply({"PATH": "/usr/bin"}, data)
    assert apply(once, data)["PATH"] == f"{bin_dir}:/usr/bin"
    assert apply({"PATH": f"/a:{bin_dir}:/b"}, data)["PATH"] == f"{bin_dir}:/a:/b"


def test_apply_without_path_keeps_the_system_default(tmp_path: Path) -> None:
    bin_dir = str(tmp_path / "venv" / "bin")
    assert apply({}, _data(tmp_path))["PATH"] == f"{bin_dir}:{os.defpath}"
    assert apply({"PATH": ""}, _data(tmp_path))["PATH"] == bin_dir


def test_lookup_lists_envs_and_names_them_in_errors(tmp_path: Path, isolated: Path) -> None:
    assert known_envs() == []
    with pytest.raises(MlstackError, match="no env named 'x'") as e:
        current_generation("x")
    assert e.value.hint is not None
    assert "mlstack env create" in e.value.hint
    venv = fake_venv(tmp_path / "v")
    gen_b = make_env(isolated, "beta", {}, venv)
    make_env(isolated, "alpha", {}, venv)
    (isolated / "envs" / "half-built").mkdir()  # no current generation: not an env
    assert known_envs() == ["alpha", "beta"]
    assert current_generation("beta") == gen_b.resolve()
    with pytest.raises(MlstackError) as e:
        current_generation("gamma")
    assert e.value.hint is not None
    assert "alpha, beta" in e.value.hint


def test_env_whose_current_generation_lost_its_json(tmp_path: Path, isolated: Path) -> None:
    gen = make_env(isolated, "demo", {}, fake_venv(tmp_path / "v"))
    (gen / "mlstack-env.json").unlink()
    with pytest.raises(MlstackError, match="no usable generation") as e:
        current_generation("demo")
    assert e.value.hint is not None
    assert "rollback" in e.value.hint


# Quoting, as the real shells read it: any text without NUL comes back byte for byte.
_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"))


@pytest.mark.parametrize("shell", ["bash", "zsh", "dash", "fish"])
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_TEXT, min_size=1, max_size=12))
def test_quoting_round_trips_in_the_real_shell(
    shell: str, values: list[str], tmp_path: Path
) -> None:
    program = shell_path(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed")
    quote = fish_quote if shell == "fish" else sh_quote
    sep = "\x1f"  # unit separator between values; the values never hold it
    values = [v.replace(sep, "") for v in values]
    script = "".join(f"printf '%s{sep}' {quote(v)}\n" for v in values)
    no_rc = {"fish": ["--no-config"], "zsh": ["-f"]}.get(shell, [])
    argv = [program, *no_rc, "-c", script]
    r = subprocess.run(argv, capture_output=True, cwd=tmp_path, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode("utf-8").split(sep)[:-1] == values
