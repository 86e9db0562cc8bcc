"""Cut the original datasets into the paper's preprocessed layout, as the paper did (Methods, "Image preprocessing").

Every image of TissueNet v1.1 (deepcell ``.npz``; training images 512 x 512, validation and test 256 x 256) and of
LIVECell (COCO json + 704 x 520 TIFFs) is cut into 256 x 256 windows every 192 pixels (75 % of the window), left to
right and top to bottom, the last window of a row or column flush with the image's edge so that the whole image is
covered (:func:`seggal.preprocess.sliding_windows`: a 704 x 520 LIVECell image gives 4 x 3 = 12 windows, a 512 x 512
TissueNet training image 3 x 3 = 9, a 256 x 256 one itself). Each window's pixels are then normalised per channel
with the 0.1 / 99.9 percentiles and equalised with CLAHE (:data:`seggal.preprocess.PAPER`); its labels are the
original labels inside the window, renumbered 1..n in order of first appearance (``relabel_sequential``; a cell cut
by the window's edge keeps the part inside). An axis shorter than 256 pixels (not in either dataset) is padded with
zeros at its end.

Written in the paper's layout (``X``, ``y``, ``filenames``, ``tissue_list``; :func:`seggal.data.npz.NpzWriter`, one
window in memory at a time, the file appearing atomically), read by :mod:`seggal.data.tissuenet` and
:mod:`seggal.data.livecell_npz`:

* TissueNet: ``tissuenet_{split}_256x256_seggal.npz`` — ``X`` (N, 256, 256, 2) float32 [nuclear, membrane], ``y``
  (N, 256, 256, 2) int32 [whole cell, nuclei], ``tissue_list``, ``platform_list``;
* LIVECell: ``LIVECell_{split}_all_seggal.npz`` — ``X`` (N, 256, 256, 1) float32, ``y`` (N, 256, 256, 1) int32,
  ``tissue_list`` (the cell line).

``filenames`` name each window's source and corner: ``{split}_{index:05d}_{tissue}_{platform}_y{y0}_x{x0}`` (TissueNet,
whose files carry no names) or ``{original stem}_y{y0}_x{x0}.tif`` (LIVECell). A source marked as generated (a
``synthetic`` platform, a json whose description says synthetic) passes the mark on to its windows' names, which
:func:`seggal.reproduce.stand_in_marks` reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from seggal.data.npz import NpzWriter
from seggal.preprocess import PAPER, WINDOW, sliding_windows

SPLITS = ("train", "val", "test")
#: The output file of each dataset's split.
OUTPUT = {"TissueNet": "tissuenet_{split}_256x256_seggal.npz", "LIVECell": "LIVECell_{split}_all_seggal.npz"}
#: What the cut records in the pull manifest.
RECORD = {**PAPER.to_dict(), "edge": "last window flush with the edge", "labels": "relabel_sequential per window"}
#: ``progress(done, total)`` in windows.
Progress = Callable[[int, "int | None"], None]


def corners(height: int, width: int) -> list[tuple[int, int]]:
    """The (y0, x0) of the paper's windows over an (height, width) image, raster order."""
    return sliding_windows(height, width, PAPER.window, PAPER.step)


def _crop(array: np.ndarray, y0: int, x0: int) -> np.ndarray:
    """array[y0:y0+256, x0:x0+256], zero-padded at the end to 256 x 256 ((H, W) or (H, W, C))."""
    part = np.asarray(array[y0:y0 + WINDOW, x0:x0 + WINDOW])
    pad = [(0, WINDOW - part.shape[0]), (0, WINDOW - part.shape[1])] + [(0, 0)] * (part.ndim - 2)
    return np.pad(part, pad) if any(p[1] for p in pad) else part


def cut_window(pixels: np.ndarray, labels: np.ndarray, y0: int, x0: int) -> tuple[np.ndarray, np.ndarray]:
    """One window: ``pixels`` (H, W, C) → (256, 256, C) float32 normalised + CLAHE; ``labels`` (H, W, K) → (256, 256, K)
    int32, each channel renumbered 1..n."""
    from skimage.segmentation import relabel_sequential

    crop = np.asarray(pixels[y0:y0 + WINDOW, x0:x0 + WINDOW], dtype=np.float32)
    image = _crop(PAPER.apply(crop), 0, 0)
    window = _crop(labels, y0, x0)
    out = np.stack([relabel_sequential(np.array(window[:, :, k], np.int32))[0] for k in range(window.shape[2])], axis=-1)
    return image, out.astype(np.int32)


#: One source image: (load → (pixels (H, W, C), labels (H, W, K))), its window corners, its tissue / cell line.
Item = tuple[Callable[[], tuple[np.ndarray, np.ndarray]], list[tuple[int, int]], str]


def _write(out: Path, items: list[Item], channels: tuple[int, int], names: Callable[[int, int, int], str],
           extra: dict[str, list[str]], progress: Progress | None) -> Path:
    """Write every window of ``items`` to ``out``: X with ``channels[0]`` channels, y with ``channels[1]``; ``extra``
    holds per-image strings repeated for each of its windows."""
    total = sum(len(c) for _, c, _ in items)
    writer = NpzWriter(out, {"X": ((total, WINDOW, WINDOW, channels[0]), np.float32),
                             "y": ((total, WINDOW, WINDOW, channels[1]), np.int32)})
    tissues, filenames, more = [], [], {key: [] for key in extra}
    with writer:
        k = 0
        for i, (load, windows, tissue) in enumerate(items):
            pixels, labels = load()
            for y0, x0 in windows:
                writer["X"][k], writer["y"][k] = cut_window(pixels, labels, y0, x0)
                tissues.append(tissue)
                filenames.append(names(i, y0, x0))
                for key, values in extra.items():
                    more[key].append(values[i])
                k += 1
                if progress is not None:
                    progress(k, total)
        return writer.close({"tissue_list": np.array(tissues), "filenames": np.array(filenames),
                             **{key: np.array(v) for key, v in more.items()}})


def cut_tissuenet(source: str | os.PathLike, out: str | os.PathLike, split: str, progress: Progress | None = None) -> Path:
    """TissueNet v1.1's ``source`` split (deepcell layout) → the paper-layout windows file ``out``."""
    from seggal.data.tissuenet import open_tissuenet

    data = open_tissuenet(source)
    height, width = (int(s) for s in data.X.shape[1:3])
    windows = corners(height, width)
    platforms = data.platforms or ("",) * len(data)
    items = [((lambda i=i: (data.X[i], data.y[i])), windows, data.tissues[i]) for i in range(len(data))]

    def name(i: int, y0: int, x0: int) -> str:
        parts = [split, f"{i:05d}", data.tissues[i].replace(" ", "_"), platforms[i]]
        return "_".join(p for p in parts if p) + f"_y{y0}_x{x0}.tif"

    extra = {"platform_list": list(platforms)} if data.platforms else {}
    return _write(Path(out), items, (2, 2), name, extra, progress)


def cut_livecell(source: str | os.PathLike, out: str | os.PathLike, progress: Progress | None = None,
                 images: str | os.PathLike | None = None) -> Path:
    """LIVECell's ``source`` json (+ its images folder) → the paper-layout windows file ``out``."""
    from seggal.data.livecell import open_livecell

    data = open_livecell(source, images)
    mark = "synthetic_" if "synthetic" in data.description.lower() else ""
    items = [((lambda i=i: (data.image(i).pixels, data.labels(i)[:, :, None])), corners(im["height"], im["width"]), t)
             for i, (im, t) in enumerate(zip(data.images, data.cell_types))]

    def name(i: int, y0: int, x0: int) -> str:
        return f"{mark}{Path(data.images[i]['file_name']).stem}_y{y0}_x{x0}.tif"

    return _write(Path(out), items, (1, 1), name, {}, progress)


def cut_dataset(dataset: str, originals: str | os.PathLike, out: str | os.PathLike,
                bar: Callable[..., Progress] | None = None) -> dict[str, str]:
    """Cut every split of ``dataset`` (``TissueNet`` / ``LIVECell``) found in ``originals`` into ``out`` → {output file
    name: original file name}. A split whose output already exists (files appear atomically) is kept."""
    from seggal.errors import SegGalError

    originals, out = Path(originals), Path(out)
    done = {}
    for split in SPLITS:
        pattern = "tissuenet_v1.1_{split}.npz" if dataset == "TissueNet" else "livecell_coco_{split}.json"
        found = sorted(originals.rglob(pattern.format(split=split)))
        if not found:
            continue
        if len(found) > 1:
            raise SegGalError(f"{originals}: {len(found)} files named {found[0].name}; keep one")
        target = out / OUTPUT[dataset].format(split=split)
        if not target.is_file():
            progress = bar(target.name, "window") if bar else None
            if dataset == "TissueNet":
                cut_tissuenet(found[0], target, split, progress)
            else:
                cut_livecell(found[0], target, progress)
        done[target.name] = str(found[0].relative_to(out) if found[0].is_relative_to(out) else found[0])
    if not done:
        raise SegGalError(f"{originals}: no {dataset} originals to cut (expected "
                          f"{'tissuenet_v1.1_<split>.npz' if dataset == 'TissueNet' else 'livecell_coco_<split>.json'})")
    return done


__all__ = ["corners", "cut_window", "cut_tissuenet", "cut_livecell", "cut_dataset", "OUTPUT", "RECORD"]
