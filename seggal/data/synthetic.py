"""Synthetic TissueNet- and LIVECell-like images with exact ground truth, deterministic by seed.

Used by the tests, the demo and training smoke runs; anything drawn from here is shown as "synthetic".

* :func:`synthetic_tissue` — a fluorescence field: touching cells (whole-cell labels), one nucleus
  inside each cell (nuclear labels, same id as its cell), a nuclear and a membrane channel.
* :func:`synthetic_livecell` — a phase-contrast field: cells with a bright halo and dark interior.
* :func:`synthetic_nuclei` — a nuclei-only fluorescence field at a random magnification (what the
  embedded default model trains on).
* :func:`write_tissuenet_npz` / :func:`write_livecell` — files in the real datasets' layouts, which the
  readers in :mod:`seggal.data.tissuenet` and :mod:`seggal.data.livecell` read back.

Cell size, elongation and packing differ per tissue / cell line (the morphology the paper relates to
accuracy), so per-tissue results differ the way they do on the real data.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from seggal.errors import SegGalError
from seggal.tasks import LIVECELL_CELL_TYPES, TISSUENET_TISSUES


@dataclass(frozen=True)
class _Morphology:
    """Mean cell radius (px), elongation (major / minor axis) and packing (fraction of seeds kept)."""

    radius: float
    elongation: float
    packing: float


TISSUE_MORPHOLOGY: dict[str, _Morphology] = {
    "Breast": _Morphology(9.0, 1.35, 0.85),
    "Colon": _Morphology(8.0, 1.9, 0.85),
    "Epidermis": _Morphology(8.5, 1.5, 0.95),
    "Esophagus": _Morphology(10.0, 1.45, 0.9),
    "Lung": _Morphology(9.0, 1.7, 0.6),
    "Lymph Node": _Morphology(6.0, 1.1, 0.95),
    "Lymph Node Metastasis": _Morphology(7.0, 1.25, 0.9),
    "Pancreas": _Morphology(10.5, 1.3, 0.85),
    "Spleen": _Morphology(6.0, 1.15, 0.9),
    "Tonsil": _Morphology(6.5, 1.15, 0.95),
}
CELL_TYPE_MORPHOLOGY: dict[str, _Morphology] = {
    "A172": _Morphology(14.0, 1.9, 0.5),
    "BT-474": _Morphology(11.0, 1.3, 0.85),
    "BV-2": _Morphology(7.0, 1.1, 0.45),
    "Huh7": _Morphology(13.0, 1.4, 0.7),
    "MCF7": _Morphology(10.0, 1.3, 0.8),
    "SH-SY5Y": _Morphology(8.0, 2.6, 0.5),
    "SK-OV-3": _Morphology(13.0, 1.6, 0.6),
    "SkBr3": _Morphology(9.0, 1.2, 0.85),
}
#: The prefix LIVECell file names use for each cell line ("BT474_Phase_A3_2_00d04h00m_1.tif").
LIVECELL_FILE_PREFIX = {name: name.replace("-", "") for name in LIVECELL_CELL_TYPES}


def _rng(seed: int, name: str) -> np.random.Generator:
    """A generator fixed by (seed, name); crc32 keeps it stable across processes (unlike hash())."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or min(int(s) for s in shape) < 8:
        raise SegGalError(f"synthetic image: shape must be (H, W) with H, W >= 8, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _smooth_field(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std smooth random field of ``shape`` (float32)."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-8)


def _layout(shape: tuple[int, int], m: _Morphology, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Touching cells as a multiplicatively weighted Voronoi tessellation in a stretched space.

    Returns ``cells`` (H, W) int32 (0 = background, ids 1..n, each a single connected region) and
    ``depth`` (H, W) float32: a pixel's distance to its cell's seed relative to the cell's radius
    (0 at the centre, ~1 at the border), from which the nucleus and the stains are drawn.
    """
    from scipy.spatial import cKDTree
    from skimage.measure import label as connected

    h, w = shape
    angle = rng.uniform(0, np.pi)
    stretch = np.sqrt(m.elongation)
    cos, sin = np.cos(angle), np.sin(angle)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = m.radius * 0.18
    yy = yy + warp * _smooth_field(shape, m.radius * 0.6, rng)
    xx = xx + warp * _smooth_field(shape, m.radius * 0.6, rng)
    # Pixel → "cell space", where every cell is round: shrink the major axis, stretch the minor one.
    u = (cos * xx + sin * yy) / stretch
    v = (-sin * xx + cos * yy) * stretch
    points = np.stack([u.ravel(), v.ravel()], axis=1)
    spacing = 2.0 * m.radius
    lo, hi = points.min(axis=0) - spacing, points.max(axis=0) + spacing
    gu, gv = np.meshgrid(np.arange(lo[0], hi[0], spacing), np.arange(lo[1], hi[1], spacing * 0.866))
    gu = gu + (np.arange(gu.shape[0])[:, None] % 2) * spacing / 2  # hexagonal packing
    seeds = np.stack([gu.ravel(), gv.ravel()], axis=1)
    seeds = seeds + rng.uniform(-0.3, 0.3, seeds.shape) * spacing
    seeds = seeds[rng.random(len(seeds)) < m.packing]
    if len(seeds) == 0:
        return np.zeros(shape, np.int32), np.ones(shape, np.float32)
    radii = m.radius * rng.lognormal(0.0, 0.15, len(seeds))
    k = min(6, len(seeds))
    dist, idx = cKDTree(seeds).query(points, k=k)
    dist, idx = dist.reshape(len(points), k), idx.reshape(len(points), k)
    weighted = dist / radii[idx]
    best = np.argmin(weighted, axis=1)
    depth = weighted[np.arange(len(points)), best].reshape(shape).astype(np.float32)
    owner = idx[np.arange(len(points)), best].reshape(shape)
    # Cells reach 1.2 radii, so neighbours one spacing apart touch; isolated cells end round.
    cells = np.where(depth < 1.2, owner + 1, 0)
    cells = connected(cells, background=0, connectivity=1).astype(np.int32)
    return cells, depth


def _kept(nuclei: np.ndarray, n: int, min_pixels: int = 6) -> np.ndarray:
    """(n + 1,) int32 map from the ids 0..n of ``nuclei`` to 1..k for the nuclei of at least
    ``min_pixels`` pixels, 0 for the rest (and the background)."""
    keep = np.bincount(nuclei.ravel(), minlength=n + 1) >= min_pixels
    keep[0] = False
    mapping = np.zeros(n + 1, np.int32)
    mapping[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return mapping


def _nucleated(cells: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Nuclei inside cells; drops cells without one and relabels both 1..n with matching ids."""
    n = int(cells.max())
    ratio = rng.uniform(0.4, 0.6, n + 1)
    nuclei = np.where((cells > 0) & (depth < ratio[cells]), cells, 0)
    mapping = _kept(nuclei, n)
    return mapping[nuclei], mapping[cells]


def _noisy(signal: np.ndarray, rng: np.random.Generator, gain: float) -> np.ndarray:
    """Shot noise (Poisson, ``gain`` photons per unit) plus Gaussian read noise; float32, >= 0."""
    photons = rng.poisson(np.clip(signal, 0, None) * gain).astype(np.float32) / gain
    return np.clip(photons + rng.normal(0.0, 0.01, signal.shape).astype(np.float32), 0, None)


def _morphology(table: dict[str, _Morphology], name: str, what: str) -> _Morphology:
    if name not in table:
        raise SegGalError(f"synthetic data: unknown {what} {name!r}; expected one of {', '.join(table)}")
    return table[name]


def synthetic_tissue(
    shape: Sequence[int] = (256, 256), tissue: str = "Breast", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A TissueNet-like fluorescence field.

    Returns ``pixels`` (H, W, 2) float32 — channel 0 nuclear, channel 1 membrane, raw intensities
    roughly in [0, 1.5] — ``nuclei`` (H, W) int32 and ``whole_cell`` (H, W) int32. Every nucleus lies
    inside the whole cell with the same id; cells touch; intensity varies per cell and across the field.
    """
    from scipy.ndimage import gaussian_filter
    from skimage.segmentation import find_boundaries

    shape = _check_shape(shape)
    m = _morphology(TISSUE_MORPHOLOGY, tissue, "tissue")
    rng = _rng(seed, tissue)
    cells, depth = _layout(shape, m, rng)
    nuclei, cells = _nucleated(cells, depth, rng)
    n = int(cells.max())
    brightness = rng.lognormal(0.0, 0.35, n + 1).astype(np.float32)
    brightness[0] = 0.0
    illumination = 1.0 + 0.25 * _smooth_field(shape, max(shape) / 4, rng)
    texture = 1.0 + 0.25 * _smooth_field(shape, 1.5, rng)
    nuclear = brightness[nuclei] * texture * (1.0 - 0.3 * depth.clip(0, 1))
    membrane = brightness[cells] * (find_boundaries(cells, mode="inner") + 0.15 * (cells > 0))
    channels = []
    for stain, gain in ((nuclear, 200.0), (membrane, 120.0)):
        stain = gaussian_filter(stain.astype(np.float32), 1.0) * illumination + 0.03
        channels.append(_noisy(stain, rng, gain))
    return np.stack(channels, axis=-1).astype(np.float32), nuclei, cells


def synthetic_livecell(
    shape: Sequence[int] = (256, 256), cell_type: str = "A172", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A LIVECell-like phase-contrast field: ``pixels`` (H, W, 1) float32 around 0.5 (a bright halo
    around each cell, a darker textured interior) and ``cells`` (H, W) int32."""
    from scipy.ndimage import gaussian_filter
    from skimage.segmentation import find_boundaries

    shape = _check_shape(shape)
    m = _morphology(CELL_TYPE_MORPHOLOGY, cell_type, "cell type")
    rng = _rng(seed, cell_type)
    cells, depth = _layout(shape, m, rng)
    halo = gaussian_filter(find_boundaries(cells, mode="outer").astype(np.float32), 1.2)
    interior = (cells > 0) * (0.6 + 0.4 * depth.clip(0, 1)) * (1.0 + 0.4 * _smooth_field(shape, 2.0, rng))
    background = 0.5 + 0.04 * _smooth_field(shape, max(shape) / 3, rng)
    signal = background + 0.35 * halo - 0.12 * gaussian_filter(interior.astype(np.float32), 0.8)
    return _noisy(signal, rng, 400.0)[:, :, None], cells


#: Range of nucleus radii (px) of :func:`synthetic_nuclei`, drawn log-uniformly per image: microscope
#: magnifications from TissueNet's (radius ~3-5 px) to the 2018 Data Science Bowl's larger nuclei (~10-16 px).
NUCLEUS_RADIUS_RANGE = (3.0, 16.0)


def synthetic_nuclei(
    shape: Sequence[int] = (256, 256), seed: int = 0, radius: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A fluorescence nuclei field (a DNA stain alone) at a random magnification.

    Per image: nucleus radius ``radius`` or log-uniform in :data:`NUCLEUS_RADIUS_RANGE`, elongation
    1-1.8, packing from sparse to crowded, per-nucleus brightness (in half the fields a few much brighter
    dividing nuclei), chromatin texture, optical blur, an uneven background from black to a quarter of a
    nucleus' brightness, Poisson noise at a random gain and read noise; some neighbours touch. The label is
    the nucleus as it is seen (no dim rims, blur at most r/12, every nucleus above the background). Returns ``pixels`` (H, W, 1) float32 (raw intensities,
    nuclei ~1) and ``nuclei`` (H, W) int32 (0 = background, 1..n).
    """
    from scipy.ndimage import gaussian_filter

    shape = _check_shape(shape)
    rng = _rng(seed, "nuclei")
    lo, hi = NUCLEUS_RADIUS_RANGE
    r = float(radius) if radius is not None else float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if not r > 0:
        raise SegGalError(f"synthetic nuclei: radius must be > 0, got {radius}")
    # _layout's cells reach 1.2 radii; a nucleus fills a fraction of that, so that some touch.
    m = _Morphology(r / 0.9, rng.uniform(1.0, 1.8), rng.uniform(0.3, 0.95))
    cells, depth = _layout(shape, m, rng)
    n = int(cells.max())
    ratio = rng.uniform(0.7, 1.15, n + 1)
    nuclei = np.where((cells > 0) & (depth < ratio[cells]), cells, 0)
    mapping = _kept(nuclei, n)
    nuclei = mapping[nuclei]
    # Every labelled nucleus stands out of the background below (a label on an invisible nucleus teaches
    # a model to find nuclei in empty background).
    brightness = rng.lognormal(0.0, 0.45, int(nuclei.max()) + 1).clip(0.6, None).astype(np.float32)
    # In half the fields a few nuclei (3 %: dividing cells' condensed chromatin) shine 2.5-5 times brighter,
    # so that the percentile normalisation leaves the others dim, as in real fields.
    if rng.random() < 0.5:
        bright = rng.random(brightness.size) < 0.03
        brightness[bright] *= rng.uniform(2.5, 5.0, int(bright.sum())).astype(np.float32)
    brightness[0] = 0.0
    texture = 1.0 + rng.uniform(0.1, 0.4) * _smooth_field(shape, max(1.0, r / 5), rng)
    # Slightly dimmer or brighter rims, and a blur well below the radius: the label is the object as it is
    # seen. Rims down to half brightness under a blur of up to r/8 put the label's outer ring at the
    # background's level, and a model learnt to draw outlines beyond the visible edge (issue 16).
    edge = 1.0 - rng.uniform(-0.15, 0.2) * (depth / ratio[cells]).clip(0, 1)
    signal = brightness[nuclei] * texture * edge
    illumination = 1.0 + 0.2 * _smooth_field(shape, max(shape) / 4, rng)
    signal = gaussian_filter(signal.astype(np.float32), rng.uniform(0.5, 0.5 + r / 12)) * illumination
    # Background from black to a quarter of a nucleus' brightness (out-of-focus light, autofluorescence),
    # uneven across the field, then shot noise at a random gain from noisy to nearly clean (20-5,000 photons
    # per unit, log-uniform) and, in half the fields, read noise of a random level. Nearly clean fields show
    # the blur's faint tail, which the label does not cover.
    background = rng.uniform(0.02, 0.3) * (1.0 + 0.3 * _smooth_field(shape, max(shape) / 6, rng)).clip(0.2, None)
    photons = _noisy(signal + background, rng, float(np.exp(rng.uniform(np.log(20.0), np.log(5000.0)))))
    read = rng.normal(0.0, rng.uniform(0.0, 0.06) * (rng.random() < 0.5), shape).astype(np.float32)
    return np.clip(photons + read, 0, None)[:, :, None], nuclei


def clean_round_nuclei(size: int = 1024, seed: int = 1, spacing: int = 60,
                       radius_range: tuple[float, float] = (5.0, 18.0)) -> tuple[np.ndarray, np.ndarray]:
    """A clean test field: well-separated round nuclei of many sizes on a grid, for checking outlines.

    Discs with radii uniform in ``radius_range`` on a ``spacing``-pixel grid (so a 1024² field is cut by
    256-px tile seams through many of them), each a flat disc of brightness 1 under a Gaussian blur of
    σ = 1 px on a 0.05 background with Gaussian noise (σ 0.02). The label of a disc is the disc itself,
    which is also where its blurred edge is at half height: a model that traces nuclei tightly scores
    close to 1 here. Returns ``pixels`` (size, size, 1) float32 and ``nuclei`` (size, size) int32.
    """
    from scipy.ndimage import gaussian_filter

    rng = _rng(seed, "clean-round-nuclei")
    yy, xx = np.mgrid[:size, :size]
    nuclei = np.zeros((size, size), np.int32)
    half = spacing // 2
    for n, (cy, cx) in enumerate(((y, x) for y in range(half, size - half, spacing)
                                  for x in range(half, size - half, spacing)), start=1):
        r = rng.uniform(*radius_range)
        nuclei[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = n
    signal = gaussian_filter((nuclei > 0).astype(np.float32), 1.0) + 0.05 + rng.normal(0, 0.02, (size, size))
    return signal[:, :, None].astype(np.float32), nuclei


def _cycle(names: Sequence[str], n: int, what: str) -> list[str]:
    if not names:
        raise SegGalError(f"synthetic data: give at least one {what}")
    return [names[i % len(names)] for i in range(n)]


def write_tissuenet_npz(
    path: str | Path,
    n_images: int = 4,
    shape: Sequence[int] = (256, 256),
    tissues: Sequence[str] = TISSUENET_TISSUES,
    seed: int = 0,
    layout: str = "deepcell",
) -> Path:
    """Write a synthetic TissueNet split as an uncompressed ``.npz``; returns ``path``.

    ``layout="deepcell"`` (TissueNet v1.1 as distributed): ``X`` (N, H, W, 2) float32 [nuclear,
    membrane], ``y`` (N, H, W, 2) int32 [whole-cell, nuclear], ``tissue_list`` and ``platform_list``
    (N,) str, every platform ``"synthetic"``. ``layout="paper"`` (the paper's preprocessed files): ``X``, ``y`` with the same channel
    order, ``filenames`` and ``tissue_list``. Tissues cycle over ``tissues``; image i uses seed + i.
    """
    if layout not in ("deepcell", "paper"):
        raise SegGalError(f"unknown TissueNet layout {layout!r}; expected 'deepcell' or 'paper'")
    names = _cycle(tissues, n_images, "tissue")
    shape = _check_shape(shape)
    X = np.zeros((n_images, *shape, 2), np.float32)
    y = np.zeros((n_images, *shape, 2), np.int32)
    for i, tissue in enumerate(names):
        X[i], nuclei, cells = synthetic_tissue(shape, tissue, seed + i)
        y[i, :, :, 0], y[i, :, :, 1] = cells, nuclei
    arrays = {"X": X, "y": y, "tissue_list": np.array(names)}
    if layout == "deepcell":
        arrays["platform_list"] = np.array(["synthetic"] * n_images)  # marks the file wherever it is shown
    else:
        arrays["filenames"] = np.array([f"synthetic_{t.replace(' ', '_')}_{i:05d}.tif" for i, t in enumerate(names)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # an open handle keeps np.savez from appending ".npz"
        np.savez(handle, **arrays)
    return path


def write_livecell_npz(
    path: str | Path,
    n_images: int = 4,
    shape: Sequence[int] = (256, 256),
    cell_types: Sequence[str] = LIVECELL_CELL_TYPES,
    seed: int = 0,
) -> Path:
    """Write a synthetic LIVECell split in the paper's preprocessed layout (:mod:`seggal.data.livecell_npz`) as an
    uncompressed ``.npz``; returns ``path``: ``X`` (N, H, W, 1) float32, ``y`` (N, H, W, 1) int32, ``tissue_list``
    spelled as the paper's files spell it (``BT474``), ``filenames`` ``synthetic_…``. Window i uses seed + i."""
    names = _cycle(cell_types, n_images, "cell type")
    shape = _check_shape(shape)
    X = np.zeros((n_images, *shape, 1), np.float32)
    y = np.zeros((n_images, *shape, 1), np.int32)
    for i, cell_type in enumerate(names):
        X[i], y[i, :, :, 0] = synthetic_livecell(shape, cell_type, seed + i)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez(handle, X=X, y=y, tissue_list=np.array([LIVECELL_FILE_PREFIX[t] for t in names]),
                 filenames=np.array([f"synthetic_{LIVECELL_FILE_PREFIX[t]}_{i:05d}.tif" for i, t in enumerate(names)]))
    return path


def livecell_file_name(cell_type: str, index: int) -> str:
    """A file name in LIVECell's pattern, e.g. ``A172_Phase_A7_1_00d00h00m_1.tif``."""
    well = f"{'ABCD'[index % 4]}{index // 4 % 9 + 1}"
    hours = index * 4
    return f"{LIVECELL_FILE_PREFIX[cell_type]}_Phase_{well}_{index % 4 + 1}_{hours // 24:02d}d{hours % 24:02d}h00m_{index % 4 + 1}.tif"


def write_livecell(
    folder: str | Path,
    n_images: int = 4,
    shape: Sequence[int] = (256, 256),
    cell_types: Sequence[str] = LIVECELL_CELL_TYPES,
    seed: int = 0,
    split: str = "test",
) -> Path:
    """Write a synthetic LIVECell split in the authors' layout; returns the whole-set json path.

    Writes ``folder/images/livecell_{split}_images/<cell line>/<file>.tif`` (uint8 phase contrast,
    as LIVECell's TIFFs are), ``folder/livecell_coco_{split}.json`` (COCO with polygon segmentations;
    its ``annotations`` is a dict keyed by id, as in the published files) and one
    ``folder/LIVECell_single_cells/<cell line>/{split}.json`` per cell line.
    """
    import tifffile

    names = _cycle(cell_types, n_images, "cell type")
    shape = _check_shape(shape)
    folder = Path(folder)
    image_dir = folder / "images" / f"livecell_{split}_images"
    images, annotations = [], []
    per_line: dict[str, tuple[list, list]] = {}
    for i, cell_type in enumerate(names):
        pixels, cells = synthetic_livecell(shape, cell_type, seed + i)
        file_name = livecell_file_name(cell_type, i)
        target = image_dir / LIVECELL_FILE_PREFIX[cell_type] / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(target, (pixels[:, :, 0].clip(0, 1) * 255).astype(np.uint8))
        image = {"id": i + 1, "file_name": file_name, "width": shape[1], "height": shape[0]}
        anns = [
            {"id": len(annotations) + k + 1, "image_id": i + 1, "category_id": 1, **ann}
            for k, ann in enumerate(_polygons(cells))
        ]
        images.append(image)
        annotations.extend(anns)
        line_images, line_anns = per_line.setdefault(cell_type, ([], []))
        line_images.append(image)
        line_anns.extend(anns)
    categories = [{"supercategory": "cell", "id": 1, "name": "cell"}]
    info = {"description": "SegGal synthetic LIVECell-layout data (not real images)", "version": "synthetic"}
    whole = folder / f"livecell_coco_{split}.json"
    folder.mkdir(parents=True, exist_ok=True)
    # The published whole-set files store annotations as a dict keyed by (string) id, not a list.
    whole.write_text(json.dumps({"info": info, "images": images, "categories": categories,
                                 "annotations": {str(a["id"]): a for a in annotations}}))
    for cell_type, (line_images, line_anns) in per_line.items():
        target = folder / "LIVECell_single_cells" / LIVECELL_FILE_PREFIX[cell_type].lower() / f"{split}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"info": info, "images": line_images, "categories": categories,
                                      "annotations": line_anns}))
    return whole


def _polygons(cells: np.ndarray) -> list[dict]:
    """COCO polygon annotations (``segmentation``, ``bbox``, ``area``, ``iscrowd``) of each instance,
    outlined as :func:`seggal.export.outlines` does (pixel-corner coordinates, as pycocotools rasterises)."""
    from scipy.ndimage import find_objects

    from seggal.export import outlines

    areas = np.bincount(cells.ravel())
    boxes = find_objects(cells)
    out = []
    for index, xy in outlines(cells).items():
        ys, xs = boxes[index - 1]
        out.append({
            "segmentation": [np.round(xy[:-1], 2).ravel().tolist()],
            "bbox": [float(xs.start), float(ys.start), float(xs.stop - xs.start), float(ys.stop - ys.start)],
            "area": float(areas[index]),
            "iscrowd": 0,
        })
    return out
