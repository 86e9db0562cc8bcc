"""Where a result came from: package versions, the git commit and the hardware.

One helper for every writer of provenance (checkpoints, training state, grid reports, run folders), so
they all spell it the same way: a commit is ``<40 hex digits>`` or ``<40 hex digits>-dirty`` when tracked
files differ from it (``""`` outside a git checkout).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Iterable

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


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of one file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(folder: str | os.PathLike, files: Iterable[str] | None = None) -> str:
    """SHA-256 (hex) of a folder: of the sorted ``relative-path sha256`` lines of its files (or of ``files``,
    paths relative to ``folder``)."""
    folder = Path(folder)
    names = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if files is None else files
    lines = sorted(f"{name} {sha256_file(folder / name)}" for name in names)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    """:func:`sha256_file` of a file, :func:`sha256_tree` of a folder."""
    return sha256_tree(path) if Path(path).is_dir() else sha256_file(path)

