"""Site presets: the catalog and mlstack.toml, the job rules in env run and in the
activation scripts (the same answers from Python, bash, dash, zsh and fish), and the
done-when of issue 12 through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.activation.data import apply, load_env_json
from mlstack_env.activation.scripts import write_scripts
from mlstack_env.errors import MlstackError
from mlstack_env.project import load_project
from mlstack_env.sites import load_site
from tests.activation_envs import fake_venv
from tests.envfixtures import team_lock
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
SLURM = {"name": "slurm", "job_cache": True, "gpu_per_task": True}
ENV_OWN = "/home/u/.local/share/mlstack/envs/demo/cache/miopen/db"
WATCHED = ("ROCR_VISIBLE_DEVICES", "MIOPEN_USER_DB_PATH", "MIOPEN_CUSTOM_CACHE_DIR")


# --- the catalog and the project file ----------------------------------------------------


def test_presets_carry_the_cited_values() -> None:
    lumi, frontier, slurm = load_site("lumi"), load_site("frontier"), load_site("slurm")
    assert lumi.env == {"CXI_FORK_SAFE": "1", "CXI_FORK_SAFE_HP": "1",
                        "FI_CXI_DISABLE_CQ_HUGETLB": "1", "NCCL_NET_GDR_LEVEL": "3",
                        "NCCL_SOCKET_IFNAME": "hsn"}
    assert frontier.env == {"NCCL_SOCKET_IFNAME": "hsn0"}
    assert slurm.env == {}
    for site in (lumi, frontier, slurm):
        assert site.job_cache and site.gpu_per_task and site.sources


def test_project_site_and_override(tmp_path: Path) -> None:
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text('site = "frontier"\n\n[sites.frontier]\ngpu-per-task = false\n\n'
                        '[sites.frontier.env]\nNCCL_NET_GDR_LEVEL = "3"\n', encoding="utf-8")
    site = load_project(manifest).site_preset()
    assert site is not None and site.name == "frontier"
    assert site.env == {"NCCL_NET_GDR_LEVEL": "3", "NCCL_SOCKET_IFNAME": "hsn0"}
    assert site.job_cache and not site.gpu_per_task


@pytest.mark.parametrize(("text", "message", "hint"), [
    ('site = "lumy"\n', "unknown site 'lumy'", "did you mean 'lumi'?"),
    ('site = "x"\n[sites.x]\njob-cach = true\n', "unknown key 'job-cach'", "'job-cache'"),
    ('[sites.x]\njob-cach = true\n', "unknown key 'job-cach'", "'job-cache'"),
    ('site = "x"\n[sites.x]\ngpu-per-task = "yes"\n', "must be true or false", "= true"),
    ('site = "x"\n[sites.x.env]\nPATH = "/evil"\n', "PATH cannot be set",
     "remove PATH from [sites.x.env]"),
    ('site = 3\n', "site must be a preset name", 'site = "slurm"'),
])
def test_bad_site_is_one_clear_error(tmp_path: Path, text: str, message: str, hint: str) -> None:
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(MlstackError) as err:
        load_project(manifest)
    assert message in err.value.message and str(manifest) in err.value.message
    assert hint in (err.value.hint or "")


# --- the job rules: Python (env run) and the four shells agree -----------------------------


def _node(tmp_path: Path) -> str:
    node = tmp_path / "node-tmp"
    node.mkdir(exist_ok=True)
    return str(node)


def _cases(tmp_path: Path) -> list[tuple[dict[str, str], tuple[str, str]]]:
    """(job environment, expected (ROCR_VISIBLE_DEVICES, MIOPEN_USER_DB_PATH))."""
    node = _node(tmp_path)
    job_db = f"{node}/mlstack-miopen-{os.getuid()}-4242/db"
    hijacked = Path(node) / f"mlstack-miopen-{os.getuid()}-666"
    if not hijacked.is_symlink():
        hijacked.symlink_to(tmp_path)  # someone else's directory, or a trap
    return [
        ({}, ("unset", ENV_OWN)),
        ({"SLURM_LOCALID": "1"}, ("1", ENV_OWN)),
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "4(x2)"}, ("0", ENV_OWN)),
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "1,12"}, ("0", ENV_OWN)),
        # torchrun: one task per node starts its own workers, which need every GPU.
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "1(x2)"}, ("unset", ENV_OWN)),
        ({"SLURM_LOCALID": "0"}, ("unset", ENV_OWN)),
        # The job (or Slurm's --gpu-bind) chose devices: left alone.
        ({"SLURM_LOCALID": "2", "ROCR_VISIBLE_DEVICES": "5"}, ("5", ENV_OWN)),
        ({"SLURM_LOCALID": "2", "HIP_VISIBLE_DEVICES": "1"}, ("unset", ENV_OWN)),
        ({"SLURM_LOCALID": "2", "CUDA_VISIBLE_DEVICES": "1"}, ("unset", ENV_OWN)),
        ({"SLURM_LOCALID": "$(touch pwned)"}, ("unset", ENV_OWN)),
        ({"SLURM_LOCALID": "3", "SLURM_JOB_ID": "4242", "TMPDIR": node}, ("3", job_db)),
        ({"SLURM_JOB_ID": "../../etc", "TMPDIR": node}, ("unset", ENV_OWN)),
        ({"SLURM_JOB_ID": "666", "TMPDIR": node}, ("unset", ENV_OWN)),
    ]


def _generation(tmp_path: Path) -> Path:
    gen = tmp_path / "gen"
    write_scripts(gen, name="demo", venv=fake_venv(tmp_path / "venv"),
                  variables={"MIOPEN_USER_DB_PATH": ENV_OWN,
                             "MIOPEN_CUSTOM_CACHE_DIR": ENV_OWN.replace("db", "kernels")},
                  site=SLURM)
    return gen


def test_env_run_rules(tmp_path: Path) -> None:
    data = load_env_json(_generation(tmp_path))
    assert data.site == SLURM
    for job, (rocr, db) in _cases(tmp_path):
        env = apply(job, data)
        assert (env.get("ROCR_VISIBLE_DEVICES", "unset"), env["MIOPEN_USER_DB_PATH"]) == \
            (rocr, db), job
        if db != ENV_OWN:
            assert Path(db).is_dir() and Path(env["MIOPEN_CUSTOM_CACHE_DIR"]).is_dir()
            assert Path(db).parent.stat().st_mode & 0o777 == 0o700


SHOW = 'printf "%s|%s\\n" "${ROCR_VISIBLE_DEVICES-unset}" "${MIOPEN_USER_DB_PATH-unset}"'
SHOW_FISH = ("if set -q ROCR_VISIBLE_DEVICES; printf '%s|' $ROCR_VISIBLE_DEVICES; "
             "else; printf 'unset|'; end; if set -q MIOPEN_USER_DB_PATH; "
             "printf '%s\\n' $MIOPEN_USER_DB_PATH; else; printf 'unset\\n'; end")


@pytest.mark.parametrize("shell", ["bash", "dash", "zsh", "fish"])
def test_activation_rules_match_env_run(tmp_path: Path, shell: str) -> None:
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed")
    gen = _generation(tmp_path)
    data = load_env_json(gen)
    work = tmp_path / "cwd"
    work.mkdir()
    for job, _expected in _cases(tmp_path):
        want = apply(job, data)
        base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
        if shell == "fish":
            script = (f"source {gen}/bin/activate.fish; {SHOW_FISH}; deactivate; "
                      f"{SHOW_FISH}")
        else:
            script = f". {gen}/bin/activate; {SHOW}; deactivate; {SHOW}"
        out = subprocess.run([program, "-c", script], env={**base, **job}, cwd=work,
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, (job, out.stderr)
        active, after = out.stdout.splitlines()
        assert active == f"{want.get('ROCR_VISIBLE_DEVICES', 'unset')}|" \
                         f"{want['MIOPEN_USER_DB_PATH']}", (shell, job)
        # deactivate gives the job its own values back.
        assert after == f"{job.get('ROCR_VISIBLE_DEVICES', 'unset')}|unset", (shell, job)
        assert not (work / "pwned").exists()


# --- through the CLI: create records the site, env run applies it ----------------------------


def test_done_when_slurm(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                         tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    project = tmp_path / "proj"
    project.mkdir()
    lock = team_lock(project / "mlstack.lock")
    (project / "mlstack.toml").write_text('site = "slurm"\n', encoding="utf-8")
    plain = cli("env", "create", "demo", "--name", "plain", "--lock", str(lock), "--json")
    assert plain.returncode == 0, plain.stderr
    r = cli("env", "create", "demo", "--lock", str(lock), "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    # The store entry is the same with or without a site.
    assert json.loads(r.stdout)["store_key"] == json.loads(plain.stdout)["store_key"]
    assert json.loads(r.stdout)["reused"] is True
    info = json.loads(cli("env", "info", "demo", "--json").stdout)
    assert info["fingerprint"]["site"] == "slurm"
    run = cli("env", "run", "demo", "--", "printenv", "ROCR_VISIBLE_DEVICES",
              env={"SLURM_LOCALID": "1"})
    assert run.returncode == 0, run.stderr
    assert run.stdout == "1\n"
    node = _node(tmp_path)
    caches = cli("env", "run", "demo", "--", "sh", "-c",
                 'echo "$MIOPEN_USER_DB_PATH"; echo "$MIOPEN_CUSTOM_CACHE_DIR"',
                 env={"SLURM_JOB_ID": "4242", "TMPDIR": node, "SLURM_LOCALID": "1"})
    assert caches.stdout.split() == [f"{node}/mlstack-miopen-{os.getuid()}-4242/db",
                                     f"{node}/mlstack-miopen-{os.getuid()}-4242/kernels"]
    # No site: no rule.
    bare = cli("env", "run", "plain", "--", "sh", "-c", 'echo "${ROCR_VISIBLE_DEVICES-unset}"',
               env={"SLURM_LOCALID": "1"})
    assert bare.stdout == "unset\n"


def test_lumi_fixed_variables_join_the_env(mirrored: WheelIndex,
                                           fake_machine: Callable[[str], Path],
                                           tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    (tmp_path / "mlstack.toml").write_text('site = "lumi"\n', encoding="utf-8")
    r = cli("env", "create", "demo", "--lock", str(lock), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    variables = json.loads(r.stdout)["variables"]
    assert variables["NCCL_SOCKET_IFNAME"] == "hsn"
    assert variables["FI_CXI_DISABLE_CQ_HUGETLB"] == "1"
    run = cli("env", "run", "demo", "--", "printenv", "CXI_FORK_SAFE")
    assert run.stdout == "1\n"
