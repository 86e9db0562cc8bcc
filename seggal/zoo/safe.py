"""Reading torch files without ever running code from them."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

from seggal.errors import SegGalError


def _numpy_globals() -> list:
    """numpy's scalar and dtype reconstructors: MMDetection 2.x checkpoints keep evaluation scores as numpy
    floats in their meta; these rebuild a number, nothing else."""
    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    dtypes = [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return [scalar, np.dtype, *dtypes]


def load_torch(path: str | os.PathLike):
    """``torch.load(path, weights_only=True)`` on the CPU → the stored object (tensors, dicts, numbers, …).

    A pickle that names anything outside torch's weights-only allow-list (plus numpy's scalar
    reconstructors, :func:`_numpy_globals`) — which is what a pickle that would run code does — is refused
    with :class:`SegGalError`, as is a file torch cannot read at all (truncated, corrupt, not a torch
    file). Zip-format files are memory-mapped, so checking a large one is cheap.
    """
    import torch

    path = Path(path)
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
                return torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except pickle.UnpicklingError as exc:
        detail = re.search(r"[^\n]*not an allowed global[^\n.]*", str(exc))
        if detail is None:  # not a forbidden object: a damaged or foreign file
            raise SegGalError(f"{path}: refused: not a readable torch file (truncated, corrupt, or a plain "
                              f"pickle that weights-only loading cannot read): {_last_line(exc)}") from None
        raise SegGalError(f"{path}: refused: unpickling it would need an object outside torch's weights-only "
                          f"allow-list, i.e. it could run code ({detail[0].strip()})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise SegGalError(f"{path}: refused: not a readable torch file (truncated or corrupt?): {exc}") from None


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "documentation" not in line]
    return lines[-1] if lines else type(exc).__name__
