"""The model card (``README.md``) of a SegGal checkpoint: Hub YAML front matter + a human-readable card.

Written by :func:`seggal.checkpoint.write_checkpoint` from the checkpoint's ``config.json``.
"""

from __future__ import annotations

import json
import re
from typing import Mapping

from seggal.methods import get_method
from seggal.metrics import COCO_METRICS
from seggal.tasks import get_task


def slug(text: str) -> str:
    """Lower-case ``text`` with every run of other characters turned into one ``-``: ``lymph-node``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def model_card(config: Mapping) -> str:
    """README.md of a checkpoint: Hub YAML front matter + a human-readable card, from its config."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    task = get_task(config["task"])
    method = get_method(config["method"])
    synthetic = bool(config.get("synthetic"))
    data_name = config.get("training_data") or config.get("data") or task.dataset
    trained_on = f"synthetic images ({config.get('data') or 'SegGal generator'})" if synthetic else config["training_set"]
    name = f"SegGal {method.name} — {task.label}, trained on {trained_on}"
    dataset = "synthetic" if synthetic else task.dataset
    validation = config.get("validation", {})
    evals = [
        EvalResult(task_type="image-segmentation", task_name="instance segmentation", dataset_type=slug(dataset),
                   dataset_name=dataset, dataset_split="validation", metric_type=k, metric_name=k,
                   metric_value=round(float(validation[k]), 4))
        for k in COCO_METRICS if k in validation
    ]
    data = ModelCardData(
        library_name="seggal",
        tags=["seggal", "cell-segmentation", "instance-segmentation", "microscopy", method.id, task.id,
              task.modality, method.backend],
        datasets=[dataset],
        metrics=list(COCO_METRICS),
        model_name=name,
        eval_results=evals or None,
        pipeline_tag="image-segmentation",
        seggal={k: config[k] for k in ("method", "task", "training_set")},
    )
    training = config.get("training", {})
    rows = "\n".join(f"| {k} | {validation[k]:.4f} |" for k in (*COCO_METRICS, "accuracy") if k in validation)
    settings = "\n".join(f"| {k} | {v} |" for k, v in training.items())
    versions = ", ".join(f"{k} {v}" for k, v in config.get("packages", {}).items())
    limits = (
        f"**Trained on synthetic images only** ({config.get('data') or 'SegGal generator'}; no {task.dataset} image): a "
        "demonstration / smoke-test model, not a substitute for the paper's models on real tissue." if synthetic else
        f"Trained on {task.dataset} ({config['training_set']}); expect lower accuracy on other tissues, "
        "stains, magnifications and modalities (see the paper's transferability analysis, Figure 4)."
    )
    body = f"""
# {name}

A {method.name} ({method.architecture}) segmentation model from **SegGal**, the gallery of the cell-segmentation
benchmark of Wang, Zhao, Xu et al. (2024). Task: **{task.label}** — segment {task.target.replace('_', ' ')} from
{task.input_channels.replace('_', ' ')} input channels (the input of the {task.dataset} task,
{task.modality.replace('_', ' ')}). Trained on: **{trained_on if synthetic else f"{task.dataset}, {trained_on}"}**.

## Use

```bash
python -m seggal segment --checkpoint {config.get('repo_id', '<this folder or org/name@revision>')} image.tif
```

Inputs: (H, W, C) images with channels {json.dumps(config['channels'])}; preprocessing
{json.dumps(config.get('preprocessing', {}))} (applied by SegGal whenever it loads this model). Output: an
integer label image (0 = background).

## Validation ({'synthetic' if synthetic else task.dataset} validation split)

| metric | value |
|---|---|
{rows or '| (not validated) | |'}

## Training

| setting | value |
|---|---|
{settings or '| (not recorded) | |'}

Training data: {data_name}. Package versions: {versions}. SegGal commit: `{config.get('git_commit') or 'unknown'}`.

## Intended use and limits

Intended for research on fluorescence / phase-contrast microscopy images like the training data. {limits}
Check predictions against a few manual annotations (SegGal's Segment page scores them) before quantitative use.
Weights are stored as safetensors; loading them never executes code.
"""
    return str(ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n{{ body }}", body=body))
