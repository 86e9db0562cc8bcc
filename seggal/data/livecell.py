"""LIVECell as its authors distribute it: COCO-style json + 8-bit phase-contrast TIFFs.

The published files do not load with ``pycocotools.coco.COCO`` as they are (LIVECell issues #9, #23:
``TypeError: string indices must be integers``), so this reader parses the json itself and uses
pycocotools only to rasterise. Quirks it handles:

* ``annotations`` is a dict keyed by (string) id in the whole-set files, a list in others;
* ``iscrowd`` / ``area`` / ``bbox`` / ``id`` may be missing (only ``image_id`` and ``segmentation``
  are needed);
* segmentations are polygons, sometimes several per cell (fractured outlines, issue #21), sometimes
  degenerate (fewer than 3 points — pycocotools would read a 4-number list as a box); RLE is accepted too;
* a truncated file (issue #12, the SK-OV-3 test json) is reported as such.

The cell type comes from the image file name (``A172_Phase_A7_1_00d00h00m_1.tif`` → ``A172``;
``BT474_…`` → ``BT-474``). Images are found by file name anywhere under the image folder (LIVECell
nests them as ``livecell_test_images/<cell line>/``). Overlapping annotations are painted in
annotation order, a pixel keeping its first owner.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seggal.errors import SegGalError
from seggal.image import ChannelSpec, Image
from seggal.tasks import LIVECELL_CELL_TYPES

_CANONICAL = {name.replace("-", "").lower(): name for name in LIVECELL_CELL_TYPES}
_IMAGE_SUFFIXES = {".tif", ".tiff", ".png"}


def cell_type(file_name: str) -> str:
    """The cell line of a LIVECell file name, spelled as the paper spells it (unknown prefixes kept)."""
    prefix = Path(file_name).name.split("_Phase")[0].split("_")[0]
    return _CANONICAL.get(prefix.replace("-", "").lower(), prefix)


def _polygons_ok(segmentation) -> bool:
    return isinstance(segmentation, list) and all(isinstance(p, list) for p in segmentation)


@dataclass
class LiveCell:
    """An opened LIVECell json: ``images`` (dicts with id, file_name, height, width), annotations
    grouped by image id, and the folder images are looked up in. Pixels are read per image."""

    path: Path
    images: list[dict]
    annotations: dict[int, list[dict]]
    image_dir: Path
    description: str = ""
    _files: dict[str, Path] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def cell_types(self) -> list[str]:
        """Cell type of every image, parallel to ``images``."""
        return [cell_type(im["file_name"]) for im in self.images]

    def _record(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise SegGalError(f"{self.path}: image {i} does not exist; the file lists {len(self)} images")
        return self.images[i]

    def _find(self, file_name: str) -> Path | None:
        if self._files is None:  # one walk of the image folder, on first use
            self._files = {}
            if self.image_dir.is_dir():
                for p in sorted(self.image_dir.rglob("*")):
                    if p.suffix.lower() in _IMAGE_SUFFIXES:
                        self._files.setdefault(p.name, p)
        return self._files.get(Path(file_name).name)

    def missing_images(self) -> list[str]:
        """File names the json lists that are not under ``image_dir``."""
        return [im["file_name"] for im in self.images if self._find(im["file_name"]) is None]

    def image(self, i: int) -> Image:
        """Image ``i``: (H, W, 1) float32 phase contrast (raw 0..255), channel spec whole-cell only."""
        from seggal.io import read_image

        record = self._record(i)
        found = self._find(record["file_name"])
        if found is None:
            raise SegGalError(
                f"{self.path}: image file {record['file_name']!r} not found under {self.image_dir} "
                "(pass the LIVECell images folder with --images / images=)"
            )
        pixels = read_image(found)
        if pixels.shape[2] == 3:  # LIVECell TIFFs are grey; an RGB copy holds it three times
            pixels = pixels.mean(axis=2, keepdims=True, dtype=np.float32)
        if pixels.shape[2] != 1:
            raise SegGalError(f"{found}: expected a single-channel phase-contrast image, got shape {pixels.shape}")
        if pixels.shape[:2] != (record["height"], record["width"]):
            raise SegGalError(
                f"{found}: image is {pixels.shape[1]} x {pixels.shape[0]} (W x H) but {self.path.name} says "
                f"{record['width']} x {record['height']}"
            )
        return Image(pixels, ChannelSpec(nuclear=None, membrane=0), record["file_name"])

    def labels(self, i: int) -> np.ndarray:
        """Ground truth of image ``i``: (H, W) int32, cells numbered 1..n in annotation order."""
        from pycocotools import mask as mask_utils

        record = self._record(i)
        h, w = record["height"], record["width"]
        out = np.zeros((h, w), np.int32)
        n = 0
        for ann in self.annotations.get(record["id"], []):
            seg = ann["segmentation"]
            where = f"{self.path}: annotation {ann.get('id', '?')} of {record['file_name']}"
            if _polygons_ok(seg):
                polygons = [p for p in seg if len(p) >= 6 and len(p) % 2 == 0]
                if not polygons:
                    continue
                rle = mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))
            elif isinstance(seg, dict) and "counts" in seg and "size" in seg:
                if list(seg["size"]) != [h, w]:
                    raise SegGalError(f"{where}: RLE size {seg['size']} differs from the image's {[h, w]}")
                rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg
            else:
                raise SegGalError(f"{where}: segmentation is neither polygons nor RLE")
            mask = mask_utils.decode(rle).astype(bool) & (out == 0)
            if mask.any():
                n += 1
                out[mask] = n
        return out

    def info(self) -> dict:
        """Summary for ``seggal data info``: counts per cell type, image sizes, channel meaning."""
        types, counts = np.unique(np.array(self.cell_types or [""]), return_counts=True)
        sizes = sorted({(im["height"], im["width"]) for im in self.images})
        return {
            "path": str(self.path),
            "dataset": "LIVECell",
            "layout": "LIVECell COCO json + TIFF",
            "description": self.description,
            "n_images": len(self),
            "tissues": {str(t): int(c) for t, c in zip(types, counts)} if self.images else {},
            "n_annotations": sum(len(a) for a in self.annotations.values()),
            "image_shapes": [list(s) for s in sizes],
            "channels": ["phase contrast (whole cell)"],
            "image_dir": str(self.image_dir),
            "missing_images": len(self.missing_images()),
        }


def _default_image_dir(path: Path) -> Path:
    """The nearest ``images`` folder at or above the json (LIVECell's per-cell-line files sit two
    levels below the whole-set ones), else the json's folder."""
    for parent in [path.parent, *list(path.parents)[1:3]]:
        if (parent / "images").is_dir():
            return parent / "images"
    return path.parent


def open_livecell(path: str | os.PathLike, images: str | os.PathLike | None = None) -> LiveCell:
    """Parse a LIVECell (COCO-style) json; ``images`` is the folder holding the TIFFs (searched recursively)."""
    path = Path(path)
    if not path.is_file():
        raise SegGalError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SegGalError(f"{path}: not valid JSON, the file may be truncated ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise SegGalError(f"{path}: not a text (JSON) file") from exc
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        keys = ", ".join(data) if isinstance(data, dict) else type(data).__name__
        raise SegGalError(f"{path}: a LIVECell / COCO json needs 'images' and 'annotations' (found: {keys})")
    raw = data["annotations"]
    anns = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(anns, list) or not isinstance(data["images"], list):
        raise SegGalError(f"{path}: 'images' must be a list and 'annotations' a list or a dict")
    records = []
    for k, im in enumerate(data["images"]):
        missing = [key for key in ("id", "file_name", "height", "width") if not isinstance(im, dict) or key not in im]
        if missing:
            raise SegGalError(f"{path}: images[{k}] lacks {', '.join(missing)}")
        records.append({key: im[key] for key in ("id", "file_name", "height", "width")})
    known = {im["id"] for im in records}
    grouped: dict[int, list[dict]] = {}
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict) or "image_id" not in ann or "segmentation" not in ann:
            raise SegGalError(f"{path}: annotation {k} lacks image_id or segmentation")
        if ann["image_id"] not in known:
            raise SegGalError(f"{path}: annotation {ann.get('id', k)} refers to image {ann['image_id']}, not listed")
        grouped.setdefault(ann["image_id"], []).append(ann)
    for group in grouped.values():
        group.sort(key=lambda a: (a.get("id") is None, a.get("id", 0)))
    image_dir = Path(images) if images is not None else _default_image_dir(path)
    if images is not None and not image_dir.is_dir():
        raise SegGalError(f"{image_dir}: image folder not found")
    about = data.get("info")
    description = str(about.get("description", "")) if isinstance(about, dict) else ""
    return LiveCell(path, records, grouped, image_dir, description)
