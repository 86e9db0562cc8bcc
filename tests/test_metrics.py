"""seggal.metrics: the fast engine equals pycocotools' COCOeval exactly (arrays bit for bit, |Δ| <= 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.segmentation import expand_labels

from seggal.errors import SegGalError
from seggal.metrics import (
    IOU_THRESHOLDS,
    METRICS,
    RECALL_THRESHOLDS,
    coco_arrays,
    error_map,
    evaluate,
    image_table,
)


def assert_same_as_pycocotools(gts, preds, scores=None, max_dets=3000):
    fast = coco_arrays(gts, preds, scores, engine="fast", max_dets=max_dets)
    ref = coco_arrays(gts, preds, scores, engine="pycocotools", max_dets=max_dets)
    np.testing.assert_array_equal(fast[0], ref[0])  # precision (T, R)
    np.testing.assert_array_equal(fast[1], ref[1])  # recall (T,)
    assert fast[2:] == ref[2:]  # n_gt, n_pred
    if ref[2]:
        a = evaluate(gts, preds, scores, engine="fast", max_dets=max_dets)
        b = evaluate(gts, preds, scores, engine="pycocotools", max_dets=max_dets)
        for key in METRICS:
            assert abs(a[key] - b[key]) <= 1e-9, key
    return ref


# ---------------------------------------------------------------------------------------------------
# random label images


def blobs(rng, shape, n, grow):
    """n random seeds grown by `grow` px (touching cells when grow is large); labels 1..n shuffled."""
    lab = np.zeros(shape, np.int32)
    if n:
        lab[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = rng.permutation(n) + 1
    return expand_labels(lab, grow)


def grid(shape, cell_h, cell_w, dy=0, dx=0):
    """Equal-sized touching rectangles (merging two of them gives exact IoU 0.5 ties)."""
    yy, xx = np.indices(shape)
    rows = (yy + dy) // cell_h
    cols = (xx + dx) // cell_w
    return (rows * (shape[1] // cell_w + 2) + cols + 1).astype(np.int32)


def perturb(rng, gt, kind):
    if kind == "same":
        return gt.copy()
    if kind == "shift":
        return np.roll(gt, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
    if kind == "drop":
        out = gt.copy()
        ids = np.unique(gt)[1:]
        out[np.isin(gt, rng.choice(ids, ids.size // 2, replace=False) if ids.size else [])] = 0
        return out
    if kind == "grow":
        return expand_labels(gt, int(rng.integers(1, 3)))
    if kind == "relabel":  # same shapes, shuffled and gappy labels
        ids = np.unique(gt)[1:]
        lut = np.zeros(gt.max() + 1, np.int32)
        lut[ids] = rng.choice(np.arange(1, 3 * ids.size + 2), ids.size, replace=False)
        return lut[gt]
    if kind == "noise":  # per-pixel random labels: many fragmented, non-contiguous instances
        return rng.integers(0, 6, gt.shape).astype(np.int32)
    return blobs(rng, gt.shape, int(rng.integers(0, 12)), int(rng.integers(1, 4)))


KINDS = ["same", "shift", "drop", "grow", "relabel", "noise", "other"]


@st.composite
def datasets(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_images = draw(st.integers(1, 3))
    gts, preds, scores = [], [], []
    score_kind = draw(st.sampled_from(["none", "ties", "float"]))
    for _ in range(n_images):
        shape = (draw(st.integers(6, 28)), draw(st.integers(6, 28)))
        layout = draw(st.sampled_from(["blobs", "touching", "grid", "empty"]))
        if layout == "grid":
            ch, cw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            gt = grid(shape, ch, cw)
            pred = draw(st.sampled_from([grid(shape, 2 * ch, cw), grid(shape, ch, 2 * cw), grid(shape, ch, cw, 1, 0),
                                         grid(shape, 2 * ch, cw, ch, 0), perturb(rng, gt, "drop")]))
        else:
            n = 0 if layout == "empty" else int(rng.integers(1, 15))
            gt = blobs(rng, shape, n, 20 if layout == "touching" else int(rng.integers(0, 4)))
            pred = perturb(rng, gt, draw(st.sampled_from(KINDS)))
            if draw(st.booleans()) and layout != "empty":
                pred[rng.random(shape) < 0.1] = 0  # ragged edges
        gts.append(gt)
        preds.append(pred)
        size = int(pred.max())
        scores.append(
            None if score_kind == "none"
            else rng.integers(0, 3, size).astype(float) if score_kind == "ties"
            else rng.random(size)
        )
    max_dets = draw(st.sampled_from([3000, 3000, 1, 2, 5]))
    return gts, preds, (None if score_kind == "none" else scores), max_dets


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_fast_engine_equals_pycocotools(data):
    gts, preds, scores, max_dets = data
    assert_same_as_pycocotools(gts, preds, scores, max_dets)


# ---------------------------------------------------------------------------------------------------
# handcrafted cases


def test_exact_half_iou_ties_follow_cocoeval_greedy_order():
    # gt: two 1x2 cells side by side; prediction 1 is their union (IoU exactly 0.5 with both),
    # prediction 2 is the right cell alone. Both orders of the detections matter.
    gt = np.array([[1, 1, 2, 2, 0, 3, 3, 4, 4]], np.int32)
    pred = np.array([[1, 1, 1, 1, 0, 3, 3, 3, 3]], np.int32)
    pred[0, 2:4] = 2  # pred 1 = left cell, pred 2 = right cell; pred 3 = union of gts 3 and 4
    for scores in (None, [np.array([0.1, 0.2, 0.9])], [np.array([0.9, 0.9, 0.1])]):
        assert_same_as_pycocotools([gt], [pred], scores)
    # one gt split exactly in two halves by the prediction, and two merged predictions competing
    gt2 = np.array([[1, 1, 1, 1, 0, 2, 2, 3, 3]], np.int32)
    pred2 = np.array([[1, 1, 2, 2, 0, 3, 3, 3, 3]], np.int32)
    for scores in (None, [np.array([0.5, 0.7, 0.6])], [np.array([1.0, 1.0, 1.0])]):
        ref = assert_same_as_pycocotools([gt2], [pred2], scores)
        assert ref[1][0] > ref[1][1]  # the 0.5 matches count only at IoU 0.5


def test_max_dets_cut_beyond_3000_detections():
    rng = np.random.default_rng(3)
    shape = (56, 56)  # 3,136 single-pixel predictions: more than 3000
    pred = (np.arange(shape[0] * shape[1]).reshape(shape) + 1).astype(np.int32)
    gt = np.zeros(shape, np.int32)
    picks = rng.choice(pred.size, 40, replace=False)
    gt.flat[picks] = np.arange(1, 41)
    scores = [rng.random(pred.size)]
    ref = assert_same_as_pycocotools([gt], [pred], scores)
    assert ref[3] == shape[0] * shape[1]
    full = coco_arrays([gt], [pred], scores, max_dets=pred.size)
    assert not np.array_equal(full[1], ref[1])  # the cut changes the recall


def test_realistic_image_with_sparse_huge_label_values():
    # ~90 touching cells on 128 x 128 with label values up to ~10^6: the sparse (np.unique) overlap count
    rng = np.random.default_rng(6)
    gt = blobs(rng, (128, 128), 90, 20)
    pred = perturb(rng, gt, "shift")
    pred[rng.random(pred.shape) < 0.03] = 0
    big = np.zeros(pred.max() + 1, np.int32)
    big[1:] = rng.choice(10**6, pred.max(), replace=False) + 1
    scores = [rng.random(big.max())]
    assert_same_as_pycocotools([gt * 7919], [big[pred]], scores)


def test_images_without_gt_or_predictions_and_faster_coco_eval_agree():
    rng = np.random.default_rng(1)
    a = blobs(rng, (20, 20), 6, 2)
    empty = np.zeros((20, 20), np.int32)
    gts = [a, empty, a, empty]
    preds = [a, a, empty, empty]
    assert_same_as_pycocotools(gts, preds)
    fast = coco_arrays(gts, preds)
    other = coco_arrays(gts, preds, engine="faster-coco-eval")
    np.testing.assert_array_equal(fast[0], other[0])
    np.testing.assert_array_equal(fast[1], other[1])


def test_perfect_and_empty_predictions():
    rng = np.random.default_rng(2)
    gts = [blobs(rng, (32, 32), 10, 3) for _ in range(3)]
    perfect = evaluate(gts, [g.copy() for g in gts])
    assert all(perfect[k] == pytest.approx(1.0) for k in METRICS)
    assert perfect["n_gt"] == perfect["n_pred"] == sum(len(np.unique(g)) - 1 for g in gts)
    nothing = evaluate(gts, [np.zeros_like(g) for g in gts])
    assert all(nothing[k] == 0.0 for k in METRICS)
    assert nothing["n_pred"] == 0


def test_accuracy_is_mean_of_five_and_thresholds_match_cocoeval_params():
    from pycocotools.cocoeval import Params

    p = Params(iouType="segm")
    np.testing.assert_array_equal(IOU_THRESHOLDS, p.iouThrs)
    np.testing.assert_array_equal(RECALL_THRESHOLDS, p.recThrs)
    rng = np.random.default_rng(4)
    gt = blobs(rng, (40, 40), 15, 3)
    out = evaluate(gt, perturb(rng, gt, "shift"))
    assert out["accuracy"] == pytest.approx(np.mean([out[k] for k in METRICS[:5]]))
    assert out["n_images"] == 1


def test_error_map_codes():
    gt = np.zeros((6, 12), np.int32)
    gt[1:5, 1:5] = 1  # found
    gt[1:5, 7:11] = 2  # missed
    pred = np.zeros_like(gt)
    pred[1:5, 1:4] = 5  # IoU 0.75 with gt 1: true positive
    pred[0, 6:12] = 9  # IoU 0 with gt 2: false positive, gt 2 stays missed
    m = error_map(gt, pred)
    assert m.dtype == np.uint8 and m.shape == gt.shape
    assert (m[pred == 5] == 1).all()
    assert (m[pred == 9] == 2).all()
    assert (m[(gt == 2) & (pred == 0)] == 3).all()
    assert (m[(gt == 0) & (pred == 0)] == 0).all()
    assert (m[(gt == 1) & (pred == 0)] == 0).all()  # uncovered rim of a found cell is not a miss
    strict = error_map(gt, pred, iou=0.8)
    assert (strict[pred == 5] == 2).all() and (strict[(gt == 1) & (pred == 0)] == 3).all()


@pytest.mark.parametrize(
    "gt, pred, message",
    [
        (np.zeros((4, 4), int), np.zeros((4, 5), int), "shape"),
        (np.full((4, 4), -1), np.zeros((4, 4), int), ">= 0"),
        (np.full((4, 4), 1.5), np.zeros((4, 4), int), "integers"),
        (np.ones((3, 4, 4), int), np.ones((3, 4, 4), int), "2-D"),
        (np.zeros((0, 4), int), np.zeros((0, 4), int), "empty"),
        (np.zeros((4, 4), int), np.ones((4, 4), int), "no instances"),
        (np.array([["a"]]), np.zeros((1, 1), int), "dtype"),
    ],
)
def test_bad_input_raises_clear_error(gt, pred, message):
    with pytest.raises(SegGalError, match=message):
        evaluate(gt, pred)


def test_bad_lists_scores_and_engine():
    a = np.ones((4, 4), int)
    with pytest.raises(SegGalError, match="pair up"):
        evaluate([a, a], [a])
    with pytest.raises(SegGalError, match="label i"):
        evaluate(a, 2 * a, scores=np.array([1.0]))
    with pytest.raises(SegGalError, match="finite"):
        evaluate(a, a, scores=np.array([np.nan]))
    with pytest.raises(SegGalError, match="engine"):
        evaluate(a, a, engine="nope")
    with pytest.raises(SegGalError, match="img7"):
        evaluate([a], [np.ones((4, 3), int)], names=["img7"])


def test_image_table_pooled_recall_is_cocos_ar_and_mean_recall_is_eq4():
    rng = np.random.default_rng(5)
    gts = [blobs(rng, (40, 40), 4, 3), blobs(rng, (40, 40), 20, 3)]  # unequal cell counts
    preds = [perturb(rng, gts[0], "drop"), gts[1].copy()]
    table = image_table(gts, preds, names=["few", "many"])
    result = evaluate(gts, preds)
    assert list(table.image) == ["few", "many"]
    assert list(table.n_gt) == [len(np.unique(g)) - 1 for g in gts]
    assert result["AR50"] == pytest.approx(table.tp50.sum() / table.n_gt.sum(), abs=1e-12)
    assert result["AR75"] == pytest.approx(table.tp75.sum() / table.n_gt.sum(), abs=1e-12)
    assert table.recall50.mean() != pytest.approx(result["AR50"])  # eq. (4) weighs images equally
    assert table.loc[1, "precision50"] == 1.0 and table.loc[1, "recall75"] == 1.0
    empty = image_table(np.zeros((5, 5), int), np.zeros((5, 5), int))
    assert np.isnan(empty.loc[0, "recall50"]) and np.isnan(empty.loc[0, "precision50"])
