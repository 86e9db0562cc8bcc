"""Convert a published model in its source's own format into a SegGal checkpoint folder.

``convert(path, method=…, task=…, training_set=…, out=…)`` reads ``path`` with the format module of the
method's backend (:data:`seggal.zoo.formats.MODULES`: the paper's Cellpose 2 files, StarDist model
folders, the Segment Anything ``.pth``, MMDetection 2.28 checkpoints, deepcell-tf ``.h5`` weights of Mesmer and
FeatureNet; detectron2 and RetinaMask files are refused with the reason) or, for a generalist's own format, of
that format (:data:`seggal.zoo.formats.FORMAT_MODULES`: Cellpose 3 files, micro-sam checkpoints), never
running code from it, and writes ``out``:

    model.safetensors, backend.json   the weights, as the SegGal backend loads them
    config.json                       method, task, training set and ``preprocessing``: the input pipeline
                                      of the paper's test script for the method (channel order, the data
                                      set's percentiles and CLAHE, a second normalisation, integer levels,
                                      windows, Cellpose's diameter; :class:`seggal.preprocess.Preprocessing`),
                                      which :func:`seggal.backends.build` applies wherever it is loaded
    README.md                         the model card, with the published scores of that (method, task,
                                      training set) from results/published/scores.csv and the provenance:
                                      source URL, SHA-256 of the original, the paper, and how the paper's own
                                      test script fed the method
    provenance.json                   the same provenance, machine-readable (``paper_preprocessing``: the
                                      record applied, and the script's other facts: thresholds, tiling,
                                      post-processing; ``extra_files``: name, URL and SHA-256 of each file
                                      read beside the original, e.g. RF-Next's searched-structure json)

The folder is written atomically (a staging folder swapped in), so a failed conversion leaves nothing.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Mapping, Sequence

from seggal.backends.base import check_preprocessing
from seggal.checkpoint import PROVENANCE_FILE
from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.provenance import sha256_of
from seggal.tasks import check_generalist_name, check_training_set, get_task
from seggal.zoo.formats import BENCHMARK_REPO, FORMAT_MODULES, MODULES, Converted
from seggal.zoo.formats.detectron2 import RESNEST_REFUSAL

PAPER = ("Wang Y., Zhao J., Xu H., Han C., Tao Z., Zhao D., Zhou D., Tong G., Liu D., Ji Z., "
         "A systematic evaluation of computation methods for cell segmentation, bioRxiv (2024)")
#: The catalogue's source formats (seggal.zoo.catalogue.FORMATS) this converter reads; the others
#: (detectron2) are refused; of the deepcell files RetinaMask's are refused (its method is blocked,
#: :mod:`seggal.methods`).
FORMATS = frozenset({"mmdet2", "cellpose2", "stardist", "sam", "deepcell", "cellpose3", "micro-sam"})
#: Paper models whose files :func:`convert` refuses for their architecture, with the reason; the gallery lists
#: them as unavailable. The MMDetection methods are built from the architecture in the checkpoint's own
#: embedded config (:mod:`seggal.zoo.formats.mmdet2`), whatever SegGal's registry config for the method is, and
#: RF-Next's searched structure is the catalogue row's extra file (:func:`seggal.zoo.catalogue.extra_files`),
#: pulled beside its checkpoint.
ARCHITECTURE_MISMATCH = {"resnest": RESNEST_REFUSAL}


def published_scores(method: str, task: str, training_set: str) -> dict:
    """The published row of (method, task, training set) → {accuracy, usability, training_hours, source};
    empty when the paper published no model for it."""
    import math

    from seggal.results import load_scores

    table = load_scores()
    row = table[(table["method_id"] == method) & (table["task"] == task) & (table["training_set"] == training_set)]
    if row.empty:
        return {}
    first = row.iloc[0]
    return {k: (None if isinstance(first[k], float) and math.isnan(first[k]) else first[k])
            for k in ("accuracy", "usability", "training_hours", "source")}


def paper_preprocessing(converted: Converted) -> dict:
    """provenance.json's ``paper_preprocessing``: ``applied`` (the record config.json carries) and the test
    script's other facts."""
    return {"applied": converted.preprocessing.to_dict(), **converted.script}


def _card_section(provenance: dict, converted: Converted, generalist: bool = False) -> str:
    scores = provenance["published"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in scores.items()) or "| (none published for this slot) | |"
    notes = "\n".join(f"- {n}" for n in converted.notes)
    extras = "".join(f"- Read beside it: {x['name']} from {x['url']} (SHA-256 `{x['sha256']}`)\n"
                     for x in provenance["extra_files"])
    return f"""
## Provenance (converted by SegGal)

Converted from **{converted.source_format}** — not trained by SegGal.

- Source: {provenance['source_url'] or '(a local file)'}
- SHA-256 of the original: `{provenance['sha256']}`
{extras}{"- A generalist, not from the paper: trained by its package's authors on their own data" if generalist
   else f"- Paper: {PAPER}; training and test code: {BENCHMARK_REPO}"}
{notes}

### Published scores (the paper's SegGal gallery, test split)

| figure | value |
|---|---|
{rows}

{"How its own package feeds this model" if generalist else "How the paper's test script fed this model"} (provenance.json, `paper_preprocessing`; `applied` is
config.json's `preprocessing`, which SegGal applies whenever it loads the model):

```json
{json.dumps(paper_preprocessing(converted), indent=2)}
```
"""


def _write_checkpoint(out: Path, segmenter, meta: dict, card_section: str, extra: dict[str, bytes]) -> Path:
    """The one call into the checkpoint writer: atomic; config.json, the model card (the writer's card of
    ``meta`` followed by ``card_section``) and the ``extra`` files."""
    from seggal.checkpoint import make_config, write_checkpoint
    from seggal.model_card import model_card

    card = model_card(make_config(meta)) + card_section
    return write_checkpoint(out, segmenter, meta, extra={**extra, "README.md": card.encode("utf-8")})


def convert(path: str | os.PathLike, *, method: str, task: str, training_set: str, out: str | os.PathLike,
            source_url: str | None = None, sha256: str | None = None, generalist: bool = False,
            source_format: str | None = None, extra_files: Sequence[Mapping[str, str]] = ()) -> Path:
    """Convert the published model at ``path`` (file or folder, in its source's format) for ``method`` /
    ``task`` / ``training_set`` into the SegGal checkpoint folder ``out`` → ``out``.

    ``source_url`` is where it came from; ``sha256`` the original's digest when the downloader computed
    it (else computed here from ``path``). ``generalist``: a model its package's authors trained on their own
    data (not from the paper), whose ``training_set`` is its own name (``cyto3``, ``vit_b``; config.json
    ``"generalist": true``, :data:`seggal.checkpoint.GENERALIST`). ``source_format``: the catalogue's format
    of the file (``cellpose3``, ``micro-sam``: read by :data:`seggal.zoo.formats.FORMAT_MODULES`; default: the
    format of the paper's files for the method). ``extra_files``: ``{name, url, sha256}`` of each file the
    downloader fetched beside the original into the folder ``path`` (recorded in the provenance). Raises
    :class:`SegGalError` for a file of the wrong format, a network that does not fit, a pickle that would run
    code, or a method whose format cannot be converted (the message says why).
    """
    path = Path(path)
    if not path.exists():
        raise SegGalError(f"{path}: no such file or folder")
    spec, task_spec = get_method(method), get_task(task)
    (check_generalist_name if generalist else check_training_set)(task_spec, training_set, "convert")
    if spec.backend not in MODULES:
        raise SegGalError(f"method {spec.id}: SegGal has no converter for its {spec.backend} models")
    module = importlib.import_module(f"seggal.zoo.formats.{FORMAT_MODULES.get(source_format, MODULES[spec.backend])}")
    converted: Converted = module.convert(path, spec, task_spec)
    check_preprocessing(converted.segmenter, converted.preprocessing, f"{spec.id} converter")
    converted.segmenter.preprocessing = converted.preprocessing
    provenance = {
        "source_url": source_url or "",
        "sha256": sha256 or sha256_of(path),
        "original_name": path.name,
        "extra_files": [dict(x) for x in extra_files],
        "source_format": converted.source_format,
        "paper": PAPER,
        "code": BENCHMARK_REPO,
        "published": published_scores(spec.id, task_spec.id, training_set),
        "paper_preprocessing": paper_preprocessing(converted),
    }
    meta = {
        "method": spec.id, "task": task_spec.id, "training_set": training_set, "generalist": generalist,
        "data": (f"{training_set}: {spec.name}'s generalist, trained by its authors (not from the paper)" if generalist
                 else f"{task_spec.dataset} ({training_set}), trained by the paper's authors"),
        "description": (f"{spec.name} generalist {training_set} (not from the paper)" if generalist
                        else f"{spec.name} from the paper's gallery") + f", converted from {converted.source_format}",
    }
    extra = {PROVENANCE_FILE: (json.dumps(provenance, indent=2, default=str) + "\n").encode("utf-8")}
    return _write_checkpoint(Path(out), converted.segmenter, meta, _card_section(provenance, converted), extra)
