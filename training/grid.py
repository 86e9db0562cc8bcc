"""``python -m training.grid``: the paper's grid of models, method × task × training set.

The grid is the published scores table (:func:`seggal.results.load_scores`): 138 models — 18 methods on
five tasks trained on all tissues / cell lines, plus Swin-S trained on each single tissue / cell line.
Each job trains into ``<out>/<repo name>/`` (``best/`` + ``last/``, see :mod:`training.train`); a job whose
``best/`` folder is a complete checkpoint is finished and skipped. Jobs run locally one after another, or
``--slurm FILE`` writes a SLURM array script with one array task per job.

After the local run (or with ``--report`` alone) the finished jobs' running times are written as
``timings.csv`` — with the paper's standardised running time T_s (:func:`seggal.ranking.standardised_hours`) — and,
with ``--evaluate``, their test scores per tissue as ``per_tissue.csv``, into a run folder
(:func:`seggal.runs.write_run`) that the Benchmarks page reads.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from seggal import checkpoint, gallery, hub
from seggal.errors import SegGalError
from seggal.methods import availability, get_method
from seggal.provenance import PROJECT_ROOT, git_commit, hardware
from seggal.slurm import slurm_script



@dataclass(frozen=True)
class Job:
    """One model of the grid."""

    method: str  # registry id
    task: str  # task id (tissuenet-nuclei-dual …)
    training_set: str  # "All" or one tissue / cell line

    @property
    def name(self) -> str:
        """Folder / Hub repository name (:func:`seggal.hub.repo_name`)."""
        return hub.repo_name(self.method, self.task, self.training_set)


def jobs(scores: pd.DataFrame | None = None, methods=None, tasks=None, training_sets=None) -> list[Job]:
    """The grid's jobs in the published table's order, optionally filtered by method / task / set ids."""
    from seggal.results import load_scores
    from seggal.tasks import get_task

    table = load_scores() if scores is None else scores
    methods = {get_method(m).id for m in methods} if methods else None
    tasks = {get_task(t).id for t in tasks} if tasks else None
    return [
        Job(m, t, s) for m, t, s in zip(table["method_id"], table["task"], table["training_set"])
        if (methods is None or m in methods) and (tasks is None or t in tasks)
        and (not training_sets or s in training_sets)
    ]


def job_state(job: Job, out_root: Path) -> str:
    """``done`` (best/ is a complete checkpoint), ``todo``, ``untrained`` (used as published),
    ``blocked: …`` or ``unavailable: …`` (cannot run, or its backend cannot train, in this installation)."""
    if checkpoint.is_complete(out_root / job.name / "best"):
        return "done"
    method = get_method(job.method)
    if method.paper.epochs is None and method.paper.iterations is None:
        return "untrained"
    status = availability(method)
    if not status.available:
        return ("blocked: " if method.blocked else "unavailable: ") + status.reason
    if not any(cls.trainable for cls in _segmenter_classes(job.method)):
        return f"unavailable: SegGal's {method.backend} backend runs {method.name} but does not train it"
    return "todo"


def _segmenter_classes(method_id: str) -> list[type]:
    """The Segmenter classes of ``method_id``'s backend module, read without building a segmenter (the module
    is cheap to import; its package is imported only when a segmenter is built)."""
    import importlib
    import inspect

    from seggal.backends.base import Segmenter

    module = importlib.import_module(f"seggal.backends.{get_method(method_id).backend}")
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Segmenter) and cls.__module__ == module.__name__]


def trains_with_torch(method_id: str) -> bool:
    """Whether ``method_id``'s backend trains with torch (its segmenter class declares ``Segmenter.uses_torch``)."""
    return any(cls.uses_torch for cls in _segmenter_classes(method_id))


def train_command(job: Job, data: str, out_root: Path, options: list[str] = (), gpus: int = 1) -> list[str]:
    """The command line that trains ``job`` (``torchrun`` for several GPUs and a backend training with torch)."""
    launcher = [sys.executable, "-m"]
    if gpus > 1 and trains_with_torch(job.method):
        launcher = ["torchrun", f"--nproc_per_node={gpus}", "-m"]
    return [*launcher, "training.train", "--method", job.method, "--task", job.task, "--train-set",
            job.training_set, "--data", data, "--out", str(out_root / job.name), "--resume", *options]


def timings(job_list: list[Job], out_root: Path) -> pd.DataFrame:
    """timings.csv rows (the :mod:`seggal.runs` schema) of the finished jobs, from their config.json."""
    rows = []
    for job in job_list:
        folder = out_root / job.name / "best"
        if not checkpoint.is_complete(folder):
            continue
        t = checkpoint.read_config(folder).get("training", {})
        rows.append({"method_id": job.method, "task": job.task, "training_set": job.training_set,
                     "hours": t.get("hours"), "standardised_hours": t.get("standardised_hours"),
                     "batch_size": t.get("batch_size"), "epochs": t.get("epochs"),
                     "iterations": t.get("iterations"), "n_train_images": t.get("n_train_images"),
                     "hardware": t.get("hardware") or "unknown"})
    return pd.DataFrame(rows)


def per_tissue(job_list: list[Job], out_root: Path, data: str, device: str | None = None) -> pd.DataFrame:
    """per_tissue.csv rows: each finished job's best checkpoint scored on the test split, whole and per tissue
    (:func:`seggal.evaluation.evaluate_segmenter`: the tiled inference users run)."""
    from seggal.data.tasks import load_task
    from seggal.evaluation import evaluate_segmenter

    tables = []
    for job in job_list:
        folder = out_root / job.name / "best"
        if not checkpoint.is_complete(folder):
            continue
        segmenter, _ = gallery.load_checkpoint(folder, device=device)
        view = load_task(data, job.task, split="test", training_set="All")
        table = evaluate_segmenter(segmenter, view, groups=view.tissues)
        tables.append(table.assign(method_id=job.method, task=job.task, training_set=job.training_set))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def write_report(folder: Path, job_list: list[Job], out_root: Path, data: str, evaluate: bool,
                 device: str | None = None) -> Path:
    """Write the finished jobs' tables as a run folder (:func:`seggal.runs.write_run`) → the folder."""
    from seggal.runs import write_run

    tables = {"timings": timings(job_list, out_root)}
    if evaluate:
        tables["per_tissue"] = per_tissue(job_list, out_root, data, device)
    synthetic = data == "synthetic"
    # runs on synthetic images are marked like the demo, so every chart drawn from them says "synthetic"
    meta = {"name": folder.name, "kind": "synthetic-demo" if synthetic else "seggal-run", "date": time.strftime("%Y-%m-%d"),
            "commit": git_commit() or "unknown", "hardware": hardware(device or "cpu"),
            "description": f"training.grid over {len(job_list)} job(s) on {data}"
                           + (" (SYNTHETIC images: a smoke test, not benchmark results)" if synthetic else "")}
    write_run(folder, meta, **tables)
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.grid", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic", help="dataset root or 'synthetic' (default)")
    p.add_argument("--out", type=Path, default=None, help="checkpoint root (default: SEGGAL_CHECKPOINTS)")
    p.add_argument("--method", action="append", help="only these methods (repeatable)")
    p.add_argument("--task", action="append", help="only these tasks (repeatable)")
    p.add_argument("--train-set", action="append", help="only these training sets (repeatable)")
    p.add_argument("--list", action="store_true", help="print the jobs and their state, run nothing")
    p.add_argument("--slurm", type=Path, help="write a SLURM array script for the jobs left, run nothing")
    p.add_argument("--gpus", type=int, default=1, help="GPUs per job (torchrun above 1)")
    p.add_argument("--report", type=Path, help="write timings.csv (+ per_tissue.csv) of finished jobs here")
    p.add_argument("--evaluate", action="store_true", help="with --report: score finished jobs on the test split")
    p.add_argument("--device", help="device for --evaluate")
    p.add_argument("train_options", nargs=argparse.REMAINDER,
                   help="after '--': passed to training.train (e.g. -- --max-iters 2 --max-val-images 2)")
    args = p.parse_args(argv)
    out_root = args.out or gallery.checkpoints_dir()
    options = [o for o in args.train_options if o != "--"]
    try:
        job_list = jobs(methods=args.method, tasks=args.task, training_sets=args.train_set)
        states = {job: job_state(job, out_root) for job in job_list}
        todo = [job for job in job_list if states[job] == "todo"]
        if args.list:
            for job in job_list:
                print(f"{job.method:16} {job.task:30} {job.training_set:22} {states[job]}")
            print(f"{len(job_list)} jobs: {sum(s == 'done' for s in states.values())} done, {len(todo)} to run")
            return 0
        if args.slurm:
            commands = [train_command(job, args.data, out_root, options, args.gpus) for job in todo]
            args.slurm.write_text(slurm_script(commands, gpus=args.gpus), encoding="utf-8")
            print(f"wrote {args.slurm}: {len(commands)} array task(s)")
            return 0
        failed = []
        for number, job in enumerate(todo, 1):
            print(f"[{number}/{len(todo)}] {job.name}", flush=True)
            if subprocess.run(train_command(job, args.data, out_root, options, args.gpus), cwd=PROJECT_ROOT).returncode:
                failed.append(job.name)
        if args.report:
            write_report(args.report, job_list, out_root, args.data, args.evaluate, args.device)
            print(f"wrote {args.report}")
        if failed:
            print(f"failed: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    except SegGalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
