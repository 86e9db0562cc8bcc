"""One point prompt through two SAM models: the converters' tests show a converted SAM answers exactly as the
model it came from."""

from __future__ import annotations

import numpy as np


def assert_same_point_prompt_outputs(ours, theirs, rgb: np.ndarray) -> None:
    """``ours`` and ``theirs`` (segment-anything ``Sam`` modules) give identical mask logits, predicted IoU and
    masks for one positive point at (32, 32) on ``rgb`` ((H, W, 3) uint8), and the logits are not constant."""
    import torch
    from segment_anything import SamPredictor

    outputs = []
    for sam in (ours, theirs):
        predictor = SamPredictor(sam)
        with torch.inference_mode():
            predictor.set_image(rgb)
            outputs.append(predictor.predict(point_coords=np.array([[32, 32]]), point_labels=np.array([1]),
                                             return_logits=True))
    (masks, iou, low), (masks0, iou0, low0) = outputs
    assert np.std(low0) > 0
    np.testing.assert_array_equal(low, low0)
    np.testing.assert_array_equal(iou, iou0)
    np.testing.assert_array_equal(masks, masks0)
