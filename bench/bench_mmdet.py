"""Time the MMDetection methods' inference: SegGal's ``predict`` against mmdet's own ``test_step``.

For every MMDetection method of the registry (or those named with ``--methods``), a network is built
from scratch (random weights, 2 channels) and one synthetic TissueNet-like image is segmented:

* anchor  — ``model.test_step`` on the already prepared batch (mmdet's own inference call);
* seggal  — ``MMDetSegmenter.predict``: normalisation, the same call, and painting the instance
  masks into one label image.

Random weights are the worst case for the two-stage methods (every proposal above the score threshold
becomes an instance, up to ``MAX_INSTANCES``), so the instance count is printed beside the times.
Prints seconds per image, megapixels per second and the ratio seggal / anchor. Needs `make mmdet`.
Usage: ``python bench/bench_mmdet.py [--size 256] [--repeat 1] [--device cpu] [--methods swin-t,hrnet]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seggal.backends.mmdet import _data_sample, build, model_input  # noqa: E402
from seggal.data.synthetic import synthetic_tissue  # noqa: E402
from seggal.image import ChannelSpec, Image  # noqa: E402
from seggal.methods import METHODS  # noqa: E402


def best_of(repeat: int, run) -> tuple[float, object]:
    """Fastest wall time of ``repeat`` calls of ``run()`` and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", default=",".join(m.id for m in METHODS if m.backend == "mmdet"))
    args = parser.parse_args()

    import torch

    pixels, _, _ = synthetic_tissue((args.size, args.size), "Breast", 0)
    image = Image(pixels, ChannelSpec(0, 1), "bench")
    megapixels = args.size * args.size / 1e6
    print(f"{'method':16s} {'build s':>8s} {'anchor s':>9s} {'seggal s':>9s} {'ratio':>6s} {'MP/s':>7s} {'cells':>6s}")
    for method_id in args.methods.split(","):
        start = time.perf_counter()
        segmenter = build(method_id, device=args.device)
        built = time.perf_counter() - start
        segmenter.predict(image)  # warm-up (allocations, lazy initialisation)
        tensor = torch.from_numpy(model_input(image, 2).transpose(2, 0, 1).copy())
        segmenter.model.eval()

        def anchor():
            with torch.no_grad():
                return segmenter.model.test_step({"inputs": [tensor], "data_samples": [_data_sample(args.size, args.size)]})

        anchor_s, _ = best_of(args.repeat, anchor)
        ours_s, prediction = best_of(args.repeat, lambda: segmenter.predict(image))
        print(f"{method_id:16s} {built:8.1f} {anchor_s:9.2f} {ours_s:9.2f} {ours_s / anchor_s:6.2f} "
              f"{megapixels / ours_s:7.3f} {int(prediction.labels.max()):6d}", flush=True)


if __name__ == "__main__":
    main()
