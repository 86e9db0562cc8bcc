"""``python -m training.train``: train one method on one task and training set.

::

    python -m training.train --method cellpose --data synthetic --task nuclei-dual --train-set All \\
        --out runs/cellpose-nd [--epochs N] [--max-iters N] [--steps-per-epoch N] [--max-val-images N] \\
        [--batch-size B] [--lr LR] [--device D] [--arch JSON] [--resume] [--push ORG/NAME [--tag v1]]

A library first: :class:`TrainConfig` describes a run and :func:`train` runs it (``training.default_model``
builds a config and calls it); the command line only builds the config (:func:`parse_config`).

Defaults are the paper's settings of the method (:attr:`seggal.methods.Method.paper`: epochs — or
iterations, converted to epochs as E = I·B/N — batch size, learning rate). To scale a run down:
``--max-iters N`` caps the run's *total* optimiser steps (the run ends after N steps, as MMDetection's
iteration loop counts them, so ``--max-iters 10`` alone is a 10-step run), ``--epochs`` sets the epochs,
``--steps-per-epoch`` caps the steps of each epoch, and ``--max-val-images`` bounds the validation
(evenly spaced images of the validation split).

Every epoch the model is scored on the validation split through the tiled inference users run
(:func:`seggal.evaluation.evaluate_segmenter`); ``<out>/last`` holds the latest epoch (plus
``training_state.json``: epochs done, best score, history, seed, training seconds, and the SHA-256 of
every file the backend and the optimiser wrote), ``<out>/best`` the best one by validation accuracy (the
mean of mAP, AP50, AP75, AR50, AR75). Both are complete checkpoint folders (:mod:`seggal.checkpoint`), written
atomically, so a run killed at any moment restarts with ``--resume`` from the last finished epoch.
``--resume`` first verifies ``last/`` (:func:`resume_state`: its config, a well-formed training state
that fits ``--epochs``, the recorded SHA-256 of the weights and optimiser state) and stops with exit 2 and
a pointer to ``best/`` when anything is wrong. The untrained network is initialised from ``--seed``,
and epoch ``e`` draws its randomness from seed ``seed + e`` (``FitSettings.seed`` and the global numpy /
torch generators), so a resumed run replays exactly the epochs it missed. Before the first epoch the
segmenter builds its training state (``Segmenter.prepare_training``: optimiser, schedules); where it
keeps a torch optimiser (:func:`seggal.backends.optimizer.optimizer_of`), that optimiser's state is
saved as ``training_state_optimizer.safetensors`` (tensors + JSON metadata, no pickle) and restored on
``--resume``, its tensors' shapes checked against the parameters; the backend's own epoch and step
counters travel in its ``backend.json``. A run resumed after epoch ``e`` therefore ends with the same
weights and optimiser state, bit for bit, as the run that was never stopped (on the CPU; CUDA kernels
with atomic adds are not bit-reproducible).

Data-parallel: ``torchrun --nproc_per_node W -m training.train …`` (``WORLD_SIZE`` > 1) initialises a
process group (gloo on CPU, nccl on CUDA with one GPU per rank, ``cuda:LOCAL_RANK``) for the backends
that train with torch (``Segmenter.uses_torch``), which train through a ``DistributedDataParallel``
wrapper (:func:`seggal.backends.base.data_parallel`): every optimiser step averages the gradients over the
ranks (all-reduce), so the ranks take identical steps. ``--batch-size`` is the global batch B (the
paper's): each rank takes ceil(B / W) images per step from its shard of the training images (every W-th
image, padded by wrapping round as torch's ``DistributedSampler`` does, so all ranks take the same number
of steps), and T_s (:func:`seggal.ranking.standardised_hours`) uses B with the wall-clock hours. After
every epoch the ranks compare a SHA-1 of their parameters (:func:`parameters_digest`) and stop with
"ranks diverged" when they differ; the digest is recorded in the epoch's history entry. Only rank 0
validates and writes checkpoints.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

from seggal import checkpoint, hub
from seggal.checkpoint import WEIGHTS_FILE
from seggal.backends.optimizer import load_optimizer, optimizer_bytes, optimizer_of
from seggal.errors import SegGalError
from seggal.io import read_json_object
from seggal.evaluation import evaluate_segmenter, overall
from seggal.methods import Method, get_method
from seggal.provenance import hardware, sha256_file
from seggal.ranking import standardised_hours
from seggal.tasks import check_training_set, get_task

STATE_FILE = "training_state.json"
OPTIMIZER_FILE = "training_state_optimizer.safetensors"


@dataclass(frozen=True)
class TrainConfig:
    """One training run (the command line's options; see the module docstring).

    ``epochs`` / ``batch_size`` / ``lr`` default to the paper's settings of ``method``; ``max_iters`` caps
    the total optimiser steps, ``steps_per_epoch`` the steps of each epoch, ``max_val_images`` the
    validation images; ``arch`` holds architecture options of the untrained network (StarDist:
    ``{"unet_n_filter_base": 16}``); ``push`` / ``tag`` push ``best/`` to the Hub when done.
    """

    method: str
    data: str
    task: str
    out: Path
    train_set: str = "All"
    epochs: int | None = None
    max_iters: int | None = None
    steps_per_epoch: int | None = None
    max_val_images: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    device: str | None = None
    arch: dict | None = field(default=None, hash=False)
    seed: int = 0
    resume: bool = False
    push: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        for name in ("epochs", "max_iters", "steps_per_epoch", "max_val_images", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise SegGalError(f"training: {name.replace('_', '-')} must be a whole number >= 1, got {value!r}")
        if self.lr is not None and not self.lr > 0:
            raise SegGalError(f"training: lr must be > 0, got {self.lr!r}")
        if self.arch is not None and not isinstance(self.arch, dict):
            raise SegGalError(f"training: arch must be a JSON object, got {self.arch!r}")


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """The command line → :class:`TrainConfig`."""
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", required=True, help="registry id (cellpose, stardist, swin-s, …)")
    p.add_argument("--data", required=True, help="dataset root (TissueNet / LIVECell files) or 'synthetic'")
    p.add_argument("--task", required=True, help="nuclei-dual, nuclei-nuclear, wholecell-dual, "
                                                 "wholecell-wholecell (TissueNet) or wholecell (LIVECell)")
    p.add_argument("--train-set", default="All", help="'All' or one tissue / cell line")
    p.add_argument("--out", required=True, type=Path, help="run folder: best/ and last/ are written here")
    p.add_argument("--epochs", type=int, help="epochs (default: the paper's)")
    p.add_argument("--max-iters", type=int, help="cap on the run's total optimiser steps (ends the run early)")
    p.add_argument("--steps-per-epoch", type=int, help="cap on the optimiser steps of each epoch")
    p.add_argument("--max-val-images", type=int, help="validate on at most this many images (evenly spaced)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the paper's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the paper's, else the package's)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    p.add_argument("--arch", type=json_object_arg, help="architecture options of the untrained network as JSON, "
                                                   "for backends that take them (StarDist: '{\"unet_n_filter_base\": 16}')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <out>/last when it exists")
    p.add_argument("--push", metavar="REPO_ID", help="push best/ to this Hub repository when done")
    p.add_argument("--tag", help="with --push: tag the pushed commit (a release, e.g. v1)")
    args = vars(p.parse_args(argv))
    return TrainConfig(**{f.name: args[f.name] for f in fields(TrainConfig)})


def json_object_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"unet_n_filter_base\": 16}'")
    return value


def paper_schedule(method: Method, n_images: int) -> tuple[int, int, float | None, int | None]:
    """(epochs, batch size, learning rate, iterations) from the paper's settings of ``method``.

    Iteration-based methods get E = ceil(I·B/N) epochs; a missing batch size is 8 (the paper's
    reference batch size in T_s).
    """
    paper = method.paper
    batch = paper.batch_size or 8
    if paper.epochs:
        return paper.epochs, batch, paper.learning_rate, None
    if paper.iterations:
        return max(1, math.ceil(paper.iterations * batch / max(n_images, 1))), batch, paper.learning_rate, paper.iterations
    raise SegGalError(f"method {method.id}: the paper did not train it ({paper.platform}); nothing to train")


def _pick_device(requested: str | None) -> str:
    from seggal.backends.device import pick_device

    return pick_device(requested)


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


class _Shard(Sequence):
    """A rank's share of ``samples``, read lazily: every ``world``-th sample from ``rank`` on, the
    sequence padded by wrapping round to a multiple of ``world`` (as torch's ``DistributedSampler``), so
    every rank's shard has ceil(N / world) samples."""

    def __init__(self, samples: Sequence, rank: int, world: int) -> None:
        self.samples = samples
        self.index = range(rank, math.ceil(len(samples) / world) * world, world)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        n = len(self.samples)
        if isinstance(i, slice):
            return [self.samples[k % n] for k in self.index[i]]
        return self.samples[self.index[i] % n]


def parameters_digest(optimizer) -> str:
    """SHA-1 (hex) of the values of every parameter ``optimizer`` trains, in its order (their bytes on
    the CPU): equal digests on two ranks mean bit-identical parameters."""
    import torch

    digest = hashlib.sha1()
    for group in optimizer.param_groups:
        for param in group["params"]:
            digest.update(param.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _Dist:
    """The torchrun process group (or a single process) and this rank's device."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        #: where this rank trains: ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per rank)
        self.device = device
        if self.world > 1 and device.startswith("cuda"):
            import torch

            if device == "cuda":
                self.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(self.device)

    def start(self, uses_torch: bool, what: str) -> None:
        """Join the process group (several ranks only); SegGalError when ``what`` does not train with torch."""
        if self.world == 1:
            return
        if not uses_torch:
            raise SegGalError(f"{what} does not train with torch: run it without torchrun")
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.startswith("cuda") else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def check_in_sync(self, optimizer, epoch: int) -> str:
        """:func:`parameters_digest` of ``optimizer``'s parameters, checked equal on every rank (all-gather
        of the 20-byte digests); SegGalError "ranks diverged" naming each rank's digest otherwise."""
        import torch
        import torch.distributed as dist

        digest = parameters_digest(optimizer)
        device = self.device if self.device.startswith("cuda") else "cpu"
        local = torch.tensor(list(bytes.fromhex(digest)), dtype=torch.uint8, device=device)
        gathered = [torch.empty_like(local) for _ in range(self.world)]
        dist.all_gather(gathered, local)
        digests = [bytes(t.cpu().tolist()).hex() for t in gathered]
        if len(set(digests)) > 1:
            raise SegGalError(f"ranks diverged after epoch {epoch}: their parameters differ (SHA-1 per rank: "
                              f"{', '.join(f'{r}: {d[:12]}' for r, d in enumerate(digests))})")
        return digest

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Wait for every rank, then leave the process group (a rank that tears gloo down while a peer is still
        between collectives can abort it: "terminate called without an active exception")."""
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.barrier()
                dist.destroy_process_group()


class _WithTrainingState:
    """``segmenter`` as :func:`seggal.checkpoint.write_checkpoint` sees it when it writes ``last/``: its ``save``
    also writes the optimiser state (:data:`OPTIMIZER_FILE`) and then the training state
    (:data:`STATE_FILE`) with the SHA-256 of every file written before it (``files``), all into the
    staging folder, so the state and the files it vouches for are swapped in together."""

    def __init__(self, segmenter, state: dict) -> None:
        self._segmenter, self._state = segmenter, state

    def __getattr__(self, name: str):
        return getattr(self._segmenter, name)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self._segmenter.save(folder)
        optimizer = optimizer_of(self._segmenter)
        if optimizer is not None:
            (folder / OPTIMIZER_FILE).write_bytes(optimizer_bytes(optimizer))
        files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}
        (folder / STATE_FILE).write_text(json.dumps({**self._state, "files": files}, indent=2), encoding="utf-8")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def resume_error(last: Path, reason: str) -> SegGalError:
    """Why ``last/`` cannot be resumed, with the way out: ``best/`` beside it."""
    return SegGalError(f"{last}: cannot resume: {reason}. Fall back to {last.parent / 'best'} (the best epoch's "
                       "checkpoint, written separately) or start again in a new --out")


def resume_state(last: Path, config: TrainConfig, epochs: int) -> tuple[dict, list[str]]:
    """The training state of ``last/``, checked before anything is loaded from it → (the state without its
    ``files``, the names of the files whose SHA-256 matched).

    Checks: ``config.json`` is a valid checkpoint config of this method, task and training set;
    ``training_state.json`` is a JSON object of the shape :func:`train` writes (epoch, best score and
    epoch, seed, seconds, one history entry per epoch, the files' SHA-256) with at most ``epochs``
    epochs done; the weights are among the recorded files; every recorded file is present with its
    recorded SHA-256. Any failure is a SegGalError pointing to ``best/`` (the best epoch's checkpoint,
    written separately) as the model to fall back to.
    """
    def refuse(reason: str) -> SegGalError:
        return resume_error(last, reason)

    try:
        saved = checkpoint.read_config(last)
    except SegGalError as exc:
        raise refuse(str(exc)) from None
    want = {"method": get_method(config.method).id, "task": get_task(config.task).id,
            "training_set": checkpoint.recorded_training_set(str(config.data), config.train_set)}
    found = {key: saved.get(key) for key in want}
    if found != want:
        raise refuse(f"it holds a run of {found}, not {want}")
    path = last / STATE_FILE
    if not path.is_file():
        raise refuse(f"{STATE_FILE} is missing")
    try:
        state = read_json_object(path)
    except SegGalError as exc:
        raise refuse(str(exc)) from None
    kinds = {"epoch": _is_int, "best_epoch": _is_int, "seed": _is_int, "best_score": _is_number,
             "train_seconds": _is_number, "history": lambda v: isinstance(v, list),
             "files": lambda v: isinstance(v, dict)}
    bad = [key for key, ok in kinds.items() if key not in state or not ok(state[key])]
    if bad:
        raise refuse(f"{STATE_FILE}: {', '.join(map(repr, bad))} missing or of the wrong type")
    done = state["epoch"]
    if not 1 <= done <= epochs:
        raise refuse(f"{STATE_FILE} says {done} epoch(s) done, but this run has {epochs} (--epochs)")
    if not 0 <= state["best_epoch"] <= done or state["train_seconds"] < 0:
        raise refuse(f"{STATE_FILE}: best_epoch {state['best_epoch']} or train_seconds {state['train_seconds']} "
                     "out of range")
    history = state["history"]
    if len(history) != done or not all(isinstance(h, dict) and h.get("epoch") == i and isinstance(h.get("validation"), dict)
                                       for i, h in enumerate(history, start=1)):
        raise refuse(f"{STATE_FILE}: the history does not hold one entry per epoch 1..{done}")
    files = state.pop("files")
    if WEIGHTS_FILE not in files:
        raise refuse(f"{STATE_FILE} records no SHA-256 of {WEIGHTS_FILE}")
    for name, digest in files.items():
        target = (last / name).resolve()
        if last.resolve() not in target.parents:
            raise refuse(f"{STATE_FILE} names a file outside the folder: {name!r}")
        if not target.is_file():
            raise refuse(f"{name} is missing")
        if sha256_file(target) != digest:
            raise refuse(f"{name} is not the file that was saved (its SHA-256 differs: truncated or modified)")
    return state, sorted(files)


@dataclass
class TrainResult:
    """What a run leaves: its ``best/`` and ``last/`` folders, the trained segmenter, the training state."""

    best: Path
    last: Path
    segmenter: object
    state: dict


def validate(segmenter, samples) -> dict[str, float]:
    """{metric: value} of ``segmenter`` on validation samples (:func:`seggal.evaluation.evaluate_segmenter`)."""
    return overall(evaluate_segmenter(segmenter, samples))


def _validation_samples(view, limit: int | None):
    """``view``, or at most ``limit`` of its samples, evenly spaced (every k-th)."""
    if limit is None or len(view) <= limit:
        return view
    return _Shard(view, 0, math.ceil(len(view) / limit))


def train(config: TrainConfig) -> TrainResult:
    """Run the training ``config`` describes (see the module docstring)."""
    import numpy as np

    from seggal.backends import build
    from seggal.backends.base import FitSettings, mean_over_ranks
    from seggal.data.tasks import load_task

    method, task = get_method(config.method), get_task(config.task)
    check_training_set(task, config.train_set, "training")
    dist = _Dist(_pick_device(config.device))
    device = dist.device
    out = config.out
    last, best = out / "last", out / "best"
    checkpoint.recover_dir(last)
    checkpoint.recover_dir(best)
    resuming = config.resume and last.exists()
    if last.exists() and not config.resume:
        raise SegGalError(f"{last}: a run already exists here; pass --resume to continue it or choose another --out")

    train_view = load_task(config.data, task.id, split="train", training_set=config.train_set)
    val_view = load_task(config.data, task.id, split="val", training_set=config.train_set)
    if len(train_view) == 0 or len(val_view) == 0:
        raise SegGalError(f"{config.data}: no training or validation images for {task.id} / {config.train_set}")
    val_samples = _validation_samples(val_view, config.max_val_images)
    epochs, batch, lr, iterations = paper_schedule(method, len(train_view))
    batch = config.batch_size or batch
    lr = config.lr if config.lr is not None else lr
    if config.epochs or config.max_iters:
        epochs, iterations = config.epochs or epochs, None  # T_s in its epoch form, from the epochs run
    rank_batch = math.ceil(batch / dist.world)  # --batch-size is global: each rank's share of a step
    shard = _Shard(train_view, dist.rank, dist.world)
    steps = math.ceil(len(shard) / rank_batch)  # every backend's epoch: ceil(n / batch) steps
    if config.steps_per_epoch:
        steps = min(steps, config.steps_per_epoch)
    if config.max_iters:
        epochs = min(epochs, math.ceil(config.max_iters / steps))

    def epoch_steps(epoch: int) -> int:
        """Optimiser steps of ``epoch``: ``steps``, the last one cut to what ``--max-iters`` leaves."""
        return min(steps, config.max_iters - (epoch - 1) * steps) if config.max_iters else steps

    if resuming:
        state, verified = resume_state(last, config, epochs)
        segmenter = build(method.id, checkpoint=last, device=device)
    else:
        state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "seed": config.seed, "train_seconds": 0.0,
                 "history": []}
        _seed_everything(config.seed)  # the untrained network's initial weights
        segmenter = build(method.id, device=device, arch=config.arch)
    if not segmenter.trainable:
        raise SegGalError(f"method {method.id}: its backend cannot be trained")
    dist.start(segmenter.uses_torch, f"method {method.id}")

    def settings(epoch: int) -> FitSettings:
        return FitSettings(batch_size=rank_batch, learning_rate=lr, device=device, max_iters=epoch_steps(epoch),
                           seed=state["seed"] + epoch)

    segmenter.prepare_training(settings(state["epoch"] + 1))
    optimizer = optimizer_of(segmenter)
    if resuming:
        if optimizer is not None:
            if OPTIMIZER_FILE not in verified:
                raise resume_error(last, f"{STATE_FILE} records no optimiser state ({OPTIMIZER_FILE})")
            try:
                load_optimizer(optimizer, last / OPTIMIZER_FILE)
            except SegGalError as exc:
                raise resume_error(last, str(exc)) from None
        print(f"resuming {out} after epoch {state['epoch']} of {epochs}", flush=True)
    if dist.world > 1 and optimizer is None:
        raise SegGalError(f"method {method.id}: its backend keeps no torch optimiser, so data-parallel training "
                          "cannot check its ranks; run it without torchrun")

    def meta(epoch: int) -> dict:
        hours = state["train_seconds"] / 3600
        return {
            "method": method.id, "task": task.id, "training_set": config.train_set, "data": str(config.data),
            "validation": state["history"][epoch - 1]["validation"],
            "training": {
                "epochs": epochs, "epochs_done": state["epoch"], "best_epoch": state["best_epoch"],
                "iterations": iterations, "max_iters": config.max_iters, "steps_per_epoch": steps,
                "batch_size": batch, "batch_size_per_rank": rank_batch, "learning_rate": lr,
                "n_train_images": len(train_view), "n_val_images": len(val_samples), "hours": hours,
                "standardised_hours": standardised_hours(hours, batch, epochs=epochs, iterations=iterations,
                                                         n_images=len(train_view)),
                "device": device, "world_size": dist.world, "hardware": hardware(device), "seed": state["seed"],
                "arch": config.arch,
            },
        }

    for epoch in range(state["epoch"] + 1, epochs + 1):
        _seed_everything(state["seed"] + epoch)
        start = time.perf_counter()
        loss = mean_over_ranks(np.array([segmenter.train_epoch(shard, settings(epoch))]))  # rank mean under DDP
        state["train_seconds"] += time.perf_counter() - start
        entry = {"epoch": epoch, "loss": float(loss)}
        if dist.world > 1:
            digest = dist.check_in_sync(optimizer_of(segmenter), epoch)
            entry["ranks_in_sync"] = {"world_size": dist.world, "parameters_sha1": digest}
        if dist.main:
            entry["validation"] = scores = validate(segmenter, val_samples)
            state["epoch"] = epoch
            state["history"].append(entry)
            improved = scores["accuracy"] > state["best_score"]
            if improved:
                state["best_score"], state["best_epoch"] = scores["accuracy"], epoch
                checkpoint.write_checkpoint(best, segmenter, meta(epoch))
            checkpoint.write_checkpoint(last, _WithTrainingState(segmenter, state), meta(epoch))
            synced = f"; parameters identical on {dist.world} ranks (sha1 {digest[:12]})" if dist.world > 1 else ""
            print(f"epoch {epoch}/{epochs} loss {loss:.4f} val accuracy {scores['accuracy']:.4f}"
                  f"{' (best)' if improved else ''}{synced}", flush=True)
        dist.barrier()
    dist.close()
    if dist.main and config.push:
        commit = hub.push_checkpoint(best, config.push, tag=config.tag)
        print(f"pushed {best} to {config.push} (commit {commit})")
    return TrainResult(best, last, segmenter, state)


def main(argv: list[str] | None = None) -> int:
    try:
        result = train(parse_config(argv))
    except SegGalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"best checkpoint: {result.best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
