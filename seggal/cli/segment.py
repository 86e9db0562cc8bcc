"""``python -m seggal segment IMAGE_OR_FOLDER --out PATH``: label images from any installed method.

The default method is the most accurate one (the paper's published accuracy) that runs offline in this
installation (:func:`seggal.backends.default_method`); ``--help`` names it. Images larger than one
256-pixel window are segmented window by window and stitched (:func:`seggal.tiling.segment_image`).
Labels are written as TIFFs (:func:`seggal.io.write_labels`): ``--out`` is a ``.tif`` file for one
image, else a folder receiving ``<image stem>_labels.tif`` per image. Images larger than one ``--block``,
folders of many images, OME-Zarr and microscope files (CZI, LIF, ND2, OME-TIFF) and any ``--cluster``
go through :mod:`seggal.distributed` (Dask).
"""

from __future__ import annotations

import argparse
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
    from seggal.backends import default_method

    default = default_method()
    p = sub.add_parser(
        "segment", help=f"segment an image or a folder of images (default method here: {default})",
        description="Segment cells or nuclei and write integer label TIFFs. Default method: the most accurate "
                    f"method (published accuracy) that runs offline in this installation — now {default!r} "
                    "(re-checked for the task at run time; see `python -m seggal methods`).",
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
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--out", required=True, type=Path, help="output .tif / .ome.zarr (one image) or folder")
    p.add_argument("--cluster", metavar="local|ADDRESS|slurm|none",
                   help="run on Dask: a local cluster, a running scheduler's address, or SLURM via dask-jobqueue "
                        "(default: local for an image larger than one block or a folder of 64+ images, else "
                        "in this process; 'none' forces this process)")
    p.add_argument("--workers", type=int, metavar="N", help="Dask workers (local: default min(4, CPUs); slurm: jobs)")
    p.add_argument("--block", type=int, default=4096, metavar="PX",
                   help="block side in pixels for large images (default 4096)")
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

    from seggal.backends import build, default_method, offline_checkpoint
    from seggal.distributed import Recipe, cli_channels, engine_needed, run_cli
    from seggal.tiling import segment_image
    from seggal.errors import SegGalError
    from seggal.image import ChannelSpec, Image
    from seggal.io import read_image, write_labels
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
        from seggal.hub import read_config, resolve_checkpoint

        checkpoint = resolve_checkpoint(checkpoint)
        method = get_method(read_config(checkpoint)["method"])
    else:
        method = get_method(default_method(task.id))
    checkpoint = checkpoint or offline_checkpoint(method, task.id)
    if checkpoint is None and method.backend == "cellpose":
        checkpoint = "nuclei" if target == "nuclei" else "cyto3"  # Cellpose's published models (downloaded once)
    if checkpoint is None:
        raise SegGalError(f"method {method.id} has no weights here: pass --checkpoint (a checkpoint folder or a Hub "
                          "reference org/name[@revision]); `python -m seggal methods` lists what runs offline")
    if engine_needed(args.source, args.cluster, args.block):  # Dask, blocks, OME-Zarr / microscope files
        return run_cli(args.source, args.out, Recipe(method.id, str(checkpoint) if checkpoint else None, args.device,
                                                     target), channels, args.cluster, args.workers, args.block)
    files = _inputs(args.source)
    outputs = _outputs(files, args.source, args.out)
    segmenter = build(method, checkpoint or None, device=args.device, target=target)
    print(f"method {method.id}" + (f" ({checkpoint})" if checkpoint else "") + f", task {task.id}, {len(files)} image(s)")
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
