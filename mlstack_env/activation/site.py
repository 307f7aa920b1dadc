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
* ``gpu_per_task``: in a task launched by ``srun`` that shares its node with other tasks
  (``SLURM_LOCALID`` ≥ 1, or ``SLURM_STEP_TASKS_PER_NODE`` above 1), and only when the job
  did not choose devices itself (none of ``ROCR_VISIBLE_DEVICES``, ``HIP_VISIBLE_DEVICES``,
  ``CUDA_VISIBLE_DEVICES`` set), ``ROCR_VISIBLE_DEVICES = SLURM_LOCALID``: one GPU per
  task. A node running one task (torchrun, which starts its own workers) keeps all GPUs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

ROCR_VISIBLE_DEVICES = "ROCR_VISIBLE_DEVICES"
MIOPEN_USER_DB_PATH = "MIOPEN_USER_DB_PATH"
MIOPEN_CUSTOM_CACHE_DIR = "MIOPEN_CUSTOM_CACHE_DIR"
#: Set by a job (or by Slurm's GPU binding) that chose its devices itself.
DEVICE_CHOICE = (ROCR_VISIBLE_DEVICES, "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
#: Variables the rules may set (activation saves and restores them).
MANAGED = (MIOPEN_CUSTOM_CACHE_DIR, MIOPEN_USER_DB_PATH, ROCR_VISIBLE_DEVICES)

_JOB_ID = re.compile(r"[A-Za-z0-9_.-]+")
_COUNT = re.compile(r"(\d+)(?:\(x\d+\))?")


def _many_tasks(localid: str, per_node: str) -> bool:
    """Does this task share its node with other tasks of the step?

    ``SLURM_STEP_TASKS_PER_NODE`` is like ``4(x2),1``: a count per node, ``(xN)`` repeats.
    """
    if int(localid) >= 1:
        return True
    for item in per_node.split(","):
        m = _COUNT.fullmatch(item.strip())
        if m and int(m.group(1)) > 1:
            return True
    return False


def job_cache_dir(environ: Mapping[str, str]) -> str | None:
    """This job's MIOpen cache directory, or None outside a job."""
    job = environ.get("SLURM_JOB_ID", "")
    if not _JOB_ID.fullmatch(job):
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


def job_variables(environ: Mapping[str, str], rules: Mapping[str, object]) -> dict[str, str]:
    """What the rules set for a process started with ``environ`` (the job's environment)."""
    out: dict[str, str] = {}
    if rules.get("job_cache"):
        path = job_cache_dir(environ)
        if path is not None and _own_dir(path):
            out[MIOPEN_USER_DB_PATH] = f"{path}/db"
            out[MIOPEN_CUSTOM_CACHE_DIR] = f"{path}/kernels"
    if rules.get("gpu_per_task"):
        localid = environ.get("SLURM_LOCALID", "")
        if (localid.isdigit() and localid.isascii()
                and not any(environ.get(n) for n in DEVICE_CHOICE)
                and _many_tasks(localid, environ.get("SLURM_STEP_TASKS_PER_NODE", ""))):
            out[ROCR_VISIBLE_DEVICES] = localid
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
            "    ''|*[!0-9]*) ;;",
            '    *) if [ -z "${ROCR_VISIBLE_DEVICES-}${HIP_VISIBLE_DEVICES-}'
            '${CUDA_VISIBLE_DEVICES-}" ] \\',
            '          && { [ "$SLURM_LOCALID" -ge 1 ] \\',
            "               || printf '%s\\n' \"${SLURM_STEP_TASKS_PER_NODE-}\" "
            "| sed 's/([^)]*)//g' | tr , '\\n' \\",
            "                  | grep -Eqx '[2-9]|[1-9][0-9]+'; }; then",
            '           export ROCR_VISIBLE_DEVICES="$SLURM_LOCALID"',
            "       fi ;;",
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
            "if set -q SLURM_LOCALID; and string match -qr '^[0-9]+$' -- $SLURM_LOCALID; "
            'and test -z "$ROCR_VISIBLE_DEVICES$HIP_VISIBLE_DEVICES$CUDA_VISIBLE_DEVICES"',
            "    set -l _mlstack_counts (string replace -ra '\\([^)]*\\)' '' -- "
            '"$SLURM_STEP_TASKS_PER_NODE" | string split ,)',
            "    if test $SLURM_LOCALID -ge 1; "
            "or string match -qr '^([2-9]|[1-9][0-9]+)$' -- $_mlstack_counts",
            '        set -gx ROCR_VISIBLE_DEVICES "$SLURM_LOCALID"',
            "    end",
            "end",
        ]
    return "\n".join(lines)
