"""Scale out on Dask: whole slides in blocks of windows, folders of many images one task each.

**Whole images.** The image's windows are those of the in-process tiler (:func:`seggal.tiling.window_grid`
over the *whole* image, with the window and step of the segmenter's preprocessing record — the paper's
256 / 192 unless its checkpoint records others; :func:`tiling_of` asks a worker). A block is the set of windows whose
top-left corner falls in one ``block`` x ``block`` square; its task reads the pixels under those windows
(the block plus the windows' overhang: the overlap comes from the tiler's own grid) from the lazily
opened file (:class:`seggal.formats.LazyImage`), predicts them with :func:`seggal.tiling.owned_windows`
and writes each window's owned instances to ``<out>.parts/block_<i>_<j>.npz``. A second, sequential
pass (:func:`stitch`) places the windows in raster order with :func:`seggal.tiling.place` into a band of
rows that is flushed to a zarr array, so the result is *the same function* as
:func:`seggal.tiling.segment_image` — equal labels for any segmenter (the ids even coincide when the
segmenter is deterministic), ids unique and consecutive 1..n in placement order — and memory stays
bounded by one block (workers) or one band of rows (the stitch), not by the image.

Cellpose's ``contrib/distributed_segmentation.py`` instead segments overlapping blocks whole and merges
labels that touch across block faces (a graph of face contacts): cells that merely touch at a face are
fused and the result depends on the block size. Here the block size changes only the scheduling.

**Folders.** Every image is one task that segments it whole (:func:`segment_file`). Inputs, output
names, the collision check, the scores sidecars, ``segment_report.csv`` and exit 2 when an image failed
are :mod:`seggal.batch`'s policy, the same as the in-process loop's. A block or an image whose task
raises ends as a :class:`SegGalError` naming it (``error: …`` on the command line), never a traceback.

**Checkpoints.** Written outputs are the checkpoints: a restarted job skips images whose output and
scores sidecar exist and blocks whose ``.npz`` exists (each written to a temporary name, then
``os.replace``); the parts folder is removed once the final output is written. When a block fails, the
finished blocks stay there and the error says so: rerunning the same command resumes from them. ``plan.json`` in it records the grid, the source and the
segmenter; a different plan starts afresh.

**Segmenters.** Tasks carry a picklable recipe (:class:`Recipe`, or any hashable zero-argument callable
returning a :class:`~seggal.backends.base.Segmenter`); :func:`worker_segmenter` builds it once per worker
process. GPU workers pick their GPU through :func:`seggal.backends.device.pick_device` (``device=None``); on a
local cluster with several GPUs :func:`worker_device` spreads the workers over them.

**Clusters** (:func:`connect`): ``None`` runs in this process, ``"local"`` a ``distributed.LocalCluster``
of single-threaded worker processes, ``"slurm"`` a ``dask_jobqueue.SLURMCluster`` (:func:`slurm_cluster`:
one single-threaded worker per job, as locally; queue, account, CPUs, memory and walltime from Dask's
``jobqueue.slurm`` settings; a GPU per job when the recipe asks for CUDA), anything else is a scheduler
address to join.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from seggal.batch import ALREADY_WRITTEN, finish_folder, is_folder, list_inputs, plan_outputs, report_row
from seggal.errors import SegGalError
from seggal.formats import LazyImage, is_zarr, open_image, write_labels_ome_zarr, write_labels_tiff
from seggal.image import ChannelSpec, Image
from seggal.io import read_scores, scores_path, write_atomic, write_scores
from seggal.preprocess import STEP, WINDOW
from seggal.tiling import Window, owned_windows, place, segment_image, window_grid

#: Default block side in pixels; an image larger than one block is segmented in blocks.
BLOCK = 4096
#: A folder of at least this many images goes to a local cluster by default.
FOLDER_MIN = 64
#: Marks a channel flag left to its default (suggested from the file's channel names).
AUTO = "auto"
#: A SLURM worker job's CPUs and memory when neither the caller nor Dask's ``jobqueue.slurm`` settings say.
SLURM_DEFAULTS = {"cores": 4, "memory": "16GB"}


@dataclass(frozen=True)
class Recipe:
    """How a worker builds its segmenter: :func:`seggal.backends.build` (method, checkpoint, device, target)."""

    method: str
    checkpoint: str | None = None
    device: str | None = None
    target: str | None = None

    def __call__(self):
        from seggal.backends import build
        from seggal.backends.device import gpu_count

        device = worker_device(self.device, _worker_name(), gpu_count())
        return build(self.method, self.checkpoint or None, device=device, target=self.target)


def worker_device(device: str | None, worker: object, gpus: int) -> str | None:
    """The device a worker builds its model on: ``device`` as asked, except that an unindexed ``"cuda"``
    (or no choice) on a machine with several GPUs spreads local workers over them, worker ``k`` on
    ``cuda:{k mod gpus}`` (a :class:`~distributed.LocalCluster` names its workers 0, 1, …). A SLURM job sees
    only its own GPU (``gpus`` = 1), and a named ``"cuda:N"`` or ``"cpu"`` is kept."""
    if gpus < 2 or not isinstance(worker, int) or str(device or "auto").lower() not in ("cuda", "auto"):
        return device
    return f"cuda:{worker % gpus}"


def _worker_name() -> object:
    """This Dask worker's name (an int on a local cluster), or ``None`` outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().name
    except (ImportError, ValueError):
        return None


_SEGMENTERS: dict = {}


def worker_segmenter(recipe: Callable):
    """The segmenter of ``recipe``, built once per process (each Dask worker loads its model once)."""
    if recipe not in _SEGMENTERS:
        _SEGMENTERS[recipe] = recipe()
    return _SEGMENTERS[recipe]


def tiling_of(recipe: Callable) -> tuple[int, int]:
    """(window, step) of the segmenter's preprocessing record (built once per worker, like every task's)."""
    record = worker_segmenter(recipe).preprocessing
    return record.window, record.step


def _read(image: LazyImage, channels: ChannelSpec, box: tuple[int, int, int, int]) -> Image:
    """The box (y0, y1, x0, x1) of ``image`` as an :class:`Image` of the given channels, packed nuclear first."""
    order = [c for c in (channels.nuclear, channels.membrane) if c is not None]
    packed = ChannelSpec(0 if channels.nuclear is not None else None,
                         (1 if channels.nuclear is not None else 0) if channels.membrane is not None else None)
    return Image(image.read(*box, order), packed, image.name)


# ---------------------------------------------------------------- whole images in blocks

@dataclass(frozen=True)
class Block:
    """One task: block (i, j), its windows (of :func:`seggal.tiling.window_grid`) and the pixel box
    (y0, y1, x0, x1) they cover."""

    i: int
    j: int
    windows: tuple[Window, ...]
    box: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        return f"block_{self.i}_{self.j}.npz"


def plan_blocks(shape: tuple[int, int], block: int = BLOCK, window: int = WINDOW, step: int = STEP) -> list[Block]:
    """The blocks of an (H, W) image, in raster order: windows grouped by which ``block`` square holds
    their top-left corner."""
    if block < window:
        raise SegGalError(f"--block {block} is smaller than the {window}-pixel window")
    height, width = shape
    groups: dict[tuple[int, int], list[Window]] = {}
    for win in window_grid(height, width, window, step):
        groups.setdefault((win[0][0] // block, win[1][0] // block), []).append(win)
    blocks = []
    for (i, j), wins in sorted(groups.items()):
        y0, x0 = min(w[0][0] for w in wins), min(w[1][0] for w in wins)
        y1, x1 = min(height, max(w[0][0] for w in wins) + window), min(width, max(w[1][0] for w in wins) + window)
        blocks.append(Block(i, j, tuple(wins), (y0, y1, x0, x1)))
    return blocks


def segment_block(recipe: Callable, image: LazyImage, channels: ChannelSpec, block: Block, parts: str,
                  window: int = WINDOW) -> int:
    """Predict ``block``'s windows and write their owned instances to ``parts/block.name`` (skipped when
    it exists). Returns the number of windows predicted (0 when skipped)."""
    target = Path(parts) / block.name
    if target.exists():
        return 0
    arrays = {}
    try:
        pixels = _read(image, channels, block.box)
        for y0, x0, labels, scores in owned_windows(worker_segmenter(recipe), pixels, list(block.windows), window,
                                                    origin=(block.box[0], block.box[2])):
            arrays[f"labels_{y0}_{x0}"] = labels.astype(np.uint16) if len(scores) < 2**16 else labels
            arrays[f"scores_{y0}_{x0}"] = scores
    except Exception as exc:  # a worker's failure reaches the command line as one clear message
        raise SegGalError(f"{image.name}, block {block.i},{block.j} (pixels {block.box}): {_reason(exc)}") from None
    tmp = target.with_name(f".{block.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, target)
    return len(block.windows)


def stitch(shape: tuple[int, int], blocks: Sequence[Block], parts: str | Path, out, block: int = BLOCK,
           window: int = WINDOW) -> np.ndarray:
    """Place every window's owned instances (read from ``parts``) in raster order into ``out`` (an (H, W)
    int32 zarr or numpy array, zeros), a band of rows at a time. Returns the scores of the placed
    instances, (n,) float32 (entry i = label i + 1)."""
    height, width = shape
    by_index = {(b.i, b.j): b for b in blocks}
    rows: dict[int, list[tuple[Window, Block]]] = {}
    for b in blocks:
        for win in b.windows:
            rows.setdefault(win[0][0], []).append((win, b))
    chunk = out.chunks[0] if hasattr(out, "chunks") else height
    band, lo = np.zeros((0, width), np.int32), 0
    placed: list[np.ndarray] = []
    n = 0
    opened: dict[tuple[int, int], np.lib.npyio.NpzFile] = {}
    for y0 in sorted(rows):
        flush = (y0 // chunk) * chunk  # rows above y0 are final; write whole chunks of them
        if flush > lo:
            out[lo:flush] = band[: flush - lo]
            band, lo = band[flush - lo :], flush
        need = min(height, y0 + window) - lo
        if band.shape[0] < need:
            band = np.concatenate([band, np.zeros((need - band.shape[0], width), np.int32)])
        for key in [k for k in opened if k[0] < y0 // block]:
            opened.pop(key).close()
        for (wy, (x0, *_)), b in sorted(rows[y0], key=lambda r: r[0][1][0]):
            key = (b.i, b.j)
            if key not in opened:
                opened[key] = np.load(Path(parts) / by_index[key].name, allow_pickle=False)
            labels = opened[key][f"labels_{y0}_{x0}"].astype(np.int32)
            scores = opened[key][f"scores_{y0}_{x0}"]
            region = band[y0 - lo : y0 - lo + labels.shape[0], x0 : x0 + labels.shape[1]]
            placed.append(place(region, labels, scores, n))
            n += len(placed[-1])
    for handle in opened.values():
        handle.close()
    out[lo:height] = band[: height - lo]
    return np.concatenate(placed).astype(np.float32) if placed else np.zeros(0, np.float32)


def _plan_record(image: LazyImage, channels: ChannelSpec, recipe, block: int, window: int, step: int) -> dict:
    return {"source": image.path, "shape": list(image.shape), "window": window, "step": step, "block": block,
            "channels": [channels.nuclear, channels.membrane], "segmenter": repr(recipe)}


def segment_large(recipe: Callable, image: LazyImage, channels: ChannelSpec, out: str | Path, client=None,
                  block: int = BLOCK, attrs: dict | None = None) -> int:
    """Segment ``image`` in blocks (on ``client``'s cluster, or here when ``None``) and write the label
    image to ``out`` (``.ome.zarr`` / ``.zarr``: an OME-Zarr pyramid like the source's; else a BigTIFF),
    then its scores sidecar (:func:`seggal.io.scores_path`).

    Returns the number of instances. Finished blocks in ``<out>.parts`` are reused (see the module
    docstring); the folder is removed at the end. A failing block raises :class:`SegGalError`.
    """
    import zarr

    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    window, step = client.submit(tiling_of, recipe, pure=False).result() if client is not None else tiling_of(recipe)
    blocks = plan_blocks(image.shape, block, window, step)
    record = _plan_record(image, channels, recipe, block, window, step)
    plan_file = parts / "plan.json"
    if parts.exists() and (not plan_file.exists() or json.loads(plan_file.read_text()) != record):
        shutil.rmtree(parts)  # another job's leftovers: start afresh
    write_atomic(plan_file, json.dumps(record).encode())
    arguments = [(recipe, image, channels, b, str(parts), window) for b in blocks]
    try:
        _run_tasks(client, segment_block, arguments, "block")
    except SegGalError as exc:
        raise SegGalError(f"{exc}\nnothing was written to {out}; the finished blocks are kept in {parts}: rerun the "
                          "same command to resume from them (or delete that folder)") from None
    canvas = zarr.open_array(str(parts / "labels.zarr"), mode="w", shape=image.shape, dtype=np.int32,
                             chunks=(1024, 1024), fill_value=0)
    scores = stitch(image.shape, blocks, parts, canvas, block, window)
    _write_output(out, canvas, image, attrs)
    write_scores(out, scores)
    shutil.rmtree(parts)
    return len(scores)


def _write_output(out: Path, labels, image: LazyImage, attrs: dict | None) -> None:
    if is_zarr(out):
        write_labels_ome_zarr(out, labels, like=image, attrs=attrs)
    else:
        write_labels_tiff(out, labels, image.pixel_size_um)


# ---------------------------------------------------------------- folders: one task per image

def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, SegGalError) else f"{type(exc).__name__}: {exc}"


def segment_file(recipe: Callable, source: str, out: str, channels: ChannelSpec, resume: bool = True) -> dict:
    """Segment one image file whole and write its labels to ``out``, then their scores sidecar; with
    ``resume``, an image whose output and sidecar exist is not segmented again.

    Returns its row of the report (:func:`seggal.batch.report_row`): ``ok`` with the number of
    instances, or ``failed`` with the reason — a bad file never stops the others, and leaves no output.
    """
    source, out = Path(source), Path(out)
    if resume and (out.exists() or out.is_symlink()) and scores_path(out).is_file():
        try:
            return report_row(source, out, len(read_scores(out)), ALREADY_WRITTEN)
        except SegGalError:
            pass  # a damaged sidecar: segment again
    try:
        image = open_image(source)
        pixels = _read(image, channels, (0, image.shape[0], 0, image.shape[1]))
        prediction = segment_image(worker_segmenter(recipe), pixels)
        _write_output(out, prediction.labels, image, None)
        write_scores(out, prediction.scores)
        return report_row(source, out, int(prediction.labels.max()))
    except Exception as exc:  # every failure is reported per file
        return report_row(source, reason=_reason(exc))


def _run_tasks(client, function: Callable, arguments: list[tuple], unit: str) -> list:
    """``function(*a)`` for every ``a``: on ``client``'s cluster with Dask's progress bar, else here with tqdm."""
    if client is None:
        from tqdm import tqdm

        return [function(*a) for a in tqdm(arguments, unit=unit, disable=len(arguments) < 2)]
    from distributed import progress

    futures = [client.submit(function, *a, pure=False) for a in arguments]
    progress(futures)
    print()
    return client.gather(futures)


def slurm_cluster(cores: int | None = None, memory: str | None = None, walltime: str | None = None,
                  queue: str | None = None, account: str | None = None, gpus: int = 0):
    """A ``dask_jobqueue.SLURMCluster`` (its scheduler runs here; no job is submitted before ``scale``).

    Each job runs one worker process of one thread — the model is loaded once and runs one block or
    image at a time, as on the local cluster — on ``cores`` CPUs (``--cpus-per-task``, and
    ``OMP_NUM_THREADS`` for the model's own threads) with ``memory``; ``gpus`` > 0 adds
    ``--gres=gpu:N``, and the worker's :func:`~seggal.backends.device.pick_device` takes the GPU SLURM
    gave it. Arguments left ``None`` come from Dask's ``jobqueue.slurm`` settings (``job-cpu`` or
    ``cores``, ``memory``, ``walltime``, ``queue``, ``account``; ``job-extra-directives`` and
    ``job-script-prologue`` are extended), CPUs and memory else from :data:`SLURM_DEFAULTS`.
    Raises :class:`SegGalError` when dask-jobqueue is missing or refuses the settings.
    """
    import dask

    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise SegGalError("--cluster slurm needs dask-jobqueue (pip install dask-jobqueue)") from exc
    settings = dask.config.get("jobqueue.slurm", default={})
    cores = int(cores or settings.get("job-cpu") or settings.get("cores") or SLURM_DEFAULTS["cores"])
    extra = [*(settings.get("job-extra-directives") or []), *([f"--gres=gpu:{gpus}"] if gpus else [])]
    prologue = [*(settings.get("job-script-prologue") or []), f"export OMP_NUM_THREADS={cores}"]
    try:
        return SLURMCluster(cores=1, processes=1, job_cpu=cores,
                            memory=memory or settings.get("memory") or SLURM_DEFAULTS["memory"],
                            walltime=walltime, queue=queue, account=account, job_extra_directives=extra,
                            job_script_prologue=prologue)
    except (ValueError, TypeError) as exc:
        raise SegGalError(f"--cluster slurm: dask-jobqueue refused the settings ({exc})") from exc


@contextlib.contextmanager
def connect(cluster: str | None, workers: int | None = None, gpus: int = 0) -> Iterator:
    """A ``distributed.Client`` for ``cluster`` (see the module docstring), closed on exit; ``None`` when
    ``cluster`` is ``None`` (work runs in this process). ``gpus``: per SLURM job (:func:`slurm_cluster`)."""
    if cluster is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if cluster == "local":
        n = workers or max(1, min(4, os.cpu_count() or 1))
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
                Client(lc) as client:
            yield client
    elif cluster == "slurm":
        with slurm_cluster(gpus=gpus) as sc, Client(sc) as client:
            sc.scale(jobs=workers or 1)
            yield client
    else:
        try:
            client = Client(cluster, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SegGalError(f"--cluster {cluster}: cannot reach a Dask scheduler there ({exc})") from exc
        with client:
            yield client


# ---------------------------------------------------------------- the command line's half

def engine_needed(source: Path, cluster: str | None, block: int = BLOCK) -> bool:
    """Whether ``segment`` should run through this module rather than the simple in-process loop: a
    cluster was asked for, a microscope / OME-Zarr input, an image larger than one block, or a folder of
    at least :data:`FOLDER_MIN` images."""
    from seggal.io import IMAGE_SUFFIXES

    if cluster not in (None, "none"):
        return True
    if not source.exists():
        return False
    files = list_inputs(source)
    if is_folder(source):
        return len(files) >= FOLDER_MIN or any(f.suffix.lower() not in IMAGE_SUFFIXES for f in files)
    if source.suffix.lower() not in IMAGE_SUFFIXES:
        return True
    try:
        image = open_image(source)
    except SegGalError:
        return False  # the in-process path reports it
    return max(image.shape) > block or image.n_channels > 3 or any(image.channel_names)


def cli_channels(source: Path, nuclear, membrane) -> tuple[int | None, int | None]:
    """The command line's channel flags → indices: ``auto`` takes the suggestion from the first image's
    channel names (:func:`seggal.channel_names.suggest_channels`; nuclear 0, no membrane without names),
    a name is looked up, an index or ``None`` stays."""
    from seggal.channel_names import channel_index, suggest_channels

    names: tuple[str, ...] = ()
    files = list_inputs(source) if source.exists() else []
    if files and (AUTO in (nuclear, membrane) or isinstance(nuclear, str) or isinstance(membrane, str)):
        try:
            names = open_image(files[0]).channel_names
        except SegGalError:
            names = ()
    if AUTO in (nuclear, membrane):
        suggested = suggest_channels(names) if any(names) else (0, None)
        if any(names) and suggested != (None, None):
            shown = [f"{role} {names[i]!r} ({i})" for role, i in zip(("nuclear", "membrane"), suggested) if i is not None]
            print(f"channels from the file's names: {', '.join(shown)} (set --nuclear-channel / --membrane-channel to change)")
        nuclear = suggested[0] if nuclear == AUTO else nuclear
        membrane = suggested[1] if membrane == AUTO else membrane
        if nuclear is None and membrane is None:
            nuclear = 0
    return channel_index(nuclear, names, "nuclear"), channel_index(membrane, names, "membrane")


def run_cli(source: Path, out: Path, recipe: Callable, channels: ChannelSpec, cluster: str | None = None,
            workers: int | None = None, block: int = BLOCK) -> int:
    """``python -m seggal segment`` through this module → 0; :class:`SegGalError` when the input fails
    (nothing written) or when any image of a folder failed (after the others and the report)."""
    import sys

    here = cluster == "none"  # forced into this process
    cluster = None if here else cluster
    gpus = int(str(getattr(recipe, "device", None) or "").startswith("cuda"))  # a GPU per SLURM job when asked
    files = list_inputs(source)
    outputs = plan_outputs(files, source, out)
    if not is_folder(source):
        image = open_image(source)
        if max(image.shape) <= block and cluster is None:
            row = segment_file(recipe, str(source), str(outputs[0]), channels, resume=False)
            if row["status"] == "failed":
                raise SegGalError(row["reason"])
            print(f"{outputs[0]}: {row['instances']} instances")
            return 0
        with connect(None if here else cluster or "local", workers, gpus) as client:
            n = segment_large(recipe, image, channels, outputs[0], client, block,
                              attrs={"segmenter": repr(recipe), "source": str(source)})
        print(f"{outputs[0]}: {n} instances")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    if cluster is None and len(files) >= FOLDER_MIN:
        cluster = "local"
    with connect(cluster, workers, gpus) as client:
        rows = _run_tasks(client, segment_file,
                          [(recipe, str(f), str(o), channels) for f, o in zip(files, outputs)], "image")
    resumed = sum(r["reason"] == ALREADY_WRITTEN for r in rows)
    failed = [r for r in rows if r["status"] == "failed"]
    print(f"{len(rows) - resumed - len(failed)} segmented, {resumed} {ALREADY_WRITTEN}, {len(failed)} failed")
    for row in failed:
        print(f"{row['image']}: failed: {row['reason']}", file=sys.stderr)
    finish_folder(out, rows)
    return 0
