"""Time SegGal's fast COCO metrics against the pycocotools and faster-coco-eval pipelines.

A synthetic TissueNet-sized test set (default 1,324 images of 256 x 256 with 100-300 touching cells,
predictions = perturbed ground truth) is scored end to end from label images by:

* pycocotools       — RLE-encode every instance over the full image, COCOeval (the paper's evaluator);
* faster-coco-eval  — the same encoding, then the C++ COCOeval_faster;
* seggal fast       — seggal.metrics.evaluate(engine="fast").

All three use area range "all" only and maxDets=[3000] (the paper's numbers need nothing else), so
the anchors do no wasted work. The script checks that the numbers agree (|Δ| <= 1e-9) and prints the
wall-clock and CPU times and their ratios (CPU time is the steadier number on a shared machine;
faster-coco-eval may use several threads, which CPU time adds up). Usage: ``python bench/bench_metrics.py [--n 1324] [--size 256] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seggal.metrics import METRICS, evaluate  # noqa: E402


def synthetic_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(gt, pred) int32 (size, size): 100-300 touching cells and an imperfect prediction of them."""
    from skimage.segmentation import expand_labels

    n = int(rng.integers(100, 301))
    seeds = np.zeros((size, size), np.int32)
    seeds[rng.integers(0, size, n), rng.integers(0, size, n)] = np.arange(1, n + 1)
    gt = expand_labels(seeds, 8)
    pred = np.roll(gt, tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
    ids = np.unique(pred)[1:]
    pred[np.isin(pred, rng.choice(ids, ids.size // 10, replace=False))] = 0  # missed cells
    pred[rng.random(pred.shape) < 0.02] = 0  # ragged masks
    ids = np.unique(pred)[1:]
    lut = np.zeros(pred.max() + 1, np.int32)
    lut[ids] = rng.permutation(ids.size) + 1  # labels in a different order than the gt's
    return gt, lut[pred]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1324, help="number of images (TissueNet test split: 1,324)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pairs = [synthetic_pair(rng, args.size) for _ in range(args.n)]
    gts, preds = [p[0] for p in pairs], [p[1] for p in pairs]
    print(f"{args.n} images of {args.size}x{args.size}, {sum(int(g.max()) for g in gts):,} gt cells")

    times, cpu, results = {}, {}, {}
    for engine in ("fast", "faster-coco-eval", "pycocotools"):
        start, start_cpu = time.perf_counter(), time.process_time()
        results[engine] = evaluate(gts, preds, engine=engine)
        times[engine], cpu[engine] = time.perf_counter() - start, time.process_time() - start_cpu
        print(f"{engine:>17}: {times[engine]:8.2f} s wall {cpu[engine]:8.2f} s CPU   "
              + "  ".join(f"{k}={results[engine][k]:.6f}" for k in METRICS))

    for engine in ("faster-coco-eval", "pycocotools"):
        worst = max(abs(results[engine][k] - results["fast"][k]) for k in METRICS)
        assert worst <= 1e-9, f"{engine} differs from the fast engine by {worst}"
        print(f"fast vs {engine}: max |Δ| = {worst:.1e}; speed-up {times[engine] / times['fast']:.1f}x wall, "
              f"{cpu[engine] / cpu['fast']:.1f}x CPU time")


if __name__ == "__main__":
    main()
