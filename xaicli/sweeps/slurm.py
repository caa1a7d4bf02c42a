"""A sweep as a SLURM job array: one array task per point left to run, each through the same requeue-and-
resume script as a single run (scripts/slurm/train.sbatch, copied into the sweep folder so the job does
not depend on the checkout staying as it was).

    runs/<sweep>/slurm/array.sbatch   the array job (#SBATCH lines: edit them, or submit it yourself)
    runs/<sweep>/slurm/points.tsv     one line per point: its run directory, the config, its overrides
    runs/<sweep>/slurm/train.sbatch   the per-run script: checkpoint 90 s before the time limit, requeue, resume
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from xaicli.errors import XaiError
from xaicli.runs.files import atomic_write_text
from xaicli.sweeps.grid import Point

TRAIN_SBATCH = Path(__file__).resolve().parent.parent.parent / "scripts" / "slurm" / "train.sbatch"

ARRAY = """#!/usr/bin/env bash
# xai sweep {name}: one SLURM array task per grid point ({todo} of {total} left). Each task runs its point
# through train.sbatch (next to this file): checkpoint 90 s before the time limit, requeue, resume in the
# point's own run directory. Written by: {command}
#
#SBATCH --job-name={name}
#SBATCH --array={array}
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={gpus}
#SBATCH --cpus-per-task={cpus}
#SBATCH --time={time}
#SBATCH --signal=B:USR1@90
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output={sweep}/logs/slurm-%A_%a.out

set -euo pipefail
cd {workdir}
sweep={sweep}
IFS=$'\\t' read -r -a point < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$sweep/slurm/points.tsv")
run_dir=${{point[0]}}
# a start that saved no checkpoint cannot be resumed: set it aside (never deleted) and start again
if [ -e "$run_dir" ] && [ ! -f "$run_dir/checkpoints/last.pt" ]; then
  mkdir -p "$sweep/.attempts"
  mv "$run_dir" "$sweep/.attempts/$(basename "$run_dir")-job$SLURM_JOB_ID-$(date +%s)"
fi
export XAI_RUN_DIR=$run_dir
export XAI_RDZV_PORT=$((20000 + SLURM_JOB_ID % 20000))  # array tasks may share a node
exec bash "$sweep/slurm/train.sbatch" "${{point[@]:1}}"
"""


def array_spec(indices: list[int], max_parallel: int | None) -> str:
    """0,2,5 (or 0-5 when contiguous), with %N to run at most N at once."""
    text = f"{indices[0]}-{indices[-1]}" if indices == list(range(indices[0], indices[-1] + 1)) else \
        ",".join(map(str, indices))
    return text + (f"%{max_parallel}" if max_parallel else "")


def write_array(sweep_dir: Path, name: str, config: str, points: list[Point], todo: list[Point],
                max_parallel: int | None, command: list[str], gpus_per_task: int = 1, cpus: int = 8,
                time_limit: str = "04:00:00") -> Path:
    """Write the array job for the points in `todo` (array index = point index); returns its path."""
    if not TRAIN_SBATCH.is_file():
        raise XaiError(f"{TRAIN_SBATCH}: not found; --slurm reuses the requeue-and-resume script of a source "
                       f"checkout of xai (scripts/slurm/train.sbatch)")
    folder = sweep_dir / "slurm"
    folder.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "logs").mkdir(exist_ok=True)
    for p in points:
        if any("\t" in part or "\n" in part for part in p.overrides):
            raise XaiError(f"sweep point {p.name}: an override holds a tab or a newline; SLURM sweeps cannot carry it")
    config_path = str(Path(config).resolve())
    lines = ["\t".join([str((sweep_dir / p.name).resolve()), config_path, *p.overrides]) for p in points]
    atomic_write_text(folder / "points.tsv", "\n".join(lines) + "\n")
    shutil.copyfile(TRAIN_SBATCH, folder / "train.sbatch")
    script = ARRAY.format(name=name, todo=len(todo), total=len(points), command=shlex.join(command),
                          array=array_spec([p.index for p in todo], max_parallel), gpus=gpus_per_task, cpus=cpus,
                          time=time_limit, sweep=shlex.quote(str(sweep_dir.resolve())),
                          workdir=shlex.quote(str(Path.cwd())))
    path = folder / "array.sbatch"
    atomic_write_text(path, script)
    return path


def submit(script: Path) -> str:
    """sbatch the array; its job id."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise XaiError(f"sbatch: not found on this machine; the array job is written: submit it from a SLURM login "
                       f"node with sbatch {script} (or use --dry-run to only write it)")
    proc = subprocess.run([sbatch, "--parsable", str(script)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise XaiError(f"sbatch {script} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]
