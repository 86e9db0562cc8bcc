"""``python -m training.default_model``: train the embedded default model and ship it only if it earns it.

Trains Cellpose from scratch with :mod:`training.train` on the synthetic generator (task
``nuclei-nuclear``), then scores its ``best/`` checkpoint and the classical baseline on the real annotated
nuclei image that an installed package ships (the 2018 Data Science Bowl image of the ``stardist`` package,
:func:`seggal.examples.load_example` ``"dsb2018-nuclei"``) with :func:`seggal.metrics.evaluate`. The
checkpoint is copied to :data:`seggal.hub.EMBEDDED_DEFAULT` only when it scores higher than the baseline
**and** its folder is at most ``--max-mb``; either way both scores are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from seggal import hub


def score_on_real_nuclei(segmenter) -> dict:
    """mAP … accuracy of ``segmenter`` on the DSB2018 image shipped with stardist."""
    from seggal.backends import segment_image
    from seggal.examples import load_example
    from seggal.image import ChannelSpec, Image
    from seggal.metrics import evaluate

    example = load_example("dsb2018-nuclei")
    image = Image(example.pixels, ChannelSpec(example.nuclear, example.membrane), example.key)
    prediction = segment_image(segmenter, image)
    result = evaluate(example.ground_truth, prediction.labels, scores=prediction.scores)
    return {k: float(result[k]) for k in ("mAP", "AP50", "AP75", "AR50", "AR75", "accuracy")}


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.default_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/default-model"), help="training run folder")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--max-iters", type=int, default=3, help="optimiser steps per epoch")
    p.add_argument("--device")
    p.add_argument("--max-mb", type=float, default=8.0, help="largest checkpoint folder to ship (MB)")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)

    from seggal.backends import build
    from training import train

    run = train.train(train.parse_args([
        "--method", "cellpose", "--data", "synthetic", "--task", "nuclei-nuclear", "--train-set", "All",
        "--out", str(args.out), "--epochs", str(args.epochs), "--max-iters", str(args.max_iters),
        *(["--device", args.device] if args.device else []), *(["--resume"] if args.resume else []),
    ]))
    trained, _ = hub.load_checkpoint(run.best, device=args.device)
    report = {
        "image": "dsb2018-nuclei (stardist/data/images/img2d.tif + mask2d.tif)",
        "cellpose_synthetic": score_on_real_nuclei(trained),
        "baseline": score_on_real_nuclei(build("baseline", target="nuclei")),
        "checkpoint_mb": round(folder_mb(run.best), 2),
        "max_mb": args.max_mb,
        "best_epoch": run.state["best_epoch"],
    }
    beats = report["cellpose_synthetic"]["accuracy"] > report["baseline"]["accuracy"]
    fits = report["checkpoint_mb"] <= args.max_mb
    report["shipped"] = beats and fits
    report["reason"] = ("beats the baseline and fits" if report["shipped"] else
                        "does not beat the baseline" if not beats else f"larger than {args.max_mb} MB")
    if report["shipped"]:
        if hub.EMBEDDED_DEFAULT.exists():
            shutil.rmtree(hub.EMBEDDED_DEFAULT)
        shutil.copytree(run.best, hub.EMBEDDED_DEFAULT)
        (hub.EMBEDDED_DEFAULT / "comparison.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
