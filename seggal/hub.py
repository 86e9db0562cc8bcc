"""Checkpoint folders, model cards and the Hugging Face Hub.

A SegGal checkpoint is one folder that is also a Hub model repository::

    model.safetensors   the weights (written by the backend's ``Segmenter.save``; never a pickle)
    backend.json        what the backend needs to rebuild the network (also written by the backend)
    config.json         method, task, training set, channels, preprocessing, training settings,
                        validation scores, package versions, git commit (:func:`write_checkpoint`)
    README.md           the model card: Hub YAML front matter (library_name, tags, datasets, metrics,
                        model-index) + the validation scores, training time, hardware, intended use, limits

``seggal.backends.build(config["method"], checkpoint=folder)`` loads it; :func:`resolve_checkpoint` turns a
local folder or a Hub reference ``org/name@revision`` into such a folder, served from the Hugging Face
cache when offline (``HF_HUB_OFFLINE=1``).

Configuration (environment variables):

* ``SEGGAL_HUB_ORG`` — the Hub organisation of the gallery's repositories; default ``seggal``.
* ``SEGGAL_CHECKPOINTS`` — the folder of locally trained checkpoints, one sub-folder per repository
  name (:func:`repo_name`); default ``checkpoints/`` at the project root.
* ``HF_HOME`` / ``HF_HUB_CACHE`` / ``HF_HUB_OFFLINE`` / ``HF_ENDPOINT`` / ``HF_TOKEN`` — huggingface_hub's own.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

import pandas as pd

from seggal.errors import SegGalError
from seggal.image import ChannelSpec
from seggal.methods import get_method
from seggal.metrics import COCO_METRICS
from seggal.provenance import PROJECT_ROOT, git_commit, package_versions
from seggal.tasks import check_training_set, get_task

#: Where ``python -m training.default_model`` ships the embedded default model (when it earns it).
EMBEDDED_DEFAULT = Path(__file__).resolve().parent / "models" / "default"
#: Default Hub organisation; override with SEGGAL_HUB_ORG.
DEFAULT_HUB_ORG = "seggal"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
WEIGHTS_FILE = "model.safetensors"
#: Version of the config.json layout; bumped when a field changes meaning.
CONFIG_FORMAT = 1
#: Files of a checkpoint folder that only training needs (``training_state*``; not pushed to the Hub).
STATE_PREFIX = "training_state"
#: The percentile normalisation every backend applies to its input (seggal.preprocess).
DEFAULT_PREPROCESSING = {"normalisation": "percentile", "low": 0.1, "high": 99.9, "per_channel": True}


def hub_org() -> str:
    """The Hub organisation of the gallery (``SEGGAL_HUB_ORG``, default ``seggal``)."""
    return os.environ.get("SEGGAL_HUB_ORG", DEFAULT_HUB_ORG)


def checkpoints_dir() -> Path:
    """The local checkpoint folder (``SEGGAL_CHECKPOINTS``, default ``<project>/checkpoints``)."""
    return Path(os.environ.get("SEGGAL_CHECKPOINTS", PROJECT_ROOT / "checkpoints"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def repo_name(method: str, task: str, training_set: str) -> str:
    """Repository / folder name of one gallery slot: ``cellpose-tissuenet-nuclei-dual-all``."""
    return f"{get_method(method).id}-{get_task(task).id}-{_slug(training_set)}"


def repo_id(method: str, task: str, training_set: str, org: str | None = None) -> str:
    """Hub repository id of one gallery slot: ``<org>/<repo_name>``."""
    return f"{org or hub_org()}/{repo_name(method, task, training_set)}"


# ----------------------------------------------------------------------------------------------- config


def make_config(meta: Mapping) -> dict:
    """The config.json dict of a checkpoint from ``meta``.

    ``meta`` needs ``method``, ``task``, ``training_set``; optional ``training`` (epochs, iterations,
    batch_size, learning_rate, hours, standardised_hours, hardware, device, n_train_images, best_epoch, …),
    ``validation`` (mAP, AP50, AP75, AR50, AR75, accuracy), ``data`` (where it was trained),
    ``preprocessing`` (default :data:`DEFAULT_PREPROCESSING`) and ``description``.
    """
    for key in ("method", "task", "training_set"):
        if key not in meta:
            raise SegGalError(f"checkpoint metadata: {key!r} is missing")
    method = get_method(meta["method"])
    task = get_task(meta["task"])
    check_training_set(task.id, meta["training_set"], "checkpoint metadata")
    spec = ChannelSpec.for_input(task.input_channels)
    return {
        "format": CONFIG_FORMAT,
        "library": "seggal",
        "method": method.id,
        "method_name": method.name,
        "backend": method.backend,
        "task": task.id,
        "dataset": task.dataset,
        "target": task.target,
        "training_set": meta["training_set"],
        "channels": {"input_channels": task.input_channels, "nuclear": spec.nuclear, "membrane": spec.membrane},
        "preprocessing": dict(meta.get("preprocessing", DEFAULT_PREPROCESSING)),
        "data": meta.get("data", ""),
        "description": meta.get("description", ""),
        "training": dict(meta.get("training", {})),
        "validation": {k: float(v) for k, v in dict(meta.get("validation", {})).items()},
        "packages": package_versions(method.packages),
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def read_config(folder: str | os.PathLike) -> dict:
    """Read and validate ``folder/config.json`` → dict; :class:`SegGalError` naming the file otherwise."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise SegGalError(f"{path}: not a SegGal checkpoint (config.json not found)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SegGalError(f"{path}: config.json is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise SegGalError(f"{path}: config.json must hold a JSON object")
    for key in ("format", "method", "task", "training_set", "channels"):
        if key not in config:
            raise SegGalError(f"{path}: config.json has no {key!r} field")
    if config["format"] != CONFIG_FORMAT:
        raise SegGalError(f"{path}: config format {config['format']!r} is not {CONFIG_FORMAT}")
    try:
        get_method(config["method"])
        get_task(config["task"])
    except SegGalError as exc:
        raise SegGalError(f"{path}: {exc}") from None
    check_training_set(config["task"], config["training_set"], str(path))
    return config


def is_complete(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a valid config.json, the weights and the model card."""
    folder = Path(folder)
    try:
        read_config(folder)
    except SegGalError:
        return False
    return (folder / WEIGHTS_FILE).is_file() and (folder / CARD_FILE).is_file()


# ----------------------------------------------------------------------------------------------- model card


def model_card(config: Mapping) -> str:
    """README.md of a checkpoint: Hub YAML front matter + a human-readable card, from its config."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    task = get_task(config["task"])
    method = get_method(config["method"])
    name = f"SegGal {method.name} — {task.label}, trained on {config['training_set']}"
    data_name = config.get("data") or task.dataset
    synthetic = "synthetic" in str(data_name).lower()
    dataset = "synthetic" if synthetic else task.dataset
    validation = config.get("validation", {})
    evals = [
        EvalResult(task_type="image-segmentation", task_name="instance segmentation", dataset_type=_slug(dataset),
                   dataset_name=dataset, dataset_split="validation", metric_type=k, metric_name=k,
                   metric_value=round(float(validation[k]), 4))
        for k in COCO_METRICS if k in validation
    ]
    data = ModelCardData(
        library_name="seggal",
        tags=["seggal", "cell-segmentation", "instance-segmentation", "microscopy", method.id, task.id,
              task.modality, method.backend],
        datasets=[dataset],
        metrics=list(COCO_METRICS),
        model_name=name,
        eval_results=evals or None,
        pipeline_tag="image-segmentation",
        seggal={k: config[k] for k in ("method", "task", "training_set")},
    )
    training = config.get("training", {})
    rows = "\n".join(f"| {k} | {validation[k]:.4f} |" for k in (*COCO_METRICS, "accuracy") if k in validation)
    settings = "\n".join(f"| {k} | {v} |" for k, v in training.items())
    versions = ", ".join(f"{k} {v}" for k, v in config.get("packages", {}).items())
    limits = (
        "**Trained on synthetic images only** (SegGal's generator): a demonstration / smoke-test model, "
        "not a substitute for the paper's models on real tissue." if synthetic else
        f"Trained on {task.dataset} ({config['training_set']}); expect lower accuracy on other tissues, "
        "stains, magnifications and modalities (see the paper's transferability analysis, Figure 4)."
    )
    body = f"""
# {name}

A {method.name} ({method.architecture}) segmentation model from **SegGal**, the gallery of the cell-segmentation
benchmark of Wang, Zhao, Xu et al. (2024). Task: **{task.label}** — segment {task.target.replace('_', ' ')} from
{task.input_channels.replace('_', ' ')} input channels ({task.dataset}, {task.modality.replace('_', ' ')}).

## Use

```bash
python -m seggal segment --checkpoint {config.get('repo_id', '<this folder or org/name@revision>')} image.tif
```

Inputs: (H, W, C) images with channels {json.dumps(config['channels'])}; preprocessing
{json.dumps(config.get('preprocessing', {}))}. Output: an integer label image (0 = background).

## Validation ({'synthetic' if synthetic else task.dataset} validation split)

| metric | value |
|---|---|
{rows or '| (not validated) | |'}

## Training

| setting | value |
|---|---|
{settings or '| (not recorded) | |'}

Training data: {data_name}. Package versions: {versions}. SegGal commit: `{config.get('git_commit') or 'unknown'}`.

## Intended use and limits

Intended for research on fluorescence / phase-contrast microscopy images like the training data. {limits}
Check predictions against a few manual annotations (SegGal's Segment page scores them) before quantitative use.
Weights are stored as safetensors; loading them never executes code.
"""
    return str(ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n{{ body }}", body=body))


# ----------------------------------------------------------------------------------------------- folders


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_dir(staged: Path, folder: Path) -> None:
    """Make ``staged`` (a complete, fsynced folder beside ``folder``) become ``folder``.

    POSIX cannot rename a directory over a non-empty one, so the old one is first renamed aside
    (``.<name>.old``) and deleted after the swap; :func:`recover_dir` restores it if the process dies
    between the two renames. A reader therefore sees either the old or the new complete folder.
    """
    old = folder.parent / f".{folder.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staged, folder)
    _fsync_dir(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(folder: Path) -> None:
    """Undo a swap interrupted between :func:`replace_dir`'s two renames, and drop stale staging folders."""
    old = folder.parent / f".{folder.name}.old"
    if not folder.exists() and old.exists():
        os.replace(old, folder)
    for staged in folder.parent.glob(f".{folder.name}.tmp*"):
        shutil.rmtree(staged, ignore_errors=True)


def write_checkpoint(folder: str | os.PathLike, segmenter, meta: Mapping,
                     extra: Mapping[str, bytes] | None = None) -> Path:
    """Write a complete checkpoint folder atomically → its path.

    ``segmenter.save`` writes the weights (model.safetensors + backend.json); this adds config.json
    (:func:`make_config` of ``meta``) and the README.md model card, plus ``extra`` files (name → bytes,
    e.g. training state). Everything is written to a staging folder beside ``folder``, fsynced, then
    swapped in (:func:`replace_dir`), so a crash never leaves a half-written checkpoint.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    config = make_config(meta)
    staged = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp", dir=folder.parent))
    try:
        segmenter.save(staged)
        if not (staged / WEIGHTS_FILE).is_file():
            raise SegGalError(f"{type(segmenter).__name__}.save wrote no {WEIGHTS_FILE}")
        (staged / CONFIG_FILE).write_text(json.dumps(config, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (staged / CARD_FILE).write_text(model_card(config), encoding="utf-8")
        for name, content in (extra or {}).items():
            (staged / name).write_bytes(content)
        _fsync_tree(staged)
        replace_dir(staged, folder)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return folder


def load_checkpoint(reference: str | os.PathLike, device: str | None = None):
    """Build the segmenter stored in a checkpoint (local folder or ``org/name@revision``) → (Segmenter, config)."""
    from seggal.backends import build

    folder = resolve_checkpoint(reference)
    config = read_config(folder)
    return build(config["method"], checkpoint=folder, device=device), config


# ----------------------------------------------------------------------------------------------- Hub


def parse_reference(reference: str) -> tuple[str, str | None]:
    """``org/name@revision`` → (``org/name``, ``revision``); a bare ``name`` gets :func:`hub_org`."""
    repo, _, revision = str(reference).partition("@")
    if "/" not in repo:
        repo = f"{hub_org()}/{repo}"
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise SegGalError(f"checkpoint {reference!r}: no such local folder, and not a Hub reference 'org/name[@revision]'")
    return repo, revision or None


def resolve_checkpoint(reference: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """A local checkpoint folder, or a Hub reference ``org/name[@revision]`` → local folder.

    Hub references go through ``huggingface_hub.snapshot_download`` pinned to ``revision`` (default
    ``main``); with ``HF_HUB_OFFLINE=1`` (or no network) it is served from the Hugging Face cache
    (``cache_dir``, default ``HF_HUB_CACHE``). The folder is validated with :func:`read_config`.
    """
    path = Path(reference)
    if path.is_dir():
        read_config(path)
        return path
    repo, revision = parse_reference(str(reference))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        folder = Path(snapshot_download(repo, revision=revision, cache_dir=cache_dir))
    except LocalEntryNotFoundError:
        raise SegGalError(f"checkpoint {reference!r}: not in the Hugging Face cache and the Hub cannot be reached "
                          "(offline); download it once while online") from None
    except RepositoryNotFoundError:
        raise SegGalError(f"checkpoint {reference!r}: no such repository on the Hub") from None
    except HfHubHTTPError as exc:
        raise SegGalError(f"checkpoint {reference!r}: Hub error ({exc})") from None
    read_config(folder)
    return folder


def push_checkpoint(folder: str | os.PathLike, repo: str | None = None, tag: str | None = None, *,
                    private: bool = False, endpoint: str | None = None, token: str | None = None) -> str:
    """Upload a checkpoint folder to the Hub → the commit id.

    ``repo`` defaults to :func:`repo_id` of the folder's config; the repository is created if needed,
    the folder uploaded as one commit (training-state files left out) and, when ``tag`` is given (one per
    release, e.g. ``v1``), the commit is tagged so users can pin it: ``org/name@v1``.
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    config = read_config(folder)
    if not (folder / WEIGHTS_FILE).is_file():
        raise SegGalError(f"{folder}: no {WEIGHTS_FILE} to push")
    repo = repo or repo_id(config["method"], config["task"], config["training_set"])
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo, private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo, folder_path=folder, ignore_patterns=[f"{STATE_PREFIX}*"],
                             commit_message=f"SegGal checkpoint: {config['method']} / {config['task']} / "
                                            f"{config['training_set']}")
    if tag:
        api.create_tag(repo, tag=tag, revision=info.oid, exist_ok=True)
    return info.oid


def embedded_default(method: str | None = None, task: str | None = None) -> Path | None:
    """The model shipped inside the package (:data:`EMBEDDED_DEFAULT`), when it is there and complete
    and (where given) runs ``method`` for ``task``.

    ``python -m training.default_model`` puts it there only if it beats the classical baseline on real
    annotated nuclei; its ``comparison.json`` holds both scores.
    """
    if not is_complete(EMBEDDED_DEFAULT):
        return None
    config = read_config(EMBEDDED_DEFAULT)
    if method is not None and config["method"] != get_method(method).id:
        return None
    if task is not None and config["task"] != get_task(task).id:
        return None
    return EMBEDDED_DEFAULT


def find_local(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """The complete local checkpoint of a slot: ``<root>/<name>`` or a training run's ``<root>/<name>/best``."""
    root = Path(root) if root is not None else checkpoints_dir()
    for folder in (root / name, root / name / "best"):
        if is_complete(folder):
            return folder
    return None


def _cached_repos(cache_dir: str | os.PathLike | None = None) -> set[str]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return set()
    return {r.repo_id for r in info.repos if r.repo_type == "model" and r.revisions}


def _hub_repos(org: str) -> set[str] | None:
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        return {m.id for m in HfApi().list_models(author=org)}
    except Exception:  # noqa: BLE001 — any network failure means "unknown", never a crash of the page
        return None


def gallery_slots(scores: pd.DataFrame | None = None, *, online: bool = False,
                  local_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's model slots (one per row of the published scores, 138) with SegGal's checkpoint status.

    Adds columns ``repo_id``, ``local_path`` (str, ``""`` when none), ``local`` / ``cached`` (bool),
    ``on_hub`` (bool, or None when not checked: ``online=False`` or the Hub unreachable) and ``status``:
    ``local``, ``cached``, ``on Hub`` or ``not available``.
    """
    from seggal.results import load_scores

    table = (load_scores() if scores is None else scores).copy()
    org = hub_org()
    cached = _cached_repos(cache_dir)
    hub = _hub_repos(org) if online else None
    names = [repo_name(m, t, s) for m, t, s in zip(table["method_id"], table["task"], table["training_set"])]
    table["repo_id"] = [f"{org}/{n}" for n in names]
    table["local_path"] = [str(find_local(n, local_dir) or "") for n in names]
    table["local"] = table["local_path"] != ""
    table["cached"] = table["repo_id"].isin(cached)
    table["on_hub"] = table["repo_id"].isin(hub) if hub is not None else None
    table["status"] = [
        "local" if loc else "cached" if cac else "on Hub" if hub is not None and rid in hub else "not available"
        for loc, cac, rid in zip(table["local"], table["cached"], table["repo_id"])
    ]
    return table
