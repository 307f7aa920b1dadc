"""The sbatch scripts of docs/clusters.md, run as they are with bash and Slurm stand-ins.

tests/real/test_slurm.py runs them under a real one-node Slurm; this copy runs in every
suite, without Slurm installed, so a developer who changes the page or the preset finds a
broken script at once. The stand-ins copy what real Slurm 22.05 does (measured there):
``srun`` starts the command once per task on this machine (one node) with
``SLURM_LOCALID``, ``SLURM_PROCID`` and ``SLURM_STEP_TASKS_PER_NODE``, and, when the job
has GPUs (``SLURM_GPUS_ON_NODE``, as ``--gpus-per-node`` sets it), gives **every** task the
node's whole list in ``ROCR_VISIBLE_DEVICES``, ``CUDA_VISIBLE_DEVICES`` and
``GPU_DEVICE_ORDINAL`` (and ``SLURM_STEP_GPUS``); ``sbcast`` copies, ``scontrol show
hostnames`` names one node. The env is packed from a project with ``site = "slurm"``, and
the index is down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.envfixtures import torch_entry, write_lock
from tests.wheelindex import WheelIndex, closed_port_url

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
DOC = Path(__file__).parent.parent / "docs" / "clusters.md"

SRUN = """#!/bin/bash
n="${SLURM_NTASKS_PER_NODE:-1}"
while [ $# -gt 0 ]; do
    case "$1" in
        --ntasks-per-node=*) n="${1#*=}"; shift ;;
        -*) shift ;;
        *) break ;;
    esac
done
gpus=""
for ((g = 0; g < ${SLURM_GPUS_ON_NODE:-0}; g++)); do gpus="${gpus:+$gpus,}$g"; done
rc=0
for ((i = 0; i < n; i++)); do
    if [ -n "$gpus" ]; then
        export ROCR_VISIBLE_DEVICES="$gpus" CUDA_VISIBLE_DEVICES="$gpus" \\
            GPU_DEVICE_ORDINAL="$gpus" SLURM_STEP_GPUS="$gpus"
    fi
    SLURM_LOCALID=$i SLURM_PROCID=$i SLURM_NODEID=0 SLURM_STEP_TASKS_PER_NODE=$n \\
        SLURM_STEP_NUM_TASKS=$n "$@" || rc=$?
done
exit $rc
"""
SBCAST = '#!/bin/sh\nwhile [ "${1#-}" != "$1" ]; do shift; done\ncp "$1" "$2"\n'
SCONTROL = '#!/bin/sh\n[ "$1 $2" = "show hostnames" ] && echo nid000001\n'
TORCHRUN = ('#!/bin/sh\necho "torchrun rocr=${ROCR_VISIBLE_DEVICES-all} '
            '$(python -c \'import torch; print(torch.__version__)\') $*"\n')
TRAIN = ("import os, torch\n"
         "e = os.environ\n"
         "print(f\"rank={e['SLURM_PROCID']} rocr={e.get('ROCR_VISIBLE_DEVICES', 'all')} "
         "db={e['MIOPEN_USER_DB_PATH']} torch={torch.__version__} master={e['MASTER_ADDR']}\")\n")


def scripts() -> list[str]:
    return re.findall(r"```bash\n(#!/bin/bash\n#SBATCH.*?)```", DOC.read_text(), re.S)


def packed_job(tmp_path: Path, cli: Cli, tools: dict[str, str]) -> tuple[Path, Path, Path]:
    """Pack env ``train`` (made already) into a job directory beside train.py; write the
    ``tools`` (name -> script) into a directory for PATH, and a config whose mirrors are
    down (compute nodes have no network). Returns (job, tools directory, config)."""
    job = tmp_path / "job"
    job.mkdir()
    r = cli("env", "pack", "train", "-o", str(job / "train.tar.zst"))
    assert r.returncode == 0, r.stderr
    (job / "train.py").write_text(TRAIN, encoding="utf-8")
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir()
    for name, text in tools.items():
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    dead = closed_port_url()
    config = tmp_path / "offline.toml"
    config.write_text(f'[mirrors]\n"https://download.pytorch.org/" = "{dead}/"\n'
                      f'"https://files.pythonhosted.org/" = "{dead}/"\n', encoding="utf-8")
    return job, bin_dir, config


def _job(tmp_path: Path, cli: Cli) -> tuple[Path, dict[str, str]]:
    """A job directory holding train.tar.zst and train.py, and the job's environment."""
    project = tmp_path / "project"
    project.mkdir()
    lock = write_lock(project / "mlstack.lock", [torch_entry("train", "rocm6.4:gfx1100")])
    (project / "mlstack.toml").write_text('site = "slurm"\n', encoding="utf-8")
    assert cli("env", "create", "train", "--lock", str(lock), cwd=project).returncode == 0
    job, shims, config = packed_job(tmp_path, cli, {
        "srun": SRUN, "sbcast": SBCAST, "scontrol": SCONTROL, "torchrun": TORCHRUN})
    node_tmp = tmp_path / "node-tmp"
    node_tmp.mkdir()
    env = {
        "PATH": f"{shims}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "TMPDIR": str(node_tmp),
        "MLSTACK_CONFIG": str(config),
        "MLSTACK_ROOT": os.environ["MLSTACK_ROOT"],
        "NO_COLOR": "1",
        "SLURM_JOB_ID": "777",
        "SLURM_JOB_NODELIST": "nid000001",
        "SLURM_NNODES": "1",
    }
    if "PYENV_ROOT" in os.environ:
        env["PYENV_ROOT"] = os.environ["PYENV_ROOT"]
    return job, env


def _sbatch(script: str, job: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=job, env=env, capture_output=True,
                          text=True, check=False, timeout=300)


def test_the_page_has_both_scripts() -> None:
    assert len(scripts()) == 2


def test_one_task_per_gpu(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                          tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    job, env = _job(tmp_path, cli)
    env.update({"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2",
                "SLURM_GPUS_ON_NODE": "2"})
    r = _sbatch(scripts()[0], job, env)
    assert r.returncode == 0, r.stderr
    cache = f"{env['TMPDIR']}/job-777/mlstack-miopen-{os.getuid()}-777/db"
    tasks = [line for line in r.stdout.splitlines() if line.startswith("rank=")]
    assert tasks == [
        f"rank={i} rocr={i} db={cache} torch=2.8.0+rocm6.4 master=nid000001" for i in (0, 1)
    ], r.stdout + r.stderr
    # The job's directory (the env unpacked there, MIOpen's caches) is gone.
    assert not any(Path(env["TMPDIR"]).iterdir())


def test_torchrun_keeps_every_gpu(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                                  tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    job, env = _job(tmp_path, cli)
    env.update({"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1",
                "SLURM_GPUS_ON_NODE": "8"})
    r = _sbatch(scripts()[1], job, env)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("torchrun ")]
    assert lines == ["torchrun rocr=0,1,2,3,4,5,6,7 2.8.0+rocm6.4 --nnodes=1 --nproc-per-node=8 "
                     "--rdzv-backend=c10d --rdzv-endpoint=nid000001:29500 --rdzv-id=777 "
                     "train.py"], r.stdout + r.stderr
    assert not any(Path(env["TMPDIR"]).iterdir())
