"""Segmenters: one interface (:class:`seggal.backends.base.Segmenter`) over the real packages.

Each backend module imports its heavy package (torch, tensorflow, cellpose, mmdet …) only when a
segmenter is built, so importing this package is cheap. Every backend module defines
``build(method, checkpoint, device) -> Segmenter``; :func:`build` dispatches on the registry's
``Method.backend``.

Checkpoints: ``None`` builds an untrained network (what ``training/`` starts from); a folder written by
``Segmenter.save`` (or a Hub reference, resolved by :func:`seggal.hub.resolve_checkpoint`) restores it.
Backends with published weights also accept their names (Cellpose: ``cyto3``, ``nuclei`` …; SAM: the
official ``.pth`` file).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from seggal.backends.base import Segmenter
from seggal.errors import SegGalError
from seggal.methods import METHODS, Method, availability, get_method

TARGETS = ("nuclei", "whole_cell")


def build(method: str | Method, checkpoint: str | Path | None = None, device: str | None = None,
          target: str | None = None, arch: dict | None = None) -> Segmenter:
    """A ready segmenter for ``method`` (registry id or name).

    ``checkpoint``: ``None`` (untrained / no weights needed), a checkpoint folder, a Hub reference
    ``org/name[@revision]`` or a backend's own pretrained name. ``device``: see
    :func:`seggal.backends.device.pick_device`. ``target`` (``nuclei`` / ``whole_cell``) tells backends
    that are not trained for one (the classical baseline) what to segment; trained networks know it.
    ``arch``: architecture options of an untrained network, for backends whose ``build`` takes them
    (StarDist: ``Config2D`` fields such as ``unet_n_filter_base``); a checkpoint carries its own.
    """
    method = get_method(method) if isinstance(method, str) else method
    status = availability(method)
    if not status.available:
        raise SegGalError(f"method {method.id} cannot run in this installation: {status.reason}")
    if target is not None and target not in TARGETS:
        raise SegGalError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    module = importlib.import_module(f"seggal.backends.{method.backend}")
    accepted = inspect.signature(module.build).parameters
    kwargs = {"target": target} if target and "target" in accepted else {}
    if arch:
        if "arch" not in accepted:
            raise SegGalError(f"method {method.id}: its {method.backend} backend takes no architecture options")
        if checkpoint is not None:
            raise SegGalError(f"method {method.id}: architecture options apply to an untrained network, "
                              "not to a checkpoint (it carries its own)")
        kwargs["arch"] = arch
    return module.build(method, _resolve(checkpoint), device, **kwargs)


def _resolve(checkpoint: str | Path | None) -> Path | str | None:
    """A local path stays a Path; ``org/name[@rev]`` goes through the Hub cache; anything else (a backend's
    published-model name, a missing path) passes through for the backend to accept or refuse."""
    if checkpoint is None or Path(checkpoint).exists():
        return None if checkpoint is None else Path(checkpoint)
    text = str(checkpoint)
    if re.fullmatch(r"[\w-][\w.-]*/[\w.-]+(@[\w./-]+)?", text) and not text.endswith((".pth", ".pt", ".safetensors")):
        from seggal.hub import resolve_checkpoint

        return resolve_checkpoint(text)
    return text


def offline_checkpoint(method: str | Method, task: str | None = None) -> str | None:
    """What lets ``method`` segment offline here, or ``None``.

    ``""`` for a method that needs no weights (the baseline); else a complete local SegGal checkpoint
    of the task's gallery slot or the model shipped in the package for that method and task
    (:func:`seggal.hub.embedded_default`; only when ``task`` is given: that needs :mod:`seggal.hub`), or the
    backend's pretrained weights already on disk (``pretrained_checkpoint(target)`` of the backend
    module, a cheap file check). Never touches the network.
    """
    method = get_method(method) if isinstance(method, str) else method
    if not availability(method).available:
        return None
    if method.backend == "baseline":
        return ""
    target = None
    if task is not None:
        from seggal import hub
        from seggal.tasks import get_task

        target = get_task(task).target
        local = hub.find_local(hub.repo_name(method.id, task, "All")) or hub.embedded_default(method.id, task)
        if local is not None:
            return str(local)
    module = importlib.import_module(f"seggal.backends.{method.backend}")
    finder = getattr(module, "pretrained_checkpoint", None)
    return finder(target) if finder is not None else None


def default_method(task: str | None = None) -> str:
    """The most accurate method that runs offline in this installation (registry id).

    "Most accurate" is the paper's published accuracy for ``task`` (trained on all tissues / cell types;
    with no task, the mean over the tasks it was scored on); methods without a published score (the
    classical baseline) come last. "Offline" is :func:`offline_checkpoint` not ``None``.
    """
    ready = [m for m in METHODS if offline_checkpoint(m, task) is not None]
    if not ready:  # the baseline needs only scikit-image, a core requirement
        raise SegGalError("no segmentation method can run offline in this installation")
    if len(ready) == 1:
        return ready[0].id
    from seggal.results import all_tissue_scores

    scores = all_tissue_scores()
    if task is not None:
        from seggal.tasks import get_task

        scores = scores[scores["task"] == get_task(task).id]
    accuracy = scores.groupby("method_id")["accuracy"].mean().to_dict()
    return max(ready, key=lambda m: accuracy.get(m.id, -1.0)).id
