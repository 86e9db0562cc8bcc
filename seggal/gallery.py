"""The one policy for which model segments what here: the checkpoints that serve a method and task, the
default method, slot status, and loading.

An :class:`Entry` is one way to run ``method`` on ``task``, from one ``source``:

* ``local`` — a complete checkpoint folder under ``SEGGAL_CHECKPOINTS`` (:func:`checkpoints_dir`), named
  :func:`seggal.hub.repo_name` of the slot (or its training run's ``…/best``);
* ``embedded`` — the model shipped inside the package (:data:`EMBEDDED_DEFAULT`), when it is there and
  complete and serves this method and task;
* ``cached`` — a gallery repository (:func:`seggal.hub.repo_id`) in the Hugging Face cache;
* ``pretrained`` — the backend's own published weights (Cellpose ``nuclei`` / ``cyto3``, SAM's file named by
  ``SEGGAL_SAM_CHECKPOINT``): ready when on disk, else downloadable (Cellpose downloads on first use);
* ``builtin`` — the method needs no weights (the classical baseline);
* ``paper`` / ``generalist`` — rows of a model catalogue (see *Catalogue hook* below).

Its ``state`` is ``ready`` (everything needed is on this machine: it runs offline), ``downloadable`` or
``unavailable`` (``reason`` says why). **"Runs here" means ready**, everywhere: the CLI (``seggal methods``,
``seggal segment`` and its ``--help``), the Segment page and the Guideline all ask :func:`entries` /
:func:`ready_entry` / :func:`default_method`, so they cannot disagree.

The default method for a task (:func:`default_method`) is the most accurate method by the paper's published
accuracy for that task (trained on all tissues) that has a ready entry; methods without a published score
(the baseline) come last. Without a task it is the default for :data:`DEFAULT_TASK`, the task ``seggal
segment`` runs with its default channels (nuclei from channel 0).

Catalogue hook: :func:`catalogue` yields the rows of a model catalogue (mappings with ``method``, ``task``,
``training_set``, ``source`` — ``paper`` or ``generalist`` —, ``reference`` — a Hub reference
``org/name[@revision]`` —, optional ``label`` and ``data``). Today it yields none; the model zoo makes it
yield its catalogue (``seggal.zoo`` sits below this module: it may import :mod:`seggal.checkpoint` and
:mod:`seggal.hub`, never this one). :func:`entries` turns each row into an entry, ``ready`` when the
reference is already in the Hugging Face cache, else ``downloadable``.

Loading: :func:`load` builds the segmenter of an entry, :func:`load_checkpoint` the one of a checkpoint
folder or Hub reference (the method comes from its ``config.json``); both through
:func:`seggal.backends.build`, which applies the checkpoint's preprocessing record.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from seggal import hub
from seggal.backends import build
from seggal.backends.base import Segmenter
from seggal.checkpoint import (CARD_FILE, CONFIG_FILE, SYNTHETIC, WEIGHTS_FILE, is_complete, read_config,
                               resolve_checkpoint)
from seggal.errors import SegGalError
from seggal.methods import METHODS, Availability, Method, availability, get_method
from seggal.provenance import PROJECT_ROOT
from seggal.tasks import Task, get_task, training_sets

#: Where ``python -m training.default_model`` ships the embedded default model (when it earns it).
EMBEDDED_DEFAULT = Path(__file__).resolve().parent / "models" / "default"
#: The task ``seggal segment`` runs with its default channels (nuclear channel 0, no membrane channel).
DEFAULT_TASK = "tissuenet-nuclei-nuclear"
SOURCES = ("local", "embedded", "cached", "pretrained", "builtin", "paper", "generalist")
STATES = ("ready", "downloadable", "unavailable")


@dataclass(frozen=True)
class Entry:
    """One way to run ``method`` on ``task`` (module docstring).

    ``reference`` is what :func:`seggal.backends.build` takes: a folder path, a Hub reference, a backend's
    published-weights name, or ``""`` (no weights). ``training_set`` is ``All``, a tissue / cell type,
    ``synthetic`` or ``""`` (not trained for this benchmark); ``data`` describes the training data;
    ``label`` is the text shown to users.
    """

    method: str
    task: str
    training_set: str
    source: str
    state: str
    reason: str
    reference: str
    label: str
    data: str = ""

    @property
    def ready(self) -> bool:
        """Everything needed is on this machine: it runs offline."""
        return self.state == "ready"


def checkpoints_dir() -> Path:
    """The local checkpoint folder (``SEGGAL_CHECKPOINTS``, default ``<project>/checkpoints``)."""
    return Path(os.environ.get("SEGGAL_CHECKPOINTS", PROJECT_ROOT / "checkpoints"))


def _signature(folder: Path) -> tuple | None:
    """(mtime, size) of the files that make ``folder`` a complete checkpoint; ``None`` when one is missing."""
    try:
        return tuple((s.st_mtime_ns, s.st_size) for s in (os.stat(folder / n) for n in (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)))
    except OSError:
        return None


@lru_cache(maxsize=256)
def _checked(folder: str, signature: tuple) -> dict | None:
    return read_config(folder) if is_complete(folder) else None


def complete_config(folder: str | os.PathLike) -> dict | None:
    """The config of ``folder`` when it is a complete checkpoint (:func:`seggal.checkpoint.is_complete`),
    else ``None``; remembered until one of its files changes, so listing entries stays cheap."""
    signature = _signature(Path(folder))
    return None if signature is None else _checked(str(folder), signature)


def embedded_default(method: str | None = None, task: str | None = None) -> Path | None:
    """The model shipped inside the package (:data:`EMBEDDED_DEFAULT`), when it is there and complete
    and (where given) runs ``method`` for ``task``.

    ``python -m training.default_model`` puts it there only if it beats the classical baseline on real
    annotated nuclei; its ``comparison.json`` holds both scores.
    """
    config = complete_config(EMBEDDED_DEFAULT)
    if config is None:
        return None
    if method is not None and config["method"] != get_method(method).id:
        return None
    if task is not None and config["task"] != get_task(task).id:
        return None
    return EMBEDDED_DEFAULT


def find_local(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """The complete local checkpoint of a slot: ``<root>/<name>`` or a training run's ``<root>/<name>/best``."""
    root = Path(root) if root is not None else checkpoints_dir()
    for folder in (root / name, root / name / "best"):
        if complete_config(folder) is not None:
            return folder
    return None


def catalogue(method: str, task: str) -> Iterable[Mapping]:
    """Catalogue rows for ``method`` and ``task`` (module docstring, *Catalogue hook*); none yet."""
    return ()


def _backend(method: Method):
    return importlib.import_module(f"seggal.backends.{method.backend}")


def _folder_entry(folder: Path, method: Method, task: Task, source: str) -> Entry:
    config = complete_config(folder)
    data = config.get("training_data") or config.get("data", "")
    trained = f"synthetic images ({config.get('data')})" if config.get("synthetic") else config["training_set"]
    label = ("SegGal's shipped default" if source == "embedded" else f"local ({folder.name})") + f", trained on {trained}"
    return Entry(method.id, task.id, config["training_set"], source, "ready", "", str(folder), label, data)


def entries(method: str | Method, task: str | Task, *, local_dir: str | os.PathLike | None = None,
            cache_dir: str | os.PathLike | None = None) -> tuple[Entry, ...]:
    """Every way to run ``method`` on ``task`` here, ready ones first (local, embedded, cached, pretrained,
    builtin, catalogue; in that order within a state). Never empty: a method that cannot run gets one
    ``unavailable`` entry saying why. Never touches the network."""
    method = get_method(method) if isinstance(method, str) else method
    task = get_task(task) if isinstance(task, str) else task
    status = availability(method)
    if not status.available:
        return (Entry(method.id, task.id, "", "builtin", "unavailable", status.reason, "",
                      f"{method.name} does not run in this installation"),)
    module = _backend(method)
    found: list[Entry] = []
    sets = (*training_sets(task), SYNTHETIC)
    root = Path(local_dir) if local_dir is not None else checkpoints_dir()
    present = set(os.listdir(root)) if root.is_dir() else set()
    for training_set in sets:
        name = hub.repo_name(method.id, task.id, training_set)
        folder = find_local(name, root) if name in present else None
        if folder is not None:
            found.append(_folder_entry(folder, method, task, "local"))
    shipped = embedded_default(method.id, task.id)
    if shipped is not None:
        found.append(_folder_entry(shipped, method, task, "embedded"))
    cached = hub.cached_repos(cache_dir)
    for training_set in sets:
        repo = hub.repo_id(method.id, task.id, training_set)
        if repo in cached:
            found.append(Entry(method.id, task.id, training_set, "cached", "ready", "", repo,
                               f"trained on {training_set} ({repo}, Hugging Face cache)"))
    pretrained = module.pretrained(task.target)
    if pretrained is not None:
        name, on_disk = pretrained
        found.append(Entry(method.id, task.id, "", "pretrained", "ready" if on_disk else "downloadable",
                           "" if on_disk else "published weights not downloaded yet", name,
                           f"{method.name}'s published weights {name}" + ("" if on_disk else " (downloaded on first use)")))
    if not module.NEEDS_WEIGHTS:
        found.append(Entry(method.id, task.id, "", "builtin", "ready", "", "", "none needed (no weights)"))
    for row in catalogue(method.id, task.id):
        reference = str(row["reference"])
        here = reference.partition("@")[0] in cached
        found.append(Entry(method.id, task.id, str(row["training_set"]), str(row["source"]),
                           "ready" if here else "downloadable", "" if here else "not downloaded yet", reference,
                           str(row.get("label") or f"{row['source']} model {reference}"), str(row.get("data", ""))))
    if not found:
        found.append(Entry(method.id, task.id, "", "local", "unavailable",
                           f"no trained weights for {task.label} here (no local or cached checkpoint, no published "
                           "weights on disk): train one (python -m training.train) or download one", "",
                           "no trained weights here"))
    return tuple(sorted(found, key=lambda e: STATES.index(e.state)))


def ready_entry(method: str | Method, task: str | Task) -> Entry | None:
    """The entry ``method`` runs with on ``task`` by default here (the first ready one), or ``None``."""
    first = entries(method, task)[0]
    return first if first.ready else None


def runs_here(method: str | Method, task: str | Task) -> Availability:
    """Whether ``method`` runs ``task`` here — a ready entry (weights on this machine) — and why not."""
    first = entries(method, task)[0]
    return Availability(first.ready, "" if first.ready else first.reason)


def default_method(task: str | Task | None = None) -> str:
    """The most accurate method (published accuracy for ``task``, default :data:`DEFAULT_TASK`) with a
    ready entry here (registry id); methods without a published score come last."""
    task = get_task(task or DEFAULT_TASK) if not isinstance(task, Task) else task
    ready = [m for m in METHODS if ready_entry(m, task) is not None]
    if not ready:  # the baseline needs only scikit-image, a core requirement
        raise SegGalError("no segmentation method can run offline in this installation")
    from seggal.results import all_tissue_scores

    scores = all_tissue_scores()
    accuracy = scores[scores["task"] == task.id].groupby("method_id")["accuracy"].mean().to_dict()
    return max(ready, key=lambda m: accuracy.get(m.id, -1.0)).id


def load(entry: Entry, device: str | None = None, target: str | None = None) -> Segmenter:
    """The segmenter of a ready or downloadable ``entry`` (``target``: see :func:`seggal.backends.build`)."""
    if entry.state == "unavailable":
        raise SegGalError(f"{get_method(entry.method).name} cannot run {entry.task} here: {entry.reason}")
    return build(entry.method, entry.reference or None, device, target=target)


def load_checkpoint(reference: str | os.PathLike, device: str | None = None) -> tuple[Segmenter, dict]:
    """Build the segmenter stored in a checkpoint (local folder or ``org/name[@revision]``) → (Segmenter, config)."""
    folder = resolve_checkpoint(reference)
    config = read_config(folder)
    return build(config["method"], folder, device), config


def slots(scores: pd.DataFrame | None = None, *, online: bool = False, local_dir: str | os.PathLike | None = None,
          cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's model slots (one per row of the published scores, 138) with SegGal's checkpoint status.

    Adds columns ``repo_id``, ``local_path`` (str, ``""`` when none), ``local`` / ``cached`` (bool),
    ``on_hub`` (bool, or None when not checked: ``online=False`` or the Hub unreachable), ``reference``
    (what loads it here: the local folder, else the cached repository id, else ``""``) and ``status``:
    ``local``, ``cached``, ``on Hub`` or ``not available``.
    """
    from seggal.results import load_scores

    table = (load_scores() if scores is None else scores).copy()
    org = hub.hub_org()
    cached = hub.cached_repos(cache_dir)
    on_hub = hub.hub_repos(org) if online else None
    names = [hub.repo_name(m, t, s) for m, t, s in zip(table["method_id"], table["task"], table["training_set"])]
    table["repo_id"] = [f"{org}/{n}" for n in names]
    table["local_path"] = [str(find_local(n, local_dir) or "") for n in names]
    table["local"] = table["local_path"] != ""
    table["cached"] = table["repo_id"].isin(cached)
    table["on_hub"] = table["repo_id"].isin(on_hub) if on_hub is not None else None
    table["reference"] = [loc or (rid if cac else "")
                          for loc, cac, rid in zip(table["local_path"], table["cached"], table["repo_id"])]
    table["status"] = [
        "local" if loc else "cached" if cac else "on Hub" if on_hub is not None and rid in on_hub else "not available"
        for loc, cac, rid in zip(table["local"], table["cached"], table["repo_id"])
    ]
    return table
