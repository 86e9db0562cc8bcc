"""SegGal's classical baseline: no weights, always available (scikit-image + SciPy).

Nuclei (from the nuclear channel; from the membrane channel when that is all there is):

1. percentile normalisation (0.1 / 99.9) and a small Gaussian blur (``smooth`` px);
2. Otsu threshold, holes filled;
3. the typical cell radius ``r`` is estimated from the image itself: the median over connected
   components of the largest distance to the background;
4. seeds = maxima of the (slightly smoothed) distance transform at least ``seed_spacing * r`` apart;
5. watershed of the negated distance transform from those seeds inside the mask;
6. objects smaller than ``min_area * pi r^2`` are removed.

Whole cells (a membrane channel is present and ``target="whole_cell"``): the nuclei above are the
seeds (or, without a nuclear channel, the dim interiors between bright membranes), grown by a
watershed over the smoothed membrane signal inside the Otsu foreground of both channels.

Scores: each instance's mean normalised intensity, in [0, 1].

:data:`NAIVE` is the textbook variant (scikit-image's watershed example: Otsu, distance transform,
3x3 local maxima, no smoothing, no size filter) — the anchor the issue's accuracy check compares to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seggal.backends.base import Prediction, Segmenter
from seggal.checkpoint import WEIGHTS_FILE, read_backend_meta, write_backend_meta
from seggal.errors import SegGalError
from seggal.image import Image
from seggal.methods import Method
from seggal.preprocess import percentile_normalize

#: The baseline needs no weights (its checkpoint folder, when written, holds only its settings).
NEEDS_WEIGHTS = False
#: backend.json: {"backend": "baseline", "settings": WatershedSettings fields}
BACKEND_SCHEMA = {
    "type": "object",
    "required": ["backend", "settings"],
    "properties": {
        "backend": {"const": "baseline"},
        "settings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "target": {"enum": ["auto", "nuclei", "whole_cell"]},
                "naive": {"type": "boolean"},
                "smooth": {"type": "number", "minimum": 0},
                "seed_spacing": {"type": "number", "minimum": 0},
                "min_area": {"type": "number", "minimum": 0},
            },
        },
    },
}


@dataclass(frozen=True)
class WatershedSettings:
    """Parameters of the baseline (defaults tuned on nuclei; see the module docstring)."""

    target: str = "auto"  # "nuclei", "whole_cell", or "auto": nuclei when there is a nuclear channel
    naive: bool = False  # the textbook variant (the comparison anchor)
    smooth: float = 1.0  # Gaussian sigma (px) before thresholding
    seed_spacing: float = 0.7  # minimal seed distance, as a fraction of the estimated cell radius
    min_area: float = 0.2  # smallest object kept, as a fraction of the typical cell area pi r^2

    def __post_init__(self) -> None:
        if self.target not in ("auto", "nuclei", "whole_cell"):
            raise SegGalError(f"baseline: unknown target {self.target!r}; expected auto, nuclei or whole_cell")
        for name in ("smooth", "seed_spacing", "min_area"):
            if not getattr(self, name) >= 0:
                raise SegGalError(f"baseline: {name} must be >= 0, got {getattr(self, name)!r}")


NAIVE = WatershedSettings(naive=True)


class BaselineSegmenter(Segmenter):
    """Otsu + distance-transform watershed (see the module docstring)."""

    method_id = "baseline"
    trainable = False
    gives_scores = True

    def __init__(self, settings: WatershedSettings = WatershedSettings()):
        self.settings = settings

    def predict(self, image: Image) -> Prediction:
        s = self.settings
        nuclear, membrane = image.channels.nuclear, image.channels.membrane
        target = s.target if s.target != "auto" else ("nuclei" if nuclear is not None else "whole_cell")
        if s.naive:
            labels = naive_watershed(image.pixels[:, :, nuclear if nuclear is not None else membrane])
        elif target == "whole_cell" and membrane is not None:
            labels = whole_cells(image.pixels[:, :, membrane],
                                 None if nuclear is None else image.pixels[:, :, nuclear], s)
        else:
            labels = nuclei(image.pixels[:, :, nuclear if nuclear is not None else membrane], s)
        return Prediction(labels, _scores(labels, image))

    def save(self, folder: str | Path) -> None:
        """``backend.json`` holds the settings; ``model.safetensors`` is empty (no weights)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({}, str(folder / WEIGHTS_FILE))
        write_backend_meta(folder, {"backend": "baseline", "settings": asdict(self.settings)})


def pretrained(target: str | None = None) -> None:
    """The baseline has no published weights."""
    return None


def build(method: Method, checkpoint: Path | str | None, device: str | None, *, target: str | None = None,
          arch: dict | None = None) -> BaselineSegmenter:
    """The baseline; a checkpoint folder restores its settings. ``device`` is ignored (CPU only)."""
    if arch:
        raise SegGalError(f"method {method.id}: the baseline takes no architecture options")
    settings = WatershedSettings()
    if checkpoint is not None:
        meta = read_backend_meta(checkpoint, "baseline", BACKEND_SCHEMA, weights=False)
        settings = WatershedSettings(**meta["settings"])
    if target is not None:
        settings = WatershedSettings(**(asdict(settings) | {"target": target}))
    return BaselineSegmenter(settings)


def naive_watershed(channel: np.ndarray) -> np.ndarray:
    """The textbook Otsu + distance-transform watershed of one (H, W) channel → (H, W) int32 labels."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    norm = percentile_normalize(channel)
    if norm.max() <= norm.min():
        return np.zeros(norm.shape, np.int32)
    mask = norm > threshold_otsu(norm)
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(distance, footprint=np.ones((3, 3)), labels=ndi.label(mask)[0])
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask).astype(np.int32)


def _foreground(norm: np.ndarray, smooth: float) -> np.ndarray:
    """Otsu mask of the blurred channel with holes filled → (H, W) bool."""
    from scipy import ndimage as ndi
    from skimage.filters import gaussian, threshold_otsu

    blurred = gaussian(norm, smooth) if smooth > 0 else norm
    if blurred.max() <= blurred.min():
        return np.zeros(norm.shape, bool)
    return ndi.binary_fill_holes(blurred > threshold_otsu(blurred))


def typical_radius(mask: np.ndarray) -> float:
    """Median over connected components of the largest distance to the background (px, >= 1)."""
    from scipy import ndimage as ndi

    components, n = ndi.label(mask)
    if n == 0:
        return 1.0
    distance = ndi.distance_transform_edt(mask)
    return max(1.0, float(np.median(ndi.maximum(distance, components, np.arange(1, n + 1)))))


def _split(mask: np.ndarray, radius: float, s: WatershedSettings) -> np.ndarray:
    """Seeded watershed of a binary mask on its distance transform → (H, W) int32 labels."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian
    from skimage.segmentation import watershed

    distance = gaussian(ndi.distance_transform_edt(mask), radius / 4)
    components = ndi.label(mask)[0]
    peaks = peak_local_max(distance, min_distance=max(1, round(s.seed_spacing * radius)), labels=components,
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask).astype(np.int32)


def _drop_small(labels: np.ndarray, min_pixels: float) -> np.ndarray:
    """Remove instances smaller than ``min_pixels`` and renumber 1..n."""
    from skimage.segmentation import relabel_sequential

    sizes = np.bincount(labels.ravel())
    small = sizes < min_pixels
    small[0] = False
    labels = np.where(small[labels], 0, labels)
    return relabel_sequential(labels)[0].astype(np.int32)


def nuclei(channel: np.ndarray, s: WatershedSettings = WatershedSettings()) -> np.ndarray:
    """Nuclei of one (H, W) channel → (H, W) int32 labels (module docstring, steps 1-6)."""
    mask = _foreground(percentile_normalize(channel), s.smooth)
    radius = typical_radius(mask)
    return _drop_small(_split(mask, radius, s), s.min_area * np.pi * radius**2)


def whole_cells(membrane: np.ndarray, nuclear: np.ndarray | None, s: WatershedSettings = WatershedSettings()) -> np.ndarray:
    """Whole cells from a membrane channel (+ an optional nuclear channel for seeds) → (H, W) int32 labels."""
    from skimage.filters import gaussian, threshold_otsu
    from skimage.segmentation import watershed

    mem = percentile_normalize(membrane)
    nuc = np.zeros_like(mem) if nuclear is None else percentile_normalize(nuclear)
    if nuclear is not None:
        seeds = nuclei(nuclear, s)
        radius = 2 * typical_radius(seeds > 0)
    else:
        interior = ~_foreground(mem, s.smooth)
        radius = typical_radius(interior)
        seeds = _drop_small(_split(interior, radius, s), s.min_area * np.pi * radius**2)
    tissue = _foreground(np.maximum(mem, nuc), max(s.smooth, radius / 2))
    relief = gaussian(mem, s.smooth) if s.smooth > 0 else mem
    if relief.max() > relief.min():
        relief = relief - (relief < threshold_otsu(relief)) * relief  # flat basins inside cells
    labels = watershed(relief, seeds * tissue, mask=tissue | (seeds > 0)).astype(np.int32)
    return _drop_small(labels, s.min_area * np.pi * radius**2)


def _scores(labels: np.ndarray, image: Image) -> np.ndarray:
    """Mean normalised intensity of the model input inside each instance → (n,) float32 in [0, 1]."""
    from scipy import ndimage as ndi

    n = int(labels.max())
    if n == 0:
        return np.zeros(0, np.float32)
    signal = percentile_normalize(image.model_input()).max(axis=2)
    return np.clip(np.asarray(ndi.mean(signal, labels, np.arange(1, n + 1)), np.float32), 0.0, 1.0)
