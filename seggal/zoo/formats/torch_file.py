"""Shared steps of the torch-file converters: reading the file without running code
(:func:`seggal.zoo.safe.load_torch`), checking it holds a state dict, and building the segmenter from it."""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.zoo.safe import load_torch


def load(path: str | Path, what: str) -> object:
    """The object stored in the torch file ``path`` (tensors on the CPU), read with ``weights_only=True``
    (:func:`seggal.zoo.safe.load_torch`); :class:`SegGalError` naming ``what`` was expected otherwise."""
    path = Path(path)
    if not path.is_file():
        raise SegGalError(f"{path}: no such file ({what} expected)")
    try:
        return load_torch(path)
    except SegGalError as exc:
        raise SegGalError(f"{exc} ({what} expected)") from None


def state_dict(obj: object, path: Path, what: str) -> dict:
    """``obj`` when it is a flat {str: tensor} state dict; :class:`SegGalError` otherwise."""
    import torch

    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items()):
        raise SegGalError(f"{path}: not {what} (expected a state dict of named tensors, got {type(obj).__name__})")
    return obj


def segmenter_from_state(method, state: dict, backend_meta: dict):
    """The SegGal segmenter of ``method`` holding ``state``: written as a checkpoint folder
    (model.safetensors + ``backend_meta`` as backend.json) in a temporary folder and loaded from it by
    the backend itself, so what is converted is exactly what the backend loads."""
    import tempfile

    from safetensors.torch import save_file

    from seggal.backends import build
    from seggal.checkpoint import WEIGHTS_FILE, write_backend_meta

    with tempfile.TemporaryDirectory() as staging:
        save_file({k: v.contiguous() for k, v in state.items()}, str(Path(staging) / WEIGHTS_FILE))
        write_backend_meta(Path(staging), backend_meta)
        return build(method, Path(staging), device="cpu")
