"""``python -m training.train``: train one method on one task and training set.

::

    python -m training.train --method cellpose --data synthetic --task nuclei-dual --train-set All \\
        --out runs/cellpose-nd [--epochs N] [--max-iters N] [--batch-size B] [--lr LR] [--device D] \\
        [--resume] [--push ORG/NAME [--tag v1]]

Defaults are the paper's settings of the method (:attr:`seggal.methods.Method.paper`: epochs — or
iterations, converted to epochs as E = I·B/N — batch size, learning rate); ``--epochs`` and
``--max-iters`` (a cap on optimiser steps per epoch) scale a run down for a CPU smoke test.

Every epoch the model is scored on the validation split with :func:`seggal.metrics.evaluate`; ``<out>/last``
holds the latest epoch (plus ``training_state.json``: epochs done, best score, history, seed, training
seconds), ``<out>/best`` the best one by validation accuracy (the mean of mAP, AP50, AP75, AR50, AR75).
Both are complete checkpoint folders (:mod:`seggal.hub`), written atomically, so a run killed at any
moment restarts with ``--resume`` from the last finished epoch. Epoch ``e`` draws its randomness from
seed ``seed + e`` (``FitSettings.seed`` and the global numpy / torch generators), so a resumed run
replays exactly the epochs it missed. Where the backend keeps its optimiser (a ``torch.optim.Optimizer``
as ``segmenter.optimizer``), its state is saved as ``training_state_optimizer.safetensors`` and restored.

Data-parallel: ``torchrun --nproc_per_node N -m training.train …`` (``WORLD_SIZE`` > 1) initialises a
process group (gloo on CPU, nccl on CUDA) for the torch backends; each rank trains on its shard of the
training images (``samples[rank::world]``) and the ranks average their parameters after every epoch
(synchronous model averaging, because the backends own their training loops; with one epoch of local
steps between averages this is "local SGD", not per-step gradient all-reduce). Only rank 0 validates
and writes checkpoints.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from seggal import hub
from seggal.errors import SegGalError
from seggal.methods import Method, get_method
from seggal.tasks import get_task

STATE_FILE = "training_state.json"
OPTIMIZER_FILE = "training_state_optimizer.safetensors"
#: Backends whose networks are torch modules (data-parallel with torchrun).
TORCH_BACKENDS = ("cellpose", "mmdet", "sam")
METRIC_KEYS = ("mAP", "AP50", "AP75", "AR50", "AR75", "accuracy")


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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <out>/last when it exists")
    p.add_argument("--push", metavar="REPO_ID", help="push best/ to this Hub repository when done")
    p.add_argument("--tag", help="with --push: tag the pushed commit (a release, e.g. v1)")
    return p.parse_args(argv)


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


def hardware(device: str) -> str:
    """A one-line description of the hardware a run used (GPU name, or CPU and core count)."""
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.get_device_name(device)} x{torch.cuda.device_count()}"
    return f"CPU {platform.machine()} ({os.cpu_count()} cores)"


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
    """Every ``world``-th sample of ``samples`` from ``rank`` on, read lazily (a rank's share of the data)."""

    def __init__(self, samples: Sequence, rank: int, world: int) -> None:
        self.samples, self.index = samples, range(rank, len(samples), world)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.samples[k] for k in self.index[i]]
        return self.samples[self.index[i]]


class _Dist:
    """The torchrun process group (or a single process)."""

    def __init__(self, backend: str, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1:
            if backend not in TORCH_BACKENDS:
                raise SegGalError(f"backend {backend!r} is not a torch backend: run it without torchrun")
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average(self, segmenter) -> None:
        """Average every torch parameter of ``segmenter`` over the ranks (no-op for one process)."""
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist

        for module in (v for v in vars(segmenter).values() if isinstance(v, torch.nn.Module)):
            for tensor in module.state_dict().values():
                if tensor.is_floating_point():
                    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
                    tensor /= self.world

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
    """Restore :func:`optimizer_bytes`' file into ``optimizer``."""
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
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def restore_optimizer(segmenter, path: Path) -> bool:
    """Give ``segmenter`` back the optimiser state saved in ``path``; True when it could.

    A backend that creates its optimiser lazily (``segmenter.optimizer is None`` until the first
    ``train_epoch``, as Cellpose's does) gets one rebuilt from the saved class and hyper-parameters over
    the parameters of its network — the one torch module among its attributes with exactly the saved
    number of parameters — which ``train_epoch`` then keeps using.
    """
    import torch
    from safetensors import safe_open

    optimizer = _optimizer(segmenter)
    if optimizer is None and hasattr(segmenter, "optimizer"):
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata()
        groups = json.loads(meta["param_groups"])
        count = sum(len(g["params"]) for g in groups)
        modules = [v for v in vars(segmenter).values()
                   if isinstance(v, torch.nn.Module) and len(list(v.parameters())) == count]
        cls = getattr(torch.optim, meta["class"], None)
        if len(modules) != 1 or cls is None or len(groups) != 1:
            return False
        accepted = inspect.signature(cls).parameters
        hyper = {k: v for k, v in groups[0].items() if k in accepted and k != "params"}
        optimizer = cls(modules[0].parameters(), **hyper)
        segmenter.optimizer = optimizer
    if optimizer is None:
        return False
    load_optimizer(optimizer, path)
    return True


def validate(segmenter, samples) -> dict[str, float]:
    """Score ``segmenter`` on validation samples with :func:`seggal.metrics.evaluate`."""
    from seggal.metrics import evaluate

    preds = [segmenter.predict(s.image) for s in samples]
    result = evaluate([s.labels for s in samples], [p.labels for p in preds], scores=[p.scores for p in preds])
    return {k: float(result[k]) for k in METRIC_KEYS}


@dataclass
class TrainResult:
    """What a run leaves: its ``best/`` and ``last/`` folders, the trained segmenter, the training state."""

    best: Path
    last: Path
    segmenter: object
    state: dict


def train(args: argparse.Namespace) -> TrainResult:
    """Run the training described by ``args`` (see :func:`parse_args`)."""
    from seggal.backends import build
    from seggal.backends.base import FitSettings
    from seggal.data.tasks import load_task

    method, task = get_method(args.method), get_task(args.task)
    device = _pick_device(args.device)
    dist = _Dist(method.backend, device)
    out: Path = args.out
    last, best = out / "last", out / "best"
    hub.recover_dir(last)
    hub.recover_dir(best)
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

    if resuming:
        state = json.loads((last / STATE_FILE).read_text(encoding="utf-8"))
        segmenter = build(method.id, checkpoint=last, device=device)
        if (last / OPTIMIZER_FILE).is_file() and not restore_optimizer(segmenter, last / OPTIMIZER_FILE):
            print("warning: the backend's optimiser state could not be restored; it restarts", file=sys.stderr)
        print(f"resuming {out} after epoch {state['epoch']} of {epochs}", flush=True)
    else:
        state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "seed": args.seed, "train_seconds": 0.0,
                 "history": []}
        segmenter = build(method.id, device=device)
    if not segmenter.trainable:
        raise SegGalError(f"method {method.id}: its backend cannot be trained")
    shard = _Shard(train_view, dist.rank, dist.world)

    def meta(epoch: int) -> dict:
        hours = state["train_seconds"] / 3600
        return {
            "method": method.id, "task": task.id, "training_set": args.train_set, "data": str(args.data),
            "validation": state["history"][epoch - 1]["validation"],
            "training": {
                "epochs": epochs, "epochs_done": state["epoch"], "best_epoch": state["best_epoch"],
                "iterations": iterations, "batch_size": batch, "learning_rate": lr,
                "max_iters_per_epoch": args.max_iters, "n_train_images": len(train_view),
                "n_val_images": len(val_view), "hours": hours,
                "standardised_hours": _standardised(hours, batch, epochs, iterations, len(train_view)),
                "device": device, "world_size": dist.world, "hardware": hardware(device), "seed": state["seed"],
            },
        }

    for epoch in range(state["epoch"] + 1, epochs + 1):
        seed = state["seed"] + epoch
        _seed_everything(seed)
        settings = FitSettings(batch_size=batch, learning_rate=lr, device=device, max_iters=args.max_iters, seed=seed)
        start = time.perf_counter()
        loss = segmenter.train_epoch(shard, settings)
        dist.average(segmenter)
        state["train_seconds"] += time.perf_counter() - start
        if dist.main:
            scores = validate(segmenter, val_view)
            state["epoch"] = epoch
            state["history"].append({"epoch": epoch, "loss": float(loss), "validation": scores})
            improved = scores["accuracy"] > state["best_score"]
            if improved:
                state["best_score"], state["best_epoch"] = scores["accuracy"], epoch
            extra = {STATE_FILE: json.dumps(state, indent=2).encode()}
            optimizer = _optimizer(segmenter)
            if optimizer is not None:
                extra[OPTIMIZER_FILE] = optimizer_bytes(optimizer)
            if improved:
                hub.write_checkpoint(best, segmenter, meta(epoch))
            hub.write_checkpoint(last, segmenter, meta(epoch), extra=extra)
            print(f"epoch {epoch}/{epochs} loss {loss:.4f} val accuracy {scores['accuracy']:.4f}"
                  f"{' (best)' if improved else ''}", flush=True)
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
    print(f"best checkpoint: {result.best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
