"""Produce ``results/demo/``: the synthetic-demo run folder, made by SegGal's real pipeline.

    python scripts/make_demo_results.py [--out results/demo] [--size 128] [--max-px 10]

Everything below is SegGal's own code; only the data and the "methods" are stand-ins:

* **Data** — synthetic TissueNet / LIVECell splits in the datasets' real file layouts
  (:func:`seggal.data.synthetic.write_tissuenet_npz`, :func:`~seggal.data.synthetic.write_livecell`),
  read back through :func:`seggal.data.tasks.load_task`. The training splits hold unequal numbers of
  images per tissue / cell line (:data:`TRAIN_IMAGES`; lung and spleen fewest, as in TissueNet).
* **baseline** — SegGal's classical segmenter (:mod:`seggal.backends.baseline`), *trained* by choosing
  its watershed settings from :data:`GRID` by accuracy on the training images of the training set
  (``All`` or a single tissue / cell line): a real fit, so the transferability matrix is measured.
* **oracle-…** — the ground truth degraded three ways (trained on ``All`` only), to give the charts
  several methods of known character: ``oracle-eroded-2`` (every cell eroded 2 px,
  :func:`seggal.sweeps.erode`), ``oracle-expanded-2`` (expanded 2 px without overlap,
  :func:`seggal.sweeps.expand`), ``oracle-dropped-30`` (a random 30 % of the cells removed).
* **Scores** — :func:`seggal.evaluation.score_table` on the test split, whole and per tissue; **sweeps** —
  :func:`seggal.sweeps.sweep` (nuclei predictions dilated and compared with the whole-cell ground truth;
  whole-cell predictions eroded and compared with the nuclei); **morphology** —
  :func:`seggal.morphology.tissue_summary` of the training split's whole-cell ground truth.

No timings are written: nothing here trains for hours, so the demo has no scalability score.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seggal.backends.baseline import BaselineSegmenter, WatershedSettings  # noqa: E402
from seggal.data.synthetic import write_livecell, write_tissuenet_npz  # noqa: E402
from seggal.data.tasks import load_task  # noqa: E402
from seggal.evaluation import score_table  # noqa: E402
from seggal.morphology import tissue_summary  # noqa: E402
from seggal.provenance import git_commit, hardware  # noqa: E402
from seggal.metrics import METRICS, evaluate  # noqa: E402
from seggal.runs import write_run  # noqa: E402
from seggal.sweeps import erode, expand, sweep  # noqa: E402
from seggal.tasks import TASKS  # noqa: E402

TRAIN_IMAGES = {
    "TissueNet": {"Breast": 3, "Colon": 2, "Epidermis": 2, "Esophagus": 3, "Lung": 1, "Lymph Node": 2,
                  "Lymph Node Metastasis": 4, "Pancreas": 3, "Spleen": 1, "Tonsil": 2},
    "LIVECell": {"A172": 2, "BT-474": 3, "BV-2": 2, "Huh7": 2, "MCF7": 3, "SH-SY5Y": 2, "SK-OV-3": 2, "SkBr3": 3},
}
TEST_IMAGES = 2  # per tissue / cell line
TEST_SEED = 10_000
#: The baseline's candidate settings; "training" picks the most accurate on the training images.
GRID = (WatershedSettings(), WatershedSettings(seed_spacing=0.5), WatershedSettings(seed_spacing=1.0),
        WatershedSettings(smooth=2.0))
ORACLES = {
    "oracle-eroded-2": "ground truth with every cell eroded by 2 px (seggal.sweeps.erode); not a real method",
    "oracle-expanded-2": "ground truth with every cell expanded by 2 px without overlap (seggal.sweeps.expand); "
                         "not a real method",
    "oracle-dropped-30": "ground truth with a random 30 % of the cells removed; not a real method",
}


def write_data(folder: Path, size: int, datasets: tuple[str, ...] = ("TissueNet", "LIVECell")) -> dict[str, Path]:
    """Synthetic train / test splits in the real layouts → {dataset: folder}."""
    shape = (size, size)
    folders = {dataset: folder / dataset.lower() for dataset in datasets}
    for split, seed, counts in (("train", 0, TRAIN_IMAGES), ("test", TEST_SEED, None)):
        for dataset, path in folders.items():
            groups = [g for g, n in TRAIN_IMAGES[dataset].items() for _ in range(counts[dataset][g] if counts else TEST_IMAGES)]
            if dataset == "TissueNet":
                write_tissuenet_npz(path / f"tissuenet_v1.1_{split}.npz", len(groups), shape, groups, seed)
            else:
                write_livecell(path, len(groups), shape, groups, seed, split)
    return folders


def oracle(method_id: str, gt: np.ndarray, seed: int) -> np.ndarray:
    """The ground truth degraded as :data:`ORACLES` describes → (H, W) int32 labels."""
    from skimage.segmentation import relabel_sequential

    if method_id == "oracle-eroded-2":
        return erode(gt, 2)
    if method_id == "oracle-expanded-2":
        return expand(gt, 2, method="expand")
    ids = np.unique(gt[gt > 0])
    dropped = np.random.default_rng(seed).choice(ids, size=int(round(0.3 * len(ids))), replace=False)
    return relabel_sequential(np.where(np.isin(gt, dropped), 0, gt))[0].astype(np.int32)


def score_rows(method_id: str, task_id: str, training_set: str, tissues: list[str], gts: list, preds: list) -> list[dict]:
    """per_tissue.csv rows: the whole test split (``All``) and each tissue / cell line
    (:func:`seggal.evaluation.score_table`)."""
    table = score_table(gts, preds, groups=tissues)
    return table.assign(method_id=method_id, task=task_id, training_set=training_set).to_dict("records")


def baseline_runs(task, train, test) -> tuple[list[dict], list]:
    """Fit the baseline on every training set, score it on the test split → (rows, test predictions of the
    fit on ``All``)."""
    segmenters = [BaselineSegmenter(dataclasses.replace(s, target=task.target)) for s in GRID]
    train_preds = [[seg.predict(sample.image).labels for sample in train] for seg in segmenters]
    test_preds = [[seg.predict(sample.image).labels for sample in test] for seg in segmenters]
    train_gts = [sample.labels for sample in train]
    rows, chosen = [], {}
    for training_set in ["All", *dict.fromkeys(train.tissues)]:
        index = [i for i, t in enumerate(train.tissues) if training_set in ("All", t)]
        fit = [evaluate([train_gts[i] for i in index], [preds[i] for i in index])["accuracy"] for preds in train_preds]
        best = int(np.argmax(fit))
        chosen[training_set] = test_preds[best]
        rows += score_rows("baseline", task.id, training_set, test.tissues, [s.labels for s in test], test_preds[best])
    return rows, chosen["All"]


def sweep_rows(method_id: str, task, tissues: list[str], preds: list, other_gts: list, max_px: int) -> list[dict]:
    """sweeps.csv rows: nuclei predictions dilated (both variants) or whole cells eroded, per tissue."""
    mode, variants = ("dilate", ("binary", "expand")) if task.target == "nuclei" else ("erode", ("binary",))
    rows = []
    for tissue in dict.fromkeys(tissues):
        index = [i for i, t in enumerate(tissues) if t == tissue]
        for variant in variants:
            curve = sweep([preds[i] for i in index], [other_gts[i] for i in index], mode=mode, method=variant,
                          max_px=max_px)
            for record in curve.to_dict("records"):
                rows.append({"method_id": method_id, "task": task.id, "tissue": tissue, "mode": mode,
                             "variant": variant, "px": int(record["px"]), **{m: record[m] for m in METRICS}})
    return rows


def morphology_rows(dataset: str, train) -> pd.DataFrame:
    """morphology.csv rows of one dataset: per tissue / cell line, means over the training split's cells."""
    summary = tissue_summary([sample.labels for sample in train], train.tissues)
    return summary.rename(columns={"n_images": "n_train_images"}).assign(dataset=dataset)


def meta(size: int) -> dict:
    return {
        "name": "demo", "kind": "synthetic-demo",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "commit": git_commit() or "unknown",
        "hardware": hardware(),
        "description": (
            f"Synthetic images ({size}x{size} px, seggal.data.synthetic) scored by SegGal's pipeline; not the "
            "benchmark's data and not its methods. 'baseline' is SegGal's classical watershed with settings "
            "fitted on each training set; the oracle-* rows are the ground truth degraded on purpose. Made by "
            "scripts/make_demo_results.py."
        ),
        "methods": ORACLES,
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--max-px", type=int, default=10, help="largest dilation / erosion step")
    args = parser.parse_args(argv)
    per_tissue, sweeps, morphology = [], [], []  # rows, rows, tables
    with tempfile.TemporaryDirectory() as tmp:
        folders = write_data(Path(tmp), args.size)
        for task in TASKS:
            folder = folders[task.dataset]
            train, test = load_task(folder, task, "train"), load_task(folder, task, "test")
            gts = [s.labels for s in test]
            rows, baseline_preds = baseline_runs(task, train, test)
            per_tissue += rows
            predictions = {"baseline": baseline_preds}
            for k, method_id in enumerate(ORACLES):
                predictions[method_id] = [oracle(method_id, gt, k * 1000 + i) for i, gt in enumerate(gts)]
                per_tissue += score_rows(method_id, task.id, "All", test.tissues, gts, predictions[method_id])
            if task.dataset == "TissueNet":
                other = next(t for t in TASKS if t.dataset == task.dataset and t.target != task.target)
                other_gts = [s.labels for s in load_task(folder, other, "test")]
                for method_id, preds in predictions.items():
                    sweeps += sweep_rows(method_id, task, test.tissues, preds, other_gts, args.max_px)
            if task.input_channels == "whole_cell":  # one morphology table per dataset, from whole cells
                morphology.append(morphology_rows(task.dataset, train))
            print(f"{task.id}: done", flush=True)
    write_run(args.out, meta(args.size), per_tissue=pd.DataFrame(per_tissue), sweeps=pd.DataFrame(sweeps),
              morphology=pd.concat(morphology))
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
