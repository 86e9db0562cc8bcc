"""The Hugging Face Hub: SegGal's repository names, publishing checkpoints (pinned, tagged), the mirror index,
and what the cache / Hub hold.

The checkpoint format itself (and resolving ``org/name[@revision]`` to a folder) is :mod:`seggal.checkpoint`;
which checkpoint serves a method and task is :mod:`seggal.gallery`; pulling is :mod:`seggal.zoo.download`.

Publishing (:func:`plan_push` → :func:`push_checkpoint` → :func:`record_push`) checks a folder with
:func:`seggal.checkpoint.check_complete` (and, for a converted published model, that its model card names the
provenance: source URL, SHA-256 of the original, the paper), uploads exactly its :func:`publishable_files` as
one commit, tags that commit (the given tag, else the :func:`content_tag` of the files) and records the commit
in the **mirror index** (``results/published/hub_mirror.csv``; columns :data:`MIRROR_COLUMNS`), from which
pulls take the pinned revision of a repository (:func:`mirror_revision`).

Configuration (environment variables):

* ``SEGGAL_HUB_ORG`` — the Hub organisation of the gallery's repositories; default ``seggal``.
* ``SEGGAL_HUB_MIRROR`` — the mirror index file; default ``results/published/hub_mirror.csv``.
* ``HF_HOME`` / ``HF_HUB_CACHE`` / ``HF_HUB_OFFLINE`` / ``HF_ENDPOINT`` / ``HF_TOKEN`` — huggingface_hub's own.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seggal.checkpoint import (CARD_FILE, PROVENANCE_FILE, STATE_PREFIX, check_complete, hf_cache)
from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.model_card import slug
from seggal.provenance import sha256_tree
from seggal.results import RESULTS_DIR
from seggal.tasks import get_task

#: Default Hub organisation; override with SEGGAL_HUB_ORG.
DEFAULT_HUB_ORG = "seggal"


def hub_org() -> str:
    """The Hub organisation of the gallery (``SEGGAL_HUB_ORG``, default ``seggal``)."""
    return os.environ.get("SEGGAL_HUB_ORG", DEFAULT_HUB_ORG)


def repo_name(method: str, task: str, training_set: str) -> str:
    """Repository / folder name of one gallery slot: ``cellpose-tissuenet-nuclei-dual-all``."""
    return f"{get_method(method).id}-{get_task(task).id}-{slug(training_set)}"


def repo_id(method: str, task: str, training_set: str, org: str | None = None) -> str:
    """Hub repository id of one gallery slot: ``<org>/<repo_name>``."""
    return f"{org or hub_org()}/{repo_name(method, task, training_set)}"


# ----------------------------------------------------------------------------------------------- publishing


@dataclass(frozen=True)
class Publication:
    """What one push sends: checkpoint ``folder`` → Hub ``repo`` as one commit of ``files`` (relative POSIX
    paths, sorted), tagged ``tag``; ``key`` is the folder's (method, task, training set)."""

    folder: Path
    repo: str
    tag: str
    files: tuple[str, ...]
    key: tuple[str, str, str]


def publishable_files(folder: str | os.PathLike) -> tuple[str, ...]:
    """The files of a checkpoint folder that are pushed: all but the training state (``training_state*``)
    and hidden staging files → sorted relative POSIX paths."""
    folder = Path(folder)
    return tuple(sorted(
        rel for rel in (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        if not rel.split("/")[0].startswith((STATE_PREFIX, "."))))


def content_tag(folder: str | os.PathLike, files: tuple[str, ...] | None = None) -> str:
    """A tag derived from the content pushed: ``sha256-`` + the first 16 hex digits of the SHA-256 of each
    file's ``path`` and SHA-256 (:func:`seggal.provenance.sha256_tree`). The same files always give the same tag."""
    return "sha256-" + sha256_tree(folder, files if files is not None else publishable_files(folder))[:16]


def check_card_provenance(folder: str | os.PathLike) -> None:
    """For a converted published model (a folder with ``provenance.json``): :class:`SegGalError` unless its
    model card names the source URL, the SHA-256 of the original and the paper recorded there."""
    folder = Path(folder)
    if not (folder / PROVENANCE_FILE).is_file():
        return
    try:
        provenance = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
        card = (folder / CARD_FILE).read_text(encoding="utf-8")
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
        raise SegGalError(f"{folder / PROVENANCE_FILE}: cannot be read ({exc})") from None
    if not isinstance(provenance, dict):
        raise SegGalError(f"{folder / PROVENANCE_FILE}: not a JSON object")
    for field in ("source_url", "sha256", "paper"):
        value = provenance.get(field)
        if field != "source_url" and not value:
            raise SegGalError(f"{folder / PROVENANCE_FILE}: no {field}")
        if value and str(value) not in card:
            raise SegGalError(f"{folder / CARD_FILE}: the model card does not name the {field} of "
                              f"{PROVENANCE_FILE} ({value}); reconvert the model")


_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def plan_push(folder: str | os.PathLike, *, org: str | None = None, repo: str | None = None,
              tag: str | None = None) -> Publication:
    """Check a checkpoint folder for publishing → its :class:`Publication` (nothing is sent).

    The folder must be complete (:func:`seggal.checkpoint.check_complete`: config, card, well-formed
    weights) and a converted model's card must name its provenance (:func:`check_card_provenance`);
    :class:`SegGalError` naming the file at fault otherwise. ``repo`` defaults to :func:`repo_id` of the
    folder's config under ``org``; ``tag`` to :func:`content_tag`.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    folder = Path(folder)
    if not folder.is_dir():
        raise SegGalError(f"{folder}: no such checkpoint folder")
    config = check_complete(folder)
    check_card_provenance(folder)
    key = (config["method"], config["task"], config["training_set"])
    repo = repo or repo_id(*key, org=org)
    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise SegGalError(f"{repo!r} is not a valid Hub repository id ({exc})") from None
    if tag is not None and (not _TAG.fullmatch(tag) or ".." in tag):
        raise SegGalError(f"tag {tag!r}: use letters, digits, '.', '_' and '-' (e.g. v1)")
    files = publishable_files(folder)
    return Publication(folder, repo, tag or content_tag(folder, files), files, key)


def push_checkpoint(folder: str | os.PathLike, repo: str | None = None, tag: str | None = None, *,
                    private: bool = False, endpoint: str | None = None, token: str | None = None) -> str:
    """Upload a checkpoint folder to the Hub as one tagged commit → the commit id (pin it: ``repo@<commit>``).

    The folder is checked by :func:`plan_push` first. The repository is created if needed and exactly the
    :func:`publishable_files` are committed (never the training state); the commit is tagged ``tag``
    (default :func:`content_tag`). A tag the repository already has is never moved: a content tag that
    exists means these files are published already (its commit is returned, nothing is sent); any other
    existing tag is refused. ``endpoint`` defaults to ``HF_ENDPOINT`` (read now), ``token`` to huggingface_hub's
    (``HF_TOKEN`` or the stored login). Hub and network failures are :class:`SegGalError`.
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    plan = plan_push(folder, repo=repo, tag=tag)
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        api.create_repo(plan.repo, private=private, exist_ok=True)
        tags = {t.name: t.target_commit for t in api.list_repo_refs(plan.repo).tags}
        if plan.tag in tags:
            if plan.tag == content_tag(plan.folder, plan.files):
                return tags[plan.tag]
            raise SegGalError(f"{plan.repo} already has tag {plan.tag!r} (commit {tags[plan.tag]}); a published tag "
                              "is never moved: choose another --tag")
        method, task, training_set = plan.key
        info = api.create_commit(
            plan.repo, [CommitOperationAdd(rel, str(plan.folder / rel)) for rel in plan.files],
            commit_message=f"SegGal checkpoint: {method} / {task} / {training_set} ({plan.tag})")
        api.create_tag(plan.repo, tag=plan.tag, revision=info.oid)
    except (OSError, *HfHubHTTPError.__bases__) as exc:  # the HTTP library's errors: answers, refusals, timeouts
        raise SegGalError(f"Hub {api.endpoint}: pushing {plan.folder} to {plan.repo} failed: {exc}") from None
    return info.oid


# ----------------------------------------------------------------------------------------------- mirror index

MIRROR_ENV = "SEGGAL_HUB_MIRROR"
#: Columns of the mirror index: one row per Hub repository SegGal published to, pinned to a commit.
MIRROR_COLUMNS = ("method", "task", "training_set", "repo_id", "revision", "tag")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def mirror_index_path() -> Path:
    """The mirror index file (``SEGGAL_HUB_MIRROR``, default ``results/published/hub_mirror.csv``)."""
    return Path(os.environ.get(MIRROR_ENV) or RESULTS_DIR / "published" / "hub_mirror.csv")


def read_mirror_index(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """The mirror index → {repo id: row (a dict of :data:`MIRROR_COLUMNS`)}; empty when the file does not exist.
    :class:`SegGalError` naming the file and line for wrong columns or a revision that is not a commit hash."""
    path = Path(path) if path is not None else mirror_index_path()
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != MIRROR_COLUMNS:
            raise SegGalError(f"{path}: columns {reader.fieldnames} are not {list(MIRROR_COLUMNS)}")
        rows = {}
        for line, row in enumerate(reader, start=2):
            if not _COMMIT.fullmatch(row["revision"] or ""):
                raise SegGalError(f"{path}, line {line}: revision {row['revision']!r} is not a 40-digit commit hash")
            rows[row["repo_id"]] = row
    return rows


def mirror_revision(repo: str, path: str | os.PathLike | None = None) -> str | None:
    """The pinned commit of Hub repository ``repo`` in the mirror index, or None when it has no row."""
    row = read_mirror_index(path).get(repo)
    return row["revision"] if row else None


def record_push(plan: Publication, revision: str, path: str | os.PathLike | None = None) -> Path:
    """Add or replace the row of ``plan.repo`` in the mirror index (pinned to commit ``revision``), written
    atomically, rows sorted by repository → the index path."""
    path = Path(path) if path is not None else mirror_index_path()
    rows = read_mirror_index(path)
    rows[plan.repo] = dict(zip(MIRROR_COLUMNS, (*plan.key, plan.repo, revision, plan.tag)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=MIRROR_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows[r] for r in sorted(rows))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def checkpoint_folders(root: str | os.PathLike) -> list[Path]:
    """The checkpoint folders under ``root`` (those holding a config.json), sorted, except a training run's
    resume point (a folder with ``training_state*`` files: ``last/``; its ``best/`` is the one to publish)."""
    root = Path(root)
    if not root.is_dir():
        raise SegGalError(f"{root}: no such folder")
    seen: list[Path] = []
    for folder in sorted(p.parent for p in root.rglob("config.json")):
        if not any(folder.is_relative_to(f) for f in seen):  # a config.json inside a checkpoint is the backend's
            seen.append(folder)
    return [f for f in seen if not any(q.name.startswith(STATE_PREFIX) for q in f.iterdir())]


def cached_repos(cache_dir: str | os.PathLike | None = None) -> set[str]:
    """Ids of the model repositories with at least one revision in the Hugging Face cache (``cache_dir``,
    default :func:`seggal.checkpoint.hf_cache`)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir if cache_dir is not None else hf_cache())
    except CacheNotFound:
        return set()
    return {r.repo_id for r in info.repos if r.repo_type == "model" and r.revisions}


def hub_repos(org: str | None = None) -> set[str] | None:
    """Ids of the Hub's model repositories of ``org`` (default :func:`hub_org`); ``None`` when offline
    (``HF_HUB_OFFLINE``) or the Hub cannot be reached."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        return {m.id for m in HfApi().list_models(author=org or hub_org())}
    except Exception:  # noqa: BLE001 — any network failure means "unknown", never a crash of the page
        return None
