"""Speed of every installed backend, and SegGal's Cellpose wrapper against Cellpose's own ``eval``.

    .venv/bin/python -m bench.bench_backends [--size 256] [--repeats 3] [--device cpu] [--skip sam] [--sam-points 32]

Prints megapixels per second per backend (untrained networks: the time of the network and its
post-processing, not of good masks; SAM is a random ViT-B with ``--sam-points`` prompts per side, timed
once), then the anchor — ``CellposeModel.eval`` called directly on the raw image with Cellpose's own
normalisation — and SegGal's ``CellposeSegmenter.predict`` on the same image with the same model in the
same run, and the ratio (target: <= 1.10). Times are the best of ``--repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up: lazy imports, allocator, first-call compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256, one window)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip", nargs="*", default=[], help="backends to leave out (baseline cellpose stardist sam)")
    parser.add_argument("--sam-points", type=int, default=32, help="SAM's prompt grid (points per side; default 32)")
    args = parser.parse_args()

    from seggal.backends import build
    from seggal.backends.baseline import NAIVE, BaselineSegmenter
    from seggal.data.synthetic import synthetic_tissue
    from seggal.image import ChannelSpec, Image
    from seggal.methods import availability

    pixels, _, _ = synthetic_tissue((args.size, args.size), "Breast", seed=0)
    image = Image(pixels, ChannelSpec(0, None), "synthetic nuclei")
    megapixels = args.size * args.size / 1e6
    print(f"image {args.size}x{args.size} (nuclear channel), device {args.device}, best of {args.repeats}")

    segmenters = {"baseline (naive anchor)": lambda: BaselineSegmenter(NAIVE), "baseline": lambda: build("baseline")}
    if "cellpose" not in args.skip and availability("cellpose").available:
        segmenters["cellpose (untrained)"] = lambda: build("cellpose", device=args.device)
    if "stardist" not in args.skip and availability("stardist").available:
        segmenters["stardist (untrained)"] = lambda: build("stardist")
    if "sam" not in args.skip and availability("sam").available:
        from seggal.backends.sam import random_init

        segmenters["sam (random ViT-B)"] = lambda: random_init("vit_b", device=args.device, points_per_side=args.sam_points)
    print(f"{'backend':<26}{'seconds':>9}{'MP/s':>9}")
    built = {}
    for name, make in segmenters.items():
        if name.split()[0] in args.skip:
            continue
        built[name] = segmenter = make()
        repeats = 1 if name.startswith("sam") else args.repeats
        seconds = best_time(lambda: segmenter.predict(image), repeats)
        print(f"{name:<26}{seconds:>9.3f}{megapixels / seconds:>9.4f}", flush=True)

    if "cellpose (untrained)" in built:
        segmenter = built["cellpose (untrained)"]
        raw = np.ascontiguousarray(image.pixels[:, :, 0])

        def anchor():
            return segmenter.model.eval(raw, channels=[0, 0], normalize=True)

        t_anchor = best_time(anchor, args.repeats)
        t_ours = best_time(lambda: segmenter.predict(image), args.repeats)
        same = np.array_equal(anchor()[0] > 0, segmenter.predict(image).labels > 0)
        print(f"\nCellpose eval (anchor) {t_anchor:.3f} s; SegGal CellposeSegmenter.predict {t_ours:.3f} s; "
              f"ratio {t_ours / t_anchor:.3f} (target <= 1.10); same foreground: {same}")


if __name__ == "__main__":
    main()
