"""Cellpose 3 model files (the generalists ``cyto3``, ``nuclei``, ``tissuenet_cp3``, ``livecell_cp3`` …, as
``cellpose.models`` downloads them from www.cellpose.org) → SegGal's Cellpose 3.1 checkpoint.

A Cellpose 3 model file is ``torch.save(CPnet.state_dict())`` (``CPnet.save_model``): the residual U-Net
with ``nbase = [2, 32, 64, 128, 256]`` and its ``diam_mean`` / ``diam_labels`` buffers — the layout of the
paper's Cellpose 2 files (:func:`seggal.zoo.formats.cellpose2.check_layout` checks it). It is read with
``torch.load(weights_only=True)`` only (:func:`seggal.zoo.safe.load_torch`), as Cellpose 3.1 itself reads it.
A Cellpose 4 (Cellpose-SAM) file, recognised by its ``W2`` key as Cellpose does, is refused.

Run as Cellpose runs a model file (``CellposeModel(pretrained_model=FILE).eval(x, channels, normalize=True)``):

- ``diam_mean``: Cellpose's own rule (``cellpose.models.get_model_params``): 17 for its built-in nuclei file
  (named ``nucleitorch_0``), else the file's ``diam_mean``; it is written into the ``diam_mean`` buffer, which
  SegGal's Cellpose reads. A file without the buffers gets what ``CPnet``'s constructor would give
  (``diam_labels`` = ``diam_mean``). Without a diameter, Cellpose resizes by
  ``diam_mean / diam_labels``, which is what SegGal's Cellpose does.
- channels: the nuclear channel alone (``[nuclear, 0]``) for a nuclei task, else ``[membrane, nuclear]``
  (Cellpose's documented channel settings for its nuclei and cytoplasm models).
- normalisation: Cellpose's own (1st / 99th percentile per image). SegGal's record before it is the
  0 / 100-percentile (min-max) scaling, an affine map that Cellpose's normalisation undoes, and no CLAHE.
- the size model: for ``cyto3`` and ``nuclei`` Cellpose estimates each image's diameter (``Cellpose(...)``
  with ``diameter=0``) with a linear model from the style vector stored in ``size_cyto3.npy`` /
  ``size_nucleitorch_0.npy``. Those are NumPy object pickles (``np.load(allow_pickle=True)``), which SegGal
  never unpickles; they are not fetched, and SegGal resizes by ``diam_mean / diam_labels`` as above.
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.preprocess import Preprocessing
from seggal.tasks import Task
from seggal.zoo.formats import Converted
from seggal.zoo.formats.cellpose2 import (
    FIRST_BLOCK,
    check_layout,
    widen_to_two_channels,
)
from seggal.zoo.formats.torch_file import load, segmenter_from_state, state_dict

WHAT = "a Cellpose 3 model file (torch.save of CPnet.state_dict(), e.g. cyto3)"
#: SegGal's record before Cellpose's own normalisation: min-max (affine), no CLAHE
PREPROCESSING = Preprocessing(low=0.0, high=100.0, clahe=False)
#: Cellpose's size models (diameter estimation) of its generalists, by model name: file names in its model folder
SIZE_MODELS = {"cyto3": "size_cyto3.npy", "nuclei": "size_nucleitorch_0.npy"}


def diam_mean(path: Path, state: dict) -> float:
    """The mean diameter Cellpose uses for the file ``path`` (module docstring)."""
    from cellpose.models import get_model_params

    by_name = get_model_params(str(path), None, None)[1]  # 17 for Cellpose's nucleitorch_0, else None
    if by_name is not None:
        return float(by_name)
    return float(state["diam_mean"].reshape(-1)[0]) if "diam_mean" in state else 30.0


def script_facts(diameter: float, nuclear_only: bool) -> dict:
    """How Cellpose runs the model (module docstring), for provenance.json (the record applied is PREPROCESSING)."""
    return {
        "comment": "as Cellpose 3.1 runs a model file: CellposeModel(pretrained_model=FILE).eval(x, channels, "
                   "normalize=True) with no diameter (resized by diam_mean / diam_labels)",
        "channel_order": ["nuclear", "zeros"] if nuclear_only else ["membrane", "nuclear"],
        "cellpose_channels": [1, 0] if nuclear_only else [1, 2],
        "normalisation": {"method": "cellpose normalize99", "low": 1.0, "high": 99.0, "per_channel": True},
        "diam_mean": diameter,
        "diameter": None,
    }


def convert(path: Path, method: Method, task: Task) -> Converted:
    """Read the Cellpose 3 file ``path`` → a SegGal Cellpose segmenter with its weights."""
    import torch

    if method.backend != "cellpose":
        raise SegGalError(f"{path}: a Cellpose 3 file; method {method.id} is not a Cellpose method")
    if path.is_dir():
        raise SegGalError(f"{path}: a folder; give the Cellpose 3 model file (e.g. cyto3)")
    state = dict(state_dict(load(path, WHAT), path, WHAT))
    if "W2" in state:
        raise SegGalError(f"{path}: a Cellpose 4 (Cellpose-SAM) model file; SegGal runs Cellpose 3.1 models")
    diameter = diam_mean(path, state)
    filled = [k for k in ("diam_mean", "diam_labels") if k not in state and FIRST_BLOCK + "proj.1.weight" in state]
    for key in filled:  # as CPnet's constructor sets them when a file lacks them
        state[key] = torch.full((1,), diameter)
    if "diam_mean" in state:  # the buffer SegGal's Cellpose reads its diam_mean from: the one Cellpose uses
        state["diam_mean"] = torch.full_like(state["diam_mean"], diameter)
    nchan = check_layout(state, path)
    nuclear_only = task.target == "nuclei"
    segmenter = segmenter_from_state(method, widen_to_two_channels(state), {
        "backend": "cellpose", "nchan": 2, "diam_mean": diameter, "nuclear_only": nuclear_only,
        "cellpose_normalize": True})
    segmenter.preprocessing = PREPROCESSING
    diam_labels = float(state["diam_labels"].reshape(-1)[0])
    notes = [f"Cellpose 3 state dict, {nchan} input channel(s), diam_mean {diameter:g}, diam_labels {diam_labels:g}",
             "generalist, not from the paper: trained by Cellpose's authors on their own data",
             ("Cellpose's size model (diameter estimation, size_*.npy, a NumPy pickle) is not used: images are "
              "resized by diam_mean / diam_labels, as CellposeModel.eval does without a diameter")]
    if filled:
        notes.append(f"the file has no {' / '.join(filled)}: set to {diameter:g} as Cellpose's CPnet does")
    if nchan == 1:
        notes.append("widened to Cellpose 3.1's two-channel input with a second channel that contributes nothing")
    return Converted(segmenter, PREPROCESSING, "Cellpose 3 model file", notes, script_facts(diameter, nuclear_only))
