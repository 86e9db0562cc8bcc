"""Segmenters: one interface (:class:`seggal.backends.base.Segmenter`) over the real packages.

Each backend module imports its heavy package (torch, tensorflow, cellpose, mmdet …) only when a
segmenter is built, so importing this package is cheap.
"""
