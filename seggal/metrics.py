"""COCO instance-segmentation metrics on label images, exactly as the paper computes them.

The paper scores every method with pycocotools' ``COCOeval`` on ``segm`` masks, one category
("cell"), every instance ``iscrowd=0``, with the maximum detections per image raised from 100 to 3000.
SegGal reports the paper's five numbers and their mean:

* ``mAP``  — mean of the interpolated precision over IoU 0.50:0.05:0.95 and the 101 recall thresholds
  (area "all", maxDets 3000; entries of -1 are ignored, as ``COCOeval.summarize`` does);
* ``AP50`` / ``AP75`` — the same at IoU 0.50 / 0.75;
* ``AR50`` / ``AR75`` — the accumulated recall at IoU 0.50 / 0.75;
* ``accuracy`` — the mean of those five (the paper's per-task accuracy).

These are read from the accumulated ``eval['precision']`` (T×R×K×A×M) and ``eval['recall']`` (T×K×A×M)
arrays, never from ``summarize()``: once ``maxDets`` no longer contains 100, ``summarize()`` prints -1
for its first number.

**AR_t versus the paper's eq. (4).** The Methods write AR_t = (1/O) Σ_o R_{t,o}, the mean over the O
test images of each image's recall. ``COCOeval`` (and therefore every number the paper publishes)
pools instead: AR_t = (Σ_o TP_{t,o}) / (Σ_o G_o), the true positives of all images over all ground-truth
instances (the last point of the dataset-wide precision-recall curve, ``rc[-1]`` in ``accumulate()``).
That is a mean of per-image recalls weighted by each image's cell count G_o, so the two agree when
every image holds the same number of cells and differ otherwise. SegGal reports COCO's pooled value,
because that is what the published scores are; :func:`image_table` gives the per-image R_{t,o} of
eq. (4).

**How detections are ranked (one rule, everywhere).** COCO ranks a method's detections by their
confidence before matching, so the same masks score differently under another order. SegGal ranks them
by the segmenter's own per-cell score (:attr:`seggal.backends.base.Prediction.scores`: StarDist's object
probability, Cellpose's mean cell probability, MMDetection's class score, SAM's predicted IoU, the
classical baseline's mean normalised intensity) and carries those scores with the masks wherever they go:
the COCO json (``score`` per annotation) and a ``<labels>.scores.csv`` sidecar beside every label TIFF
(:func:`seggal.io.write_scores`), which ``seggal evaluate`` reads back, so a downloaded result scores
exactly as the page showed it. Grown or shrunk masks (:mod:`seggal.sweeps`) keep their cells' scores. A
label image without scores ranks its cells by label order (every score 1.0). :data:`RANKING_RULE` says
this in one sentence for pages and ``--help``.

**Scores and ties.** Label images carry no confidence, so every instance scores 1.0 unless ``scores``
are given. ``COCOeval`` orders detections with a *stable* mergesort on ``-score``, inside each image
(then keeps the first ``maxDets``) and again over the whole set in ``accumulate()``. With all scores
equal the order is therefore the input order: labels ascending within an image, images in sequence.
Greedy matching and the precision curve depend on that order, so the fast path reproduces it.

Two engines compute the same arrays:

* ``engine="pycocotools"`` — the reference: every instance RLE-encoded over the full image, then
  ``COCOeval.evaluate()`` / ``accumulate()`` (``"faster-coco-eval"`` runs the same pipeline with the
  C++ ``COCOeval_faster``; used by ``bench/``).
* ``engine="fast"`` — exact for label images, where instances never overlap. The gt×prediction
  intersection counts come from one ``np.bincount`` of paired pixel codes; a detection and a ground
  truth can only match at IoU ≥ 0.5, and with disjoint instances each detection has at most one ground
  truth at IoU ≥ 0.5 and vice versa, except when the IoU is exactly 0.5 (a detection that is exactly
  the union of two equal-sized ground-truth cells, or the mirror case). So matches are read off the
  candidate pairs directly; only an image with such a tie replays COCOeval's greedy loop (over its
  candidate pairs only). ``accumulate()`` is replayed with numpy, operation for operation.
  ``tests/test_metrics.py`` proves equality to pycocotools (|Δ| ≤ 1e-9, in fact bit-identical arrays)
  with hypothesis over random label images.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from typing import NamedTuple, Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.image import as_labels

#: COCOeval's thresholds, built with the same expressions as ``pycocotools.cocoeval.Params``.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
#: The paper's maximum detections per image.
MAX_DETS = 3000
#: COCO's area range "all".
AREA_ALL = [0**2, 1e5**2]
#: The paper's five COCO numbers, and SegGal's six (those five plus their mean, ``accuracy``): the one
#: definition of the metric names that every table, page and checkpoint uses.
COCO_METRICS = ("mAP", "AP50", "AP75", "AR50", "AR75")
METRICS = (*COCO_METRICS, "accuracy")
ENGINES = ("fast", "pycocotools", "faster-coco-eval")
#: The one rule that orders detections for COCO's matching, in words (pages, ``--help``, README).
RANKING_RULE = ("Detections are ranked by the model's own per-cell confidence, which travels with the masks "
                "(COCO json, and a .scores.csv file beside each label TIFF that `seggal evaluate` reads); "
                "a label image without scores is ranked by label order.")

_T50 = int(np.flatnonzero(IOU_THRESHOLDS == 0.5)[0])
_T75 = int(np.flatnonzero(IOU_THRESHOLDS == 0.75)[0])

Pair = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def evaluate(
    gts,
    preds,
    scores=None,
    engine: str = "fast",
    max_dets: int = MAX_DETS,
    names: Sequence[str] | None = None,
) -> dict:
    """Score predicted label images against ground-truth label images with the paper's COCO metrics.

    ``gts`` / ``preds``: one (H, W) integer label image each, or equal-length sequences of them (0 =
    background; shapes must match pairwise). ``scores``: ``None`` (every instance scores 1.0) or, per
    image, a 1-D array whose entry ``i`` is the score of label ``i + 1``. ``names`` label the images in
    error messages. Returns floats ``mAP``, ``AP50``, ``AP75``, ``AR50``, ``AR75``, ``accuracy`` and
    ints ``n_images``, ``n_gt``, ``n_pred`` (instances before the ``max_dets`` cut).
    """
    images = label_pairs(gts, preds, scores, names)
    precision, recall, n_gt, n_pred = _arrays(images, engine, max_dets)
    n_images = len(images)
    if n_gt == 0:
        raise SegGalError(
            f"the ground truth holds no instances in any of its {n_images} image(s); COCO metrics are undefined"
        )
    return summarize(precision, recall) | {"n_images": n_images, "n_gt": n_gt, "n_pred": n_pred}


def coco_arrays(gts, preds, scores=None, engine: str = "fast", max_dets: int = MAX_DETS, names=None):
    """COCOeval's accumulated arrays for area "all" and ``max_dets``: precision (T, R) and recall (T,)
    float64 (T = 10 IoU thresholds, R = 101 recall thresholds; -1 where COCO leaves them undefined),
    plus n_gt and n_pred. Arguments as :func:`evaluate`.
    """
    return _arrays(label_pairs(gts, preds, scores, names), engine, max_dets)


def _arrays(images: list[Pair], engine: str, max_dets: int):
    if engine not in ENGINES:
        raise SegGalError(f"unknown metrics engine {engine!r}; expected one of {ENGINES}")
    if not isinstance(max_dets, (int, np.integer)) or max_dets < 1:
        raise SegGalError(f"max_dets must be a positive integer, got {max_dets!r}")
    return _fast_arrays(images, int(max_dets)) if engine == "fast" else _coco_arrays(images, int(max_dets), engine)


def summarize(precision: np.ndarray, recall: np.ndarray) -> dict:
    """The paper's numbers from accumulated arrays: ``precision`` (T, R), ``recall`` (T,) float64.

    Means skip entries of -1, as ``COCOeval.summarize`` does (-1.0 when nothing is left).
    """

    def mean(values: np.ndarray) -> float:
        kept = values[values > -1]
        return float(np.mean(kept)) if kept.size else -1.0

    out = {
        "mAP": mean(precision),
        "AP50": mean(precision[_T50]),
        "AP75": mean(precision[_T75]),
        "AR50": mean(recall[[_T50]]),
        "AR75": mean(recall[[_T75]]),
    }
    out["accuracy"] = float(np.mean([out[k] for k in COCO_METRICS]))
    return out


def label_pairs(gts, preds, scores=None, names=None) -> list[Pair]:
    """Validate inputs as :func:`evaluate` takes them → list of (gt (H, W) int32, pred (H, W) int32,
    scores float64 or None); raises :class:`SegGalError` naming the image at fault."""
    single = isinstance(gts, np.ndarray) or isinstance(preds, np.ndarray)
    if single:
        gts, preds = [gts], [preds]
        scores = None if scores is None else [scores]
    gts, preds = list(gts), list(preds)
    if len(gts) != len(preds):
        raise SegGalError(f"{len(gts)} ground-truth image(s) but {len(preds)} prediction(s); they must pair up")
    if not gts:
        raise SegGalError("no images to evaluate")
    if scores is not None and len(scores) != len(preds):
        raise SegGalError(f"{len(scores)} score array(s) for {len(preds)} prediction(s)")
    if names is not None and len(names) != len(gts):
        raise SegGalError(f"{len(names)} name(s) for {len(gts)} image(s)")
    out = []
    for i, (g, p) in enumerate(zip(gts, preds)):
        name = names[i] if names is not None else f"image {i}"
        gt = as_labels(g, f"{name} (ground truth)")
        pred = as_labels(p, f"{name} (prediction)")
        if gt.shape != pred.shape:
            raise SegGalError(f"{name}: ground truth has shape {gt.shape} but the prediction has shape {pred.shape}")
        score = None
        if scores is not None and scores[i] is not None:
            score = np.asarray(scores[i], dtype=np.float64)
            if score.ndim != 1 or not np.isfinite(score).all():
                raise SegGalError(f"{name}: scores must be a 1-D array of finite numbers")
            if score.size < pred.max():
                raise SegGalError(
                    f"{name}: {score.size} score(s) but the prediction has labels up to {pred.max()} "
                    "(scores[i] is the score of label i + 1)"
                )
        out.append((gt, pred, score))
    return out


# ----------------------------------------------------------------------------------------------------
# fast engine


def _candidates(gt: np.ndarray, pred: np.ndarray, gt_area: np.ndarray, pred_area: np.ndarray, lowest: float):
    """Pairs (gt label, pred label, IoU float64) with IoU >= ``lowest``, from sparse pixel counts.

    IoU is intersection / union of integer pixel counts in float64, as pycocotools' ``rleIou``.
    """
    g, p = gt.ravel(), pred.ravel()
    both = (g > 0) & (p > 0)
    width = pred_area.size
    codes = g[both].astype(np.int64) * width + p[both]
    if gt_area.size * width <= 4 * g.size:  # dense table small enough: bincount beats sorting
        counts = np.bincount(codes, minlength=gt_area.size * width)
        pairs = np.flatnonzero(counts)
        inter = counts[pairs]
    else:
        pairs, inter = np.unique(codes, return_counts=True)
    g_lab, p_lab = np.divmod(pairs, width)
    iou = inter / (gt_area[g_lab] + pred_area[p_lab] - inter)
    keep = iou >= lowest
    return g_lab[keep], p_lab[keep], iou[keep]


def _greedy(cand_d: np.ndarray, cand_g: np.ndarray, cand_iou: np.ndarray, threshold: float):
    """COCOeval.evaluateImg's matching at one threshold over candidate pairs → matched (d, g) arrays.

    Detections go in score order (``cand_d`` is the rank); each takes the still-unmatched ground truth
    of highest IoU >= threshold, a later ground truth (higher index in COCO's list) winning an equal
    IoU. Written as a loop because this runs only for the rare images with exact 0.5 ties.
    """
    order = np.lexsort((cand_g, cand_d))
    pairs: list[tuple[int, int]] = []
    taken: set[int] = set()
    d_sorted = cand_d[order].tolist()
    for d, group in itertools.groupby(zip(d_sorted, cand_g[order].tolist(), cand_iou[order].tolist()), key=lambda x: x[0]):
        best_iou, best = threshold, -1
        for _, g, iou in group:
            if g in taken or iou < best_iou:
                continue
            best_iou, best = iou, g
        if best >= 0:
            taken.add(best)
            pairs.append((d, best))
    d_idx, g_idx = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    return d_idx, g_idx


class ImageMatch(NamedTuple):
    """COCOeval's evaluation of one image (see :func:`match_image`)."""

    det_labels: np.ndarray  # (D,) int64 prediction labels in COCO's detection order, cut at max_dets
    det_scores: np.ndarray  # (D,) float64
    matched: np.ndarray  # (T, D) bool: detection is a true positive at threshold t
    gt_labels: np.ndarray  # (G,) int64 ground-truth labels, ascending (COCO's gt order)
    gt_matched: np.ndarray  # (T, G) bool: ground truth is matched at threshold t
    n_pred: int  # prediction instances before the max_dets cut


def match_image(
    gt: np.ndarray,
    pred: np.ndarray,
    score: np.ndarray | None = None,
    max_dets: int = MAX_DETS,
    thresholds: np.ndarray = IOU_THRESHOLDS,
) -> ImageMatch:
    """COCOeval's per-image evaluation (``evaluateImg``) of two validated (H, W) int32 label images.

    ``score``: float64 array, entry i = score of label i + 1 (``None``: all 1.0). ``thresholds``: IoU
    thresholds (T,), COCO's ten by default.
    """
    match_thresholds = np.minimum(np.asarray(thresholds, dtype=np.float64), 1 - 1e-10)
    gt_area = np.bincount(gt.ravel())
    pred_area = np.bincount(pred.ravel())
    gt_labels = np.flatnonzero(gt_area[1:]) + 1
    pred_labels = np.flatnonzero(pred_area[1:]) + 1
    det_scores = np.ones(pred_labels.size) if score is None else score[pred_labels - 1]
    order = np.argsort(-det_scores, kind="mergesort")[:max_dets]
    det_labels, det_scores = pred_labels[order], det_scores[order]
    matched = np.zeros((match_thresholds.size, det_labels.size), dtype=bool)
    gt_matched = np.zeros((match_thresholds.size, gt_labels.size), dtype=bool)
    if gt_labels.size and det_labels.size:
        cand_g, cand_p, cand_iou = _candidates(gt, pred, gt_area, pred_area, match_thresholds.min())
        rank = np.full(pred_area.size, -1)
        rank[det_labels] = np.arange(det_labels.size)
        cand_d = rank[cand_p]
        kept = cand_d >= 0  # detections cut by max_dets take no part
        cand_d, cand_iou = cand_d[kept], cand_iou[kept]
        cand_gi = np.searchsorted(gt_labels, cand_g[kept])  # index in COCO's gt list (labels ascending)
        if np.unique(cand_d).size == cand_d.size and np.unique(cand_gi).size == cand_gi.size:
            # the usual case: no detection and no gt has two candidates, so the greedy match is direct
            hit = cand_iou[None, :] >= match_thresholds[:, None]
            matched[:, cand_d] = hit
            gt_matched[:, cand_gi] = hit
        else:
            for t, threshold in enumerate(match_thresholds):
                hit = cand_iou >= threshold
                d_idx, g_idx = _greedy(cand_d[hit], cand_gi[hit], cand_iou[hit], threshold)
                matched[t, d_idx] = True
                gt_matched[t, g_idx] = True
    return ImageMatch(det_labels, det_scores, matched, gt_labels, gt_matched, int(pred_labels.size))


def accumulate(det_scores: Sequence[np.ndarray], matched: Sequence[np.ndarray], n_gt: int):
    """COCOeval.accumulate for one category, area "all", one maxDets → precision (T, R), recall (T,).

    ``det_scores`` / ``matched``: per image (D_i,) float64 and (T, D_i) bool, images in id order.
    Operation for operation as pycocotools (stable sort on -score, cumulative sums as float, the
    ``np.spacing(1)`` guard, right-to-left running maximum, ``searchsorted(side="left")``), so the
    arrays come out bit-identical.
    """
    n_t, n_r = IOU_THRESHOLDS.size, RECALL_THRESHOLDS.size
    if n_gt == 0:  # COCOeval skips the category: everything stays -1
        return -np.ones((n_t, n_r)), -np.ones(n_t)
    scores = np.concatenate(det_scores) if det_scores else np.zeros(0)
    order = np.argsort(-scores, kind="mergesort")
    tps = np.concatenate(matched, axis=1)[:, order] if det_scores else np.zeros((n_t, 0), dtype=bool)
    n_det = tps.shape[1]
    if n_det == 0:
        return np.zeros((n_t, n_r)), np.zeros(n_t)
    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
    fp_sum = np.cumsum(~tps, axis=1).astype(dtype=float)
    rc = tp_sum / n_gt
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # COCO's right-to-left loop, vectorised
    precision = np.zeros((n_t, n_r))
    for t in range(n_t):
        at = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
        precision[t] = np.where(at < n_det, pr[t, np.minimum(at, n_det - 1)], 0.0)
    return precision, rc[:, -1].copy()


def _fast_arrays(images: list[Pair], max_dets: int):
    scores, matched, n_gt, n_pred = [], [], 0, 0
    for gt, pred, score in images:
        m = match_image(gt, pred, score, max_dets)
        scores.append(m.det_scores)
        matched.append(m.matched)
        n_gt += m.gt_labels.size
        n_pred += m.n_pred
    precision, recall = accumulate(scores, matched, n_gt)
    return precision, recall, n_gt, n_pred


# ----------------------------------------------------------------------------------------------------
# reference engines: RLE-encode every instance, then COCOeval


def _encode(labels: np.ndarray, mask_api):
    """Yield (label, RLE) for every instance, ascending, each encoded over the full image."""
    ids = np.flatnonzero(np.bincount(labels.ravel())[1:]) + 1
    chunk = max(1, 2**27 // labels.size)  # masks encoded together: at most 128 MB at a time
    transposed = np.ascontiguousarray(labels.T)
    for start in range(0, ids.size, chunk):
        sub = ids[start : start + chunk]
        # (n, W, H) C-order is the (H, W, n) Fortran-order stack the encoder wants, built without a copy
        masks = (transposed[None] == sub[:, None, None]).view(np.uint8).transpose(2, 1, 0)
        yield from zip(sub.tolist(), mask_api.encode(masks))


def _coco_arrays(images: list[Pair], max_dets: int, engine: str):
    """precision (T, R), recall (T,), n_gt, n_pred from pycocotools' (or faster-coco-eval's) COCOeval."""
    if engine == "pycocotools":
        from pycocotools import mask as mask_api
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
        from faster_coco_eval import mask as mask_api

    meta, gt_anns, dt_anns = [], [], []
    for image_id, (gt, pred, score) in enumerate(images, start=1):
        meta.append({"id": image_id, "height": gt.shape[0], "width": gt.shape[1]})
        for label, rle in _encode(gt, mask_api):
            gt_anns.append(_annotation(len(gt_anns) + 1, image_id, rle, mask_api) | {"iscrowd": 0})
        for label, rle in _encode(pred, mask_api):
            # the fields COCO.loadRes adds to a segm result (it cannot load an empty result list)
            ann = _annotation(len(dt_anns) + 1, image_id, rle, mask_api)
            dt_anns.append(ann | {"iscrowd": 0, "score": 1.0 if score is None else float(score[label - 1])})
    category = [{"id": 1, "name": "cell"}]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset = {"images": meta, "annotations": gt_anns, "categories": category}
        coco_dt.dataset = {"images": list(meta), "annotations": dt_anns, "categories": category}
        coco_gt.createIndex()
        coco_dt.createIndex()
        kwargs = {} if engine == "pycocotools" else {"print_function": lambda *a, **k: None}
        ev = COCOeval(coco_gt, coco_dt, "segm", **kwargs)
        ev.params.maxDets = [max_dets]
        ev.params.areaRng = [AREA_ALL]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    precision = np.asarray(ev.eval["precision"])[:, :, 0, 0, -1]
    recall = np.asarray(ev.eval["recall"])[:, 0, 0, -1]
    return precision, recall, len(gt_anns), len(dt_anns)


def _annotation(ann_id: int, image_id: int, rle: dict, mask_api) -> dict:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "segmentation": rle,
        "area": float(mask_api.area(rle)),
        "bbox": [float(v) for v in mask_api.toBbox(rle)],
    }


# ----------------------------------------------------------------------------------------------------
# per image and pictures


def image_table(gts, preds, scores=None, names=None, max_dets: int = MAX_DETS):
    """Per-image counts at IoU 0.5 and 0.75 with COCOeval's matching → DataFrame with columns image,
    n_gt, n_pred, tp50, tp75, recall50, recall75, precision50, precision75 (NaN where undefined).

    ``recall50`` is the paper's R_{0.5,o}, so ``recall50.mean()`` is eq. (4)'s AR_0.5, while COCO's AR50
    (:func:`evaluate`) is ``tp50.sum() / n_gt.sum()``. Arguments as :func:`evaluate`.
    """
    import pandas as pd

    images = label_pairs(gts, preds, scores, names)
    rows = []
    for i, (gt, pred, score) in enumerate(images):
        m = match_image(gt, pred, score, max_dets)
        n_gt, n_det = m.gt_labels.size, m.det_labels.size
        row = {"image": names[i] if names is not None else f"image {i}", "n_gt": n_gt, "n_pred": m.n_pred}
        for t, tag in ((_T50, "50"), (_T75, "75")):
            tp = int(m.matched[t].sum())
            row |= {f"tp{tag}": tp, f"recall{tag}": tp / n_gt if n_gt else np.nan,
                    f"precision{tag}": tp / n_det if n_det else np.nan}
        rows.append(row)
    columns = ["image", "n_gt", "n_pred", "tp50", "tp75", "recall50", "recall75", "precision50", "precision75"]
    return pd.DataFrame(rows, columns=columns)


def error_map(gt: np.ndarray, pred: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Where a prediction is right or wrong at one IoU threshold → (H, W) uint8.

    0 background, 1 pixel of a true-positive prediction, 2 pixel of a false-positive prediction,
    3 pixel of a missed (false-negative) ground-truth cell that no prediction covers. Matching is
    COCOeval's at threshold ``iou`` (all scores 1.0, so labels in ascending order).
    """
    if not 0 < iou <= 1:
        raise SegGalError(f"IoU threshold must be in (0, 1], got {iou!r}")
    (gt, pred, _), = label_pairs(gt, pred, None, ["error map"])
    m = match_image(gt, pred, thresholds=np.array([float(iou)]))
    out = np.zeros(gt.shape, dtype=np.uint8)
    out[np.isin(gt, m.gt_labels[~m.gt_matched[0]])] = 3
    out[pred > 0] = 2
    out[np.isin(pred, m.det_labels[m.matched[0]])] = 1
    return out
