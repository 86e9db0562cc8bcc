"""The SegGal checkpoint folder: its format, integrity, atomic writes, and resolving a folder or Hub reference.

A checkpoint is one folder that is also a Hugging Face model repository::

    model.safetensors   the weights (written by the backend's ``Segmenter.save``; never a pickle)
    backend.json        what the backend needs to rebuild the network (:func:`write_backend_meta`; each
                        backend validates it against its own JSON schema on load, :func:`read_backend_meta`)
    config.json         method, task, training set and data, channels, preprocessing
                        (:class:`seggal.preprocess.Preprocessing`), training settings, validation scores,
                        package versions, git commit (:func:`make_config`, schema :data:`CONFIG_SCHEMA`)
    README.md           the model card (:func:`seggal.model_card.model_card`)
    provenance.json     only in converted published models: source URL, SHA-256 of the original, the paper,
                        the published scores (:func:`seggal.zoo.convert.convert`)
    training_state*     only in training runs' ``last/`` folders (never pushed)

:func:`write_checkpoint` writes one atomically; :func:`is_complete` checks one (config valid, card present,
weights a well-formed safetensors file); :func:`resolve_checkpoint` turns a local folder or a Hub reference
``org/name[@revision]`` into such a folder (from the Hugging Face cache when offline). Every bad file is a
:class:`~seggal.errors.SegGalError` naming it, raised when the checkpoint is loaded, never later.

This module depends only on the registries (methods, tasks, metrics, preprocessing, provenance); building
a segmenter from a folder is :func:`seggal.backends.build`, choosing one is :mod:`seggal.gallery`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from seggal.errors import SegGalError
from seggal.image import ChannelSpec
from seggal.methods import get_method
from seggal.model_card import model_card
from seggal.preprocess import Preprocessing
from seggal.provenance import git_commit, package_versions
from seggal.tasks import check_generalist_name, check_training_set, get_task

CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
WEIGHTS_FILE = "model.safetensors"
BACKEND_FILE = "backend.json"
PROVENANCE_FILE = "provenance.json"
#: Version of the config.json layout; bumped when a field changes meaning.
CONFIG_FORMAT = 1
#: Files of a checkpoint folder that only training needs (``training_state*``; not pushed to the Hub).
STATE_PREFIX = "training_state"
#: The training set of a model trained on SegGal's generated images (config ``"synthetic": true``): it saw
#: no image of any real tissue or cell line, so it claims none.
SYNTHETIC = "synthetic"
#: A *generalist* checkpoint (config ``"generalist": true``) holds a model its package's authors trained on
#: their own data (Cellpose ``cyto3``, StarDist ``2D_versatile_fluo``, SAM ``vit_b`` …), converted for a task:
#: its ``training_set`` is the generalist's own name (:func:`seggal.tasks.check_generalist_name`: never a
#: TissueNet / LIVECell set) and its ``dataset`` is :data:`GENERALIST`.
GENERALIST = "generalist"
#: Largest safetensors header accepted (the JSON index of the tensors), bytes.
MAX_HEADER_BYTES = 100 * 2**20

#: JSON schema of config.json (checked by :func:`read_config`; the registries check the names in it).
CONFIG_SCHEMA = {
    "type": "object",
    "required": ["format", "method", "task", "training_set", "channels"],
    "properties": {
        "format": {"const": CONFIG_FORMAT},
        "library": {"const": "seggal"},
        "method": {"type": "string"},
        "method_name": {"type": "string"},
        "backend": {"type": "string"},
        "task": {"type": "string"},
        "dataset": {"type": "string"},
        "target": {"type": "string"},
        "training_set": {"type": "string"},
        "synthetic": {"type": "boolean"},
        "generalist": {"type": "boolean"},
        "channels": {
            "type": "object",
            "required": ["input_channels"],
            "properties": {"input_channels": {"type": "string"},
                           "nuclear": {"type": ["integer", "null"], "minimum": 0},
                           "membrane": {"type": ["integer", "null"], "minimum": 0}},
        },
        "preprocessing": {"type": "object"},
        "data": {"type": "string"},
        "training_data": {"type": "string"},
        "description": {"type": "string"},
        "training": {"type": "object"},
        "validation": {"type": "object", "additionalProperties": {"type": "number"}},
        "packages": {"type": "object", "additionalProperties": {"type": "string"}},
        "git_commit": {"type": "string"},
        "created": {"type": "string"},
        "repo_id": {"type": "string"},
    },
}


def validate(document, schema: Mapping, where: str | os.PathLike) -> None:
    """:class:`SegGalError` naming ``where`` and the offending field unless ``document`` fits the JSON ``schema``."""
    from jsonschema import Draft202012Validator

    error = next(iter(sorted(Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))), None)
    if error is not None:
        field = "/".join(map(str, error.absolute_path)) or "top level"
        raise SegGalError(f"{where}: {field}: {error.message}")


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise SegGalError(f"{path}: not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SegGalError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise SegGalError(f"{path}: cannot be read ({exc})") from None


# ----------------------------------------------------------------------------------------------- config


def _is_generated(data: str) -> bool:
    """SegGal's generated data sources (``synthetic``, ``synthetic-nuclei``; :mod:`seggal.data.tasks`)."""
    return str(data).startswith("synthetic")


def recorded_training_set(data: str, training_set: str) -> str:
    """The training set config.json records for a model trained on ``data`` with ``training_set``:
    :data:`SYNTHETIC` for SegGal's generated sources, else ``training_set``."""
    return SYNTHETIC if _is_generated(data) else training_set


def _check_claim(task, training_set: str, synthetic: bool, generalist: bool, where: str) -> None:
    """The one rule for what a checkpoint's ``training_set`` may claim: :data:`SYNTHETIC` for a model trained on
    generated images, the generalist's own name for a generalist (:data:`GENERALIST`), else a training set of
    the task."""
    if synthetic and generalist:
        raise SegGalError(f"{where}: a checkpoint is synthetic or generalist, not both")
    if synthetic:
        if training_set != SYNTHETIC:
            raise SegGalError(f"{where}: a model trained on synthetic images has training set {SYNTHETIC!r}, "
                              f"not {training_set!r}")
    elif generalist:
        check_generalist_name(task, training_set, where)
    else:
        check_training_set(task.id, training_set, where)


def make_config(meta: Mapping) -> dict:
    """The config.json dict of a checkpoint from ``meta``.

    ``meta`` needs ``method``, ``task``, ``training_set``; optional ``data`` (the training source: a
    dataset path or a generated source), ``synthetic`` (trained on generated images; default: ``data``
    names one of SegGal's generated sources), ``generalist`` (a generalist converted for the task, whose
    ``training_set`` is the generalist's name: :data:`GENERALIST`), ``training`` (epochs, iterations, batch_size, learning_rate,
    hours, standardised_hours, hardware, device, n_train_images, best_epoch, …), ``validation`` (mAP, AP50,
    AP75, AR50, AR75, accuracy), ``preprocessing`` (a :class:`~seggal.preprocess.Preprocessing` or its
    dict; default :data:`seggal.preprocess.DEFAULT`) and ``description``. A model trained on generated
    images records the training set :data:`SYNTHETIC` and ``dataset`` ``"synthetic"``, whatever subset of
    the generator it drew from.
    """
    for key in ("method", "task", "training_set"):
        if key not in meta:
            raise SegGalError(f"checkpoint metadata: {key!r} is missing")
    method = get_method(meta["method"])
    task = get_task(meta["task"])
    data = str(meta.get("data", ""))
    synthetic = bool(meta.get("synthetic", _is_generated(data)))
    generalist = bool(meta.get("generalist", False))
    _check_claim(task, SYNTHETIC if synthetic else meta["training_set"], synthetic, generalist, "checkpoint metadata")
    spec = ChannelSpec.for_input(task.input_channels)
    preprocessing = meta.get("preprocessing")
    if not isinstance(preprocessing, Preprocessing):
        preprocessing = Preprocessing.from_dict(preprocessing, "checkpoint metadata: preprocessing")
    return {
        "format": CONFIG_FORMAT,
        "library": "seggal",
        "method": method.id,
        "method_name": method.name,
        "backend": method.backend,
        "task": task.id,
        "dataset": "synthetic" if synthetic else GENERALIST if generalist else task.dataset,
        "target": task.target,
        "training_set": SYNTHETIC if synthetic else meta["training_set"],
        "synthetic": synthetic,
        "generalist": generalist,
        "channels": {"input_channels": task.input_channels, "nuclear": spec.nuclear, "membrane": spec.membrane},
        "preprocessing": preprocessing.to_dict(),
        "data": data,
        "training_data": (f"{data}: SegGal's generated images, no real tissue" if synthetic
                          else f"{data or meta['training_set']}: the generalist's own training data" if generalist
                          else f"{task.dataset}, {meta['training_set']}"),
        "description": str(meta.get("description", "")),
        "training": dict(meta.get("training", {})),
        "validation": {k: float(v) for k, v in dict(meta.get("validation", {})).items()},
        "packages": package_versions(method.packages),
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def read_config(folder: str | os.PathLike) -> dict:
    """Read and validate ``folder/config.json`` (:data:`CONFIG_SCHEMA`, the method and task registries, the
    training set, the preprocessing record) → dict; :class:`SegGalError` naming the file otherwise."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise SegGalError(f"{path}: not a SegGal checkpoint (config.json not found)")
    config = _read_json(path)
    validate(config, CONFIG_SCHEMA, path)
    try:
        get_method(config["method"])
        task = get_task(config["task"])
    except SegGalError as exc:
        raise SegGalError(f"{path}: {exc}") from None
    _check_claim(task, config["training_set"], config.get("synthetic", False), config.get("generalist", False),
                 str(path))
    preprocessing(config, path)
    return config


def preprocessing(config: Mapping, where: str | os.PathLike = CONFIG_FILE) -> Preprocessing:
    """The :class:`~seggal.preprocess.Preprocessing` a config records (:data:`seggal.preprocess.DEFAULT`
    when it has none)."""
    return Preprocessing.from_dict(config.get("preprocessing"), f"{where}: preprocessing")


# ----------------------------------------------------------------------------------------------- files


def _allowed_root(folder: Path) -> Path:
    """Where the files of ``folder`` may really live: the folder itself, or for a Hugging Face cache
    snapshot (``…/models--org--name/snapshots/<commit>``) its repository folder (the blobs)."""
    folder = folder.resolve()
    return folder.parent.parent if folder.parent.name == "snapshots" else folder


def check_file(folder: str | os.PathLike, name: str) -> Path:
    """``folder/name`` when it is a regular file inside the checkpoint (a symlink may point only into the
    folder, or into its Hub cache repository); :class:`SegGalError` otherwise."""
    folder = Path(folder)
    path = folder / name
    try:
        real = path.resolve(strict=True)
        mode = real.stat().st_mode
    except (OSError, RuntimeError):
        raise SegGalError(f"{path}: not found") from None
    if not stat.S_ISREG(mode):
        raise SegGalError(f"{path}: not a regular file")
    if path.is_symlink() and not real.is_relative_to(_allowed_root(folder)):
        raise SegGalError(f"{path}: a link to {real}, outside the checkpoint folder; refused")
    return path


def check_weights(folder: str | os.PathLike, name: str = WEIGHTS_FILE) -> Path:
    """``folder/name`` when it is a complete, well-formed safetensors file (header, dtypes, offsets covering
    the data exactly) → its path; :class:`SegGalError` for a missing, empty, truncated, pickled or
    otherwise foreign file. Reads the header only."""
    path = check_file(folder, name)
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 2 <= length <= min(size - 8, MAX_HEADER_BYTES):
                raise SegGalError(f"{path}: not a safetensors file (empty, truncated or another format)")
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            handle.keys()
    except SegGalError:
        raise
    except Exception as exc:  # noqa: BLE001 — SafetensorError, OSError …: any failure is a bad file
        raise SegGalError(f"{path}: not a valid safetensors file ({type(exc).__name__}: {exc})") from None
    return path


def load_weights(folder: str | os.PathLike, framework: str = "numpy", device: str = "cpu",
                 name: str = WEIGHTS_FILE) -> dict:
    """The tensors of ``folder/name`` (checked by :func:`check_weights`): numpy arrays (``framework="numpy"``)
    or torch tensors on ``device`` (``"pt"``) → {tensor name: tensor}."""
    path = check_weights(folder, name)
    try:
        if framework == "pt":
            from safetensors.torch import load_file

            return load_file(str(path), device=device)
        from safetensors.numpy import load_file

        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 — a dtype torch lacks, a short read …
        raise SegGalError(f"{path}: weights cannot be read ({type(exc).__name__}: {exc})") from None


def save_torch_weights(folder: str | os.PathLike, module) -> Path:
    """Create ``folder`` and write ``module``'s state dict (CPU, contiguous) as its ``model.safetensors``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(folder / WEIGHTS_FILE))
    return folder


def write_backend_meta(folder: str | os.PathLike, meta: Mapping) -> None:
    """Write ``meta`` (which names its ``backend``; numpy scalars become numbers, tuples lists) as the
    folder's ``backend.json``."""
    def plain(value):
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"backend.json: not JSON serialisable: {type(value).__name__}")

    text = json.dumps(dict(meta), indent=2, default=plain, allow_nan=False)
    (Path(folder) / BACKEND_FILE).write_text(text + "\n", encoding="utf-8")


def read_backend_meta(folder: str | os.PathLike, backend: str, schema: Mapping | None = None,
                      weights: bool = True) -> dict:
    """``backend.json`` of a checkpoint folder written by ``backend``, valid against the backend's JSON
    ``schema`` (and, when ``weights``, the folder's weights checked by :func:`check_weights`).
    Raises :class:`SegGalError` naming the file otherwise."""
    folder = Path(folder)
    if not (folder / BACKEND_FILE).exists() or (weights and not (folder / WEIGHTS_FILE).exists()):
        needed = [BACKEND_FILE] + ([WEIGHTS_FILE] if weights else [])
        raise SegGalError(f"{folder}: not a {backend} checkpoint folder (needs {' and '.join(needed)})")
    path = check_file(folder, BACKEND_FILE)
    meta = _read_json(path)
    if not isinstance(meta, dict) or meta.get("backend") != backend:
        found = meta.get("backend") if isinstance(meta, dict) else None
        raise SegGalError(f"{path}: written by backend {found!r}, not {backend}")
    if schema is not None:
        validate(meta, schema, path)
    if weights:
        check_weights(folder)
    return meta


def check_complete(folder: str | os.PathLike) -> dict:
    """The config of ``folder`` when it holds a valid config.json, the model card and well-formed weights;
    :class:`SegGalError` naming the first file at fault otherwise."""
    folder = Path(folder)
    config = read_config(folder)
    check_file(folder, CARD_FILE)
    check_weights(folder)
    return config


def is_complete(folder: str | os.PathLike) -> bool:
    """True when ``folder`` passes :func:`check_complete`."""
    try:
        check_complete(folder)
    except SegGalError:
        return False
    return True


# ----------------------------------------------------------------------------------------------- atomic writes


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
    (:func:`make_config` of ``meta``, recording ``segmenter.preprocessing``) and the README.md model card,
    plus ``extra`` files (name → bytes, e.g. training state). Everything is written to a staging folder
    beside ``folder``, fsynced, then swapped in (:func:`replace_dir`), so a crash never leaves a
    half-written checkpoint.
    """
    folder = Path(folder)
    given = meta.get("preprocessing")
    if given is not None and (given if isinstance(given, Preprocessing) else Preprocessing.from_dict(given)) \
            != segmenter.preprocessing:
        raise SegGalError(f"checkpoint metadata: preprocessing {given} is not the segmenter's "
                          f"{segmenter.preprocessing} (the record must say what the weights were trained with)")
    config = make_config({**meta, "preprocessing": segmenter.preprocessing})
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp", dir=folder.parent))
    try:
        segmenter.save(staged)
        check_weights(staged)
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


# ----------------------------------------------------------------------------------------------- references

#: A Hub revision SegGal accepts: a commit hash, or a plain tag / branch name (no path separators, no "..").
_REVISION = re.compile(r"[0-9a-f]{40}|[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def parse_reference(reference: str) -> tuple[str, str | None]:
    """``org/name[@revision]`` → (``org/name``, ``revision`` or ``None``).

    The repository id must be a valid Hub id (no ``--`` or ``..``) and the revision a commit hash or a
    plain tag / branch name; :class:`SegGalError` otherwise.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    repo, _, revision = str(reference).partition("@")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise SegGalError(f"checkpoint {reference!r}: no such local folder, and not a Hub reference 'org/name[@revision]'")
    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise SegGalError(f"checkpoint {reference!r}: not a valid Hub repository id ({exc})") from None
    if revision and (not _REVISION.fullmatch(revision) or ".." in revision):
        raise SegGalError(f"checkpoint {reference!r}: the revision must be a commit hash or a plain tag / branch "
                          f"name, got {revision!r}")
    return repo, revision or None


def hf_cache() -> Path:
    """The Hugging Face cache: ``HF_HUB_CACHE`` read now (huggingface_hub reads it once, at import), else
    huggingface_hub's own setting."""
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def resolve_checkpoint(reference: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """A local checkpoint folder, or a Hub reference ``org/name[@revision]`` → local folder.

    Hub references go through ``huggingface_hub.snapshot_download`` pinned to ``revision`` (default
    ``main``); with ``HF_HUB_OFFLINE=1`` (or no network) it is served from the Hugging Face cache
    (``cache_dir``, default ``HF_HUB_CACHE``). The folder must lie inside that cache and is validated with
    :func:`read_config`.
    """
    path = Path(reference)
    if path.is_dir():
        read_config(path)
        return path
    repo, revision = parse_reference(str(reference))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    cache_dir = Path(cache_dir) if cache_dir is not None else hf_cache()
    cache = cache_dir.resolve()
    try:
        folder = Path(snapshot_download(repo, revision=revision, cache_dir=cache_dir))
    except LocalEntryNotFoundError:
        raise SegGalError(f"checkpoint {reference!r}: not in the Hugging Face cache and the Hub cannot be reached "
                          "(offline); download it once while online") from None
    except RepositoryNotFoundError:
        raise SegGalError(f"checkpoint {reference!r}: no such repository on the Hub") from None
    except (HfHubHTTPError, ValueError, OSError) as exc:
        raise SegGalError(f"checkpoint {reference!r}: Hub error ({exc})") from None
    if not folder.resolve().is_relative_to(cache):
        raise SegGalError(f"checkpoint {reference!r}: resolves to {folder}, outside the Hugging Face cache {cache}")
    read_config(folder)
    return folder
