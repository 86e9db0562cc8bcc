"""``python -m training.train``: train one method on one task and training set.

::

    python -m training.train --method cellpose --data synthetic --task nuclei-dual --train-set All \\
        --out runs/cellpose-nd [--epochs N] [--max-iters N] [--batch-size B] [--lr LR] [--device D] \\
        [--arch JSON] [--resume] [--push ORG/NAME [--tag v1]]

Defaults are the paper's settings of the method (:attr:`seggal.methods.Method.paper`: epochs — or
iterations, converted to epochs as E = I·B/N — batch size, learning rate); ``--epochs`` and
``--max-iters`` (a cap on optimiser steps per epoch) scale a run down for a CPU smoke test.

Every epoch the model is scored on the validation split with :func:`seggal.metrics.evaluate`; ``<out>/last``
holds the latest epoch (plus ``training_state.json``: epochs done, best score, history, seed, training
seconds), ``<out>/best`` the best one by validation accuracy (the mean of mAP, AP50, AP75, AR50, AR75).
Both are complete checkpoint folders (:mod:`seggal.checkpoint`), written atomically, so a run killed at any
moment restarts with ``--resume`` from the last finished epoch. The untrained network is initialised
from ``--seed``, and epoch ``e`` draws its randomness from seed ``seed + e`` (``FitSettings.seed`` and
the global numpy / torch generators), so a resumed run replays exactly the epochs it missed. Before the first epoch the segmenter builds its training state
(``Segmenter.prepare_training``: optimiser, schedules); where it keeps a ``torch.optim.Optimizer`` as
``segmenter.optimizer``, that optimiser's state is saved as ``training_state_optimizer.safetensors``
(tensors + JSON metadata, no pickle) and restored on ``--resume``; the backend's own epoch and step
counters travel in its ``backend.json``. A run resumed after epoch ``e`` therefore ends with the same
weights and optimiser state, bit for bit, as the run that was never stopped (on the CPU; CUDA kernels
with atomic adds are not bit-reproducible).

Data-parallel: ``torchrun --nproc_per_node W -m training.train …`` (``WORLD_SIZE`` > 1) initialises a
process group (gloo on CPU, nccl on CUDA with one GPU per rank, ``cuda:LOCAL_RANK``) for the torch
backends, which train through a ``DistributedDataParallel`` wrapper
(:func:`seggal.backends.base.data_parallel`): every optimiser step averages the gradients over the
ranks (all-reduce), so the ranks take identical steps. ``--batch-size`` is the global batch B (the
paper's): each rank takes ceil(B / W) images per step from its shard of the training images (every W-th
image, padded by wrapping round as torch's ``DistributedSampler`` does, so all ranks take the same number
of steps), and T_s (``standardised_hours``) uses B with the wall-clock hours. After every epoch the ranks
compare a SHA-1 of their parameters (:func:`parameters_digest`) and stop with "ranks diverged" when they
differ; the digest is recorded in the epoch's history entry. Only rank 0 validates and writes
checkpoints.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from seggal import checkpoint, hub
from seggal.errors import SegGalError
from seggal.methods import Method, get_method
from seggal.metrics import METRICS
from seggal.provenance import hardware
from seggal.tasks import get_task

STATE_FILE = "training_state.json"
OPTIMIZER_FILE = "training_state_optimizer.safetensors"
#: Backends whose networks are torch modules (data-parallel with torchrun).
TORCH_BACKENDS = ("cellpose", "mmdet", "sam")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", required=True, help="registry id (cellpose, stardist, swin-s, …)")
    p.add_argument("--data", required=True, help="dataset root (TissueNet / LIVECell files) or 'synthetic'")
    p.add_argument("--task", required=True, help="nuclei-dual, nuclei-nuclear, wholecell-dual, "
                                                 "wholecell-wholecell (TissueNet) or wholecell (LIVECell)")
    p.add_argument("--train-set", default="All", help="'All' or one tissue / cell line")
    p.add_argument("--out", required=True, type=Path, help="run folder: best/ and last/ are written here")
    p.add_argument("--epochs", type=int, help="epochs (default: the paper's)")
    p.add_argument("--max-iters", type=int, help="cap on optimiser steps per epoch (smoke tests)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the paper's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the paper's, else the package's)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    p.add_argument("--arch", type=_json_object, help="architecture options of the untrained network as JSON, "
                                                   "for backends that take them (StarDist: '{\"unet_n_filter_base\": 16}')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <out>/last when it exists")
    p.add_argument("--push", metavar="REPO_ID", help="push best/ to this Hub repository when done")
    p.add_argument("--tag", help="with --push: tag the pushed commit (a release, e.g. v1)")
    return p.parse_args(argv)


def _json_object(text: str) -> dict:
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

    def __init__(self, backend: str, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        #: where this rank trains: ``cuda`` becomes ``cuda:LOCAL_RANK`` (one GPU per rank)
        self.device = device
        if self.world > 1:
            if backend not in TORCH_BACKENDS:
                raise SegGalError(f"backend {backend!r} is not a torch backend: run it without torchrun")
            import torch
            import torch.distributed as dist

            if device == "cuda":
                self.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            if self.device.startswith("cuda"):
                torch.cuda.set_device(self.device)
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
        if self.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def _optimizer(segmenter):
    try:
        import torch
    except ImportError:
        return None
    opt = getattr(segmenter, "optimizer", None)
    return opt if isinstance(opt, torch.optim.Optimizer) else None


def optimizer_bytes(optimizer) -> bytes:
    """A torch optimiser's state as safetensors bytes: tensors flattened as ``<param index>.<key>``; the
    class name, param groups and non-tensor values as JSON metadata (no pickle)."""
    import torch
    from safetensors.torch import save

    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            name = f"{index}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return save(tensors, metadata={"class": type(optimizer).__name__, "scalars": json.dumps(scalars),
                                   "param_groups": json.dumps(state["param_groups"])})


def load_optimizer(optimizer, path: Path) -> None:
    """Restore :func:`optimizer_bytes`' file into ``optimizer``; SegGalError when it holds another
    optimiser class or parameter layout."""
    from safetensors import safe_open

    state: dict = {}
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        for name in handle.keys():
            index, key = name.split(".", 1)
            state.setdefault(int(index), {})[key] = handle.get_tensor(name)
    for name, value in json.loads(meta["scalars"]).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
              for g in json.loads(meta["param_groups"])]  # JSON turned tuples (Adam's betas) into lists
    if meta["class"] != type(optimizer).__name__:
        raise SegGalError(f"{path}: holds the state of a {meta['class']} optimiser, not {type(optimizer).__name__}")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except ValueError as exc:  # torch: group count or group sizes differ
        raise SegGalError(f"{path}: optimiser state does not fit this network's parameters ({exc})") from None


def restore_optimizer(segmenter, path: Path) -> bool:
    """Load the optimiser state saved in ``path`` into ``segmenter.optimizer`` (built by
    ``segmenter.prepare_training``); False when the segmenter keeps no torch optimiser."""
    optimizer = _optimizer(segmenter)
    if optimizer is None:
        return False
    load_optimizer(optimizer, path)
    return True


def validate(segmenter, samples) -> dict[str, float]:
    """Score ``segmenter`` on validation samples with :func:`seggal.metrics.evaluate`."""
    from seggal.metrics import evaluate

    preds = [segmenter.predict(s.image) for s in samples]
    result = evaluate([s.labels for s in samples], [p.labels for p in preds], scores=[p.scores for p in preds])
    return {k: float(result[k]) for k in METRICS}


@dataclass
class TrainResult:
    """What a run leaves: its ``best/`` and ``last/`` folders, the trained segmenter, the training state."""

    best: Path
    last: Path
    segmenter: object
    state: dict


def train(args: argparse.Namespace) -> TrainResult:
    """Run the training described by ``args`` (see :func:`parse_args`)."""
    import numpy as np

    from seggal.backends import build
    from seggal.backends.base import FitSettings, mean_over_ranks
    from seggal.data.tasks import load_task

    method, task = get_method(args.method), get_task(args.task)
    dist = _Dist(method.backend, _pick_device(args.device))
    device = dist.device
    out: Path = args.out
    last, best = out / "last", out / "best"
    checkpoint.recover_dir(last)
    checkpoint.recover_dir(best)
    resuming = args.resume and (last / STATE_FILE).is_file()
    if (last / STATE_FILE).is_file() and not args.resume:
        raise SegGalError(f"{last}: a run already exists here; pass --resume to continue it or choose another --out")

    train_view = load_task(args.data, task.id, split="train", training_set=args.train_set)
    val_view = load_task(args.data, task.id, split="val", training_set=args.train_set)
    if len(train_view) == 0 or len(val_view) == 0:
        raise SegGalError(f"{args.data}: no training or validation images for {task.id} / {args.train_set}")
    epochs, batch, lr, iterations = paper_schedule(method, len(train_view))
    epochs, batch, lr = args.epochs or epochs, args.batch_size or batch, args.lr if args.lr is not None else lr
    if args.epochs:
        iterations = None
    rank_batch = math.ceil(batch / dist.world)  # --batch-size is global: each rank's share of a step

    if resuming:
        state = json.loads((last / STATE_FILE).read_text(encoding="utf-8"))
        segmenter = build(method.id, checkpoint=last, device=device)
    else:
        state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "seed": args.seed, "train_seconds": 0.0,
                 "history": []}
        _seed_everything(args.seed)  # the untrained network's initial weights
        segmenter = build(method.id, device=device, arch=args.arch)
    if not segmenter.trainable:
        raise SegGalError(f"method {method.id}: its backend cannot be trained")

    def settings(epoch: int) -> FitSettings:
        return FitSettings(batch_size=rank_batch, learning_rate=lr, device=device, max_iters=args.max_iters,
                           seed=state["seed"] + epoch)

    segmenter.prepare_training(settings(state["epoch"] + 1))
    if resuming:
        if (last / OPTIMIZER_FILE).is_file() and not restore_optimizer(segmenter, last / OPTIMIZER_FILE):
            print("warning: the backend's optimiser state could not be restored; it restarts", file=sys.stderr)
        print(f"resuming {out} after epoch {state['epoch']} of {epochs}", flush=True)
    if dist.world > 1 and _optimizer(segmenter) is None:
        raise SegGalError(f"method {method.id}: its backend keeps no torch optimiser, so data-parallel training "
                          "cannot check its ranks; run it without torchrun")
    shard = _Shard(train_view, dist.rank, dist.world)

    def meta(epoch: int) -> dict:
        hours = state["train_seconds"] / 3600
        return {
            "method": method.id, "task": task.id, "training_set": args.train_set, "data": str(args.data),
            "validation": state["history"][epoch - 1]["validation"],
            "training": {
                "epochs": epochs, "epochs_done": state["epoch"], "best_epoch": state["best_epoch"],
                "iterations": iterations, "batch_size": batch, "batch_size_per_rank": rank_batch, "learning_rate": lr,
                "max_iters_per_epoch": args.max_iters, "n_train_images": len(train_view),
                "n_val_images": len(val_view), "hours": hours,
                "standardised_hours": _standardised(hours, batch, epochs, iterations, len(train_view)),
                "device": device, "world_size": dist.world, "hardware": hardware(device), "seed": state["seed"],
                "arch": args.arch,
            },
        }

    for epoch in range(state["epoch"] + 1, epochs + 1):
        _seed_everything(state["seed"] + epoch)
        start = time.perf_counter()
        loss = mean_over_ranks(np.array([segmenter.train_epoch(shard, settings(epoch))]))  # rank mean under DDP
        state["train_seconds"] += time.perf_counter() - start
        entry = {"epoch": epoch, "loss": float(loss)}
        if dist.world > 1:
            digest = dist.check_in_sync(_optimizer(segmenter), epoch)
            entry["ranks_in_sync"] = {"world_size": dist.world, "parameters_sha1": digest}
        if dist.main:
            entry["validation"] = scores = validate(segmenter, val_view)
            state["epoch"] = epoch
            state["history"].append(entry)
            improved = scores["accuracy"] > state["best_score"]
            if improved:
                state["best_score"], state["best_epoch"] = scores["accuracy"], epoch
            extra = {STATE_FILE: json.dumps(state, indent=2).encode()}
            optimizer = _optimizer(segmenter)
            if optimizer is not None:
                extra[OPTIMIZER_FILE] = optimizer_bytes(optimizer)
            if improved:
                checkpoint.write_checkpoint(best, segmenter, meta(epoch))
            checkpoint.write_checkpoint(last, segmenter, meta(epoch), extra=extra)
            synced = f"; parameters identical on {dist.world} ranks (sha1 {digest[:12]})" if dist.world > 1 else ""
            print(f"epoch {epoch}/{epochs} loss {loss:.4f} val accuracy {scores['accuracy']:.4f}"
                  f"{' (best)' if improved else ''}{synced}", flush=True)
        dist.barrier()
    dist.close()
    if dist.main and args.push:
        commit = hub.push_checkpoint(best, args.push, tag=args.tag)
        print(f"pushed {best} to {args.push} (commit {commit})")
    return TrainResult(best, last, segmenter, state)


def _standardised(hours: float, batch: int, epochs: int, iterations: int | None, n_images: int) -> float:
    from training.grid import standardised_hours

    if iterations:
        return standardised_hours(hours, batch, iterations=iterations, n_images=n_images)
    return standardised_hours(hours, batch, epochs=epochs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = train(args)
    except SegGalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"best checkpoint: {result.best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
