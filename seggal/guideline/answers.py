"""The Guideline's questionnaire: choices, their normalisation and validation, tissue matching, pixel size
(typed, or from the optics; read from a file by :func:`seggal.io.read_pixel_size`).

Pure parsing: every bad value raises :class:`~seggal.errors.SegGalError` naming the field and the allowed
values; nothing here decides a recommendation (that is :mod:`seggal.guideline.rules`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from seggal.errors import SegGalError
from seggal.tasks import LIVECELL_CELL_TYPES, TISSUENET_TISSUES

MODALITIES = ("fluorescence", "phase_contrast")
TARGETS = ("nuclei", "whole_cell")
CHANNELS = ("dual", "nuclear", "whole_cell")
COMPUTE = ("none", "limited", "ample")
#: Own annotations of the tissue / cells you segment: the page's words, ``no`` / ``yes``.
ANNOTATIONS = ("no", "yes")
#: Earlier spellings still accepted (the CLI took ``none | same_tissue`` before it took the page's words).
ALIASES = {"annotations": {"none": "no", "same_tissue": "yes", "no_annotations": "no"}}
OTHER = "other"


def _choice(field: str, value, allowed: tuple[str, ...]) -> str:
    key = re.sub(r"[\s-]+", "_", str(value).strip().lower())
    key = ALIASES.get(field, {}).get(key, key)
    if key not in allowed:
        raise SegGalError(f"{field}: {value!r} is not one of {', '.join(allowed)}")
    return key


def check_pixel_size(value, field: str = "pixel size") -> float | None:
    """``value`` as µm per pixel (a positive finite float), or ``None`` when empty; SegGalError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise SegGalError(f"{field}: {value!r} is not a number of µm per pixel") from None
    if not math.isfinite(size) or size <= 0:
        raise SegGalError(f"{field}: {value!r} must be a positive number of µm per pixel")
    return size


def pixel_size_from_optics(camera_pixel_um, magnification) -> float:
    """µm per pixel of an image: the camera's pixel pitch (µm) over the total magnification (objective ×
    any relay lens), e.g. a 6.5 µm camera behind a 20× objective → 0.325 µm/px."""
    camera = check_pixel_size(camera_pixel_um, "camera pixel size")
    try:
        magnification = float(magnification)
    except (TypeError, ValueError):
        raise SegGalError(f"magnification: {magnification!r} is not a number") from None
    if camera is None or not math.isfinite(magnification) or magnification <= 0:
        raise SegGalError("the camera pixel size (µm) and a positive magnification are both needed")
    return camera / magnification


@dataclass(frozen=True)
class Answers:
    """The questionnaire. Choices are normalised (``"Phase contrast"`` → ``phase_contrast``) and
    validated; an unknown value raises :class:`SegGalError` listing the allowed ones. ``tissue`` is free
    text, matched by :func:`match_tissue`; ``pixel_size_um`` is µm per pixel of the user's images
    (``None``: not given)."""

    modality: str = "fluorescence"
    target: str = "nuclei"
    channels: str = "dual"
    tissue: str = OTHER
    compute: str = "limited"
    annotations: str = "no"
    pixel_size_um: float | None = None

    def __post_init__(self):
        for field, allowed in (("modality", MODALITIES), ("target", TARGETS), ("channels", CHANNELS),
                               ("compute", COMPUTE), ("annotations", ANNOTATIONS)):
            object.__setattr__(self, field, _choice(field, getattr(self, field), allowed))
        if not isinstance(self.tissue, str):
            raise SegGalError(f"tissue: {self.tissue!r} is not text")
        object.__setattr__(self, "pixel_size_um", check_pixel_size(self.pixel_size_um))


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_KNOWN = {_squash(t): (t, "TissueNet") for t in TISSUENET_TISSUES} | {
    _squash(c): (c, "LIVECell") for c in LIVECELL_CELL_TYPES
}


def match_tissue(text: str) -> tuple[str, str | None]:
    """Free text → (the datasets' spelling, dataset) or (``"other"``, ``None``).

    Case, spaces and punctuation are ignored: ``"lymph node metastasis"`` → ``Lymph Node Metastasis``,
    ``"MCF-7"`` → ``MCF7``, ``"sh sy5y"`` → ``SH-SY5Y``.
    """
    return _KNOWN.get(_squash(text), (OTHER, None))


def tissue_given(text: str) -> bool:
    """Whether the user named a tissue at all (empty or the literal ``other`` is no answer)."""
    return bool(text.strip()) and _squash(text) != OTHER
