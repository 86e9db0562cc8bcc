"""One evaluation path: score a segmenter on annotated samples exactly as users run it.

:func:`evaluate_segmenter` predicts every sample through :func:`seggal.tiling.segment_image` (the tiled
inference of the Segment page and ``seggal segment``) and scores the predictions with
:func:`seggal.metrics.evaluate`. Training validation (``training.train``), the grid's per-tissue report
(``training.grid``) and the default-model experiment (``training.default_model``) all call it;
:func:`score_table` scores predictions that are already made (the synthetic demo's oracles).

The result is a table (``pandas.DataFrame``), one row per test set: ``All`` (every sample) first, then
each group of ``groups`` (tissues, cell lines or image names) in first-seen order. Columns: ``test_set``
(str), ``n_images`` (int) and :data:`seggal.metrics.METRICS` (float).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from seggal.errors import SegGalError
from seggal.image import Sample
from seggal.metrics import METRICS, evaluate
from seggal.tiling import segment_image

COLUMNS = ("test_set", "n_images", *METRICS)


def score_table(truths: Sequence[np.ndarray], predictions: Sequence[np.ndarray],
                scores: Sequence[np.ndarray] | None = None, groups: Sequence[str] | None = None) -> pd.DataFrame:
    """The table of the module docstring from ground truths and predicted label images ((H, W) int each)
    and optional per-instance ``scores`` (1-D, entry i for label i + 1)."""
    if groups is not None and len(groups) != len(truths):
        raise SegGalError(f"evaluation: {len(groups)} group names for {len(truths)} images")
    if len(truths) == 0:
        raise SegGalError("evaluation: no images to score")
    sets = {"All": list(range(len(truths)))}
    for i, group in enumerate(groups or ()):
        sets.setdefault(group, []).append(i)
    rows = []
    for test_set, index in sets.items():
        result = evaluate([truths[i] for i in index], [predictions[i] for i in index],
                          scores=None if scores is None else [scores[i] for i in index])
        rows.append({"test_set": test_set, "n_images": len(index), **{m: float(result[m]) for m in METRICS}})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def evaluate_segmenter(segmenter, samples: Sequence[Sample], groups: Sequence[str] | None = None, *,
                       window: int | None = None, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Score ``segmenter`` on ``samples`` through :func:`seggal.tiling.segment_image` → the table of the
    module docstring (``groups[i]`` names sample i's tissue / cell line / image). ``window``: the segmenter's
    preprocessing record's window and step unless given. ``progress(done, total)`` is called after each sample."""
    truths, predictions, scores = [], [], []
    for done, sample in enumerate(samples, start=1):
        prediction = segment_image(segmenter, sample.image, window=window)
        truths.append(sample.labels)
        predictions.append(prediction.labels)
        scores.append(prediction.scores)
        if progress is not None:
            progress(done, len(samples))
    return score_table(truths, predictions, scores, groups)


def overall(table: pd.DataFrame) -> dict[str, float]:
    """The ``All`` row of a :func:`score_table` table as {metric: value}."""
    row = table[table["test_set"] == "All"].iloc[0]
    return {m: float(row[m]) for m in METRICS}


__all__ = ["COLUMNS", "score_table", "evaluate_segmenter", "overall"]
