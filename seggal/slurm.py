"""SLURM array scripts: one array task per command line, run from the project folder (the training grid's and
``seggal reproduce``'s one mechanism for spreading work over GPUs and nodes)."""

from __future__ import annotations

import shlex

from seggal.errors import SegGalError
from seggal.provenance import PROJECT_ROOT


def slurm_script(commands: list[list[str]], *, gpus: int = 1, hours: int = 48, parallel: int = 8,
                 log_dir: str = "logs", job_name: str = "seggal-grid", writer: str = "python -m training.grid --slurm",
                 note: str = "Every job resumes from its last checkpoint when re-run.") -> str:
    """A SLURM array script running ``commands`` (one array task each) from the project folder."""
    if not commands:
        raise SegGalError("SLURM script: no jobs left to run")
    lines = "\n".join(f"  {shlex.quote(shlex.join(c))}" for c in commands)
    return f"""#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --array=0-{len(commands) - 1}%{parallel}
#SBATCH --gres=gpu:{gpus}
#SBATCH --cpus-per-task={8 * gpus}
#SBATCH --time={hours}:00:00
#SBATCH --output={log_dir}/{job_name}-%A_%a.out
# Written by `{writer}`. {note}
set -euo pipefail
cd {shlex.quote(str(PROJECT_ROOT))}
JOBS=(
{lines}
)
bash -c "${{JOBS[$SLURM_ARRAY_TASK_ID]}}"
"""
