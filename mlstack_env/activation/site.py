"""A site preset's job rules, decided when an env is entered (ROCM-FACTS §5b).

One rule, written three times side by side so they stay the same: in Python for
``mlstack env run`` (:func:`job_variables`, on the hot path: ``os``, ``re``, ``pathlib`` only), in
sh for ``bin/activate`` and in fish for ``bin/activate.fish`` (:func:`sh_lines`,
:func:`fish_lines`). The scripts read the job's variables when they are sourced; values
from the job are only ever expanded inside double quotes, never run.

* ``job_cache``: inside a Slurm job (``SLURM_JOB_ID``), MIOpen's user db and kernel cache
  go to ``${TMPDIR:-/tmp}/mlstack-miopen-<uid>-<job id>/{db,kernels}``: node-local, one
  per job (MIOpen's db on Lustre fails with disk I/O errors, MIOpen#1878). The directory
  is made mode 700 and used only when it is ours; otherwise the env's own caches stay.
* ``gpu_per_task``: one GPU per task in an ``srun`` task (``SLURM_LOCALID``) that shares
  its node with other tasks of the step (``SLURM_LOCALID`` ≥ 1, or a count above 1 in
  ``SLURM_STEP_TASKS_PER_NODE``). What real Slurm 22.05 exports (measured, tests/real/):

  - ``--gpus-per-node=N`` (or ``--gres=gpu:N``, ``--gpus=N``): every task of the node gets
    the whole list, ``ROCR_VISIBLE_DEVICES=0,1`` (with ``CUDA_VISIBLE_DEVICES`` and
    ``GPU_DEVICE_ORDINAL`` the same, ``SLURM_STEP_GPUS`` the physical indices). The rule
    gives task *i* the *i*-th entry of that list: ``ROCR_VISIBLE_DEVICES=<list[i]>``;
    a task past the end of the list keeps the list;
  - ``--gpus-per-task=1``, ``--gpu-bind=single:1|map_gpu:…``: Slurm bound each task
    already (one entry each): left alone;
  - no GPU request: nothing set; ``ROCR_VISIBLE_DEVICES=$SLURM_LOCALID``.

  Slurm's copies of its list in ``CUDA_VISIBLE_DEVICES`` and ``GPU_DEVICE_ORDINAL``
  (gres.conf without ``Flags=amd_gpu_env``) are removed when the step or job has GPUs
  (``SLURM_STEP_GPUS``; ``SLURM_JOB_GPUS`` in the batch script itself): HIP applies them
  *after* ROCr's filter, counting from 0 again, so ``ROCR_VISIBLE_DEVICES=1
  CUDA_VISIBLE_DEVICES=1`` leaves no GPU (Parsl#3858; ROCm's GPU isolation docs: use
  ROCR_VISIBLE_DEVICES on Linux). A job that set
  ``HIP_VISIBLE_DEVICES`` or ``CUDA_VISIBLE_DEVICES`` itself (no ROCr list) is left alone.
  ``MLSTACK_GPU_BIND=none`` keeps every GPU Slurm gave the task (torchrun, which starts
  its own workers; a node running one task keeps them anyway). ``SLURM_LOCALID`` is read
  only when it is 1 to 9 ASCII digits, the device list only when it is made of
  ``[A-Za-z0-9_-]`` entries (indices or ``GPU-<uuid>``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from mlstack_env.core import envvars

ROCR_VISIBLE_DEVICES = "ROCR_VISIBLE_DEVICES"
#: The switch for "every GPU Slurm gave this task" (value ``none``).
GPU_BIND = envvars.MLSTACK_GPU_BIND
#: Slurm's copies of the ROCr list, which HIP applies after ROCr's filter.
HIP_COPIES = ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")
MIOPEN_USER_DB_PATH = "MIOPEN_USER_DB_PATH"
MIOPEN_CUSTOM_CACHE_DIR = "MIOPEN_CUSTOM_CACHE_DIR"
#: Set by a job (or by Slurm's GPU binding) that chose its devices itself.
DEVICE_CHOICE = (ROCR_VISIBLE_DEVICES, "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
#: Variables the rules may set (activation saves and restores them).
MANAGED = (MIOPEN_CUSTOM_CACHE_DIR, MIOPEN_USER_DB_PATH, ROCR_VISIBLE_DEVICES, *HIP_COPIES)

# Patterns compiled on first use (re's cache), in a job only: a store hit writes the
# scripts without them.
_JOB_ID = r"[A-Za-z0-9_.-]+"
#: A node's task count above 1 in SLURM_STEP_TASKS_PER_NODE, after ``(xN)`` is removed.
_MANY = r"[2-9]|[1-9][0-9]{1,8}"
_REPEAT = r"\([^)\n]*\)"
_LOCALID = r"[0-9]{1,9}"
_DEVICES = r"[A-Za-z0-9_-]+(?:,[A-Za-z0-9_-]+)*"


def _many_tasks(localid: str, per_node: str) -> bool:
    """Does this task share its node with other tasks of the step?

    ``SLURM_STEP_TASKS_PER_NODE`` is like ``4(x2),1``: a count per node, ``(xN)`` repeats.
    (Split on line breaks too, as the sh and fish rules do.)
    """
    if int(localid) >= 1:
        return True
    return any(re.fullmatch(_MANY, n) for n in re.split(r"[,\n]", re.sub(_REPEAT, "", per_node)))


def job_cache_dir(environ: Mapping[str, str]) -> str | None:
    """This job's MIOpen cache directory, or None outside a job."""
    job = environ.get("SLURM_JOB_ID", "")
    if not re.fullmatch(_JOB_ID, job):
        return None
    tmp = environ.get("TMPDIR") or "/tmp"  # noqa: S108 - node-local by design, mode 700, ours
    return f"{tmp}/mlstack-miopen-{os.getuid()}-{job}"


def _own_dir(path: str) -> bool:
    """Make ``path`` (mode 700) and its db/kernels; True only if it is ours and no symlink."""
    import stat

    top = Path(path)
    try:
        top.mkdir(mode=0o700, parents=True, exist_ok=True)  # mode: the last component only
        st = top.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return False
        for sub in ("db", "kernels"):
            (top / sub).mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return False
    return True


def job_variables(environ: Mapping[str, str], rules: Mapping[str, object]
                  ) -> dict[str, str | None]:
    """What the rules set (a value) or unset (None) for a process started with
    ``environ`` (the job's environment)."""
    out: dict[str, str | None] = {}
    if rules.get("job_cache"):
        path = job_cache_dir(environ)
        if path is not None and _own_dir(path):
            out[MIOPEN_USER_DB_PATH] = f"{path}/db"
            out[MIOPEN_CUSTOM_CACHE_DIR] = f"{path}/kernels"
    if rules.get("gpu_per_task"):
        out.update(_gpu_variables(environ))
    return out


def _gpu_variables(environ: Mapping[str, str]) -> dict[str, str | None]:
    localid = environ.get("SLURM_LOCALID", "")
    if not re.fullmatch(_LOCALID, localid):
        return {}
    out: dict[str, str | None] = {}
    rocr = environ.get(ROCR_VISIBLE_DEVICES, "")
    if rocr and (environ.get("SLURM_STEP_GPUS") or environ.get("SLURM_JOB_GPUS")):
        out.update({n: None for n in HIP_COPIES if environ.get(n) == rocr})
    if (environ.get(GPU_BIND) == "none"
            or not _many_tasks(localid, environ.get("SLURM_STEP_TASKS_PER_NODE", ""))):
        return out
    if not rocr:
        if not any(environ.get(n) for n in DEVICE_CHOICE):
            out[ROCR_VISIBLE_DEVICES] = localid
    elif re.fullmatch(_DEVICES, rocr):
        devices = rocr.split(",")
        if len(devices) > 1 and int(localid) < len(devices):
            out[ROCR_VISIBLE_DEVICES] = devices[int(localid)]
    return out


def sh_lines(rules: Mapping[str, object]) -> str:
    """The same rules for bin/activate (POSIX sh, bash, zsh)."""
    lines = [f"# Site preset {str(rules.get('name'))!r}: decided from the job's variables, now."]
    if rules.get("job_cache"):
        lines += [
            'case "${SLURM_JOB_ID-}" in',
            "    ''|*[!A-Za-z0-9_.-]*) ;;",
            '    *) _mlstack_jc="${TMPDIR:-/tmp}/mlstack-miopen-$(id -u)-$SLURM_JOB_ID"',
            '       if mkdir -p -m 700 "$_mlstack_jc" 2>/dev/null && [ -O "$_mlstack_jc" ] \\',
            '          && [ ! -L "$_mlstack_jc" ] \\',
            '          && mkdir -p -m 700 "$_mlstack_jc/db" "$_mlstack_jc/kernels" 2>/dev/null',
            "       then",
            '           export MIOPEN_USER_DB_PATH="$_mlstack_jc/db"',
            '           export MIOPEN_CUSTOM_CACHE_DIR="$_mlstack_jc/kernels"',
            "       fi",
            "       unset _mlstack_jc ;;",
            "esac",
        ]
    if rules.get("gpu_per_task"):
        lines += [
            'case "${SLURM_LOCALID-}" in',
            "    ''|*[!0-9]*|??????????*) ;;",
            '    *) _mlstack_rocr="${ROCR_VISIBLE_DEVICES-}"',
            '       if [ -n "$_mlstack_rocr" ] \\',
            '          && [ -n "${SLURM_STEP_GPUS-}${SLURM_JOB_GPUS-}" ]; then',
            '           [ "${CUDA_VISIBLE_DEVICES-}" != "$_mlstack_rocr" ] '
            "|| unset CUDA_VISIBLE_DEVICES",
            '           [ "${GPU_DEVICE_ORDINAL-}" != "$_mlstack_rocr" ] '
            "|| unset GPU_DEVICE_ORDINAL",
            "       fi",
            '       if [ "${MLSTACK_GPU_BIND-}" != none ] \\',
            '          && { [ "$SLURM_LOCALID" -ge 1 ] \\',
            "               || printf '%s\\n' \"${SLURM_STEP_TASKS_PER_NODE-}\" "
            "| sed 's/([^)]*)//g' | tr , '\\n' \\",
            "                  | grep -Eqx '[2-9]|[1-9][0-9]{1,8}'; }; then",
            '           if [ -z "$_mlstack_rocr" ]; then',
            '               [ -n "${HIP_VISIBLE_DEVICES-}${CUDA_VISIBLE_DEVICES-}" ] \\',
            '                   || export ROCR_VISIBLE_DEVICES="$SLURM_LOCALID"',
            "           else",
            '               case "$_mlstack_rocr" in',
            "                   *[!A-Za-z0-9_,-]*|,*|*,|*,,*) ;;",
            "                   *,*) _mlstack_dev=$(printf '%s\\n' \"$_mlstack_rocr\" "
            "| awk -F, -v i=\"$SLURM_LOCALID\" '{ print $(i + 1) }')",
            '                        [ -z "$_mlstack_dev" ] '
            '|| export ROCR_VISIBLE_DEVICES="$_mlstack_dev" ;;',
            "               esac",
            "           fi",
            "       fi",
            "       unset _mlstack_rocr _mlstack_dev ;;",
            "esac",
        ]
    return "\n".join(lines)


def fish_lines(rules: Mapping[str, object]) -> str:
    """The same rules for bin/activate.fish."""
    lines = [f"# Site preset {str(rules.get('name'))!r}: decided from the job's variables, now."]
    if rules.get("job_cache"):
        lines += [
            "if set -q SLURM_JOB_ID; and string match -qr '^[A-Za-z0-9_.-]+$' -- $SLURM_JOB_ID",
            "    set -l _mlstack_tmp /tmp",
            '    if set -q TMPDIR; and test -n "$TMPDIR"; set _mlstack_tmp $TMPDIR; end',
            '    set -l _mlstack_jc "$_mlstack_tmp/mlstack-miopen-"(id -u)"-$SLURM_JOB_ID"',
            '    if mkdir -p -m 700 "$_mlstack_jc" 2>/dev/null; and test -O "$_mlstack_jc"; '
            'and not test -L "$_mlstack_jc"; '
            'and mkdir -p -m 700 "$_mlstack_jc/db" "$_mlstack_jc/kernels" 2>/dev/null',
            '        set -gx MIOPEN_USER_DB_PATH "$_mlstack_jc/db"',
            '        set -gx MIOPEN_CUSTOM_CACHE_DIR "$_mlstack_jc/kernels"',
            "    end",
            "end",
        ]
    if rules.get("gpu_per_task"):
        lines += [
            "if set -q SLURM_LOCALID; and string match -qr '^[0-9]{1,9}\\z' -- $SLURM_LOCALID",
            '    set -l _mlstack_rocr "$ROCR_VISIBLE_DEVICES"',
            '    if test -n "$_mlstack_rocr"; and test -n "$SLURM_STEP_GPUS$SLURM_JOB_GPUS"',
            '        if test "$CUDA_VISIBLE_DEVICES" = "$_mlstack_rocr"; '
            "set -e -g CUDA_VISIBLE_DEVICES; end",
            '        if test "$GPU_DEVICE_ORDINAL" = "$_mlstack_rocr"; '
            "set -e -g GPU_DEVICE_ORDINAL; end",
            "    end",
            "    set -l _mlstack_counts (string replace -ra '\\([^)\\n]*\\)' '' -- "
            '"$SLURM_STEP_TASKS_PER_NODE" | string split ,)',
            '    if test "$MLSTACK_GPU_BIND" != none; and begin; test $SLURM_LOCALID -ge 1; '
            "or string match -qr '^([2-9]|[1-9][0-9]{1,8})\\z' -- $_mlstack_counts; end",
            '        if test -z "$_mlstack_rocr"',
            '            if test -z "$HIP_VISIBLE_DEVICES$CUDA_VISIBLE_DEVICES"',
            '                set -gx ROCR_VISIBLE_DEVICES "$SLURM_LOCALID"',
            "            end",
            "        else if string match -qr '^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)+\\z' "
            "-- $_mlstack_rocr",
            "            set -l _mlstack_devs (string split , -- $_mlstack_rocr)",
            "            set -l _mlstack_i (math $SLURM_LOCALID + 1)",
            "            if test $_mlstack_i -le (count $_mlstack_devs)",
            '                set -gx ROCR_VISIBLE_DEVICES "$_mlstack_devs[$_mlstack_i]"',
            "            end",
            "        end",
            "    end",
            "end",
        ]
    return "\n".join(lines)
