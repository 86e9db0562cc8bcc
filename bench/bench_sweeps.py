"""Time SegGal's one-transform sweeps against the per-step loops (1024 x 1024, 2,000 nuclei, px 0..10).

* binary dilation: seggal.sweeps.paper_dilate for every px (the paper's per-instance binary_dilation,
  each instance inside its own window — already faster than dilating over the full image) vs
  seggal.sweeps.dilation_steps (one 3x3 maximum filter per step);
* expand: skimage.segmentation.expand_labels for every px vs dilation_steps(method="expand") (one EDT);
* erosion: seggal.sweeps.paper_erode for every px vs erosion_steps (one city-block distance transform).

Every step is checked pixel for pixel against the loop. Usage:
``python bench/bench_sweeps.py [--size 1024] [--nuclei 2000] [--max-px 10] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seggal.sweeps import dilation_steps, erosion_steps, paper_dilate, paper_erode  # noqa: E402


def synthetic_nuclei(size: int, n: int, seed: int) -> np.ndarray:
    """(size, size) int32 with n roundish nuclei of radius ~3-6 px (labels 1..n, may touch)."""
    from skimage.segmentation import expand_labels

    rng = np.random.default_rng(seed)
    seeds = np.zeros((size, size), np.int32)
    seeds[rng.integers(0, size, n), rng.integers(0, size, n)] = np.arange(1, n + 1)
    cells = expand_labels(seeds, 12)
    grown = expand_labels(seeds, 5)
    return np.where(grown == cells, grown, 0).astype(np.int32)


def timed(fn):
    """(result, wall seconds, CPU seconds)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--nuclei", type=int, default=2000)
    parser.add_argument("--max-px", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from skimage.segmentation import expand_labels

    nuclei = synthetic_nuclei(args.size, args.nuclei, args.seed)
    cells = expand_labels(nuclei, 6)
    steps = range(args.max_px + 1)
    print(f"{args.size}x{args.size}, {len(np.unique(nuclei)) - 1} nuclei, px 0..{args.max_px}")
    cases = [
        ("binary dilation", lambda: [paper_dilate(nuclei, k) for k in steps], lambda: list(dilation_steps(nuclei, args.max_px))),
        ("expand_labels", lambda: [expand_labels(nuclei, k) for k in steps], lambda: list(dilation_steps(nuclei, args.max_px, "expand"))),
        ("binary erosion", lambda: [paper_erode(cells, k) for k in steps], lambda: list(erosion_steps(cells, args.max_px))),
    ]
    for name, loop, ours in cases:
        ref, t_ref, c_ref = timed(loop)
        got, t_ours, c_ours = timed(ours)
        assert all(np.array_equal(a, b) for a, b in zip(ref, got)), f"{name}: results differ"
        print(f"{name:>16}: per-step loop {t_ref:6.2f} s wall {c_ref:6.2f} s CPU   one transform {t_ours:6.3f} s wall "
              f"{c_ours:6.3f} s CPU   speed-up {t_ref / t_ours:5.1f}x wall {c_ref / c_ours:5.1f}x CPU  (identical)")


if __name__ == "__main__":
    main()
