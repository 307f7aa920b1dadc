"""A real one-node Slurm cluster on loopback, for tests/real/test_slurm*.py.

Debian's slurm-wlm 22.05 and munge (installed by .ci/real/slurm.sh). Everything lives in
one temp directory: its own munge key and socket, slurm.conf (found through SLURM_CONF,
so no system config is read or written), gres.conf, cgroup.conf, state and spool
directories, pid and log files, and free loopback ports. The node offers ``gpus`` GRES
GPUs of type mi300x backed by character devices made with ``mknod c 1 3`` (Slurm's gres/gpu
plugin checks the files exist; ``AutoDetect=off``: no GPU library is asked). Tasks run as
the submitting user (root here), so ``SlurmUser=root`` and ``SlurmdUser=root``.

``start`` starts munged, slurmctld and slurmd and waits until the node is idle; ``stop``
ends each by the PID it started, waits for it, and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.wheelindex import free_port

PARTITION = "debug"


class SlurmStartError(Exception):
    """A daemon did not start; the message is Slurm's (or munge's) own words."""


@dataclass
class SlurmNode:
    root: Path
    gpus: int = 2
    cpus: int = 4
    host: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Variables a Slurm client (srun, sbatch, sinfo) needs to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def _write(self) -> None:
        r = self.root
        for d in ("etc", "ctld", "spool", "log", "dev", "run", "munge"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o700)
        for i in range(self.gpus):
            dev = r / "dev" / f"gpu{i}"
            if not dev.exists():
                # Character devices (Slurm's gres/gpu counts only files that exist; a
                # character device, as /dev/dri/renderD* and /dev/kfd are).
                os.mknod(dev, 0o600 | 0o020000, os.makedev(1, 3))
        key = r / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o600)
        last = self.gpus - 1
        self.conf.write_text(
            f"""\
ClusterName=mlstack
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge/munge.socket
StateSaveLocation={r}/ctld
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=1000 \
Gres=gpu:mi300x:{self.gpus} State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""", encoding="utf-8")
        (r / "etc" / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={self.host} Name=gpu Type=mi300x "
            f"File={r}/dev/gpu[0-{last}]\n", encoding="utf-8")
        # No cgroup plugin is configured (proctrack/linuxproc, task/none: the machine is
        # shared); the file says so for a reader.
        (r / "etc" / "cgroup.conf").write_text("ConstrainDevices=no\n", encoding="utf-8")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.root / "log" / f"{name}.out").open("wb")
        env = {**os.environ, **self.env}
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)
        log.close()

    def _fail(self, name: str) -> SlurmStartError:
        lines: list[str] = []
        for f in sorted((self.root / "log").glob(f"{name}*")):
            lines += f.read_text(errors="replace").splitlines()
        # The daemon's own words: its fatal line(s) first, else its last lines.
        fatal = [line for line in lines if "fatal" in line.lower()]
        detail = "\n".join(fatal[-3:] or lines[-5:])
        return SlurmStartError(f"{name} did not start: {detail or 'no output'}")

    def start(self, timeout: float = 60) -> None:
        self._write()
        m = self.root / "munge"
        munged = shutil.which("munged") or "/usr/sbin/munged"
        self._spawn("munged", [munged, "--foreground", "--force",
                               f"--socket={m}/munge.socket", f"--key-file={m}/munge.key",
                               f"--pid-file={m}/munged.pid", f"--seed-file={m}/munged.seed",
                               f"--log-file={self.root}/log/munged.log"])
        self._wait((m / "munge.socket").exists, "munged", 20)
        self._spawn("slurmctld", [shutil.which("slurmctld") or "/usr/sbin/slurmctld",
                                  "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", [shutil.which("slurmd") or "/usr/sbin/slurmd",
                               "-D", "-f", str(self.conf), "-N", self.host])
        self._wait(self._idle, "slurmd", timeout)

    def _idle(self) -> bool:
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                           env={**os.environ, **self.env}, check=False, timeout=30)
        return r.returncode == 0 and r.stdout.strip() == "idle"

    def _wait(self, ready: Callable[[], bool], name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n, p in self.procs.items():
                if p.poll() is not None:
                    raise self._fail(n)
            if ready():
                return
            time.sleep(0.3)
        raise self._fail(name)

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.pop(name, None)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def run(self, argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        env = dict(kw.pop("env", None) or os.environ)  # type: ignore[call-overload]
        env.update(self.env)
        return subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                              timeout=kw.pop("timeout", 240), **kw)  # type: ignore[arg-type]
