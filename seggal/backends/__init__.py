"""Segmenters: one interface (:class:`seggal.backends.base.Segmenter`) over the real packages; :func:`build`.

Each backend module imports its heavy package (torch, tensorflow, cellpose, mmdet …) only when a
segmenter is built, so importing this package is cheap. Every backend module defines

* ``build(method, checkpoint, device, *, target=None, arch=None) -> Segmenter``;
* ``NEEDS_WEIGHTS`` — whether it needs weights at all (the classical baseline does not);
* ``pretrained(target) -> (name, on_disk) | None`` — the backend's own published weights for a target,
  and whether they are on this machine (a cheap file check);
* ``BACKEND_SCHEMA`` — the JSON schema of the ``backend.json`` it writes (checked on load).

Checkpoints: ``None`` builds an untrained network (what ``training/`` starts from); a folder written by
:func:`seggal.checkpoint.write_checkpoint` (or a Hub reference, resolved by
:func:`seggal.checkpoint.resolve_checkpoint`) restores it, with the preprocessing its ``config.json``
records. Backends with published weights also accept their names (Cellpose: ``cyto3``, ``nuclei`` …;
SAM: the official ``.pth`` file). Which checkpoint to use is :mod:`seggal.gallery`'s question.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from seggal import checkpoint as ckpt
from seggal.backends.base import Segmenter, check_preprocessing
from seggal.errors import SegGalError
from seggal.methods import Method, availability, get_method

TARGETS = ("nuclei", "whole_cell")


def build(method: str | Method, checkpoint: str | Path | None = None, device: str | None = None, *,
          target: str | None = None, arch: dict | None = None) -> Segmenter:
    """A ready segmenter for ``method`` (registry id or name).

    ``checkpoint``: ``None`` (untrained / no weights needed), a checkpoint folder, a Hub reference
    ``org/name[@revision]`` or a backend's own pretrained name. ``device``: see
    :func:`seggal.backends.device.pick_device`. ``target`` (``nuclei`` / ``whole_cell``) tells backends
    that are not trained for one (the classical baseline) what to segment; trained networks know it.
    ``arch``: architecture options of an untrained network (StarDist: ``Config2D`` fields such as
    ``unet_n_filter_base``; MMDetection: ``in_channels``); backends without any refuse them, and a
    checkpoint carries its own. A checkpoint folder's ``config.json`` preprocessing record becomes the
    segmenter's :attr:`~seggal.backends.base.Segmenter.preprocessing` — for an imported model, the input
    pipeline of the paper's test script — once its backend is known to apply every step of it
    (:func:`~seggal.backends.base.check_preprocessing`).
    """
    method = get_method(method) if isinstance(method, str) else method
    status = availability(method)
    if not status.available:
        raise SegGalError(f"method {method.id} cannot run in this installation: {status.reason}")
    if target is not None and target not in TARGETS:
        raise SegGalError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if arch and checkpoint is not None:
        raise SegGalError(f"method {method.id}: architecture options apply to an untrained network, "
                          "not to a checkpoint (it carries its own)")
    resolved = _resolve(checkpoint)
    config = None
    if isinstance(resolved, Path) and (resolved / ckpt.CONFIG_FILE).exists():
        config = ckpt.read_config(resolved)  # validated before any weights are read
        if config["method"] != method.id:
            raise SegGalError(f"{resolved}: a {config['method']} checkpoint, not {method.id}")
        ckpt.check_weights(resolved)
    module = importlib.import_module(f"seggal.backends.{method.backend}")
    segmenter = module.build(method, resolved, device, target=target, arch=arch or None)
    if config is not None:
        record = ckpt.preprocessing(config, resolved / ckpt.CONFIG_FILE)
        check_preprocessing(segmenter, record, f"{resolved / ckpt.CONFIG_FILE}: preprocessing")
        segmenter.preprocessing = record
    return segmenter


def _resolve(checkpoint: str | Path | None) -> Path | str | None:
    """A local path stays a Path; ``org/name[@rev]`` goes through the Hub cache; anything else (a backend's
    published-model name, a missing path) passes through for the backend to accept or refuse."""
    if checkpoint is None or Path(checkpoint).exists():
        return None if checkpoint is None else Path(checkpoint)
    text = str(checkpoint)
    if re.fullmatch(r"[\w-][\w.-]*/[\w.-]+(@.*)?", text) and not text.endswith((".pth", ".pt", ".safetensors")):
        return ckpt.resolve_checkpoint(text)
    return text
