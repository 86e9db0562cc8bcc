"""Reproduce the paper's evidence: score every requested model on its task's test split and write a run folder.

:func:`plan` lists the models — the paper's (``models="paper"``: every published slot whose checkpoint is in the
Hugging Face cache, ``seggal models pull``), a folder of SegGal checkpoint folders (as ``seggal models import``
writes them), and the ``baseline`` (no weights: a reference row and a smoke test of the whole pipeline).
:func:`reproduce` scores each through :func:`seggal.tiling.segment_image` (the tiled inference users run) and
writes, per model, a finished *part* ``<run>/parts/<repo name>/`` (staged, then moved in with ``os.replace``; a
part is finished when its ``done.json`` is there, so a killed run resumes with the next model). Every model
gives per-tissue and per-image scores and its throughput; nuclei models on TissueNet also give the dilation
sweeps against the whole-cell ground truth and whole-cell models the erosion sweeps against the nuclei
(:func:`seggal.sweeps.sweep`). The morphology of each dataset's training split is one more part.
:func:`assemble` joins the parts into the run folder (:func:`seggal.runs.write_run`) with the comparison with
the published numbers (:func:`comparison`).

Kind of the run (:func:`run_kind`, the one place that decides it): ``reproduced`` only when every evaluated
network is a paper checkpoint and every dataset's pull manifest says it came from the published source
(:func:`seggal.data.pull.is_authentic`) with no stand-in marks in its files; a run on stand-in or synthetic data
or models is ``synthetic-demo``; anything else ``seggal-run``.

Sharding: ``shard=(i, n)`` evaluates models ``i, i + n, …`` of the plan and does not assemble; a SLURM array of
``n`` such commands is written by :func:`slurm_commands` with :func:`seggal.slurm.slurm_script`, and the same
command without a shard assembles the run once every part is done.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from seggal import checkpoint, hub
from seggal.errors import SegGalError
from seggal.evaluation import score_table
from seggal.metrics import METRICS
from seggal.tasks import TASKS, Task, find_task, get_task

PARTS = "parts"
DONE = "done.json"
#: Largest dilation / erosion step of the sweeps, pixels (the paper's Figure 5 range).
MAX_PX = 10
#: Difference from a published value above which the comparison flags a reproduced one.
TOLERANCE = 0.02
#: The numbers the paper's text quotes: (check, method_id, task, test_set, unit, published, what), where
#: ``what`` is ``score`` (the accuracy on ``test_set``), ``px0`` / ``best`` (the dilation sweep's binary
#: curve for ``test_set``: before any expansion / at its best step) or ``best_px`` (that best step).
TEXT_CHECKS = (
    ("Cellpose whole cell, single channel (text: 0.17)", "cellpose", "tissuenet-wholecell-wholecell", "All", "accuracy", 0.17, "score"),
    ("Cellpose whole cell, dual channel (text: 0.70)", "cellpose", "tissuenet-wholecell-dual", "All", "accuracy", 0.70, "score"),
    ("Centermask2 whole cell, single channel (text: 0.30)", "centermask2", "tissuenet-wholecell-wholecell", "All", "accuracy", 0.30, "score"),
    ("Centermask2 whole cell, dual channel (text: 0.79)", "centermask2", "tissuenet-wholecell-dual", "All", "accuracy", 0.79, "score"),
    ("Centermask2 lung nuclei, nuclear channel (text: 0.308)", "centermask2", "tissuenet-nuclei-nuclear", "Lung", "accuracy", 0.308, "score"),
    ("Centermask2 lung nuclei, dual channel (text: 0.655)", "centermask2", "tissuenet-nuclei-dual", "Lung", "accuracy", 0.655, "score"),
    ("Centermask2 esophagus nuclei, nuclear channel (text: 0.691)", "centermask2", "tissuenet-nuclei-nuclear", "Esophagus", "accuracy", 0.691, "score"),
    ("Centermask2 esophagus nuclei, dual channel (text: 0.759)", "centermask2", "tissuenet-nuclei-dual", "Esophagus", "accuracy", 0.759, "score"),
    ("Swin-S epidermis nuclei as whole cells (text: 0.341)", "swin-s", "tissuenet-nuclei-dual", "Epidermis", "accuracy", 0.341, "px0"),
    ("Swin-S epidermis expanded nuclei, best (text: 0.598)", "swin-s", "tissuenet-nuclei-dual", "Epidermis", "accuracy", 0.598, "best"),
    ("ResNeSt tonsil best expansion (text: 6 px)", "resnest", "tissuenet-nuclei-dual", "Tonsil", "px", 6, "best_px"),
)


@dataclass(frozen=True)
class Model:
    """One model to score: ``reference`` is a checkpoint folder, a cached Hub repository id, or ``""`` (the
    baseline, no weights); ``source`` is ``builtin``, ``paper`` or ``folder``; ``synthetic``: trained on
    SegGal's generated images (a stand-in)."""

    method: str
    task: str
    training_set: str
    reference: str
    source: str
    synthetic: bool = False

    @property
    def name(self) -> str:
        return hub.repo_name(self.method, self.task, self.training_set)


# ----------------------------------------------------------------------------------------------- plan


def plan(models: str, methods: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
         cache_dir: str | os.PathLike | None = None) -> tuple[list[Model], list[str]]:
    """The models to score → (models, reasons for the requested ones that cannot be scored here).

    ``models``: ``paper`` or a folder of checkpoint folders; ``methods`` / ``tasks``: registry ids / task ids
    (default all). ``baseline`` among ``methods`` adds it, trained on nothing, for every task.
    """
    from seggal.methods import get_method
    from seggal.results import load_scores

    task_ids = [get_task(t).id for t in tasks] if tasks else [t.id for t in TASKS]
    method_ids = [get_method(m).id for m in methods] if methods else None
    found: list[Model] = []
    skipped: list[str] = []
    if method_ids and "baseline" in method_ids:
        found += [Model("baseline", t, "All", "", "builtin") for t in task_ids]
    wanted = lambda m, t: t in task_ids and m != "baseline" and (method_ids is None or m in method_ids)  # noqa: E731
    if models == "paper":
        cached = hub.cached_repos(cache_dir)
        scores = load_scores()
        for m, t, s in zip(scores["method_id"], scores["task"], scores["training_set"]):
            if not wanted(m, t):
                continue
            repo = hub.repo_id(m, t, s)
            if repo in cached:
                found.append(Model(m, t, s, repo, "paper"))
            else:
                skipped.append(f"{hub.repo_name(m, t, s)}: not pulled (python -m seggal models pull {m} --task {t} "
                               f"--train-set {s!r})")
    else:
        root = Path(models)
        if not root.is_dir():
            raise SegGalError(f"--models {models}: give 'paper' or a folder of SegGal checkpoint folders")
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            folder = folder / "best" if checkpoint.is_complete(folder / "best") else folder
            if not checkpoint.is_complete(folder):
                skipped.append(f"{folder}: not a complete SegGal checkpoint folder")
                continue
            config = checkpoint.read_config(folder)
            if wanted(config["method"], config["task"]):
                found.append(Model(config["method"], config["task"], config["training_set"], str(folder), "folder",
                                   bool(config.get("synthetic"))))
    if not found:
        raise SegGalError("nothing to reproduce: no requested model is here" + (f" ({'; '.join(skipped[:3])})" if skipped else ""))
    return found, skipped


def shard_of(models: list[Model], shard: tuple[int, int] | None) -> list[Model]:
    """Models ``i, i + n, …`` of the plan for ``shard=(i, n)`` (all for None)."""
    if shard is None:
        return models
    index, count = shard
    if not 0 <= index < count:
        raise SegGalError(f"shard {index}/{count}: the index must be in 0..{count - 1}")
    return models[index::count]


# ----------------------------------------------------------------------------------------------- data


def dataset_folder(data: str | os.PathLike, dataset: str) -> Path:
    """The folder holding ``dataset``: ``<data>/<dataset lower-case>/`` (as ``seggal data pull`` writes), else ``data``."""
    sub = Path(data) / dataset.lower()
    return sub if sub.is_dir() else Path(data)


def _limited(view, limit: int | None):
    """Indices of the first ``limit`` images of each tissue (all for None)."""
    seen: dict[str, int] = {}
    keep = []
    for i, tissue in enumerate(view.tissues):
        if limit is None or seen.get(tissue, 0) < limit:
            keep.append(i)
            seen[tissue] = seen.get(tissue, 0) + 1
    return keep


def stand_in_marks(view, index: Sequence[int]) -> list[str]:
    """Why a test view is not the real data: SegGal's generated sources or files whose images are named or
    marked ``synthetic`` (:func:`seggal.data.synthetic.write_tissuenet_npz` / ``write_livecell``)."""
    marks = []
    if getattr(view, "synthetic", False):
        marks.append(f"{view.source} is generated")
    if any("synthetic" in str(view.names[i]).lower() for i in index):
        marks.append(f"{view.source} holds images named 'synthetic…'")
    return marks


# ----------------------------------------------------------------------------------------------- one model


def _segmenter(model: Model, device: str | None):
    from seggal.backends import build
    from seggal.gallery import load_checkpoint

    if model.reference == "":
        return build(model.method, None, device, target=get_task(model.task).target)
    return load_checkpoint(model.reference, device)[0]


def _sweep_rows(model: Model, task: Task, tissues: list[str], predictions: list, scores: list, others: list) -> list[dict]:
    from seggal.sweeps import sweep

    mode, variants = ("dilate", ("binary", "expand")) if task.target == "nuclei" else ("erode", ("binary",))
    rows = []
    for tissue in dict.fromkeys(tissues):
        index = [i for i, t in enumerate(tissues) if t == tissue]
        if not any(others[i].any() for i in index):
            continue
        for variant in variants:
            curve = sweep([predictions[i] for i in index], [others[i] for i in index], mode=mode, method=variant,
                          max_px=MAX_PX, scores=[scores[i] for i in index])
            rows += [{"method_id": model.method, "task": task.id, "tissue": tissue, "mode": mode, "variant": variant,
                      "px": int(r["px"]), **{m: r[m] for m in METRICS}} for r in curve.to_dict("records")]
    return rows


def score_model(model: Model, data: str | os.PathLike, *, limit: int | None = None, device: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Score one model on its task's test split → ({table name: rows}, stand-in marks of the data)."""
    from seggal.data.tasks import load_task
    from seggal.provenance import hardware
    from seggal.tiling import segment_image

    task = get_task(model.task)
    folder = dataset_folder(data, task.dataset)
    view = load_task(folder, task, "test")
    index = _limited(view, limit)
    segmenter = _segmenter(model, device)
    truths, predictions, scores = [], [], []
    start = time.perf_counter()
    for done, i in enumerate(index, 1):
        sample = view[i]
        prediction = segment_image(segmenter, sample.image)
        truths.append(sample.labels)
        predictions.append(prediction.labels)
        scores.append(prediction.scores)
        if progress is not None:
            progress(done, len(index))
    seconds = time.perf_counter() - start
    tissues = [view.tissues[i] for i in index]
    names = [f"{view.names[i]}#{i}" for i in index]  # unique even where file names repeat
    key = {"method_id": model.method, "task": task.id, "training_set": model.training_set}
    per_tissue = score_table(truths, predictions, scores, groups=tissues).assign(**key)
    per_image = score_table(truths, predictions, scores, groups=names)
    per_image = per_image[per_image["test_set"] != "All"].rename(columns={"test_set": "image"})
    per_image = per_image.assign(tissue=[tissues[names.index(n)] for n in per_image["image"]], **key)
    tables = {"per_tissue": per_tissue, "per_image": per_image,
              "throughput": pd.DataFrame([key | {"n_images": len(index), "seconds": seconds,
                                                 "images_per_s": len(index) / seconds if seconds > 0 else 0.0,
                                                 "device": device or "auto", "hardware": hardware(device or "cpu")}])}
    if task.dataset == "TissueNet" and model.training_set == "All":
        other = find_task(task.dataset, "whole_cell" if task.target == "nuclei" else "nuclei", "dual")
        other_view = load_task(folder, other, "test")
        others = [other_view[i].labels for i in index]
        tables["sweeps"] = pd.DataFrame(_sweep_rows(model, task, tissues, predictions, scores, others))
    return tables, stand_in_marks(view, index)


def morphology_rows(data: str | os.PathLike, dataset: str, limit: int | None = None) -> pd.DataFrame:
    """morphology.csv rows of ``dataset``: per tissue / cell line, means over the training split's whole-cell
    ground truth (the first ``limit`` images of each), with the split's full image counts; empty without one."""
    from seggal.data.tasks import load_task
    from seggal.morphology import tissue_summary

    task = find_task(dataset, "whole_cell", "dual" if dataset == "TissueNet" else "whole_cell")
    try:
        train = load_task(dataset_folder(data, dataset), task, "train")
    except SegGalError:
        return pd.DataFrame()
    index = _limited(train, limit)
    summary = tissue_summary([train[i].labels for i in index], [train.tissues[i] for i in index])
    counts = train.counts()
    return summary.assign(dataset=dataset, n_train_images=[counts[t] for t in summary["tissue"]])


# ----------------------------------------------------------------------------------------------- parts


def _write_part(parts: Path, name: str, tables: dict[str, pd.DataFrame], info: dict) -> None:
    """Write one finished part atomically: staged beside, ``done.json`` last, moved in with ``os.replace``."""
    parts.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".incomplete", dir=parts))
    try:
        for table, rows in tables.items():
            if rows.empty:
                continue
            rows.to_csv(staged / f"{table}.csv", index=False, float_format="%.10g")
        (staged / DONE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(parts / name, ignore_errors=True)
        os.replace(staged, parts / name)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def finished(run_dir: str | os.PathLike) -> dict[str, dict]:
    """The finished parts of a run folder: {part name: its done.json}."""
    parts = Path(run_dir) / PARTS
    return {p.name: json.loads((p / DONE).read_text(encoding="utf-8"))
            for p in sorted(parts.glob("*")) if not p.name.startswith(".") and (p / DONE).is_file()}


def reproduce(data: str | os.PathLike, models: list[Model], run_dir: str | os.PathLike, *, limit: int | None = None,
              device: str | None = None, morphology: bool = True, log: Callable[[str], None] = print) -> list[str]:
    """Score every model whose part is not finished yet, then (``morphology``; one shard only) each dataset's
    morphology → names of the parts written."""
    if limit is not None and limit < 1:
        raise SegGalError(f"--limit {limit}: give at least 1 image per tissue")
    parts = Path(run_dir) / PARTS
    for leftover in parts.glob(".*.incomplete"):  # a part a killed run was writing
        shutil.rmtree(leftover, ignore_errors=True)
    done = finished(run_dir)
    written = []
    for number, model in enumerate(models, 1):
        if model.name in done:
            log(f"[{number}/{len(models)}] {model.name}: done, skipped")
            continue
        log(f"[{number}/{len(models)}] {model.name}")
        tables, marks = score_model(model, data, limit=limit, device=device)
        _write_part(parts, model.name, tables, {"method_id": model.method, "task": model.task,
                                                 "training_set": model.training_set, "reference": model.reference,
                                                 "source": model.source, "synthetic_model": model.synthetic,
                                                 "data_marks": marks, "limit": limit})
        written.append(model.name)
    for dataset in dict.fromkeys(get_task(m.task).dataset for m in models) if morphology else ():
        name = f"morphology-{dataset.lower()}"
        if name not in done:
            _write_part(parts, name, {"morphology": morphology_rows(data, dataset, limit)},
                        {"dataset": dataset, "limit": limit})
            written.append(name)
    return written


# ----------------------------------------------------------------------------------------------- comparison


def _sweep_value(sweeps: pd.DataFrame, method: str, task: str, tissue: str, what: str) -> float:
    rows = sweeps[(sweeps["method_id"] == method) & (sweeps["task"] == task) & (sweeps["tissue"] == tissue)
                  & (sweeps["mode"] == "dilate") & (sweeps["variant"] == "binary")].sort_values("px")
    if rows.empty:
        return math.nan
    best = int(np.argmax(rows["accuracy"].to_numpy()))
    if what == "px0":
        return float(rows["accuracy"].iloc[0])
    return float(rows["px"].iloc[best]) if what == "best_px" else float(rows["accuracy"].iloc[best])


def comparison(per_tissue: pd.DataFrame, sweeps: pd.DataFrame, sources: dict[tuple[str, str, str], str]) -> pd.DataFrame:
    """Reproduced against published values, for the paper's models only (``sources``: (method, task, set) →
    the model's source; ``paper`` rows are compared): the published table's accuracy of every such model
    (``results/published/scores.csv``, Figure 2a and the single-set column of Figure 4) and the numbers the
    text quotes (:data:`TEXT_CHECKS`). ``flagged`` when a score differs by more than :data:`TOLERANCE`, or a
    best step is another step."""
    from seggal.results import load_scores

    paper = {k for k, s in sources.items() if s == "paper"}
    rows = []
    whole = per_tissue[per_tissue["test_set"] == "All"].set_index(["method_id", "task", "training_set"])["accuracy"]
    for r in load_scores().to_dict("records"):
        key = (r["method_id"], r["task"], r["training_set"])
        if key in paper and key in whole.index:
            check = "published accuracy (Figure 2a)" if r["training_set"] == "All" else "published single-set accuracy (Figure 4)"
            rows.append((check, *key, "All", "accuracy", r["accuracy"], float(whole[key])))
    scored = per_tissue.set_index(["method_id", "task", "training_set", "test_set"])["accuracy"]
    for check, method, task, test_set, unit, published, what in TEXT_CHECKS:
        if (method, task, "All") not in paper:
            continue
        value = (float(scored.get((method, task, "All", test_set), math.nan)) if what == "score"
                 else _sweep_value(sweeps, method, task, test_set, what))
        if not math.isnan(value):
            rows.append((check, method, task, "All", test_set, unit, published, value))
    table = pd.DataFrame(rows, columns=["check", "method_id", "task", "training_set", "test_set", "unit", "published",
                                        "reproduced"])
    table["abs_difference"] = (table["reproduced"] - table["published"]).abs()
    limit = np.where(table["unit"] == "px", 0.0, TOLERANCE)
    table["flagged"] = np.where(table["abs_difference"] > limit + 1e-12, "yes", "no")
    return table


# ----------------------------------------------------------------------------------------------- run folder


def run_kind(parts: dict[str, dict], manifests: dict[str, dict | None]) -> tuple[str, str]:
    """The run's kind and why (module docstring): ``parts`` the finished parts' done.json, ``manifests`` each
    dataset's pull manifest (None: not pulled by SegGal)."""
    from seggal.data.pull import is_authentic

    models = [p for p in parts.values() if "method_id" in p]
    stand_ins = sorted({m for p in models for m in p["data_marks"]}
                       | {f"{p['method_id']} / {p['task']} was trained on synthetic images" for p in models if p["synthetic_model"]})
    if stand_ins:
        return "synthetic-demo", "STAND-IN data or models, not benchmark results: " + "; ".join(stand_ins)
    networks = [p for p in models if p["source"] != "builtin"]
    unverified = sorted(d for d, m in manifests.items() if not is_authentic(m))
    if networks and all(p["source"] == "paper" for p in networks) and not unverified:
        return "reproduced", "the paper's published models on its published test data"
    why = []
    if not networks:
        why.append("no paper model (baseline only)")
    elif not all(p["source"] == "paper" for p in networks):
        why.append("models from a checkpoint folder, not the paper's catalogue")
    if unverified:
        why.append(f"{', '.join(unverified)} data not pulled from the published source (no authentic seggal-data.json)")
    return "seggal-run", "not a reproduction: " + "; ".join(why)


def assemble(run_dir: str | os.PathLike, data: str | os.PathLike, *, models: str, device: str | None = None):
    """Join the finished parts of ``run_dir`` into its run folder (:func:`seggal.runs.write_run`) → the Run."""
    from seggal.data.pull import read_manifest
    from seggal.provenance import git_commit, hardware
    from seggal.runs import TABLES, write_run

    run_dir = Path(run_dir)
    parts = finished(run_dir)
    if not parts:
        raise SegGalError(f"{run_dir}: no finished parts to assemble")
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for name in parts:
        for path in (run_dir / PARTS / name).glob("*.csv"):
            tables[path.stem].append(pd.read_csv(path, keep_default_na=False, na_values=[""]))
    joined = {name: (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(TABLES[name])))
              for name, frames in tables.items() if name != "timings"}
    sources = {(p["method_id"], p["task"], p["training_set"]): p["source"] for p in parts.values() if "method_id" in p}
    joined["comparison"] = comparison(joined["per_tissue"], joined["sweeps"], sources)
    datasets = sorted({get_task(p["task"]).dataset for p in parts.values() if "task" in p})
    manifests = {d: read_manifest(dataset_folder(data, d)) for d in datasets}
    kind, why = run_kind(parts, manifests)
    limits = sorted({str(p.get("limit")) for p in parts.values()})
    data_text = "; ".join(f"{d}: " + (f"{m['source']} source ({m['location']}), pulled {m['date']}" if m else
                                      f"{dataset_folder(data, d)} (not pulled by SegGal)") for d, m in manifests.items())
    meta = {"name": run_dir.name, "kind": kind, "date": time.strftime("%Y-%m-%d"), "commit": git_commit() or "unknown",
            "hardware": hardware(device or "cpu"),
            "description": f"seggal reproduce: {len(sources)} model(s) from {models}; data {data_text}; "
                           f"images per tissue: {'all' if limits == ['None'] else ', '.join(limits)}. {why}.",
            "data": {d: m for d, m in manifests.items()}, "models": models}
    return write_run(run_dir, meta, **joined)


# ----------------------------------------------------------------------------------------------- time estimate


#: Images of each dataset's full test split (the paper, Methods, "Datasets": TissueNet v1.1 1,324 test images,
#: LIVECell 1,564) and their size (256 x 256; 704 x 520 — the latter is not in the paper's own folders, whose
#: LIVECell test file holds the windows cut from them).
TEST_SPLITS = {"TissueNet": (1324, (256, 256)), "LIVECell": (1564, (520, 704))}
ESTIMATE_COLUMNS = ("method_id", "task", "training_set", "n_windows", "images_per_s", "measured", "hours")


def full_test_windows(dataset: str) -> int:
    """256 x 256 windows of ``dataset``'s full test split as the paper cut them (:func:`seggal.data.windows.corners`:
    TissueNet 1,324 x 1, LIVECell 1,564 x 12 = 18,768)."""
    from seggal.data.windows import corners

    images, (height, width) = TEST_SPLITS[dataset]
    return images * len(corners(height, width))


def estimate_hours(throughput: pd.DataFrame, models: Sequence[tuple[str, str, str]] | None = None) -> pd.DataFrame:
    """Inference hours of a full run, extrapolated from a (smoke) run's measured speed (``throughput.csv``: one window
    per image, images/s per model) → one row per model of the full run (:data:`ESTIMATE_COLUMNS`).

    ``models``: (method_id, task, training_set) of the full run (default: the paper's 138 models,
    ``results/published/scores.csv``). A model takes the speed measured for its method on its task, else the mean
    over the method's measured tasks (``measured`` says which), else none (``hours`` NaN: not measured). ``n_windows``
    is its task's full test split (:func:`full_test_windows`). Only inference: the sweeps and morphology add CPU time.
    """
    from seggal.results import load_scores

    if models is None:
        scores = load_scores()
        models = list(zip(scores["method_id"], scores["task"], scores["training_set"]))
    measured = throughput[throughput["images_per_s"] > 0]
    by_task = measured.groupby(["method_id", "task"])["images_per_s"].mean()
    by_method = measured.groupby("method_id")["images_per_s"].mean()
    rows = []
    for method, task, training_set in models:
        windows = full_test_windows(get_task(task).dataset)
        if (method, task) in by_task.index:
            speed, how = float(by_task[(method, task)]), "this task"
        elif method in by_method.index:
            speed, how = float(by_method[method]), "other tasks"
        else:
            speed, how = math.nan, "not measured"
        rows.append((method, task, training_set, windows, speed, how, windows / speed / 3600))
    return pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))


def estimate_summary(run_dir: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """:func:`estimate_hours` of a run folder's ``throughput.csv`` for the paper's 138 models → (table, a summary
    naming the hardware it was measured on, the total, and the models it could not time)."""
    from seggal.runs import load_run

    run = load_run(run_dir)
    if run.throughput.empty:
        raise SegGalError(f"{run_dir}: no throughput.csv to extrapolate from (run `seggal reproduce --limit 2` first)")
    table = estimate_hours(run.throughput)
    timed = table[table["hours"].notna()]
    hardware = "; ".join(sorted(set(run.throughput["hardware"])))
    missing = sorted(set(table.loc[table["hours"].isna(), "method_id"]))
    text = (f"{len(timed)} of {len(table)} models of the full run timed: {timed['hours'].sum():,.1f} hours of inference "
            f"over {int(timed['n_windows'].sum()):,} test windows at the speeds measured on {hardware} "
            f"(TissueNet {full_test_windows('TissueNet'):,}, LIVECell {full_test_windows('LIVECell'):,} windows per model)")
    if missing:
        text += f"; not measured: {', '.join(missing)}"
    return table, text


def slurm_commands(argv: Sequence[str], shards: int) -> list[list[str]]:
    """One ``python -m seggal reproduce`` command line per shard (``argv``: the arguments other than
    ``--slurm`` / ``--shards`` / ``--shard``)."""
    import sys

    if shards < 1:
        raise SegGalError(f"--shards {shards}: give at least 1")
    return [[sys.executable, "-m", "seggal", "reproduce", *argv, "--shard", f"{i}/{shards}"] for i in range(shards)]


__all__ = ["Model", "plan", "shard_of", "score_model", "morphology_rows", "reproduce", "finished", "comparison",
           "run_kind", "assemble", "full_test_windows", "estimate_hours", "estimate_summary", "slurm_commands",
           "TEXT_CHECKS", "TOLERANCE", "TEST_SPLITS"]
