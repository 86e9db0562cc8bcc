"""``python -m seggal segment IMAGE_OR_FOLDER --out PATH``: label images from any installed method.

The default method, and the checkpoint a method runs with, are :mod:`seggal.gallery`'s policy (the same
as the Segment page's): the most accurate method (the paper's published accuracy for the task) that is
ready here — its weights on this machine (:func:`seggal.gallery.default_method`); ``--help`` names it. Images larger than one
256-pixel window are segmented window by window and stitched (:func:`seggal.tiling.segment_image`).
Labels are written as TIFFs (:func:`seggal.io.write_labels`) with their per-cell confidences beside
(:func:`seggal.io.write_scores`, ``….scores.csv``, which ``seggal evaluate`` reads). Which inputs, which
output names, the collision check, ``segment_report.csv`` for folders (exit 2 when any image failed) and
atomic writes are :mod:`seggal.batch`'s policy, shared with the Dask path.
Images larger than one ``--block``, folders of many images, OME-Zarr and microscope files (CZI, LIF,
ND2, OME-TIFF) and any ``--cluster`` go through :mod:`seggal.distributed` (Dask).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TARGET_NAMES = {"nuclei": "nuclei", "whole-cell": "whole_cell"}


def _channel(text: str) -> int | str | None:
    if text.lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        return text  # a channel name (or 'auto'), looked up in the file by seggal.distributed.cli_channels
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
    p.add_argument("--nuclear-channel", type=_channel, default="auto", metavar="I",
                   help="nuclear channel index or name, or 'none' (default: suggested from the file's channel "
                        "names, else 0)")
    p.add_argument("--membrane-channel", type=_channel, default="auto", metavar="J",
                   help="membrane / cytoplasm channel index or name, or 'none' (default: suggested from the "
                        "file's channel names, else none)")
    p.add_argument("--target", choices=tuple(TARGET_NAMES),
                   help="what to segment (default: whole-cell when a membrane channel is given, else nuclei)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available; with "
                                                  "--cluster slurm, cuda asks every job for a GPU)")
    p.add_argument("--out", required=True, type=Path, help="output .tif / .ome.zarr (one image) or folder")
    p.add_argument("--cluster", metavar="local|ADDRESS|slurm|none",
                   help="run on Dask: a local cluster, a running scheduler's address, or SLURM via dask-jobqueue "
                        "(default: local for an image larger than one block or a folder of 64+ images, else "
                        "in this process; 'none' forces this process)")
    p.add_argument("--workers", type=int, metavar="N", help="Dask workers (local: default min(4, CPUs); slurm: jobs)")
    p.add_argument("--block", type=int, default=4096, metavar="PX",
                   help="block side in pixels for large images (default 4096)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from seggal import gallery
    from seggal.backends import build
    from seggal.batch import finish_folder, is_folder, list_inputs, plan_outputs, report_row
    from seggal.checkpoint import read_config, resolve_checkpoint
    from seggal.distributed import Recipe, cli_channels, engine_needed, run_cli
    from seggal.tiling import segment_image
    from seggal.errors import SegGalError
    from seggal.image import ChannelSpec, Image
    from seggal.io import read_image, write_labels, write_scores
    from seggal.methods import get_method
    from seggal.tasks import find_task

    channels = ChannelSpec(*cli_channels(args.source, args.nuclear_channel, args.membrane_channel))
    target = TARGET_NAMES[args.target] if args.target else ("whole_cell" if channels.membrane is not None else "nuclei")
    if target == "nuclei" and channels.nuclear is None:
        raise SegGalError("--target nuclei needs a nuclear channel (--nuclear-channel)")
    task = find_task("TissueNet", target, channels.input_channels)
    checkpoint = args.checkpoint
    if args.method:
        method = get_method(args.method)
    elif checkpoint:  # a SegGal checkpoint names its method
        checkpoint = resolve_checkpoint(checkpoint)
        method = get_method(read_config(checkpoint)["method"])
    else:
        method = get_method(gallery.default_method(task))
    if checkpoint:
        reference, used = str(checkpoint), str(checkpoint)
    else:  # the gallery's choice: the first ready entry, else one that downloads (Cellpose's published weights)
        entry = gallery.usable_entry(method, task)
        if entry is None:
            raise SegGalError(f"method {method.id} has no weights here for {task.id}: pass --checkpoint (a checkpoint "
                              "folder or a Hub reference org/name[@revision]); `python -m seggal methods` lists what "
                              "is ready here")
        reference, used = entry.reference, entry.label
    if engine_needed(args.source, args.cluster, args.block):  # Dask, blocks, OME-Zarr / microscope files
        return run_cli(args.source, args.out, Recipe(method.id, reference or None, args.device, target), channels,
                       args.cluster, args.workers, args.block)
    files = list_inputs(args.source)
    outputs = plan_outputs(files, args.source, args.out)
    segmenter = build(method, reference or None, device=args.device, target=target)
    print(f"method {method.id} ({used}), task {task.id}, {len(files)} image(s)")
    folder = is_folder(args.source)
    rows = []
    with tqdm(total=len(files), unit="image", disable=len(files) == 1) as bar:
        for path, out in zip(files, outputs):
            try:
                image = Image(read_image(path), channels, path.name)
                windows = tqdm(unit="window", leave=False, disable=len(files) > 1 or max(image.shape) <= 256)

                def progress(done: int, total: int) -> None:
                    windows.total = total
                    windows.update(done - windows.n)

                prediction = segment_image(segmenter, image, progress=progress)
                windows.close()
                replaced = out.is_symlink() or out.exists()
                write_labels(out, prediction.labels)
                write_scores(out, prediction.scores)  # the ranking travels with the masks (metrics.RANKING_RULE)
            except SegGalError as err:
                if not folder:
                    raise
                rows.append(report_row(path, reason=str(err)))
                bar.write(f"{path.name}: failed: {err}", file=sys.stderr)
            else:
                n = int(prediction.labels.max())
                rows.append(report_row(path, out, n))
                bar.write(f"{out}: {n} instances" + (" (replaced the existing file)" if replaced else ""))
            bar.update(1)
    if folder:
        finish_folder(args.out, rows)
    return 0
