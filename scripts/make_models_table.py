"""Write ``results/published/models.csv``: the paper's 138 models + the generalists SegGal offers beside them.

Run by hand from the project root, with the project's copy of the authors' link table beside it::

    python scripts/make_models_table.py ../shared/published/seggal_models.csv

Paper rows carry every value of the shared table unchanged (keys re-spelled as in ``scores.csv``: task id and
registry method id added); generalist rows are SegGal's, with the URLs the packages themselves download from.
``tests/test_zoo_catalogue.py`` rebuilds the shared table from the output and checks its SHA-256.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from seggal.methods import get_method
from seggal.tasks import TASKS, find_task, get_task
from seggal.zoo.catalogue import COLUMNS, PUBLISHED_MODELS

#: The benchmark repository's training code decides each method's file format.
PAPER_FORMATS = {
    "swin-s": "mmdet2", "swin-t": "mmdet2", "cascade-seesaw": "mmdet2", "solov2": "mmdet2", "res2net": "mmdet2",
    "rf-next": "mmdet2", "hrnet": "mmdet2", "mask2former": "mmdet2", "mask-rcnn": "mmdet2", "ms-rcnn": "mmdet2",
    "cellpose": "cellpose2", "stardist": "stardist", "sam": "sam", "resnest": "detectron2", "centermask2": "detectron2",
    "mesmer": "deepcell", "featurenet": "deepcell", "retinamask": "deepcell",
}
#: The benchmark repository's commit that added its mmdet_BM configs (and RF-Next's search logs): extra files are
#: fetched from it, so their bytes cannot change under a published SHA-256.
BENCHMARK_COMMIT = "4c80240c827aebcb784fce31be9650b3edad7b83"
BENCHMARK_RAW = f"https://raw.githubusercontent.com/BoomStarcuc/Cell-Segmentation-Benchmark/{BENCHMARK_COMMIT}"
#: Files a method's converter needs beside its Drive file (``extra_files``): RF-Next's searched structure, which
#: each of the paper's RF-Next configs (configs/rfnext/rfnext_fixed_multi_branch_cascade_mask_rcnn_r2_101_fpn_200e_
#: coco_{tissuenet_n,tissuenet_w,livecell}.py) names as its ``rfstructure_file``; SHA-256 of the file at that commit.
PAPER_EXTRA_FILES = {
    "rf-next": ((f"{BENCHMARK_RAW}/mmdet_BM/mmdetection/configs/rfnext/search_log/cascade_mask_rcnn_r2_101_fpn_20e_coco/"
                 "local_search_config_step11.json#sha256=b203675335d2b53bb33ed3a76d6fee0732df6a695e388a3fb84fd485c116b2a7"),),
}
CELLPOSE_GUIDE = "https://cellpose.readthedocs.io/en/v3.1.1.1/models.html"
SAM_GUIDE = "https://github.com/facebookresearch/segment-anything#model-checkpoints"
ALL_TASKS = tuple(t.id for t in TASKS)
# (method, name = training_set, tasks, url, format, sha256, usage guide, notes)
GENERALISTS = (
    ("cellpose", "cyto3", ("tissuenet-wholecell-dual", "tissuenet-wholecell-wholecell", "livecell-wholecell"),
     "https://www.cellpose.org/models/cyto3", "cellpose3", "", CELLPOSE_GUIDE,
     "Cellpose 3 generalist cytoplasm model; URL from cellpose.models (cache_model_path)"),
    ("cellpose", "nuclei", ("tissuenet-nuclei-dual", "tissuenet-nuclei-nuclear"),
     "https://www.cellpose.org/models/nucleitorch_0", "cellpose3", "", CELLPOSE_GUIDE,
     "Cellpose nuclei model; URL from cellpose.models (model_path('nuclei'))"),
    ("cellpose", "tissuenet_cp3", ("tissuenet-wholecell-dual",),
     "https://www.cellpose.org/models/tissuenet_cp3", "cellpose3", "", CELLPOSE_GUIDE,
     "Cellpose 3 model trained on TissueNet (its own split); URL from cellpose.models"),
    ("cellpose", "livecell_cp3", ("livecell-wholecell",),
     "https://www.cellpose.org/models/livecell_cp3", "cellpose3", "", CELLPOSE_GUIDE,
     "Cellpose 3 model trained on LIVECell (its own split); URL from cellpose.models"),
    ("stardist", "2D_versatile_fluo", ("tissuenet-nuclei-nuclear",),
     "https://github.com/stardist/stardist-models/releases/download/v0.1/python_2D_versatile_fluo.zip", "stardist",
     "4ad678d0758eed6e55625f1b5ae30771e59adb79f1239e09b9772eac8846c3dd",
     "https://github.com/stardist/stardist#pretrained-models-for-2d",
     "StarDist versatile fluorescent nuclei model; URL and SHA-256 as stardist.models registers them"),
    ("sam", "vit_b", ALL_TASKS, "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth", "sam", "",
     SAM_GUIDE, "Segment Anything ViT-B, official checkpoint (about 375 MB)"),
    ("sam", "vit_h", ALL_TASKS, "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth", "sam", "",
     SAM_GUIDE, "Segment Anything ViT-H, official checkpoint (about 2.6 GB)"),
    ("sam", "vit_b_lm", ALL_TASKS,
     "https://uk1s3.embassy.ebi.ac.uk/public-datasets/bioimage.io/diplomatic-bug/1.2/files/vit_b.pt", "micro-sam", "",
     "https://computational-cell-analytics.github.io/micro-sam/micro_sam.html",
     "micro-sam light-microscopy ViT-B (BioImage.IO 'diplomatic-bug'); URL as micro_sam.util.models() registers it "
     "(micro-sam 1.8.14; its instance decoder vit_b_decoder.pt is not used); its training collections may overlap "
     "the benchmark's data sets"),
)
GENERALIST_NOTE = "generalist, not from the paper"


def paper_rows(shared: Path) -> list[dict]:
    with shared.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    links = Counter(r["drive_id"] for r in rows)
    out = []
    for r in rows:
        task = find_task(r["dataset"], r["target"], r["input_channels"])
        method = get_method(r["method"])
        notes = []
        if links[r["drive_id"]] > 1:
            twins = [o["training_set"] for o in rows if o["drive_id"] == r["drive_id"] and o is not r]
            notes.append(f"shares its Drive link with the {', '.join(twins)} row: one of the two points at the wrong model")
        if r["drive_kind"] == "folder":
            notes.append("a Drive folder (downloaded whole)")
        out.append({"task": task.id, "dataset": r["dataset"], "modality": r["modality"], "target": r["target"],
                    "input_channels": r["input_channels"], "training_set": r["training_set"],
                    "method_id": method.id, "method": r["method"], "source": "paper",
                    "format": PAPER_FORMATS[method.id], "drive_kind": r["drive_kind"], "drive_id": r["drive_id"],
                    "url": r["url"], "usage_guide": r["usage_guide"], "size_bytes": "", "sha256": "",
                    "extra_files": " ".join(PAPER_EXTRA_FILES.get(method.id, ())), "notes": "; ".join(notes)})
    return out


def generalist_rows() -> list[dict]:
    out = []
    for method_id, name, tasks, url, fmt, sha, guide, note in GENERALISTS:
        method = get_method(method_id)
        for task_id in tasks:
            task = get_task(task_id)
            out.append({"task": task.id, "dataset": task.dataset, "modality": task.modality, "target": task.target,
                        "input_channels": task.input_channels, "training_set": name, "method_id": method.id,
                        "method": method.name, "source": "generalist", "format": fmt, "drive_kind": "",
                        "drive_id": "", "url": url, "usage_guide": guide, "size_bytes": "", "sha256": sha,
                        "extra_files": "", "notes": f"{GENERALIST_NOTE}: {note}"})
    return out


def main(argv: list[str]) -> int:
    shared = Path(argv[0] if argv else "../shared/published/seggal_models.csv")
    rows = paper_rows(shared) + generalist_rows()
    with PUBLISHED_MODELS.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{PUBLISHED_MODELS}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
