"""The Hugging Face Hub: SegGal's repository names, pushing a checkpoint, and what the cache / Hub hold.

The checkpoint format itself (and resolving ``org/name[@revision]`` to a folder) is :mod:`seggal.checkpoint`;
which checkpoint serves a method and task is :mod:`seggal.gallery`.

Configuration (environment variables):

* ``SEGGAL_HUB_ORG`` — the Hub organisation of the gallery's repositories; default ``seggal``.
* ``HF_HOME`` / ``HF_HUB_CACHE`` / ``HF_HUB_OFFLINE`` / ``HF_ENDPOINT`` / ``HF_TOKEN`` — huggingface_hub's own.
"""

from __future__ import annotations

import os
from pathlib import Path

from seggal.checkpoint import STATE_PREFIX, check_weights, hf_cache, read_config
from seggal.methods import get_method
from seggal.model_card import slug
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
    check_weights(folder)
    repo = repo or repo_id(config["method"], config["task"], config["training_set"])
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo, private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo, folder_path=folder, ignore_patterns=[f"{STATE_PREFIX}*"],
                             commit_message=f"SegGal checkpoint: {config['method']} / {config['task']} / "
                                            f"{config['training_set']}")
    if tag:
        api.create_tag(repo, tag=tag, revision=info.oid, exist_ok=True)
    return info.oid


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
