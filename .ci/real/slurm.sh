#!/usr/bin/env bash
# The one-node Slurm of tests/real/test_slurm*.py: Debian's slurm-wlm (slurmctld, slurmd,
# srun/sbatch/sbcast) and munge (the authentication every Slurm daemon and client uses).
# Idempotent. Nothing is started here and no system config is written: the tests' fixture
# writes its own slurm.conf into a temp dir (SLURM_CONF) and starts munged, slurmctld and
# slurmd on loopback, then stops them by PID.
set -euo pipefail

packages=(slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
    # Debian's postinst starts the packaged services when it can; there is no init here
    # (policy-rc.d refuses), and the tests never use the system's daemons.
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for p in slurm-wlm slurmctld slurmd slurm-client munge; do
    printf '%s %s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo absent)"
done
slurmd -V   # Slurm's clients (sinfo, srun) need a slurm.conf to print theirs
munged --version
