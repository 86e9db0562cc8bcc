"""Check that the files micro-sam itself writes are read by SegGal's micro-sam converter as micro-sam reads them.

micro-sam is not a SegGal dependency (it pulls napari, PyQt6, trackastra, torch-em …). Install it beside the
project's environment, without its dependencies, and run this with it on the path::

    python -m pip install --target /tmp/micro-sam-side --no-deps micro-sam==1.8.14 python-elf==0.9.2 \
        bioimage-cpp pooch xxhash
    PYTHONPATH=/tmp/micro-sam-side:. python scripts/check_micro_sam_layout.py OUT_FOLDER

It writes a torch_em-style training checkpoint (``sam.``-prefixed ``model_state`` and a ``decoder_state``),
exports it with ``micro_sam.util.export_custom_sam_model`` with and without the decoder, and checks that
:func:`seggal.zoo.formats.micro_sam.sam_state` over SegGal's weights-only reader gives exactly the state dict
``micro_sam.util._load_checkpoint`` gives (micro-sam's own reader, which unpickles without a guard).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path

import torch


def main(argv: list[str]) -> int:
    import micro_sam
    from micro_sam.util import _load_checkpoint, export_custom_sam_model

    from seggal.zoo.formats.micro_sam import sam_state
    from seggal.zoo.safe import load_torch

    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    sam = OrderedDict([("image_encoder.patch_embed.proj.weight", torch.rand(768, 3, 16, 16)),
                       ("mask_decoder.iou_token.weight", torch.rand(1, 256))])
    decoder = OrderedDict([("base.weight", torch.rand(8, 256, 3, 3))])
    trained = out / "trained.pt"
    torch.save({"model_state": OrderedDict((f"sam.{k}", v) for k, v in sam.items()), "decoder_state": decoder}, trained)
    for with_decoder in (False, True):
        exported = out / f"exported_decoder_{with_decoder}.pt"
        export_custom_sam_model(trained, "vit_b", exported, with_segmentation_decoder=with_decoder)
        theirs = _load_checkpoint(exported)[1]
        ours, dropped = sam_state(load_torch(exported), exported)
        assert list(ours) == list(theirs) == list(sam), (list(ours), list(theirs))
        assert all(torch.equal(ours[k], theirs[k]) for k in sam)
        assert dropped == (len(decoder) if with_decoder else 0)
        print(f"micro-sam {micro_sam.__version__} export (with_segmentation_decoder={with_decoder}): "
              f"{type(load_torch(exported)).__name__} with keys {list(load_torch(exported))[:2]} — read as micro-sam reads it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
