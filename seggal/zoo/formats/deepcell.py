"""deepcell-tf Keras weights (the paper's Mesmer and FeatureNet) → SegGal's deepcell checkpoint.

The paper's files are what its training scripts' ``model.save_weights`` wrote (benchmark repository,
``Mesmer/``, ``FeatureNet/``): Mesmer one HDF5 file (``mesmer.h5``); FeatureNet a folder with two,
``conv_fgbg_model.h5`` (foreground / background) and ``conv_edgeseg_model.h5`` (pixel-wise, built on the
first). They are loaded as the paper's test scripts load them — ``load_weights`` into the network those
scripts build (:func:`seggal.backends.deepcell.network_spec`; HDF5 holds arrays, no code is run) — inside
the deepcell worker process, then stored as safetensors. The network's input channels follow the task: both
(nuclear, membrane) for dual-channel tasks, else the task's one channel.

How the paper ran them (``*_test.py``): the preprocessed 256 x 256 windows as they are (the network's own
``norm_method``: none for Mesmer, ``std`` for FeatureNet), then Mesmer's outputs min-max normalised per image
and ``deep_watershed_mibi`` (maxima 0.3, interior 0.3 smoothed 2, radius 3, small objects / holes 10,
expansion 3); FeatureNet interior where foreground > 0.9 and interior > 0.2, objects of at least 50 pixels.

RetinaMask (deepcell-retinamask) is refused: its network depends on the test data (``seggal.methods``).
"""

from __future__ import annotations

from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method, availability
from seggal.tasks import Task
from seggal.zoo.formats import Converted

#: method → the .h5 files of its paper model, in loading order
FILES = {"mesmer": ("mesmer.h5",), "featurenet": ("conv_fgbg_model.h5", "conv_edgeseg_model.h5")}


def weight_files(path: Path, method: Method) -> list[Path]:
    """The paper's ``.h5`` files for ``method`` at ``path`` (Mesmer: the file itself, or a folder holding
    ``mesmer.h5`` or a single ``.h5``; FeatureNet: a folder holding its two files, at any depth, as a Drive
    folder may nest them) → in loading order; :class:`SegGalError` naming what is missing or ambiguous."""
    names = FILES[method.id]
    if path.is_file():
        if len(names) > 1:
            raise SegGalError(f"{path}: a {method.name} model is a folder with {' and '.join(names)}")
        return [path]
    found = {n: sorted(path.rglob(n)) for n in names}
    if len(names) == 1 and not found[names[0]]:
        found[names[0]] = sorted(path.rglob("*.h5"))
    missing = [n for n, hits in found.items() if not hits]
    if missing:
        raise SegGalError(f"{path}: not a {method.name} model from the paper (missing {', '.join(missing)})")
    several = [n for n, hits in found.items() if len(hits) > 1]
    if several:
        raise SegGalError(f"{path}: several {', '.join(several)} files; import the folder of one model")
    return [found[n][0] for n in names]


def preprocessing(method: Method, task: Task, channels: list[str]) -> dict:
    """How the paper's test script fed the model (module docstring), for config.json's provenance."""
    record = {
        "comment": f"as the paper's {method.name}/*_test.py scripts ran deepcell-tf 0.12",
        "dataset_preprocessing": {"percentiles": [0.1, 99.9], "clahe": True, "window": 256, "step": 192},
        "channel_order": channels,
        "normalisation": "none" if method.id == "mesmer" else "the network's ImageNormalization2D ('std')",
    }
    if task.dataset == "LIVECell":  # *_livecell_test.py: normalize(x, 0, 100) per window first
        record["input_normalisation"] = {"low": 0.0, "high": 100.0, "per_window": True}
    if method.id == "mesmer":
        from seggal.backends.deepcell_worker import MESMER_WATERSHED

        record["postprocessing"] = {"outputs": "min-max per image", "deep_watershed_mibi": MESMER_WATERSHED}
    else:
        from seggal.backends.deepcell_worker import FEATURENET_FOREGROUND, FEATURENET_INTERIOR, FEATURENET_MIN_SIZE

        record["postprocessing"] = {"foreground": FEATURENET_FOREGROUND, "interior": FEATURENET_INTERIOR,
                                    "min_size": FEATURENET_MIN_SIZE}
    return record


def convert(path: Path, method: Method, task: Task) -> Converted:
    """Read the paper's ``.h5`` weights at ``path`` → a SegGal deepcell segmenter holding them."""
    if method.id not in FILES:
        raise SegGalError(f"{path}: {method.name} models cannot be converted: {method.blocked or 'no deepcell network'}")
    status = availability(method)
    if not status.available:
        raise SegGalError(f"{path}: {method.name} needs deepcell here ({status.reason}); install it with `make deepcell`")
    from seggal.backends.deepcell import DeepcellSegmenter, channels_for, network_spec

    files = weight_files(path, method)
    channels = channels_for(task.input_channels)
    try:
        segmenter = DeepcellSegmenter(method.id, network_spec(method.id, channels), channels, h5=files)
    except SegGalError as exc:
        raise SegGalError(f"{path}: does not fit the paper's {method.name} network on {len(channels)} channel(s) "
                          f"({exc})") from None
    notes = [f"deepcell-tf Keras HDF5 weights ({', '.join(p.name for p in files)}), {len(channels)} input "
             f"channel(s): {', '.join(channels)}; {segmenter.parameters:,} parameters"]
    return Converted(segmenter, preprocessing(method, task, channels), "deepcell-tf Keras HDF5 weights", notes)
