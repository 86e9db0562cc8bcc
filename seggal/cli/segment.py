"""``python -m seggal segment IMAGE_OR_FOLDER --out PATH``: label images from any installed method.

The default method, and the checkpoint a method runs with, are :mod:`seggal.gallery`'s policy (the same
as the Segment page's): the most accurate method (the paper's published accuracy for the task) that is
ready here — its weights on this machine (:func:`seggal.gallery.default_method`); ``--help`` names it. Images larger than one
256-pixel window are segmented window by window and stitched (:func:`seggal.tiling.segment_image`).
Labels are written as TIFFs (:func:`seggal.io.write_labels`): ``--out`` is a ``.tif`` file for one
image, else a folder receiving ``<image stem>_labels.tif`` per image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TARGET_NAMES = {"nuclei": "nuclei", "whole-cell": "whole_cell"}


def _channel(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a channel index (0, 1, 2) or 'none', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"channel index must be >= 0, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    from seggal.gallery import DEFAULT_TASK, default_method

    default = default_method()
    p = sub.add_parser(
        "segment", help=f"segment an image or a folder of images (default method here: {default})",
        description="Segment cells or nuclei and write integer label TIFFs. Default method: the most accurate "
                    "method (published accuracy for the task) whose weights are on this machine — now "
                    f"{default!r} for the default channels ({DEFAULT_TASK}; re-checked for the task the channels "
                    "give at run time; see `python -m seggal methods --task TASK`).",
    )
    p.add_argument("source", metavar="IMAGE_OR_FOLDER", type=Path, help="an image file (TIFF/PNG/JPG/NPY) or a folder of them")
    p.add_argument("--method", help=f"method id or name (default: the checkpoint's method, else {default})")
    p.add_argument("--checkpoint", help="checkpoint folder, Hub reference org/name[@revision], or a backend's "
                                        "published weights (Cellpose: cyto3, nuclei; SAM: a .pth file)")
    p.add_argument("--nuclear-channel", type=_channel, default=0, metavar="I", help="nuclear channel index, or 'none' (default 0)")
    p.add_argument("--membrane-channel", type=_channel, default=None, metavar="J",
                   help="membrane / cytoplasm channel index, or 'none' (default none)")
    p.add_argument("--target", choices=tuple(TARGET_NAMES),
                   help="what to segment (default: whole-cell when a membrane channel is given, else nuclei)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--out", required=True, type=Path, help="output .tif (one image) or folder")
    p.set_defaults(run=run)


def _inputs(source: Path) -> list[Path]:
    from seggal.errors import SegGalError
    from seggal.io import IMAGE_SUFFIXES

    if source.is_dir():
        files = sorted(f for f in source.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SegGalError(f"{source}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return files
    if not source.exists():
        raise SegGalError(f"{source}: no such file or folder")
    return [source]


def _outputs(files: list[Path], source: Path, out: Path) -> list[Path]:
    from seggal.errors import SegGalError

    if out.suffix.lower() in (".tif", ".tiff"):
        if source.is_dir():
            raise SegGalError(f"--out {out}: a folder of images needs an output folder, not a .tif file")
        return [out]
    if out.exists() and not out.is_dir():
        raise SegGalError(f"--out {out}: exists and is not a folder")
    return [out / f"{f.stem}_labels.tif" for f in files]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from seggal import gallery
    from seggal.backends import build
    from seggal.checkpoint import read_config, resolve_checkpoint
    from seggal.tiling import segment_image
    from seggal.errors import SegGalError
    from seggal.image import ChannelSpec, Image
    from seggal.io import read_image, write_labels
    from seggal.methods import get_method
    from seggal.tasks import find_task

    channels = ChannelSpec(args.nuclear_channel, args.membrane_channel)
    target = TARGET_NAMES[args.target] if args.target else ("whole_cell" if channels.membrane is not None else "nuclei")
    if target == "nuclei" and channels.nuclear is None:
        raise SegGalError("--target nuclei needs a nuclear channel (--nuclear-channel)")
    task = find_task("TissueNet", target, channels.input_channels)
    files = _inputs(args.source)
    outputs = _outputs(files, args.source, args.out)
    checkpoint = args.checkpoint
    if args.method:
        method = get_method(args.method)
    elif checkpoint:  # a SegGal checkpoint names its method
        checkpoint = resolve_checkpoint(checkpoint)
        method = get_method(read_config(checkpoint)["method"])
    else:
        method = get_method(gallery.default_method(task))
    if checkpoint:
        segmenter, used = build(method, checkpoint, device=args.device, target=target), str(checkpoint)
    else:  # the gallery's choice: the first ready entry, else one that downloads (Cellpose's published weights)
        entry = next((e for e in gallery.entries(method, task) if e.state != "unavailable"), None)
        if entry is None:
            raise SegGalError(f"method {method.id} has no weights here for {task.id}: pass --checkpoint (a checkpoint "
                              "folder or a Hub reference org/name[@revision]); `python -m seggal methods` lists what "
                              "is ready here")
        segmenter, used = gallery.load(entry, device=args.device, target=target), entry.label
    print(f"method {method.id} ({used}), task {task.id}, {len(files)} image(s)")
    with tqdm(total=len(files), unit="image", disable=len(files) == 1) as bar:
        for path, out in zip(files, outputs):
            image = Image(read_image(path), channels, path.name)
            windows = tqdm(unit="window", leave=False, disable=len(files) > 1 or max(image.shape) <= 256)

            def progress(done: int, total: int) -> None:
                windows.total = total
                windows.update(done - windows.n)

            prediction = segment_image(segmenter, image, progress=progress)
            windows.close()
            write_labels(out, prediction.labels)
            bar.write(f"{out}: {int(prediction.labels.max())} instances")
            bar.update(1)
    return 0
