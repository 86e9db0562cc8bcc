"""``--cluster slurm``: the SLURMCluster that SegGal builds (:func:`seggal.distributed.slurm_cluster`), read
from the job script dask-jobqueue renders — no SLURM here, and nothing is submitted before ``scale``."""

from __future__ import annotations

import math

import dask
import dask_jobqueue  # noqa: F401 — loads its default settings before a test overrides (and restores) any
import pytest

from seggal.distributed import SLURM_DEFAULTS, slurm_cluster
from seggal.errors import SegGalError

NO_DASHBOARD = {"jobqueue.slurm.scheduler-options": {"dashboard_address": None}}


def job_script(**kwargs) -> str:
    with slurm_cluster(**kwargs) as cluster:
        return cluster.job_script()


def test_the_job_script_carries_seggals_options_and_a_gpu_when_asked():
    with dask.config.set(NO_DASHBOARD):
        script = job_script(cores=6, memory="24GB", walltime="02:00:00", queue="gpu", account="lab", gpus=1)
    lines = script.splitlines()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=6", "#SBATCH -t 02:00:00",
                 f"#SBATCH --mem={math.ceil(24e9 / 2**30)}G", "#SBATCH --gres=gpu:1", "export OMP_NUM_THREADS=6"):
        assert line in lines, (line, script)
    worker = lines[-1]
    assert "distributed.cli.dask_worker" in worker and "--nthreads 1" in worker  # one model, one task at a time
    assert "--memory-limit 22.35GiB" in worker  # 24 GB = 22.35 GiB: the whole job's memory for its one worker


def test_unset_options_come_from_dasks_settings_then_seggals_defaults():
    settings = {**NO_DASHBOARD, "jobqueue.slurm.cores": 8, "jobqueue.slurm.memory": "32GB",
                "jobqueue.slurm.queue": "short", "jobqueue.slurm.job-extra-directives": ["--constraint=avx2"]}
    with dask.config.set(settings):
        script = job_script()
    assert "#SBATCH --cpus-per-task=8" in script and "#SBATCH -p short" in script
    assert "#SBATCH --constraint=avx2" in script and "gres" not in script  # no GPU unless asked
    assert "--nthreads 1" in script and "export OMP_NUM_THREADS=8" in script
    with dask.config.set({**NO_DASHBOARD, "jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}):
        script = job_script(gpus=2)
    assert f"#SBATCH --cpus-per-task={SLURM_DEFAULTS['cores']}" in script and "#SBATCH --gres=gpu:2" in script
    assert f"#SBATCH --mem={math.ceil(16e9 / 2**30)}G" in script


def test_settings_dask_jobqueue_refuses_are_a_clear_error():
    with dask.config.set(NO_DASHBOARD), pytest.raises(SegGalError, match="--cluster slurm: dask-jobqueue refused"):
        job_script(memory="lots")
