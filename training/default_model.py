"""``python -m training.default_model``: train the embedded default model and ship it only if it earns it.

Trains a small StarDist (by default; ``--method`` / ``--arch`` choose another) from scratch with
:mod:`training.train` on generated nuclei (the ``synthetic-nuclei`` source: nuclear-stain fields at random
magnifications, :func:`seggal.data.synthetic.synthetic_nuclei`), task ``nuclei-nuclear``. A backend that
can tune its decision thresholds (``calibrate``: StarDist's ``optimize_thresholds``) tunes them on the
synthetic validation split. Then the trained model and the classical baseline are both scored on the real
annotated nuclei image that an installed package ships (the 2018 Data Science Bowl image of the
``stardist`` package, :func:`seggal.examples.load_example` ``"dsb2018-nuclei"``) with
:func:`seggal.evaluation.evaluate_segmenter`, through the same tiled inference the Segment page uses. The checkpoint is copied to :data:`seggal.gallery.EMBEDDED_DEFAULT` only when it scores higher than
the baseline **and** its folder is at most ``--max-mb``; either way the report (both scores) is printed as
JSON and kept as ``comparison.json`` in the run folder (and in the shipped model).

The real image is never used for training, validation or threshold tuning: it is the held-out test.
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
#: parameters, ~1.5 MB of float32 weights).
DEFAULT_ARCH = {"unet_n_filter_base": 16}
REAL_IMAGE = "dsb2018-nuclei (stardist/data/images/img2d.tif + stardist/data/images/mask2d.tif)"


def score_on_real_nuclei(segmenter) -> dict:
    """mAP … accuracy of ``segmenter`` on the DSB2018 image shipped with stardist."""
    from seggal.evaluation import evaluate_segmenter, overall
    from seggal.examples import load_example
    from seggal.image import ChannelSpec, Image, Sample

    example = load_example("dsb2018-nuclei")
    image = Image(example.pixels, ChannelSpec(example.nuclear, example.membrane), example.key)
    return overall(evaluate_segmenter(segmenter, [Sample(image, example.ground_truth)]))


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


def verdict(accuracy: float, baseline: float, mb: float, max_mb: float, no_ship: bool = False) -> tuple[bool, str]:
    """(ship it?, why): only a model more accurate than the baseline and at most ``max_mb`` ships."""
    if not accuracy > baseline:
        return False, f"does not beat the baseline ({accuracy:.3f} <= {baseline:.3f})"
    if mb > max_mb:
        return False, f"larger than {max_mb} MB ({mb:.2f} MB)"
    if no_ship:
        return False, "beats the baseline and fits, but --no-ship was given"
    return True, f"beats the baseline ({accuracy:.3f} > {baseline:.3f}) and fits ({mb:.2f} MB)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.default_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/default-model"), help="training run folder")
    p.add_argument("--method", default="stardist")
    p.add_argument("--arch", type=json_object_arg, default=DEFAULT_ARCH, help="architecture options (JSON object)")
    p.add_argument("--data", default="synthetic-nuclei", help="training source (default: generated nuclei)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--steps-per-epoch", type=int, default=40, help="cap on the optimiser steps of each epoch")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3,
                   help="learning rate (default 2e-3: the paper's 3e-4 is for 100 epochs of full TissueNet)")
    p.add_argument("--device")
    p.add_argument("--max-mb", type=float, default=8.0, help="largest checkpoint folder to ship (MB)")
    p.add_argument("--no-ship", action="store_true", help="report only; never replace the shipped model")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)

    from seggal.backends import build

    task = "nuclei-nuclear"
    run = train(TrainConfig(method=args.method, data=args.data, task=task, out=args.out, epochs=args.epochs,
                            steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, lr=args.lr,
                            device=args.device, arch=args.arch, resume=args.resume))
    model, thresholds = calibrated(run.best, args.data, task, args.device)
    trained, _ = gallery.load_checkpoint(model, device=args.device)
    report = {
        "image": REAL_IMAGE,
        "trained": {"method": args.method, "arch": args.arch, "data": args.data,
                    "best_epoch": run.state["best_epoch"], "epochs": args.epochs,
                    "steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size, "learning_rate": args.lr,
                    "train_seconds": round(run.state["train_seconds"], 1), "thresholds": thresholds,
                    "synthetic_validation": run.state["history"][run.state["best_epoch"] - 1]["validation"]},
        "model": score_on_real_nuclei(trained),
        "baseline": score_on_real_nuclei(build("baseline", target="nuclei")),
        "checkpoint_mb": round(folder_mb(model), 2),
        "max_mb": args.max_mb,
    }
    report["shipped"], report["reason"] = verdict(report["model"]["accuracy"], report["baseline"]["accuracy"],
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
