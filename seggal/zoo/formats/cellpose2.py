"""Cellpose 2 model files (the paper's ``Cellpose_BM`` fork) → SegGal's Cellpose 3.1 checkpoint.

The fork's ``CPnet.save_model`` writes ``torch.save(net.state_dict())``: a flat state dict of the residual
U-Net with ``nbase = [nchan, 32, 64, 128, 256]``, its style vector of nbase[-1] = 256 values feeding
every up-block's ``full`` layers, and the ``diam_mean`` / ``diam_labels`` buffers. Cellpose 3.1's
``CPnet`` has the same modules under the same names, so the conversion is a check of that layout
(:func:`check_layout`) and, for the fork's one-channel models (``--nchan_test 1``), a widening of the
first block to the two channels SegGal's Cellpose takes (:func:`widen_to_two_channels`): the added
channel gets a BatchNorm of weight 0 and bias 0 and zero convolution weights, so it contributes exactly
nothing and the network computes what the one-channel one did.

How the paper ran it (``Cellpose_BM/cellpose_submit_{nuclear,wholecell,livecell}_test.slurm``): ``python -m
cellpose --diameter 23. --all_channels --nchan_test 1|2`` on the 256 x 256 windows of the preprocessed data
sets (0.1 / 99.9 percentiles, CLAHE), which ``data transformation/transform_tissuenet.py`` wrote as float
TIFFs: one channel, or two as (2, H, W) = (nuclear, membrane), which Cellpose's ``convert_image`` moves
last in that order; ``--all_channels`` runs ``eval(channels=None)`` on them. ``eval`` normalised each
channel to its 1st / 99th percentiles without clipping (``normalize99``; ``--no_norm`` not given) and
rescaled by ``diam_mean / 23``; flow threshold 0.4, cell-probability threshold 0 (the CLI's defaults, as
Cellpose 3.1's). The record (:func:`preprocessing`) says all of that; SegGal applies the 1 / 99
normalisation itself, so backend.json's ``cellpose_normalize`` is off.
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.tasks import Task
from seggal.preprocess import Percentiles, Preprocessing
from seggal.zoo.formats import Converted, paper_record, script_suffix, task_channel
from seggal.zoo.formats.torch_file import load, segmenter_from_state, state_dict

NBASE = (32, 64, 128, 256)  # the fork's and Cellpose 3.1's nbase after the input channels
FIRST_BLOCK = "downsample.down.res_down_0."
#: keys of the first block whose dimension 1 (convolutions) or 0 (BatchNorms) is the input channel
_INPUT_BN = ("conv.conv_0.0.", "proj.0.")
_INPUT_CONV = ("conv.conv_0.2.weight", "proj.1.weight")
WHAT = "a Cellpose 2 model file (torch.save of CPnet.state_dict())"


def check_layout(state: dict, path: Path) -> int:
    """The number of input channels (1 or 2) of a Cellpose 2 ``state``; :class:`SegGalError` naming what
    differs from the layout Cellpose 3.1 builds (nbase, style width, diam_mean / diam_labels buffers)."""
    for key in ("diam_mean", "diam_labels", FIRST_BLOCK + "proj.1.weight", "output.2.weight"):
        if key not in state:
            raise SegGalError(f"{path}: not {WHAT}: no {key!r}")
    nbase = [int(state[f"downsample.down.res_down_{n}.proj.1.weight"].shape[0]) for n in range(len(NBASE))
             if f"downsample.down.res_down_{n}.proj.1.weight" in state]
    if tuple(nbase) != NBASE or f"downsample.down.res_down_{len(NBASE)}.proj.1.weight" in state:
        raise SegGalError(f"{path}: Cellpose network with nbase {nbase}; Cellpose 3.1 (and the paper's fork) "
                          f"use {list(NBASE)}")
    style = state.get("upsample.up.res_up_3.conv.conv_1.full.weight")
    if style is None or int(style.shape[1]) != NBASE[-1]:
        raise SegGalError(f"{path}: the style layers do not take a {NBASE[-1]}-value style vector")
    if int(state["output.2.weight"].shape[0]) != 3:
        raise SegGalError(f"{path}: {int(state['output.2.weight'].shape[0])} outputs; Cellpose's flows need 3")
    nchan = int(state[FIRST_BLOCK + "proj.1.weight"].shape[1])
    if nchan not in (1, 2):
        raise SegGalError(f"{path}: a {nchan}-channel Cellpose model; SegGal's Cellpose takes 1 or 2 channels")
    return nchan


def widen_to_two_channels(state: dict) -> dict:
    """A copy of a one-channel ``state`` whose first block takes two channels, the second contributing
    exactly zero (module docstring). Two-channel states are returned unchanged."""
    import torch

    if int(state[FIRST_BLOCK + "proj.1.weight"].shape[1]) == 2:
        return dict(state)
    out = dict(state)
    for prefix in _INPUT_BN:
        for name, fill in (("weight", 0.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            key = FIRST_BLOCK + prefix + name
            out[key] = torch.cat([state[key], torch.full_like(state[key], fill)])
    for suffix in _INPUT_CONV:
        key = FIRST_BLOCK + suffix
        out[key] = torch.cat([state[key], torch.zeros_like(state[key])], dim=1)
    return out


#: the ``--diameter`` of every test script
DIAMETER = 23.0


def preprocessing(task: Task, nchan: int) -> Preprocessing:
    """The input pipeline of the paper's Cellpose test script for ``task`` (module docstring): a two-channel
    model sees (nuclear, membrane), a one-channel one (widened) the task's channel and zeros."""
    if task.input_channels == "dual" and nchan != 2:
        raise SegGalError(f"a {nchan}-channel Cellpose model for the two-channel task {task.id}: the paper's "
                          "two-channel models were trained with --all_channels on both channels")
    order = ("nuclear", "membrane") if task.input_channels == "dual" else (task_channel(task), "zeros")
    return paper_record(f"Cellpose_BM/cellpose_submit_{script_suffix(task).split('_')[0]}_test.slurm",
                        method_normalisation=Percentiles(1.0, 99.0, clip=False), channel_order=order,
                        diameter=DIAMETER)


def convert(path: Path, method: Method, task: Task) -> Converted:
    """Read the Cellpose 2 file ``path`` → a SegGal Cellpose segmenter with its weights."""
    if path.is_dir():
        raise SegGalError(f"{path}: a folder; give the Cellpose model file inside it (e.g. cellpose_residual_on_…)")
    state = state_dict(load(path, WHAT), path, WHAT)
    nchan = check_layout(state, path)
    diam_mean = float(state["diam_mean"].reshape(-1)[0])
    record = preprocessing(task, nchan)
    segmenter = segmenter_from_state(method, widen_to_two_channels(state), {
        "backend": "cellpose", "nchan": 2, "diam_mean": diam_mean, "nuclear_only": False, "cellpose_normalize": False})
    notes = [f"Cellpose 2 state dict, {nchan} input channel(s), diam_mean {diam_mean:g}, "
             f"diam_labels {float(state['diam_labels'].reshape(-1)[0]):g}"]
    if nchan == 1:
        notes.append("widened to Cellpose 3.1's two-channel input with a second channel that contributes nothing")
    facts = {"eval": {"channels": None, "diameter": DIAMETER, "normalize": "normalize99 (1, 99), by SegGal",
                      "flow_threshold": 0.4, "cellprob_threshold": 0.0, "resample": True, "tile": True},
             "source_channels": nchan}
    return Converted(segmenter, record, "Cellpose 2 model file (Cellpose_BM fork)", notes, facts)
