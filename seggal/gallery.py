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

Catalogue: :func:`catalogue` turns the model zoo's catalogue (:mod:`seggal.zoo.catalogue`,
``results/published/models.csv``: the paper's 138 models and the generalists beside them) into entries of
source ``paper`` or ``generalist``, whose ``reference`` is their Hub repository (:func:`seggal.hub.repo_id`).
Their state, decided here only:

* ``unavailable`` — the method does not run in this installation (its reason), SegGal has no converter for
  the source's file format (:data:`seggal.zoo.convert.FORMATS`), or the converter refuses the paper's files
  for the method (:data:`seggal.zoo.convert.ARCHITECTURE_MISMATCH`: ResNeSt);
* ``ready`` — the converted checkpoint is in the Hugging Face cache (it runs offline);
* ``downloadable`` — else: a source link and a converter exist; :func:`pull` (needs a network) downloads,
  converts and caches it, and the entry turns ready.

A generalist's ``training_set`` is its own model name (``cyto3``, ``vit_b``; see
:data:`seggal.checkpoint.GENERALIST`). :mod:`seggal.zoo` sits below this module: it never imports it.

Loading: :func:`load` builds the segmenter of an entry, :func:`load_checkpoint` the one of a checkpoint
folder or Hub reference (the method comes from its ``config.json``); both through
:func:`seggal.backends.build`, which applies the checkpoint's preprocessing record.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import pandas as pd

from seggal import hub
from seggal.backends import build
from seggal.backends.base import Segmenter
from seggal.checkpoint import (CARD_FILE, CONFIG_FILE, SYNTHETIC, WEIGHTS_FILE, hf_cache, is_complete,
                               read_config, resolve_checkpoint)
from seggal.errors import SegGalError
from seggal.methods import METHODS, Availability, Method, availability, get_method
from seggal.provenance import PROJECT_ROOT
from seggal.tasks import Task, get_task, training_sets
from seggal.zoo import download
from seggal.zoo.catalogue import FORMATS, find_entry, load_catalogue
from seggal.zoo.convert import ARCHITECTURE_MISMATCH, FORMATS as CONVERTED_FORMATS
from seggal.zoo.download import Progress

#: Where ``python -m training.default_model`` ships the embedded default model (when it earns it).
EMBEDDED_DEFAULT = Path(__file__).resolve().parent / "models" / "default"
#: The task ``seggal segment`` runs with its default channels (nuclear channel 0, no membrane channel).
DEFAULT_TASK = "tissuenet-nuclei-nuclear"
#: Sources, in the order :func:`entries` lists the entries of one state.
SOURCES = ("local", "embedded", "cached", "paper", "pretrained", "generalist", "builtin")
#: Sources of the model zoo's catalogue (:func:`catalogue`).
CATALOGUE_SOURCES = ("paper", "generalist")
STATES = ("ready", "downloadable", "unavailable")


@dataclass(frozen=True)
class Entry:
    """One way to run ``method`` on ``task`` (module docstring).

    ``reference`` is what :func:`seggal.backends.build` takes: a folder path, a Hub reference, a backend's
    published-weights name, or ``""`` (no weights). ``training_set`` is ``All``, a tissue / cell type,
    ``synthetic`` or ``""`` (not trained for this benchmark); ``data`` describes the training data;
    ``label`` is the text shown to users. Catalogue entries also carry the source ``url``, the authors'
    ``usage_guide`` and ``size_bytes`` (None when unknown).
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
    url: str = ""
    usage_guide: str = ""
    size_bytes: int | None = None

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


def stamp() -> tuple:
    """What the entries' readiness depends on, cheaply: the local checkpoint folder and the Hugging Face cache,
    each as (path, modification time in ns or 0). A pull or a new local checkpoint changes it (a key for
    caches of :func:`entries`)."""
    folders = (checkpoints_dir(), hf_cache())
    return tuple((str(p), p.stat().st_mtime_ns if p.is_dir() else 0) for p in folders)


def embedded_default(method: str | None = None, task: str | None = None) -> Path | None:
    """The model shipped inside the package (:data:`EMBEDDED_DEFAULT`), when it is there and complete
    and (where given) runs ``method`` for ``task``.

    ``python -m training.default_model`` puts it there only if it beats the classical baseline on real
    annotated nuclei in mAP and AP75 and traces clean round nuclei tightly (mAP >= 0.8); its
    ``comparison.json`` holds both models' scores on both images.
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


@functools.lru_cache(maxsize=1)
def _catalogue_rows() -> tuple[dict, ...]:
    return tuple(load_catalogue().to_dict("records"))


def _catalogue_entry(row: Mapping, cached: set[str]) -> Entry:
    method, name = get_method(row["method_id"]), row["training_set"]
    repo = hub.repo_id(method.id, row["task"], name)
    status = availability(method)
    if not status.available:
        state, reason = "unavailable", status.reason
    elif repo in cached:
        state, reason = "ready", ""
    elif method.id in ARCHITECTURE_MISMATCH and row["source"] == "paper":
        state, reason = "unavailable", f"cannot be converted: {ARCHITECTURE_MISMATCH[method.id]}"
    elif row["format"] not in CONVERTED_FORMATS:
        state, reason = "unavailable", f"SegGal has no converter for {row['format']} files yet ({FORMATS[row['format']]})"
    else:
        state, reason = "downloadable", (f"not downloaded yet (needs a network): python -m seggal models pull "
                                         f"{method.id} --task {row['task']} --train-set {name}")
    generalist = row["source"] == "generalist"
    label = (f"{method.name} generalist {name}, not from the paper" if generalist
             else f"the paper's {method.name} trained on {name}")
    size = row["size_bytes"]
    return Entry(method.id, row["task"], name, row["source"], state, reason, repo, label,
                 f"{name}: its authors' own training data" if generalist else f"{get_task(row['task']).dataset}, {name}",
                 row["url"], row["usage_guide"], None if pd.isna(size) else int(size))


def catalogue(method: str | Method | None = None, task: str | Task | None = None, *,
              cache_dir: str | os.PathLike | None = None) -> tuple[Entry, ...]:
    """The model zoo's catalogue as entries (module docstring, *Catalogue*), in the catalogue's order; only
    those of ``method`` / ``task`` when given. Never touches the network."""
    method_id = None if method is None else (method.id if isinstance(method, Method) else get_method(method).id)
    task_id = None if task is None else (task.id if isinstance(task, Task) else get_task(task).id)
    cached = hub.cached_repos(cache_dir)
    return tuple(_catalogue_entry(r, cached) for r in _catalogue_rows()
                 if method_id in (None, r["method_id"]) and task_id in (None, r["task"]))


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
    """Every way to run ``method`` on ``task`` here, ready ones first (in the order of :data:`SOURCES` within
    a state). Never empty: a method that cannot run gets one
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
    zoo = catalogue(method, task, cache_dir=cache_dir)
    in_zoo = {e.reference for e in zoo}
    cached = hub.cached_repos(cache_dir)
    for training_set in sets:
        repo = hub.repo_id(method.id, task.id, training_set)
        if repo in cached and repo not in in_zoo:
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
    found.extend(zoo)
    if not found:
        found.append(Entry(method.id, task.id, "", "local", "unavailable",
                           f"no trained weights for {task.label} here (no local or cached checkpoint, no published "
                           "weights on disk): train one (python -m training.train) or download one", "",
                           "no trained weights here"))
    return tuple(sorted(found, key=lambda e: (STATES.index(e.state), SOURCES.index(e.source))))


def ready_entry(method: str | Method, task: str | Task) -> Entry | None:
    """The entry ``method`` runs with on ``task`` by default here (the first ready one), or ``None``."""
    first = entries(method, task)[0]
    return first if first.ready else None


def usable_entry(method: str | Method, task: str | Task) -> Entry | None:
    """The entry ``seggal segment`` runs ``method`` on ``task`` with: the first ready one, else a ``pretrained``
    one its package downloads on first use (Cellpose's published weights), else ``None`` (a catalogue model
    must be pulled first: :func:`pull`)."""
    found = entries(method, task)
    return next((e for e in found if e.ready), None) or next(
        (e for e in found if e.state == "downloadable" and e.source == "pretrained"), None)


def local_entries(local_dir: str | os.PathLike | None = None) -> tuple[Entry, ...]:
    """An entry (source ``local``) for every complete checkpoint folder in ``local_dir`` (default
    :func:`checkpoints_dir`; a training run's ``…/best`` too), sorted by folder name."""
    root = Path(local_dir) if local_dir is not None else checkpoints_dir()
    folders = sorted(find_local(p.name, root) for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = []
    for folder in filter(None, folders):
        config = read_config(folder)
        found.append(_folder_entry(folder, get_method(config["method"]), get_task(config["task"]), "local"))
    return tuple(found)


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
    """The segmenter of a ready entry, or of a downloadable ``pretrained`` one (its package downloads it);
    a downloadable catalogue entry must be pulled first (:func:`pull`). ``target``: see
    :func:`seggal.backends.build`."""
    if entry.state == "unavailable":
        raise SegGalError(f"{get_method(entry.method).name} cannot run {entry.task} here: {entry.reason}")
    if entry.state == "downloadable" and entry.source in CATALOGUE_SOURCES:
        raise SegGalError(f"{entry.label} is not on this machine: {entry.reason}")
    return build(entry.method, entry.reference or None, device, target=target)


def catalogue_entry(method: str, task: str, training_set: str) -> Entry:
    """The catalogue entry of one published model; :class:`SegGalError` listing what the catalogue has otherwise."""
    row = find_entry(load_catalogue(), method, task, training_set)
    return next(e for e in catalogue(row["method_id"], row["task"]) if e.training_set == training_set)


def pull(entry: Entry, *, source: str | None = None, progress: Progress | None = None) -> Entry:
    """Download, convert and cache a catalogue ``entry`` (:func:`seggal.zoo.download.pull`: the Hub mirror
    first, then the original; ``source`` ``hub`` or ``paper`` for only one) → the entry, now ready.

    The one pull the CLI (``models pull``) and the pages call. ``progress(done, total)`` gets the bytes of the
    download. A ready entry is returned as it is; a non-catalogue or unavailable one raises
    :class:`SegGalError`.
    """
    if entry.source not in CATALOGUE_SOURCES:
        raise SegGalError(f"{entry.label}: only catalogue models (the paper's and generalists) are pulled")
    if entry.state == "unavailable":
        raise SegGalError(f"{entry.method} / {entry.task} / {entry.training_set} is unavailable: {entry.reason}")
    if entry.state == "downloadable":
        row = find_entry(load_catalogue(), entry.method, entry.task, entry.training_set)
        download.pull(row, source=source, progress=progress)
    pulled = catalogue_entry(entry.method, entry.task, entry.training_set)
    if not pulled.ready:
        raise SegGalError(f"{pulled.label}: pulled, but not ready here: {pulled.reason}")
    return pulled


def load_checkpoint(reference: str | os.PathLike, device: str | None = None) -> tuple[Segmenter, dict]:
    """Build the segmenter stored in a checkpoint (local folder or ``org/name[@revision]``) → (Segmenter, config)."""
    folder = resolve_checkpoint(reference)
    config = read_config(folder)
    return build(config["method"], folder, device), config


def slots(scores: pd.DataFrame | None = None, *, on_hub: set[str] | None = None,
          local_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's model slots (one per row of the published scores, 138) with SegGal's checkpoint status.

    ``on_hub``: the Hub's repository ids (:func:`seggal.hub.hub_repos`, which needs a network: the caller
    decides whether and how often to ask), or None when not checked. Adds columns ``repo_id``, ``local_path``
    (str, ``""`` when none), ``local`` / ``cached`` (bool), ``on_hub`` (bool, or None when not checked),
    ``reference`` (what loads it here: the local folder, else the cached repository id, else ``""``),
    ``status`` (``local``, ``cached``, ``on Hub`` or ``not available``) and the catalogue entry's ``state``
    and ``reason`` (:func:`catalogue`: ready / downloadable / unavailable).
    """
    from seggal.results import load_scores

    table = (load_scores() if scores is None else scores).copy()
    org = hub.hub_org()
    cached = hub.cached_repos(cache_dir)
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
    zoo = {(e.method, e.task, e.training_set): e for e in catalogue(cache_dir=cache_dir) if e.source == "paper"}
    found = [zoo.get(k) for k in zip(table["method_id"], table["task"], table["training_set"])]
    table["state"] = ["ready" if loc else e.state if e else "unavailable" for loc, e in zip(table["local"], found)]
    table["reason"] = ["" if loc else e.reason if e else "not in the model catalogue"
                       for loc, e in zip(table["local"], found)]
    return table
