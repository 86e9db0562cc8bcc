"""Segment Anything (segment-anything 1.0): automatic mask generation, used as published (not trained).

Checkpoints: the official ``sam_vit_{b,l,h}_*.pth`` files (read with ``torch.load(weights_only=True)``),
a ``.safetensors`` state dict, or a SegGal checkpoint folder (``model.safetensors`` + ``backend.json``;
Hub references are resolved to such folders by :func:`seggal.backends.build`). With none given,
``SEGGAL_SAM_CHECKPOINT`` names the default file. The architecture (ViT-B / L / H) is read from the
weights.

The image is shown to SAM as 8-bit RGB: grey for one channel; membrane in green and nuclei in blue for
two (the usual fluorescence false-colour) — or, for a checkpoint whose preprocessing record names a
``channel_order`` (SAM as the paper ran it: [membrane, nuclear, zeros] for two channels, the 8-bit PNGs'
``levels`` 255), the three planes that order names. Masks become one label image painted in ascending order of
SAM's predicted IoU, so where masks overlap the better one wins; a mask left without pixels is dropped.
Scores are the predicted IoUs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from seggal.backends.base import Prediction, Segmenter, arrange, network_input, paint
from seggal.checkpoint import WEIGHTS_FILE, load_weights, read_backend_meta, save_torch_weights, write_backend_meta
from seggal.backends.device import pick_device
from seggal.errors import SegGalError
from seggal.image import Image
from seggal.methods import Method
from seggal.preprocess import DEFAULT, Preprocessing

CHECKPOINT_ENV = "SEGGAL_SAM_CHECKPOINT"
#: image-encoder width → segment-anything's model type
ENCODER_WIDTH = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
WEIGHTS_URL = "https://github.com/facebookresearch/segment-anything#model-checkpoints"
NEEDS_WEIGHTS = True
#: backend.json: {"backend": "sam", "model_type", "points_per_side"}
BACKEND_SCHEMA = {
    "type": "object",
    "required": ["backend"],
    "properties": {
        "backend": {"const": "sam"},
        "model_type": {"enum": sorted(ENCODER_WIDTH.values())},
        "points_per_side": {"type": "integer", "minimum": 1, "maximum": 256},
    },
}


def pretrained(target: str | None = None) -> tuple[str, bool] | None:
    """(path, True) when ``SEGGAL_SAM_CHECKPOINT`` names an existing file (SAM is not specific to a target)."""
    path = os.environ.get(CHECKPOINT_ENV, "")
    return (path, True) if path and Path(path).is_file() else None


def masks_to_prediction(masks: list[dict], shape: tuple[int, int]) -> Prediction:
    """SAM's mask records (``segmentation`` (H, W) bool, ``predicted_iou``) → label image + scores
    (:func:`seggal.backends.base.paint`: better predicted IoU wins overlaps; ``scores`` are predicted IoUs)."""
    return paint([m["segmentation"] for m in masks], [float(m["predicted_iou"]) for m in masks], shape)


def rgb(image: Image, preprocessing: Preprocessing = DEFAULT) -> np.ndarray:
    """(H, W, 3) uint8 as SAM expects (module docstring)."""
    x = network_input(image, preprocessing)  # [nuclear, membrane] in [0, 1]
    if preprocessing.channel_order is not None:
        if len(preprocessing.channel_order) != 3:
            raise SegGalError(f"SAM takes three channels; the preprocessing record names {list(preprocessing.channel_order)}")
        return np.round(np.clip(arrange(x, preprocessing.channel_order), 0, 1) * 255).astype(np.uint8)
    if image.channels.nuclear is None or image.channels.membrane is None:
        grey = x[:, :, 0] if image.channels.nuclear is not None else x[:, :, 1]
        planes = [grey, grey, grey]
    else:
        planes = [np.zeros_like(x[:, :, 0]), x[:, :, 1], x[:, :, 0]]
    return np.round(np.stack(planes, -1) * 255).astype(np.uint8)


class SamSegmenter(Segmenter):
    """``SamAutomaticMaskGenerator`` over a SAM model."""

    trainable = False
    gives_scores = True
    uses_torch = True
    honours = frozenset({"channel_order"})

    def __init__(self, sam, model_type: str, device: str, method_id: str = "sam", points_per_side: int = 32):
        self.sam = sam
        self.model_type = model_type
        self.device = device
        self.method_id = method_id
        #: prompt grid density of the automatic mask generator (SAM's default 32; smaller is faster)
        self.points_per_side = points_per_side

    def predict(self, image: Image) -> Prediction:
        import torch
        from segment_anything import SamAutomaticMaskGenerator

        generator = SamAutomaticMaskGenerator(self.sam, points_per_side=self.points_per_side)
        # full precision even on CUDA: the generator converts its tensors to numpy, which has no bfloat16
        with torch.inference_mode():
            masks = generator.generate(rgb(image, self.preprocessing))
        return masks_to_prediction(masks, image.shape)

    def save(self, folder: str | Path) -> None:
        folder = save_torch_weights(folder, self.sam)
        meta = {"backend": "sam", "model_type": self.model_type, "points_per_side": self.points_per_side}
        write_backend_meta(folder, meta)


def _model(model_type: str, state: dict | None, device: str):
    from segment_anything import sam_model_registry

    sam = sam_model_registry[model_type](checkpoint=None)
    if state is not None:
        try:
            sam.load_state_dict(state)
        except RuntimeError as exc:
            raise SegGalError(f"SAM weights do not fit segment-anything's {model_type} ({exc})") from None
    return sam.to(device).eval()


def random_init(model_type: str = "vit_b", seed: int = 0, device: str = "cpu", points_per_side: int = 32) -> SamSegmenter:
    """An untrained SAM (seeded random weights): for tests and timing only — its masks are meaningless."""
    import torch

    torch.manual_seed(seed)
    return SamSegmenter(_model(model_type, None, device), model_type, device, points_per_side=points_per_side)


def _read_state(path: Path) -> dict:
    """A state dict from ``.safetensors`` or an official ``.pth`` (tensors only: ``weights_only=True``)."""
    import torch

    if path.suffix == ".safetensors":
        return load_weights(path.parent, "pt", name=path.name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable file is the user's bad input
        raise SegGalError(f"{path}: not a SAM checkpoint readable without unpickling code ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise SegGalError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def _model_type(state: dict, where: Path) -> str:
    weight = state.get("image_encoder.patch_embed.proj.weight")
    if weight is None or int(weight.shape[0]) not in ENCODER_WIDTH:
        raise SegGalError(f"{where}: not a Segment Anything state dict (no ViT-B/L/H image encoder)")
    return ENCODER_WIDTH[int(weight.shape[0])]


def build(method: Method, checkpoint: Path | str | None, device: str | None, *, target: str | None = None,
          arch: dict | None = None) -> SamSegmenter:
    """SAM from a checkpoint (module docstring); without one, ``SEGGAL_SAM_CHECKPOINT``."""
    if arch:
        raise SegGalError(f"method {method.id}: its sam backend takes no architecture options")
    device = pick_device(device)
    if checkpoint is None:
        checkpoint = (pretrained() or (None,))[0]
        if checkpoint is None:
            raise SegGalError(f"Segment Anything needs weights: download sam_vit_b_01ec64.pth (or ViT-L / ViT-H) from "
                              f"{WEIGHTS_URL} and pass it as the checkpoint, or set {CHECKPOINT_ENV} to its path")
    path = Path(checkpoint)
    points = 32
    if path.is_dir():
        points = int(read_backend_meta(path, "sam", BACKEND_SCHEMA).get("points_per_side", 32))
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise SegGalError(f"{checkpoint}: SAM checkpoint not found")
    state = _read_state(path)
    model_type = _model_type(state, path)
    return SamSegmenter(_model(model_type, state, device), model_type, device, method.id, points)
