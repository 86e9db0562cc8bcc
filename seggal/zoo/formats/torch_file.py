"""Reading torch files without running code: ``torch.load(weights_only=True)`` only.

``weights_only`` unpickles tensors, containers and plain values and refuses every other global, so a
pickle that would run code raises instead of running. numpy's scalar and dtype reconstructors are
allowed besides (MMDetection 2.x checkpoints keep evaluation scores as numpy floats in their meta);
they rebuild a number, nothing else.
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError


def _numpy_globals() -> list:
    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    dtypes = [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return [scalar, np.dtype, *dtypes]


def load(path: str | Path, what: str) -> object:
    """The object stored in the torch file ``path`` (tensors on the CPU), read with
    ``weights_only=True``; :class:`SegGalError` naming ``what`` was expected when it is anything else."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise SegGalError(f"{path}: no such file ({what} expected)")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable file is the user's bad input
        message = str(exc).strip().splitlines()
        reason = next((line for line in message if "Unsupported global" in line), message[0] if message else "")
        raise SegGalError(f"{path}: refused — not {what} readable without running code from the file "
                          f"(torch.load(weights_only=True): {type(exc).__name__}: {reason[:300]})") from None


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
