"""Where a network runs: CUDA when present (with mixed precision), otherwise the CPU."""

from __future__ import annotations

import contextlib

from seggal.errors import SegGalError

DEVICES = ("cuda", "cpu")


def pick_device(requested: str | None = None) -> str:
    """``"cuda"`` when asked for or when a CUDA GPU is present and nothing was asked, else ``"cpu"``.

    ``requested`` may be ``None`` / ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; asking for CUDA on
    a machine without it raises :class:`SegGalError`. Imports torch only to look for CUDA.
    """
    if requested in (None, "", "auto"):
        return "cuda" if _cuda_available() else "cpu"
    device = str(requested).lower()
    if device == "cpu":
        return "cpu"
    if device.split(":")[0] == "cuda":
        if not _cuda_available():
            raise SegGalError(f"device {requested!r}: no CUDA GPU is available here; use 'cpu'")
        return device
    raise SegGalError(f"unknown device {requested!r}; expected one of auto, {', '.join(DEVICES)}, cuda:N")


def gpu_count() -> int:
    """How many CUDA GPUs torch sees here (0 without torch or CUDA)."""
    if not _cuda_available():
        return 0
    import torch

    return torch.cuda.device_count()


def _cuda_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def autocast(device: str):
    """Mixed precision (bfloat16) on CUDA, a no-op context on the CPU (torch's float32 path)."""
    if not str(device).startswith("cuda"):
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16)
