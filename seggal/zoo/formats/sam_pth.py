"""The Segment Anything checkpoint the paper used (``sam_vit_h_4b8939.pth``; ViT-B / ViT-L likewise) →
SegGal's SAM checkpoint.

The official files are a plain state dict (``torch.save(sam.state_dict())``), read here with
``weights_only=True``; the encoder width names the architecture (1280 → ViT-H). The weights are stored
unchanged as safetensors.

How the paper ran it (``Segment Anything/segmentanything_*_test.py``): ``SamAutomaticMaskGenerator(sam)``
with its defaults (32 x 32 points), zero-shot, on 8-bit images written by ``transform_tissuenet.py``
(the preprocessed windows x 255): one channel as grey, two channels as the array [membrane, nuclear, 0]
read back with ``cv2.imread``; masks of 10 000 pixels or more dropped, the rest painted largest first.
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.tasks import Task
from seggal.zoo.formats import Converted
from seggal.zoo.formats.torch_file import load, segmenter_from_state, state_dict

WHAT = "a Segment Anything checkpoint (a state dict such as sam_vit_h_4b8939.pth)"
ENCODER_WIDTH = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}


def preprocessing(task: Task) -> dict:
    """The paper's SAM test settings (module docstring) as config.json's record."""
    two = task.input_channels == "dual"
    return {
        "comment": "as the paper's 'Segment Anything/segmentanything_*_test.py' scripts ran SAM",
        "dataset_preprocessing": {"percentiles": [0.1, 99.9], "clahe": True, "window": 256, "step": 192},
        "channel_order": ["membrane", "nuclear", "zeros"] if two else ["grey", "grey", "grey"],
        "normalisation": {"method": "scale", "factor": 255, "dtype": "uint8"},
        "generator": {"points_per_side": 32},
        "max_mask_area": 10000,
    }


def convert(path: Path, method: Method, task: Task) -> Converted:
    """Read the SAM ``.pth`` at ``path`` → a SegGal SAM segmenter with its weights."""
    if path.is_dir():
        raise SegGalError(f"{path}: a folder; give the SAM .pth file")
    state = state_dict(load(path, WHAT), path, WHAT)
    weight = state.get("image_encoder.patch_embed.proj.weight")
    if weight is None or int(weight.shape[0]) not in ENCODER_WIDTH:
        raise SegGalError(f"{path}: not {WHAT}: no ViT-B/L/H image encoder")
    model_type = ENCODER_WIDTH[int(weight.shape[0])]
    segmenter = segmenter_from_state(method, state, {"backend": "sam", "model_type": model_type, "points_per_side": 32})
    return Converted(segmenter, preprocessing(task), f"Segment Anything checkpoint ({model_type})",
                     [f"image encoder {model_type}; weights unchanged"])
