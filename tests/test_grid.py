"""training.grid: the paper's 138-model grid, job states, SLURM export and the run report."""

import subprocess
import sys
from pathlib import Path

import pytest

from seggal.errors import SegGalError
from seggal.methods import get_method, paper_methods
from seggal.ranking import standardised_hours
from seggal.results import load_scores
from training import grid

ROOT = Path(__file__).resolve().parents[1]


def test_grid_is_the_papers_138_models_with_distinct_names():
    jobs = grid.jobs()
    assert len(jobs) == len(load_scores()) == 138
    assert len({job.name for job in jobs}) == 138
    assert {job.method for job in jobs} == {m.id for m in paper_methods()}
    # Swin-S on each single tissue (10 × 4 TissueNet tasks) and cell line (8): 48 single-set models
    single = [job for job in jobs if job.training_set != "All"]
    assert len(single) == 48 and {job.method for job in single} == {"swin-s"}


def test_grid_filters_by_method_task_and_set():
    assert len(grid.jobs(methods=["Cellpose"])) == 5
    assert len(grid.jobs(tasks=["nuclei-dual"])) == 28
    assert [j.training_set for j in grid.jobs(methods=["swin-s"], tasks=["wholecell"], training_sets=["A172"])] == ["A172"]
    with pytest.raises(SegGalError, match="unknown method"):
        grid.jobs(methods=["nope"])


def test_job_states_say_why_a_job_cannot_run(tmp_path):
    sam = grid.Job("sam", "tissuenet-nuclei-dual", "All")
    mesmer = grid.Job("mesmer", "tissuenet-nuclei-dual", "All")
    retinamask = grid.Job("retinamask", "tissuenet-nuclei-dual", "All")
    cellpose = grid.Job("cellpose", "tissuenet-nuclei-dual", "All")
    assert grid.job_state(sam, tmp_path) == "untrained"
    assert grid.job_state(retinamask, tmp_path) == "blocked: " + get_method("retinamask").blocked
    assert grid.job_state(mesmer, tmp_path).startswith("unavailable: ")  # not installed, or installed: not trainable
    assert grid.job_state(cellpose, tmp_path) == "todo"


def test_slurm_script_is_valid_bash_with_one_array_task_per_job(tmp_path):
    jobs = grid.jobs(methods=["cellpose", "stardist"], tasks=["nuclei-dual", "wholecell"])
    commands = [grid.train_command(j, "/data/tissuenet", tmp_path, ["--epochs", "2"]) for j in jobs]
    script = grid.slurm_script(commands, gpus=1)
    assert f"--array=0-{len(jobs) - 1}%" in script
    path = tmp_path / "grid.sbatch"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert script.count("training.train") == len(jobs)
    assert "--train-set All" in script and "--resume" in script
    with pytest.raises(SegGalError, match="no jobs"):
        grid.slurm_script([])


def test_torchrun_is_used_for_torch_backends_on_several_gpus(tmp_path):
    cellpose = grid.train_command(grid.Job("cellpose", "livecell-wholecell", "All"), "d", tmp_path, gpus=4)
    stardist = grid.train_command(grid.Job("stardist", "livecell-wholecell", "All"), "d", tmp_path, gpus=4)
    assert cellpose[:2] == ["torchrun", "--nproc_per_node=4"]
    assert stardist[0] == sys.executable


def test_cli_lists_every_job_and_writes_a_slurm_script(tmp_path):
    out = subprocess.run([sys.executable, "-m", "training.grid", "--out", str(tmp_path), "--list"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 139 and lines[-1].startswith("138 jobs: 0 done")
    script = tmp_path / "array.sh"
    out = subprocess.run([sys.executable, "-m", "training.grid", "--out", str(tmp_path), "--method", "cellpose",
                          "--slurm", str(script), "--", "--epochs", "3"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = script.read_text()
    assert text.count("--epochs 3") == 5 and "--method cellpose" in text


def test_finished_jobs_are_skipped_and_reported_as_a_run_folder(tmp_path):
    from seggal import checkpoint
    from seggal.backends import build
    from seggal.data.synthetic import write_tissuenet_npz
    from seggal.runs import load_run

    job = grid.Job("cellpose", "tissuenet-nuclei-dual", "All")
    training = {"hours": 0.5, "standardised_hours": standardised_hours(0.5, 8, epochs=10), "batch_size": 8,
                "epochs": 10, "iterations": None, "n_train_images": 20, "hardware": "CPU test"}
    checkpoint.write_checkpoint(tmp_path / "ck" / job.name / "best", build("cellpose", device="cpu"),
                         {"method": job.method, "task": job.task, "training_set": "All", "training": training})
    assert grid.job_state(job, tmp_path / "ck") == "done"
    write_tissuenet_npz(tmp_path / "data" / "tissuenet_v1.1_test.npz", 2, (64, 64), ["Breast", "Colon"], 5)
    grid.write_report(tmp_path / "run", [job, grid.Job("stardist", job.task, "All")], tmp_path / "ck",
                      str(tmp_path / "data"), evaluate=True, device="cpu")
    run = load_run(tmp_path / "run")
    assert run.meta["kind"] == "seggal-run" and "training.grid over 2 job(s)" in run.meta["description"]
    row = run.timings.iloc[0]
    assert len(run.timings) == 1 and row["method_id"] == "cellpose" and row["standardised_hours"] == pytest.approx(0.5 * 8 / 8 * 50 / 10)
    tissues = dict(zip(run.per_tissue["test_set"], run.per_tissue["n_images"]))
    assert tissues == {"All": 2, "Breast": 1, "Colon": 1}
    # a report over synthetic images is marked synthetic, so its charts say so
    synthetic = load_run(grid.write_report(tmp_path / "run-synthetic", [job], tmp_path / "ck", "synthetic", evaluate=False))
    assert synthetic.meta["kind"] == "synthetic-demo" and synthetic.synthetic
