"""A segmenter's torch optimiser state as a file: safetensors + JSON metadata, never pickled.

The torch backends keep the ``torch.optim.Optimizer`` that ``train_epoch`` steps as
``Segmenter.optimizer`` (built by ``Segmenter.prepare_training``); ``training/`` saves its state with every
resumable checkpoint and restores it on resume, so that a resumed run continues bit for bit.

File layout: every tensor of the optimiser's per-parameter state as ``<param index>.<key>`` (e.g.
``0.momentum_buffer``, ``3.exp_avg``); the metadata holds the optimiser's class name (``class``), its
param groups (``param_groups``, JSON) and the non-tensor per-parameter values (``scalars``, JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

from seggal.errors import SegGalError


def optimizer_of(segmenter):
    """``segmenter.optimizer`` when it is a ``torch.optim.Optimizer``, else ``None`` (no torch, or a backend
    that keeps no torch optimiser)."""
    if not segmenter.uses_torch:
        return None
    import torch

    optimizer = getattr(segmenter, "optimizer", None)
    return optimizer if isinstance(optimizer, torch.optim.Optimizer) else None


def optimizer_bytes(optimizer) -> bytes:
    """A torch optimiser's state as safetensors bytes (see the module docstring)."""
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


def _read(path: Path) -> tuple[dict, dict[int, dict]]:
    """(metadata, {param index: {key: tensor}}) of an :func:`optimizer_bytes` file; SegGalError when it is
    not one."""
    from safetensors import SafetensorError, safe_open

    state: dict[int, dict] = {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            for name in handle.keys():
                index, _, key = name.partition(".")
                state.setdefault(int(index), {})[key] = handle.get_tensor(name)
    except (SafetensorError, OSError, ValueError) as exc:
        raise SegGalError(f"{path}: not a readable optimiser state file ({exc})") from None
    if not {"class", "scalars", "param_groups"} <= meta.keys():
        raise SegGalError(f"{path}: optimiser state file without its class / scalars / param_groups metadata")
    return meta, state


def load_optimizer(optimizer, path: str | Path) -> None:
    """Restore :func:`optimizer_bytes`' file into ``optimizer``.

    Refused with SegGalError, before anything is loaded, when the file holds another optimiser class,
    another parameter layout (group count and sizes) or a per-parameter tensor whose shape is not its
    parameter's (a 0-d tensor, such as Adam's ``step``, is a scalar and has no shape to match).
    """
    import torch

    path = Path(path)
    meta, state = _read(path)
    if meta["class"] != type(optimizer).__name__:
        raise SegGalError(f"{path}: holds the state of a {meta['class']} optimiser, not {type(optimizer).__name__}")
    try:
        scalars = json.loads(meta["scalars"])
        groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
                  for g in json.loads(meta["param_groups"])]  # JSON turned tuples (Adam's betas) into lists
        for name, value in scalars.items():
            index, _, key = name.partition(".")
            state.setdefault(int(index), {})[key] = value
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise SegGalError(f"{path}: optimiser metadata is not what SegGal writes ({exc})") from None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    sizes = [len(g.get("params", ())) for g in groups]
    if sizes != [len(g["params"]) for g in optimizer.param_groups]:
        raise SegGalError(f"{path}: optimiser state for parameter groups of sizes {sizes} does not fit this "
                          f"network's {[len(g['params']) for g in optimizer.param_groups]}")
    for index, values in state.items():
        if not 0 <= index < len(params):
            raise SegGalError(f"{path}: optimiser state for parameter {index}; the network has {len(params)}")
        for key, value in values.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != params[index].shape:
                raise SegGalError(f"{path}: optimiser state {index}.{key} has shape {tuple(value.shape)}, but "
                                  f"parameter {index} has shape {tuple(params[index].shape)}")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as exc:  # torch: group count or group sizes differ
        raise SegGalError(f"{path}: optimiser state does not fit this network's parameters ({exc})") from None
