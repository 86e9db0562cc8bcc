"""Where a result came from: package versions, the git commit and the hardware.

One helper for every writer of provenance (checkpoints, training state, grid reports, run folders), so
they all spell it the same way: a commit is ``<40 hex digits>`` or ``<40 hex digits>-dirty`` when tracked
files differ from it (``""`` outside a git checkout).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Suffix of a commit whose working tree had uncommitted changes to tracked files.
DIRTY = "-dirty"


def package_versions(packages: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of SegGal's core packages plus ``packages`` (import or distribution names)."""
    names = {"numpy", "scikit-image", "safetensors", "huggingface-hub", "torch", *packages}
    aliases = {"skimage": "scikit-image", "segment_anything": "segment-anything", "PIL": "pillow"}
    versions = {}
    for name in sorted(aliases.get(n, n) for n in names):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str:
    """The project's current git commit, with :data:`DIRTY` appended when tracked files changed; ``""``
    outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + (DIRTY if dirty else "")


def hardware(device: str = "cpu") -> str:
    """A one-line description of the hardware a run used (GPU name and count, or CPU and core count)."""
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.get_device_name(device)} x{torch.cuda.device_count()}"
    return f"CPU {platform.machine()} ({os.cpu_count()} cores)"
