"""SegGal: choose, run and score cell-segmentation methods from the paper's benchmark.

Light on import: heavy packages (torch, tensorflow, cellpose, mmdet) load only inside the backend that
needs them, so ``python -m seggal evaluate`` and the Guideline page start in about a second.
"""

__version__ = "0.1.0"
