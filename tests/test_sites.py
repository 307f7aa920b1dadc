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
from mlstack_env.core.errors import MlstackError
from mlstack_env.manifest.project import load_project
from mlstack_env.manifest.sites import load_site
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


@pytest.mark.parametrize(("value", "one_per_task"), [("all", False), ("one", True)])
def test_gpus_per_task_spelling(tmp_path: Path, value: str, one_per_task: bool) -> None:
    """`gpus-per-task = "all"` in the site table keeps every GPU in each task (the
    contract's spelling of `gpu-per-task = false`); it wins over the preset's rule."""
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text(f'site = "lumi"\n\n[sites.lumi]\ngpus-per-task = "{value}"\n',
                        encoding="utf-8")
    site = load_project(manifest).site_preset()
    assert site is not None and site.gpu_per_task is one_per_task


@pytest.mark.parametrize(("text", "message", "hint"), [
    ('site = "lumy"\n', "unknown site 'lumy'", "did you mean 'lumi'?"),
    ('site = "x"\n[sites.x]\njob-cach = true\n', "unknown key 'job-cach'", "'job-cache'"),
    ('[sites.x]\njob-cach = true\n', "unknown key 'job-cach'", "'job-cache'"),
    ('site = "x"\n[sites.x]\ngpu-per-task = "yes"\n', "must be true or false", "= true"),
    ('site = "x"\n[sites.x]\ngpus-per-task = 2\n', 'must be "one" or "all"', '= "all"'),
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


GPU = ("ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")
SHOWN = (*GPU, "MIOPEN_USER_DB_PATH")


def _slurm(localid: int, tasks: int, devices: str | None, step: str | None = None,
           **more: str) -> dict[str, str]:
    """A task's environment as real Slurm 22.05 gives it (measured on the one-node cluster
    of tests/real/test_slurm.py, gres.conf without Flags): with GPUs in the step,
    ROCR_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES and GPU_DEVICE_ORDINAL all hold the same
    list and SLURM_STEP_GPUS the physical indices."""
    env = {"SLURM_LOCALID": str(localid), "SLURM_PROCID": str(localid),
           "SLURM_STEP_TASKS_PER_NODE": str(tasks), **more}
    if devices is not None:
        env.update(dict.fromkeys(GPU, devices))
        env["SLURM_STEP_GPUS"] = step or devices
    return env


Case = tuple[dict[str, str], dict[str, str]]


def _gpu_cases() -> list[Case]:
    """(job environment, what the task sees: the GPU variables, "unset" when unset)."""
    gone = {"CUDA_VISIBLE_DEVICES": "unset", "GPU_DEVICE_ORDINAL": "unset"}
    plain = {"CUDA_VISIBLE_DEVICES": "unset", "GPU_DEVICE_ORDINAL": "unset"}
    return [
        ({}, {"ROCR_VISIBLE_DEVICES": "unset", **plain}),
        # No GPU request: task i gets GPU i.
        ({"SLURM_LOCALID": "1"}, {"ROCR_VISIBLE_DEVICES": "1", **plain}),
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "4(x2)"},
         {"ROCR_VISIBLE_DEVICES": "0", **plain}),
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "1,12"},
         {"ROCR_VISIBLE_DEVICES": "0", **plain}),
        # torchrun: one task per node starts its own workers, which need every GPU.
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "1(x2)"},
         {"ROCR_VISIBLE_DEVICES": "unset", **plain}),
        ({"SLURM_LOCALID": "0"}, {"ROCR_VISIBLE_DEVICES": "unset", **plain}),
        # --gpus-per-node=2, 2 tasks: Slurm gives both tasks 0,1; task i takes entry i,
        # and Slurm's copies, which HIP would apply after ROCr's filter, go.
        (_slurm(0, 2, "0,1"), {"ROCR_VISIBLE_DEVICES": "0", **gone}),
        (_slurm(1, 2, "0,1"), {"ROCR_VISIBLE_DEVICES": "1", **gone}),
        # The list Slurm allocated, not physical indices (a node shared with another job).
        (_slurm(1, 2, "2,3"), {"ROCR_VISIBLE_DEVICES": "3", **gone}),
        (_slurm(1, 2, "GPU-aa01,GPU-bb02", "0,1"), {"ROCR_VISIBLE_DEVICES": "GPU-bb02", **gone}),
        # --gpus-per-task=1, --gpu-bind=map_gpu:1,0: Slurm bound each task; left alone.
        (_slurm(1, 2, "1"), {"ROCR_VISIBLE_DEVICES": "1", **gone}),
        (_slurm(0, 2, "1"), {"ROCR_VISIBLE_DEVICES": "1", **gone}),
        # One task (torchrun), or the switch: every GPU Slurm gave the task.
        (_slurm(0, 1, "0,1"), {"ROCR_VISIBLE_DEVICES": "0,1", **gone}),
        (_slurm(1, 2, "0,1", MLSTACK_GPU_BIND="none"), {"ROCR_VISIBLE_DEVICES": "0,1", **gone}),
        # The batch script itself (no srun): one task, SLURM_JOB_GPUS instead of the step's.
        ({"SLURM_LOCALID": "0", **dict.fromkeys(GPU, "2,3"), "SLURM_JOB_GPUS": "2,3"},
         {"ROCR_VISIBLE_DEVICES": "2,3", **gone}),
        # gres.conf Flags=amd_gpu_env: Slurm sets ROCR_VISIBLE_DEVICES only.
        ({**_slurm(1, 2, None), "ROCR_VISIBLE_DEVICES": "0,1", "SLURM_STEP_GPUS": "0,1"},
         {"ROCR_VISIBLE_DEVICES": "1", **plain}),
        # More tasks than GPUs: the task past the end keeps the list.
        (_slurm(2, 3, "0,1"), {"ROCR_VISIBLE_DEVICES": "0,1", **gone}),
        (_slurm(1, 2, "0"), {"ROCR_VISIBLE_DEVICES": "0", **gone}),
        # A list the job set itself (no GPUs from Slurm): mapped, its copies kept.
        ({"SLURM_LOCALID": "1", "ROCR_VISIBLE_DEVICES": "4,5", "CUDA_VISIBLE_DEVICES": "4,5"},
         {"ROCR_VISIBLE_DEVICES": "5", "CUDA_VISIBLE_DEVICES": "4,5",
          "GPU_DEVICE_ORDINAL": "unset"}),
        # The job chose devices through HIP's variables: left alone.
        ({"SLURM_LOCALID": "2", "ROCR_VISIBLE_DEVICES": "5"},
         {"ROCR_VISIBLE_DEVICES": "5", **plain}),
        ({"SLURM_LOCALID": "2", "HIP_VISIBLE_DEVICES": "1"},
         {"ROCR_VISIBLE_DEVICES": "unset", **plain}),
        ({"SLURM_LOCALID": "2", "CUDA_VISIBLE_DEVICES": "1"},
         {"ROCR_VISIBLE_DEVICES": "unset", "CUDA_VISIBLE_DEVICES": "1",
          "GPU_DEVICE_ORDINAL": "unset"}),
        # Values that are data, never code; numbers read within bounds (issue 21).
        ({"SLURM_LOCALID": "$(touch pwned)"}, {"ROCR_VISIBLE_DEVICES": "unset", **plain}),
        ({"SLURM_LOCALID": "1", "ROCR_VISIBLE_DEVICES": "0,$(touch pwned)"},
         {"ROCR_VISIBLE_DEVICES": "0,$(touch pwned)", **plain}),
        ({"SLURM_LOCALID": "1", "ROCR_VISIBLE_DEVICES": "0,,1"},
         {"ROCR_VISIBLE_DEVICES": "0,,1", **plain}),
        ({"SLURM_LOCALID": "9" * 4300}, {"ROCR_VISIBLE_DEVICES": "unset", **plain}),
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "9" * 4300},
         {"ROCR_VISIBLE_DEVICES": "unset", **plain}),
        ({"SLURM_LOCALID": "010", "ROCR_VISIBLE_DEVICES": ",".join(map(str, range(12)))},
         {"ROCR_VISIBLE_DEVICES": "10", **plain}),
        ({"SLURM_LOCALID": "0", "SLURM_STEP_TASKS_PER_NODE": "1\n2"},
         {"ROCR_VISIBLE_DEVICES": "0", **plain}),
    ]


def _cases(tmp_path: Path) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(job environment, what the task sees: GPU variables and MIOPEN_USER_DB_PATH)."""
    node = _node(tmp_path)
    job_db = f"{node}/mlstack-miopen-{os.getuid()}-4242/db"
    hijacked = Path(node) / f"mlstack-miopen-{os.getuid()}-666"
    if not hijacked.is_symlink():
        hijacked.symlink_to(tmp_path)  # someone else's directory, or a trap
    unset = dict.fromkeys(GPU, "unset")
    cases = [(job, {**want, "MIOPEN_USER_DB_PATH": ENV_OWN}) for job, want in _gpu_cases()]
    return [
        *cases,
        ({"SLURM_LOCALID": "3", "SLURM_JOB_ID": "4242", "TMPDIR": node},
         {**unset, "ROCR_VISIBLE_DEVICES": "3", "MIOPEN_USER_DB_PATH": job_db}),
        ({"SLURM_JOB_ID": "../../etc", "TMPDIR": node},
         {**unset, "MIOPEN_USER_DB_PATH": ENV_OWN}),
        ({"SLURM_JOB_ID": "666", "TMPDIR": node}, {**unset, "MIOPEN_USER_DB_PATH": ENV_OWN}),
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
    for job, want in _cases(tmp_path):
        env = apply(job, data)
        assert {n: env.get(n, "unset") for n in SHOWN} == want, job
        db = want["MIOPEN_USER_DB_PATH"]
        if db != ENV_OWN:
            assert Path(db).is_dir() and Path(env["MIOPEN_CUSTOM_CACHE_DIR"]).is_dir()
            assert Path(db).parent.stat().st_mode & 0o777 == 0o700


SHOW = " ".join(f'printf "%s|" "${{{n}-unset}}";' for n in SHOWN) + " echo"
SHOW_FISH = " ".join(f"if set -q {n}; printf '%s|' ${n}; else; printf 'unset|'; end;"
                     for n in SHOWN) + " echo"


def _shown(values: dict[str, str]) -> str:
    return "".join(f"{values.get(n, 'unset')}|" for n in SHOWN)


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
        assert active == _shown(want), (shell, job)
        # deactivate gives the job its own values back.
        assert after == _shown({n: v for n, v in job.items() if n in GPU}), (shell, job)
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
    # The text output shows it too, on its own line (docs/clusters.md says so).
    text = cli("env", "info", "demo").stdout.splitlines()
    assert "site       slurm (cluster preset: its job rules apply when the env is entered)" \
        in text, text
    assert not any(line.startswith("site ") for line in
                   cli("env", "info", "plain").stdout.splitlines())
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
