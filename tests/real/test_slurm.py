"""The slurm site preset under a real Slurm: one GPU per rank under every allocation style.

A one-node Slurm 22.05 (tests/real/slurmnode.py: Debian's slurm-wlm + munge, select/cons_tres,
``Gres=gpu:mi300x:2`` on character devices) runs ``srun``/``sbatch``/``sbcast`` for real; the
env is made from the loopback test index with ``site = "slurm"``, and mlstack is on PATH.
Each rank prints what it sees through ``mlstack env run`` and through ``eval "$(mlstack env
activate)"`` in sh (the two rules must agree). A second node with 4 GPUs checks 4 ranks.

The sbatch scripts of docs/clusters.md run as they are written (the node is smaller than
the docs' nodes: ``sbatch --nodes=1 --ntasks-per-node=2 --gpus-per-node=2`` on the command
line overrides their ``#SBATCH`` lines, as Slurm documents), and leave nothing in the
node's temp dir (``TMPDIR``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.envfixtures import torch_entry, write_lock
from tests.real import components
from tests.real.slurmnode import SlurmNode, SlurmStartError
from tests.test_clusters_doc import packed_job, scripts
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]
pytestmark = pytest.mark.xdist_group("slurm")

Cli = Callable[..., subprocess.CompletedProcess[str]]
BIN = Path(sys.executable).parent
SHOW = 'echo "{how} rank=$SLURM_PROCID rocr=${{ROCR_VISIBLE_DEVICES-unset}} ' \
       'cuda=${{CUDA_VISIBLE_DEVICES-unset}}"'
SHOW_FISH = ("set -q ROCR_VISIBLE_DEVICES; or set ROCR_VISIBLE_DEVICES unset; "
             "set -q CUDA_VISIBLE_DEVICES; or set CUDA_VISIBLE_DEVICES unset; "
             'echo "fish rank=$SLURM_PROCID rocr=$ROCR_VISIBLE_DEVICES '
             'cuda=$CUDA_VISIBLE_DEVICES"')
# Each task: what `env run` gives the command, what sh activation and fish activation set.
TASK = f"""#!/bin/sh
mlstack env run train -- sh -c '{SHOW.format(how="run")}'
fish -c 'mlstack env activate train --shell fish | source; {SHOW_FISH}'
eval "$(mlstack env activate train --shell sh)"
{SHOW.format(how="activate")}
"""
# torchrun is a stand-in (the test index's torch has none): it prints what it was given.
TORCHRUN = ('#!/bin/sh\necho "torchrun rank=$SLURM_PROCID rocr=${ROCR_VISIBLE_DEVICES-unset} '
            'cuda=${CUDA_VISIBLE_DEVICES-unset} '
            '$(python -c \'import torch; print(torch.__version__)\') $*"\n')


def _start(root: Path, gpus: int) -> SlurmNode:
    for exe in ("munged", "slurmctld", "slurmd", "srun"):
        if shutil.which(exe) is None:
            components.need("slurm", f"{exe} is not on PATH")
    if os.getuid() != 0:
        components.need("slurm", "the test cluster runs its daemons as root (SlurmdUser=root, "
                                 "mknod for the GPU device files)")
    node = SlurmNode(root, gpus=gpus, cpus=max(4, gpus))
    try:
        node.start()
    except (SlurmStartError, OSError) as exc:
        node.stop()
        components.need("slurm", str(exc))
    return node


def _session_node(factory: pytest.TempPathFactory, gpus: int) -> Iterator[SlurmNode]:
    node = _start(factory.mktemp(f"slurm{gpus}gpu"), gpus=gpus)
    yield node
    node.stop()
    shutil.rmtree(node.root, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmNode]:
    """The 2-GPU node, for the session (every test here is in xdist group "slurm")."""
    yield from _session_node(tmp_path_factory, 2)


@pytest.fixture(scope="session")
def slurm4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmNode]:
    """A 4-GPU node (Gres=gpu:mi300x:4), started only for the tests that ask for it."""
    yield from _session_node(tmp_path_factory, 4)


@pytest.fixture
def indexed(mirrored: WheelIndex, fake_machine: Callable[[str], Path]) -> None:
    """The loopback index up and a machine (a 7900 XTX) for `env create`."""
    fake_machine("7900xtx")


def _env(tmp_path: Path, cli: Cli, site: str = "slurm") -> dict[str, str]:
    """Create env ``train`` (site preset ``site``) from the loopback index; the environment
    the job is submitted with: mlstack on PATH, this test's MLSTACK_HOME, a node temp dir."""
    project = tmp_path / "project"
    project.mkdir()
    lock = write_lock(project / "mlstack.lock", [torch_entry("train", "rocm6.4:gfx1100")])
    (project / "mlstack.toml").write_text(f'site = "{site}"\n', encoding="utf-8")
    r = cli("env", "create", "train", "--lock", str(lock), cwd=project)
    assert r.returncode == 0, r.stderr
    node_tmp = tmp_path / "node-tmp"
    node_tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(PATH=f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", TMPDIR=str(node_tmp))
    return env


def _ranks(node: SlurmNode, tmp_path: Path, env: dict[str, str], *srun: str) -> list[str]:
    task = tmp_path / "task.sh"
    task.write_text(TASK, encoding="utf-8")
    task.chmod(0o755)
    r = node.run(["srun", "-N1", *srun, str(task)], env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = sorted(line for line in r.stdout.splitlines() if " rank=" in line)
    print(f"srun {' '.join(srun)}:", *lines, sep="\n  ")
    return lines


def _each(seen: list[tuple[str, str]]) -> list[str]:
    """What every rank prints, through env run, sh activation and fish activation."""
    return sorted(f"{how} rank={rank} rocr={rocr} cuda={cuda}"
                  for how in ("run", "activate", "fish")
                  for rank, (rocr, cuda) in enumerate(seen))


# (srun options, what rank i sees: (ROCR_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES)), measured:
# Slurm itself exports ROCR_VISIBLE_DEVICES=CUDA_VISIBLE_DEVICES=0,1 to both tasks under
# --gpus-per-node=2; 0 and 1 under --gpus-per-task=1; 1 and 0 under --gpu-bind=map_gpu:1,0;
# nothing without a GPU request. Its CUDA_VISIBLE_DEVICES copy goes (HIP applies it after
# ROCr's filter).
STYLES = {
    "gpus-per-node": (["-n2", "--gpus-per-node=2"], [("0", "unset"), ("1", "unset")]),
    "gpus-per-task": (["-n2", "--gpus-per-task=1"], [("0", "unset"), ("1", "unset")]),
    "gpu-bind-map": (["-n2", "--gpus-per-node=2", "--gpu-bind=map_gpu:1,0"],
                     [("1", "unset"), ("0", "unset")]),
    "gpu-bind-single": (["-n2", "--gpus-per-node=2", "--gpu-bind=single:1"],
                        [("0", "unset"), ("1", "unset")]),
    "gres": (["-n2", "--gres=gpu:mi300x:2"], [("0", "unset"), ("1", "unset")]),
    "no-gpu-request": (["-n2"], [("0", "unset"), ("1", "unset")]),
    "one-task": (["-n1", "--gpus-per-node=2"], [("0,1", "unset")]),
    "switch": (["-n2", "--gpus-per-node=2", "--export=ALL,MLSTACK_GPU_BIND=none"],
               [("0,1", "unset"), ("0,1", "unset")]),
}


@pytest.mark.usefixtures("indexed")
@pytest.mark.parametrize("style", list(STYLES))
def test_one_gpu_per_rank(style: str, slurm: SlurmNode, tmp_path: Path,
                          cli: Cli) -> None:
    env = _env(tmp_path, cli)
    srun, seen = STYLES[style]
    lines = _ranks(slurm, tmp_path, env, *srun)
    assert lines == _each(seen)
    # All a bare srun leaves on the node: the job's MIOpen caches (the docs' scripts
    # remove them with the rest of the job's directory).
    left = [p.name for p in Path(env["TMPDIR"]).iterdir()]
    assert len(left) == 1 and left[0].startswith(f"mlstack-miopen-{os.getuid()}-"), left


@pytest.mark.usefixtures("indexed")
def test_the_batch_script_itself_keeps_the_jobs_gpus(slurm: SlurmNode, tmp_path: Path,
                                                     cli: Cli) -> None:
    """Outside srun, in the batch script (SLURM_LOCALID=0, SLURM_JOB_GPUS, no step list):
    the one process keeps the job's GPUs, without Slurm's CUDA_VISIBLE_DEVICES copy."""
    env = _env(tmp_path, cli)
    task = tmp_path / "task.sh"
    task.write_text(TASK, encoding="utf-8")
    task.chmod(0o755)
    r = slurm.run(["sbatch", "--wait", "-n2", "--gpus-per-node=2", "--output=batch.out",
                   str(task)], env=env, cwd=tmp_path)
    out = (tmp_path / "batch.out").read_text(encoding="utf-8", errors="replace")
    assert r.returncode == 0, r.stderr + out
    assert sorted(out.splitlines()) == _each([("0,1", "unset")]), out


@pytest.mark.usefixtures("indexed")
def test_without_the_preset_slurm_gives_every_task_both_gpus(
        slurm: SlurmNode,
        tmp_path: Path, cli: Cli) -> None:
    """What the preset corrects: Slurm's own variables, as a task sees them without it."""
    env = _env(tmp_path, cli)
    (tmp_path / "project" / "mlstack.toml").write_text("", encoding="utf-8")
    r = cli("env", "create", "train", "--name", "bare",
            "--lock", str(tmp_path / "project" / "mlstack.lock"), cwd=tmp_path / "project")
    assert r.returncode == 0, r.stderr
    task = tmp_path / "bare.sh"
    task.write_text(f"#!/bin/sh\nmlstack env run bare -- sh -c '{SHOW.format(how='bare')}'\n",
                    encoding="utf-8")
    task.chmod(0o755)
    r = slurm.run(["srun", "-N1", "-n2", "--gpus-per-node=2", str(task)], env=env,
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["bare rank=0 rocr=0,1 cuda=0,1",
                                             "bare rank=1 rocr=0,1 cuda=0,1"]


@pytest.mark.usefixtures("indexed")
@pytest.mark.parametrize("site", ["lumi", "frontier"])
def test_lumi_and_frontier_presets(site: str, slurm: SlurmNode, tmp_path: Path,
                                   cli: Cli) -> None:
    env = _env(tmp_path, cli, site=site)
    lines = _ranks(slurm, tmp_path, env, "-n2", "--gpus-per-node=2")
    seen = [("0", "unset"), ("1", "unset")]
    assert lines == _each(seen)


@pytest.mark.usefixtures("indexed")
def test_four_gpus_four_ranks(slurm4: SlurmNode, tmp_path: Path,
                              cli: Cli) -> None:
    env = _env(tmp_path, cli)
    seen = [(str(i), "unset") for i in range(4)]
    lines = _ranks(slurm4, tmp_path, env, "-n4", "--gpus-per-node=4")
    assert lines == _each(seen)
    # Two ranks on a 4-GPU node with 2 GPUs asked for: Slurm's list is 0,1.
    lines = _ranks(slurm4, tmp_path, env, "-n2", "--gpus-per-node=2")
    assert lines == _each(seen[:2])


# --- the sbatch scripts of docs/clusters.md, as written ------------------------------------

def _job(tmp_path: Path, cli: Cli) -> tuple[Path, dict[str, str]]:
    """A job directory holding train.tar.zst (packed from env ``train``) and train.py."""
    env = _env(tmp_path, cli)
    job, tools, config = packed_job(tmp_path, cli, {"torchrun": TORCHRUN})
    env.update(PATH=f"{tools}:{env['PATH']}", MLSTACK_CONFIG=str(config))
    env.pop("MLSTACK_HOME", None)  # the scripts set their own
    return job, env


def _sbatch(node: SlurmNode, script: str, job: Path, env: dict[str, str]) -> list[str]:
    (job / "job.sh").write_text(script, encoding="utf-8")
    r = node.run(["sbatch", "--wait", "--nodes=1", "--ntasks-per-node=2",
                  "--gpus-per-node=2", "--output=job.out", "job.sh"], env=env, cwd=job)
    out = (job / "job.out").read_text(encoding="utf-8", errors="replace") \
        if (job / "job.out").exists() else ""
    assert r.returncode == 0, r.stdout + r.stderr + out
    print(out)
    return out.splitlines()


@pytest.mark.usefixtures("indexed")
def test_the_docs_one_task_per_gpu_script(slurm: SlurmNode,
                                          tmp_path: Path, cli: Cli) -> None:
    job, env = _job(tmp_path, cli)
    out = _sbatch(slurm, scripts()[0], job, env)
    ranks = sorted(line for line in out if line.startswith("rank="))
    assert [line.split(" db=")[0] for line in ranks] == ["rank=0 rocr=0", "rank=1 rocr=1"]
    host = slurm.host
    for line in ranks:
        assert line.endswith(f"torch=2.8.0+rocm6.4 master={host}"), line
        # MIOpen's db is under the job's node-local directory (gone now).
        assert f" db={env['TMPDIR']}/" in line, line
    assert not any(Path(env["TMPDIR"]).iterdir()), list(Path(env["TMPDIR"]).rglob("*"))


@pytest.mark.usefixtures("indexed")
def test_the_docs_torchrun_script(slurm: SlurmNode, tmp_path: Path,
                                  cli: Cli) -> None:
    job, env = _job(tmp_path, cli)
    out = _sbatch(slurm, scripts()[1], job, env)
    lines = [line for line in out if line.startswith("torchrun ")]
    assert len(lines) == 1, out
    # One task on the node keeps both GPUs; torchrun starts one worker per GPU.
    assert lines[0].startswith("torchrun rank=0 rocr=0,1 cuda=unset 2.8.0+rocm6.4 "
                               "--nnodes=1 --nproc-per-node=2 "), lines[0]
    assert f"--rdzv-endpoint={slurm.host}:29500" in lines[0]
    assert not any(Path(env["TMPDIR"]).iterdir()), list(Path(env["TMPDIR"]).rglob("*"))
