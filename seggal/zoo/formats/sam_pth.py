"""The Segment Anything checkpoint the paper used (``sam_vit_h_4b8939.pth``; ViT-B / ViT-L likewise) →
SegGal's SAM checkpoint.

The official files are a plain state dict (``torch.save(sam.state_dict())``), read here with
``weights_only=True``; the encoder width names the architecture (1280 → ViT-H). The weights are stored
unchanged as safetensors.

How the paper ran it (``Segment Anything/segmentanything_*_test.py``): ``SamAutomaticMaskGenerator(sam)``
with its defaults (32 x 32 points), zero-shot, on 8-bit PNGs written by ``Data Transformation/
transform_tissuenet.py`` (``(X * 255).astype(np.uint8)`` of the preprocessed windows: ``floor(255 V)``):
one channel as grey (``cv2.imread`` gives it three times), two channels as the array [membrane, nuclear, 0]
(``np.dstack((x, zeros))[..., [1, 0, 2]]``), written and read back by cv2 unchanged and handed to the
generator as they are, so SAM's red plane is the membrane; masks of 10 000 pixels or more dropped, the
rest kept largest first where they do not overlap those kept. The record (:func:`preprocessing`) holds
the input; the post-processing is in provenance.json (SegGal's SAM paints by predicted IoU).
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.tasks import Task
from seggal.preprocess import Preprocessing
from seggal.zoo.formats import Converted, paper_record, script_suffix, task_channel
from seggal.zoo.formats.torch_file import load, segmenter_from_state, state_dict

WHAT = "a Segment Anything checkpoint (a state dict such as sam_vit_h_4b8939.pth)"
ENCODER_WIDTH = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}


def preprocessing(task: Task) -> Preprocessing:
    """The input pipeline of the paper's SAM test script for ``task`` (module docstring)."""
    order = ("membrane", "nuclear", "zeros") if task.input_channels == "dual" else (task_channel(task),) * 3
    suffix = script_suffix(task)
    name = "segmentanything_livecell.py" if suffix == "livecell" else f"segmentanything_{suffix}_test.py"
    return paper_record(f"Segment Anything/{name}", levels=255, channel_order=order)


#: What else the test script did (provenance.json).
SCRIPT = {"generator": {"points_per_side": 32, "other": "SamAutomaticMaskGenerator defaults"},
          "max_mask_area": 10000,
          "painting": "masks sorted by area, largest first; a mask overlapping one already kept is skipped"}


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
                     [f"image encoder {model_type}; weights unchanged"], dict(SCRIPT))
