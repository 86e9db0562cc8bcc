"""In-process tiling vs seggal.distributed on Dask (1 and 2 local workers): one large image and a folder
of small fields, with the classical baseline (no weights). Prints wall time, images/s or megapixels/s,
peak resident memory per worker, and the overhead of Dask on one small image.

    python bench/bench_distributed.py [--size 8192] [--fields 500] [--block 2048]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seggal.data.synthetic import synthetic_tissue  # noqa: E402
from seggal.distributed import Recipe, connect, segment_file, segment_large, worker_segmenter  # noqa: E402
from seggal.formats import open_image  # noqa: E402
from seggal.image import ChannelSpec, Image  # noqa: E402
from seggal.tiling import segment_image  # noqa: E402


def reset_peak() -> None:
    """Reset this process's peak resident memory (Linux: ``5`` to /proc/self/clear_refs). Needed for the
    workers: a forked worker inherits its parent's peak (ru_maxrss / VmHWM), so without it every worker
    reported the benchmark process's own 1 GB."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_mb() -> float:
    """Peak resident memory of this process since start or :func:`reset_peak` (VmHWM), in MB."""
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def make_large(path: Path, size: int) -> None:
    tile, _, _ = synthetic_tissue((1024, 1024), "Breast", seed=0)
    reps = -(-size // 1024)
    pixels = np.tile((tile * 1000).astype(np.uint16), (reps, reps, 1))[:size, :size]
    tifffile.imwrite(path, np.moveaxis(pixels, -1, 0), bigtiff=True, tile=(256, 256), metadata={"axes": "CYX"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--fields", type=int, default=500)
    parser.add_argument("--block", type=int, default=2048)
    args = parser.parse_args()
    recipe, channels = Recipe("baseline", target="whole_cell"), ChannelSpec(0, 1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_large(tmp / "large.tif", args.size)
        field, _, _ = synthetic_tissue((256, 256), "Breast", seed=1)
        fields = tmp / "fields"
        fields.mkdir()
        for i in range(args.fields):
            tifffile.imwrite(fields / f"f{i:04d}.tif", np.moveaxis((np.roll(field, i, 0) * 1000).astype(np.uint16), -1, 0),
                             metadata={"axes": "CYX"})
        files = sorted(fields.iterdir())
        image = open_image(tmp / "large.tif")
        megapixels = args.size**2 / 1e6
        print(f"large image {args.size}² ({megapixels:.0f} MP), {args.fields} fields of 256², block {args.block}, baseline")
        print(f"{'engine':<22} {'large s':>8} {'MP/s':>6} {'fields s':>9} {'img/s':>6} {'peak MB/worker':>15}")

        segmenter = worker_segmenter(recipe)
        start = time.perf_counter()
        pixels = image.read(0, args.size, 0, args.size, [0, 1])
        segment_image(segmenter, Image(pixels, channels, "large.tif"))
        del pixels
        t_large = time.perf_counter() - start
        start = time.perf_counter()
        for f in files:
            segment_file(recipe, str(f), str(tmp / "out0" / f.name), channels)
        t_fields = time.perf_counter() - start
        print(f"{'in-process':<22} {t_large:8.1f} {megapixels / t_large:6.2f} {t_fields:9.1f} {len(files) / t_fields:6.1f} "
              f"{peak_mb():15.0f}")

        small = files[0]
        start = time.perf_counter()
        segment_file(recipe, str(small), str(tmp / "one_in.tif"), channels)
        t_one = time.perf_counter() - start
        for workers in (1, 2):
            start = time.perf_counter()
            with connect("local", workers) as client:
                t_up = time.perf_counter() - start
                client.run(reset_peak)
                segment_large(recipe, image, channels, tmp / f"large_{workers}.tif", client, args.block)
                t_large = time.perf_counter() - start - t_up
                mid = time.perf_counter()
                futures = [client.submit(segment_file, recipe, str(f), str(tmp / f"out{workers}" / f.name), channels,
                                         pure=False) for f in files]
                client.gather(futures)
                t_fields = time.perf_counter() - mid
                peaks = client.run(peak_mb)
                mid = time.perf_counter()
                client.submit(segment_file, recipe, str(small), str(tmp / f"one_{workers}.tif"), channels,
                              pure=False).result()
                t_small = time.perf_counter() - mid
            print(f"{f'dask, {workers} worker(s)':<22} {t_large:8.1f} {megapixels / t_large:6.2f} {t_fields:9.1f} "
                  f"{len(files) / t_fields:6.1f} {max(peaks.values()):15.0f}   (cluster start {t_up:.1f} s; one "
                  f"small image {t_small * 1000:.0f} ms vs {t_one * 1000:.0f} ms in-process)")


if __name__ == "__main__":
    main()
