"""micro-sam checkpoints (``vit_b_lm`` …: Segment Anything fine-tuned on light microscopy by micro-sam's
authors) → SegGal's SAM checkpoint.

micro-sam (``micro_sam.util``, version 1.8) writes three layouts, all read here with
``torch.load(weights_only=True)`` (micro-sam itself unpickles with a custom unpickler and no such guard):

- a plain SAM state dict (``export_custom_sam_model(..., with_segmentation_decoder=False)``; the
  registry's ``vit_b_lm`` file on BioImage.IO, ``diplomatic-bug/…/vit_b.pt``);
- ``{"model_state": SAM state dict, "decoder_state": UNETR decoder state}``
  (``export_custom_sam_model(..., with_segmentation_decoder=True)``, ``export_instance_segmentation_model``,
  the BioImage.IO combined weights);
- a torch_em training checkpoint, whose ``model_state`` keys carry the prefix ``sam.`` (stripped, as
  ``micro_sam.util._load_checkpoint`` does); one holding more than tensors (optimiser objects, a config) is
  refused by the weights-only reader.

The SAM part is stored unchanged and runs in SegGal's SAM backend (segment-anything's automatic mask
generator, 32 x 32 points): micro-sam's own mode without a decoder ("AMG"). What is lost: micro-sam's
instance-segmentation decoder (a UNETR decoder on the image encoder, ``decoder_state``, or the separate
``vit_b_decoder.pt`` of the registry) and its automatic instance segmentation ("AIS": foreground and
centre / boundary distance maps, then a seeded watershed), which SegGal does not build; a ``decoder_state``
is noted on the model card and dropped. micro-sam's ``vit_t`` (MobileSAM) models are refused: segment-anything
does not build them.
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.preprocess import Preprocessing
from seggal.tasks import Task
from seggal.zoo.formats import Converted
from seggal.zoo.formats.sam_pth import ENCODER_WIDTH
from seggal.zoo.formats.torch_file import load, segmenter_from_state, state_dict

WHAT = "a micro-sam checkpoint (a SAM state dict, or {'model_state', 'decoder_state'})"
PREFIX = "sam."
#: micro-sam's input scaling (``micro_sam.util._to_image``): per-channel min-max to uint8
PREPROCESSING = Preprocessing(low=0.0, high=100.0, clahe=False)


def sam_state(obj: object, path: Path) -> tuple[dict, int]:
    """The SAM state dict inside a micro-sam checkpoint ``obj`` → (state, number of decoder tensors dropped)."""
    if isinstance(obj, dict) and "model_state" in obj:
        model = state_dict(obj["model_state"], path, WHAT + ": its 'model_state'")
        model = {k.removeprefix(PREFIX): v for k, v in model.items()}
        decoder = obj.get("decoder_state") or {}
        if not isinstance(decoder, dict):
            raise SegGalError(f"{path}: its 'decoder_state' is a {type(decoder).__name__}, not a state dict")
        return model, len(decoder)
    return state_dict(obj, path, WHAT), 0


def script_facts(task: Task) -> dict:
    """How micro-sam feeds its automatic segmentation without a decoder, as provenance.json's record."""
    return {
        "comment": "as micro-sam runs a SAM model without a decoder (automatic_segmentation, mode 'amg')",
        "normalisation": {"method": "min-max per channel to uint8", "function": "micro_sam.util._to_image"},
        "channel_order": (["channel 0", "channel 1", "zeros"] if task.input_channels == "dual"
                          else ["grey", "grey", "grey"]),
        "generator": {"points_per_side": 32},
    }


def convert(path: Path, method: Method, task: Task) -> Converted:
    """Read the micro-sam checkpoint ``path`` → a SegGal SAM segmenter with its SAM weights."""
    if method.backend != "sam":
        raise SegGalError(f"{path}: a micro-sam checkpoint; method {method.id} is not a Segment Anything method")
    if path.is_dir():
        raise SegGalError(f"{path}: a folder; give the micro-sam .pt file")
    state, dropped = sam_state(load(path, WHAT), path)
    weight = state.get("image_encoder.patch_embed.proj.weight")
    if weight is None:
        raise SegGalError(f"{path}: not {WHAT}: no SAM image encoder (micro-sam's vit_t, MobileSAM, is not supported)")
    if int(weight.shape[0]) not in ENCODER_WIDTH:
        raise SegGalError(f"{path}: a SAM image encoder of width {int(weight.shape[0])}, not ViT-B/L/H")
    model_type = ENCODER_WIDTH[int(weight.shape[0])]
    segmenter = segmenter_from_state(method, state, {"backend": "sam", "model_type": model_type, "points_per_side": 32})
    segmenter.preprocessing = PREPROCESSING
    notes = [(f"micro-sam {model_type} SAM weights, unchanged; run with SAM's automatic mask generator "
              "(micro-sam's mode without a decoder)"),
             "generalist, not from the paper: fine-tuned by micro-sam's authors on light-microscopy collections",
             ("input as SegGal's SAM backend composes it: min-max per channel rounded to uint8, two channels as "
              "[zeros, membrane, nuclear] (micro-sam truncates to uint8 and stacks [channel 0, channel 1, zeros])")]
    if dropped:
        notes.append(f"micro-sam's instance-segmentation decoder ({dropped} tensors, UNETR) and its automatic "
                     "instance segmentation (AIS) are not carried over: SegGal does not build them")
    else:
        notes.append("micro-sam's instance-segmentation decoder (a separate *_decoder.pt) is not used")
    return Converted(segmenter, PREPROCESSING, f"micro-sam checkpoint ({model_type})", notes, script_facts(task))
