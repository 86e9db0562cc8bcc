"""Export a label image ((H, W) int, 0 = background) to the formats other tools read.

* label TIFF — :func:`label_tiff` (bytes) / :func:`seggal.io.write_labels` (file);
* COCO json with RLE masks, for detectors — :func:`to_coco`;
* per-cell CSV with the morphology of :func:`seggal.morphology.cell_table` — :func:`cell_csv`;
* ImageJ / Fiji ROI set (``RoiSet.zip``, via roifile) — :func:`roi_zip`;
* GeoJSON FeatureCollection that QuPath imports (File ▸ Import objects) — :func:`to_geojson`.

Outlines (ROI, GeoJSON) are the 0.5 iso-contour of each instance (``skimage.measure.find_contours``),
in pixel-corner coordinates as ImageJ and QuPath use them (pixel (y, x) spans [x, x + 1) x [y, y + 1)).
An instance made of several pieces is outlined by its longest contour.
"""

from __future__ import annotations

import io
import uuid
import zipfile

import numpy as np

from seggal.errors import SegGalError
from seggal.image import as_labels
from seggal.io import encode_labels

COCO_CATEGORY = {"id": 1, "name": "cell", "supercategory": "cell"}
QUPATH_OBJECT_TYPES = ("cell", "detection", "annotation")


def label_tiff(labels: np.ndarray) -> bytes:
    """The label image as TIFF bytes (for a download button); see :func:`seggal.io.write_labels`."""
    return encode_labels(labels)


def _instances(labels: np.ndarray):
    """Yield (label, (slice_y, slice_x), mask of the bounding box) for every instance, label order."""
    from scipy.ndimage import find_objects

    for index, box in enumerate(find_objects(labels), start=1):
        if box is not None:
            yield index, box, labels[box] == index


def _rle(box: tuple[slice, slice], mask: np.ndarray, height: int, width: int) -> dict:
    """COCO compressed RLE of a bounding-box mask placed in an (height, width) image.

    Run lengths are computed on the box alone (pycocotools.mask.encode needs a full-image mask per
    cell, O(H·W) each — too slow for thousands of cells on large images); pycocotools then compresses
    them, so the output is exactly its format.
    """
    from pycocotools import mask as mask_utils

    ys, xs = np.nonzero(mask.T)[::-1]  # column-major order, as COCO RLE runs
    flat = (xs + box[1].start) * height + (ys + box[0].start)
    breaks = np.flatnonzero(np.diff(flat) != 1) + 1
    starts, ends = flat[np.r_[0, breaks]], flat[np.r_[breaks - 1, len(flat) - 1]] + 1
    counts = np.empty(2 * len(starts) + 1, np.int64)
    counts[0::2] = np.r_[starts, height * width] - np.r_[0, ends]  # background runs
    counts[1::2] = ends - starts  # foreground runs
    rle = mask_utils.frPyObjects({"counts": counts.tolist(), "size": [height, width]}, height, width)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def to_coco(
    labels: np.ndarray, image_id: int = 1, file_name: str = "image.tif", scores: np.ndarray | None = None
) -> dict:
    """A COCO dataset dict with one image and one RLE-masked annotation per instance.

    Annotation ids are the labels; ``bbox`` is [x, y, w, h]; with ``scores`` (score of label i + 1 at
    index i) each annotation gets a ``score``, as COCO results do.
    """
    labels = as_labels(labels, file_name)
    height, width = labels.shape
    if scores is not None and len(scores) < labels.max():
        raise SegGalError(f"{file_name}: {len(scores)} scores for labels up to {labels.max()}")
    annotations = []
    for index, box, mask in _instances(labels):
        ann = {
            "id": int(index),
            "image_id": int(image_id),
            "category_id": COCO_CATEGORY["id"],
            "segmentation": _rle(box, mask, height, width),
            "area": int(mask.sum()),
            "bbox": [box[1].start, box[0].start, box[1].stop - box[1].start, box[0].stop - box[0].start],
            "iscrowd": 0,
        }
        if scores is not None:
            ann["score"] = float(scores[index - 1])
        annotations.append(ann)
    return {
        "images": [{"id": int(image_id), "file_name": file_name, "height": height, "width": width}],
        "annotations": annotations,
        "categories": [COCO_CATEGORY],
    }


def cell_csv(labels: np.ndarray, pixel_size_um: float | None = None) -> str:
    """Per-cell morphology (:func:`seggal.morphology.cell_table`, with ``area_um2`` when ``pixel_size_um``
    is given) as CSV text, one row per instance."""
    from seggal.morphology import cell_table

    return cell_table(as_labels(labels), pixel_size_um=pixel_size_um).to_csv(index=False)


def outlines(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Outline of every instance: {label: (N, 2) float (x, y) in pixel-corner coordinates}, closed
    (first point repeated last)."""
    from skimage.measure import find_contours

    labels = as_labels(labels)
    out = {}
    for index, box, mask in _instances(labels):
        contour = max(find_contours(np.pad(mask, 1).astype(np.float32), 0.5), key=len)
        # padded (row, col) → image (x, y), then +0.5: pixel centres sit at half-integers in corner coordinates
        out[index] = np.stack([contour[:, 1] + box[1].start - 0.5, contour[:, 0] + box[0].start - 0.5], axis=1)
    return out


def roi_zip(labels: np.ndarray) -> bytes:
    """An ImageJ ROI set (``RoiSet.zip``): one polygon ROI per instance, named ``cell_<label>``."""
    from roifile import ImagejRoi

    buffer = io.BytesIO()
    # roifile.roiwrite only writes to a path; this is the same layout (one "<name>.roi" per member).
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, points in outlines(labels).items():
            name = f"cell_{index:05d}"
            archive.writestr(f"{name}.roi", ImagejRoi.frompoints(points[:-1], name=name).tobytes())
    return buffer.getvalue()


def to_geojson(labels: np.ndarray, object_type: str = "cell", classification: str | None = None) -> dict:
    """A GeoJSON FeatureCollection of one Polygon per instance, with the properties QuPath reads:
    ``objectType`` ("cell", "detection" or "annotation"), optional ``classification`` {name, color},
    and ``measurements`` {label, area (px)}. Feature ids are UUIDs derived from the label."""

    if object_type not in QUPATH_OBJECT_TYPES:
        raise SegGalError(f"unknown QuPath object type {object_type!r}; expected one of {QUPATH_OBJECT_TYPES}")
    labels = as_labels(labels)
    areas = np.bincount(labels.ravel())
    features = []
    for index, points in outlines(labels).items():
        properties = {"objectType": object_type, "measurements": {"label": int(index), "area": int(areas[index])}}
        if classification:
            properties["classification"] = {"name": classification, "color": [255, 0, 0]}
        features.append({
            "type": "Feature",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"seggal-cell-{index}")),
            "geometry": {"type": "Polygon", "coordinates": [np.round(points, 3).tolist()]},
            "properties": properties,
        })
    return {"type": "FeatureCollection", "features": features}
