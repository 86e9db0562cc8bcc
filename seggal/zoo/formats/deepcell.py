"""deepcell-tf models (the paper's Mesmer, FeatureNet and RetinaMask): not converted yet.

No SegGal backend runs them: the methods are ``blocked`` in :mod:`seggal.methods` (deepcell 0.12 needs
Keras 2 internals; issue 14 describes a route through tf-keras in a worker process, not built yet), so
there is no network to load their weights into.
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.tasks import Task


def convert(path: Path, method: Method, task: Task):
    """Always :class:`SegGalError`: no deepcell backend yet (module docstring)."""
    raise SegGalError(f"{path}: {method.name} (deepcell-tf) models cannot be converted yet: SegGal has no deepcell "
                      f"backend to run them ({method.blocked or 'not installed'})")
