"""State of each catalogue model on this machine: ``ready``, ``downloadable`` or ``unavailable`` (with the reason).

* ``ready`` — a complete checkpoint is on this machine: a local folder (``SEGGAL_CHECKPOINTS``) or a snapshot in
  the Hugging Face cache;
* ``downloadable`` — the method runs here, the source has a link, and a converter for its format exists
  (``seggal.zoo.convert``, whose ``FORMATS`` lists the formats it reads); pulling it needs a network;
* ``unavailable`` — the method does not run in this installation, or no converter reads its format.

The checkpoint look-ups (``seggal.hub``) are all in :func:`_ready`, the one place to re-point when the
gallery policy moves.
"""

from __future__ import annotations

import importlib
import importlib.util

import pandas as pd

from seggal.methods import availability


def _ready(table: pd.DataFrame) -> list[bool]:
    from seggal.gallery import find_local  # TODO(zoo → gallery): the gallery's catalogue hook replaces this module
    from seggal.hub import cached_repos, repo_id, repo_name
    from seggal.zoo.download import hub_cache

    cached = cached_repos(hub_cache())
    keys = list(zip(table["method_id"], table["task"], table["training_set"]))
    return [repo_id(*k) in cached or find_local(repo_name(*k)) is not None for k in keys]


def converter_formats() -> frozenset[str]:
    """The source formats the installed converter reads (``seggal.zoo.convert.FORMATS``; empty without one)."""
    if importlib.util.find_spec("seggal.zoo.convert") is None:
        return frozenset()
    return frozenset(getattr(importlib.import_module("seggal.zoo.convert"), "FORMATS", ()))


def model_states(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (the catalogue) with columns ``state`` and ``reason`` (empty when ready or downloadable)."""
    formats = converter_formats()
    ready = _ready(table)
    states, reasons = [], []
    for row, is_ready in zip(table.to_dict("records"), ready):
        status = availability(row["method_id"])
        if is_ready and status.available:
            state, reason = "ready", ""
        elif not status.available:
            state, reason = "unavailable", status.reason
        elif row["format"] not in formats:
            state, reason = "unavailable", f"no converter for {row['format']} files yet"
        else:
            state, reason = "downloadable", ""
        states.append(state)
        reasons.append(reason)
    return table.assign(state=states, reason=reasons)
