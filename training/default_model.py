"""``python -m training.default_model``: train the embedded default model and ship it only if it earns it.

Trains a small StarDist (by default; ``--method`` / ``--arch`` choose another) from scratch with
:mod:`training.train` on generated nuclei (the ``synthetic-nuclei`` source: nuclear-stain fields at random
magnifications, :func:`seggal.data.synthetic.synthetic_nuclei`), task ``nuclei-nuclear``. A backend that
can tune its decision thresholds (``calibrate``: StarDist's ``optimize_thresholds``) tunes them on the
synthetic validation split. Then the trained model and the classical baseline are both scored as a user
would score them (:func:`score_as_written`: ``seggal segment`` writes label TIFFs with their scores sidecars,
the metrics are read from those files) on two images:

- the real annotated nuclei image that an installed package ships (the 2018 Data Science Bowl image of the
  ``stardist`` package, :func:`seggal.examples.load_example` ``"dsb2018-nuclei"``);
- a clean field of well-separated round nuclei of many sizes, 1024² so that tile seams cut through them
  (:func:`seggal.data.synthetic.clean_round_nuclei`), where tight outlines score close to 1.

The checkpoint is copied to :data:`seggal.gallery.EMBEDDED_DEFAULT` only when it beats the baseline on the
DSB image in mAP **and** AP75, scores at least :data:`CLEAN_MIN_MAP` mAP on the clean field, and its folder is
at most ``--max-mb`` (:func:`verdict`); either way the report is printed as JSON and kept as
``comparison.json`` in the run folder (and in the shipped model).

Neither image is used for training, validation or threshold tuning. The DSB image is, however, the one the
shipped model was chosen on among the candidates trained (the README lists them all), so its score there is
not a held-out estimate; the report says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from seggal import checkpoint, gallery
from training.train import TrainConfig, json_object_arg, train

#: The shipped model: StarDist's U-Net at a quarter of its default width (16 base filters, ~0.37 M
#: parameters, ~1.5 MB of float32 weights), trained on 128² crops of the generated fields.
DEFAULT_ARCH = {"unet_n_filter_base": 16, "train_patch_size": [128, 128]}
REAL_IMAGE = "dsb2018-nuclei (stardist/data/images/img2d.tif + stardist/data/images/mask2d.tif)"


#: The clean test field (:func:`seggal.data.synthetic.clean_round_nuclei`): 1024², cut by tile seams.
CLEAN_IMAGE = "clean round nuclei (seggal.data.synthetic.clean_round_nuclei, 1024², seed 1)"
#: The least mAP a shipped model must reach on the clean field (issue 16).
CLEAN_MIN_MAP = 0.8


def _test_images(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Write the two test images and their ground truths as TIFFs under ``folder``: name → (image, truth)."""
    import tifffile

    from seggal.data.synthetic import clean_round_nuclei
    from seggal.examples import load_example
    from seggal.io import write_labels

    example = load_example("dsb2018-nuclei")
    clean, clean_truth = clean_round_nuclei()
    images = {"dsb": (example.pixels[..., example.nuclear], example.ground_truth),
              "clean": (clean[..., 0], clean_truth)}
    paths = {}
    for name, (pixels, truth) in images.items():
        image, gt = folder / f"{name}.tif", folder / f"{name}_gt.tif"
        tifffile.imwrite(image, pixels)
        write_labels(gt, truth)
        paths[name] = (image, gt)
    return paths


def score_as_written(model: str | Path) -> dict[str, dict]:
    """Score ``model`` (a checkpoint folder, or ``"baseline"``) as a user would: ``seggal segment`` writes
    the label TIFF (and its scores sidecar) of each test image, and the scores come from those files,
    read back as ``seggal evaluate`` reads them. Returns ``{"dsb": metrics, "clean": metrics}``."""
    from seggal.cli import main as seggal
    from seggal.cli.evaluate import read_pairs
    from seggal.errors import SegGalError
    from seggal.metrics import evaluate

    chosen = ["--method", "baseline"] if str(model) == "baseline" else ["--checkpoint", str(model)]
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (image, gt) in _test_images(Path(tmp)).items():
            out = Path(tmp) / f"{name}_pred.tif"
            if seggal(["segment", str(image), *chosen, "--nuclear-channel", "0", "--target", "nuclei",
                       "--cluster", "none", "--out", str(out)]) != 0:
                raise SegGalError(f"seggal segment failed on the {name} test image")
            _, truths, predictions, confidences = read_pairs(str(gt), str(out))
            result = evaluate(truths, predictions, confidences)
            scores[name] = {k: float(result[k]) for k in ("mAP", "AP50", "AP75", "AR50", "AR75", "accuracy")}
            scores[name]["instances"] = int(predictions[0].max())
    return scores


def folder_mb(folder: Path) -> float:
    """Size of the files under ``folder`` in MiB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def calibrated(best: Path, data: str, task: str, device: str | None) -> tuple[Path, dict | None]:
    """``best`` with its thresholds tuned on the validation split, as a new folder beside it
    (``best-calibrated``), and the thresholds; ``best`` itself when the backend cannot calibrate."""
    from seggal.data.tasks import load_task

    segmenter, _ = gallery.load_checkpoint(best, device=device)
    if not segmenter.calibratable:
        return best, None
    thresholds = segmenter.calibrate(load_task(data, task, split="val"))
    out = best.parent / "best-calibrated"
    with tempfile.TemporaryDirectory(dir=best.parent) as staging:
        staged = Path(staging) / "model"
        shutil.copytree(best, staged)
        segmenter.save(staged)  # new backend.json (thresholds); same weights
        checkpoint.replace_dir(staged, out)
    return out, thresholds


def verdict(model: dict, baseline: dict, mb: float, max_mb: float, no_ship: bool = False) -> tuple[bool, str]:
    """(ship it?, why). ``model`` and ``baseline`` are :func:`score_as_written` results. A model ships only
    if it beats the baseline on the DSB image in mAP **and** AP75, scores at least :data:`CLEAN_MIN_MAP`
    mAP on the clean round nuclei, and its folder is at most ``max_mb``."""
    dsb, ref, clean = model["dsb"], baseline["dsb"], model["clean"]["mAP"]
    for metric in ("mAP", "AP75"):
        if not dsb[metric] > ref[metric]:
            return False, f"does not beat the baseline on the DSB image in {metric} ({dsb[metric]:.3f} <= {ref[metric]:.3f})"
    if not clean >= CLEAN_MIN_MAP:
        return False, f"traces clean round nuclei too loosely (mAP {clean:.3f} < {CLEAN_MIN_MAP})"
    if mb > max_mb:
        return False, f"larger than {max_mb} MB ({mb:.2f} MB)"
    if no_ship:
        return False, "passes every bar, but --no-ship was given"
    return True, (f"beats the baseline on the DSB image (mAP {dsb['mAP']:.3f} > {ref['mAP']:.3f}, AP75 "
                  f"{dsb['AP75']:.3f} > {ref['AP75']:.3f}), mAP {clean:.3f} on clean round nuclei, {mb:.2f} MB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.default_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/default-model"), help="training run folder")
    p.add_argument("--method", default="stardist")
    p.add_argument("--arch", type=json_object_arg, default=DEFAULT_ARCH, help="architecture options (JSON object)")
    p.add_argument("--data", default="synthetic-nuclei", help="training source (default: generated nuclei)")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--steps-per-epoch", type=int, default=100, help="cap on the optimiser steps of each epoch")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3,
                   help="learning rate (default 2e-3: the paper's 3e-4 is for 100 epochs of full TissueNet)")
    p.add_argument("--device")
    p.add_argument("--max-mb", type=float, default=8.0, help="largest checkpoint folder to ship (MB)")
    p.add_argument("--no-ship", action="store_true", help="report only; never replace the shipped model")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)

    task = "nuclei-nuclear"
    run = train(TrainConfig(method=args.method, data=args.data, task=task, out=args.out, epochs=args.epochs,
                            steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, lr=args.lr,
                            device=args.device, arch=args.arch, resume=args.resume))
    model, thresholds = calibrated(run.best, args.data, task, args.device)
    report = {
        "images": {"dsb": REAL_IMAGE, "clean": CLEAN_IMAGE},
        "scored_as": "seggal segment writes the label TIFF and its scores sidecar; the scores are read from "
                     "those files (seggal evaluate's reader)",
        "selection": "the DSB image is also the image the shipped model was chosen on among the candidates "
                     "(README, 'The default model'); its score there is not a held-out estimate",
        "trained": {"method": args.method, "arch": args.arch, "data": args.data,
                    "best_epoch": run.state["best_epoch"], "epochs": args.epochs,
                    "steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size, "learning_rate": args.lr,
                    "train_seconds": round(run.state["train_seconds"], 1), "thresholds": thresholds,
                    "synthetic_validation": run.state["history"][run.state["best_epoch"] - 1]["validation"]},
        "model": score_as_written(model),
        "baseline": score_as_written("baseline"),
        "checkpoint_mb": round(folder_mb(model), 2),
        "max_mb": args.max_mb,
        "clean_min_mAP": CLEAN_MIN_MAP,
    }
    report["shipped"], report["reason"] = verdict(report["model"], report["baseline"],
                                                  report["checkpoint_mb"], args.max_mb, args.no_ship)
    text = json.dumps(report, indent=2) + "\n"
    (args.out / "comparison.json").write_text(text, encoding="utf-8")
    if report["shipped"]:
        gallery.EMBEDDED_DEFAULT.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=gallery.EMBEDDED_DEFAULT.parent) as staging:
            staged = Path(staging) / "default"
            shutil.copytree(model, staged)
            (staged / "comparison.json").write_text(text, encoding="utf-8")
            checkpoint.replace_dir(staged, gallery.EMBEDDED_DEFAULT)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
